//! Direct simulation reweighted on a μ² grid, the Binder crossings of direct sizes (the
//! finite-size-scaling critical μ²), and the inverse flow `μ² → μ²′` of rescaled levels
//! matched to direct simulation, with `ν` from the flow of consecutive levels.
//!
//! Every error comes from one delete-one-bin jackknife over all independent ensembles at
//! once (the parents at each μ² and every direct simulation; [`multi_jackknife`]), so the
//! correlations between levels of the same parents and between points of the same direct
//! curve are in the errors.

use std::f64::consts::LN_2;

use mc_sampler::stats::{bin_size_for, gamma_method};
use mc_sampler::{Series, run_chains_with};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, SufficientStats};
use reweight::Target;

use crate::IrgError;
use crate::analysis::{Estimate, multi_jackknife, slope};
use crate::ensemble::{ParentRun, RescaledEnsemble};
use crate::scaling::{PER_LEVEL, ensemble_bins};

/// Quantities per grid point in the bins of a [`DirectEnsemble`]: the weight `w`, then
/// `w|m|`, `w m²`, `w m⁴`.
const PER_POINT: usize = 4;

/// Direct simulation of one size at one μ², kept as bins of reweighted moments on a grid
/// of μ² (exact reweighting with the ensemble's own action, weights `exp(−ΔS)`).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectEnsemble {
    /// Linear size.
    pub size: usize,
    /// The couplings sampled.
    pub sampled: Homogeneous,
    /// The μ² grid, increasing; it contains the sampled μ².
    pub grid: Vec<f64>,
    /// `bins[b][4 g + k]`: in bin `b`, for grid point `g`, the mean of `w`, `w|m|`, `w m²`,
    /// `w m⁴` (weights relative to the largest weight of that grid point).
    pub bins: Vec<Vec<f64>>,
    /// Γ-method `τ_int` of `m²` in units of measurements.
    pub tau_int_m2: f64,
    /// Measurements (all chains).
    pub n_measurements: usize,
    /// Hybrid sweeps between measurements.
    pub sweeps_between: u64,
    /// CPU seconds of the updates (thermalisation included).
    pub cpu_seconds: f64,
    /// CPU seconds per hybrid sweep (updates only, measured on the whole run).
    pub seconds_per_sweep: f64,
}

/// The grid of a direct simulation of size `size` around `centre`: `2n + 1` points over
/// `centre ± 1/L` (±0.125 at 8², ±0.0078 at 128²): `ΔS = Δμ²/2 Σφ²` fluctuates by about
/// `|Δμ²| L/2` over the ensemble, so the reweighting stays inside its overlap.
pub fn direct_grid(size: usize, centre: f64, n: usize) -> Vec<f64> {
    let half = 1.0 / size as f64;
    (0..=2 * n)
        .map(|i| centre + half * (i as f64 - n as f64) / n.max(1) as f64)
        .collect()
}

impl DirectEnsemble {
    /// Samples `size²` at `target` with the hybrid schedule (`run.n_configs` measurements per
    /// chain, `run.sweeps_between` sweeps apart) and bins the reweighted moments on `grid`
    /// (sorted here; the sampled μ² is added if it is missing).
    pub fn simulate(size: usize, target: Homogeneous, run: ParentRun, grid: &[f64]) -> Result<Self, IrgError> {
        if let Some(bad) = grid.iter().find(|m| !m.is_finite()) {
            return Err(IrgError::Parameter(format!(
                "the μ² grid holds {bad}; give finite values"
            )));
        }
        if run.n_configs < 20 {
            return Err(IrgError::Parameter(format!(
                "a direct simulation with {} measurements per chain is too short for errors; give at least 20",
                run.n_configs
            )));
        }
        let lattice = Lattice::new(size, size)?;
        let couplings = Couplings::homogeneous(&lattice, target)?;
        let config = run.hybrid(false);
        let (out, series) = run_chains_with(
            &couplings,
            &config,
            |_| Series::new(|_: &Couplings, phi: &[f64]| SufficientStats::measure(&lattice, phi)),
            |_| {},
        )?;
        let mut grid = grid.to_vec();
        grid.push(target.mu2);
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let sums: Vec<Vec<SufficientStats>> = series.into_iter().map(|s| s.values).collect();
        let v = lattice.n_sites() as f64;
        let m2: Vec<Vec<f64>> = sums
            .iter()
            .map(|c| c.iter().map(|s| (s.phi1 / v).powi(2)).collect())
            .collect();
        let refs: Vec<&[f64]> = m2.iter().map(Vec::as_slice).collect();
        let gamma = gamma_method(&refs);
        let n_measurements: usize = sums.iter().map(Vec::len).sum();
        let bin = bin_size_for(gamma.tau_int, n_measurements)
            .min(sums.iter().map(Vec::len).min().unwrap_or(1))
            .max(1);
        let sampled = Target::new(target);
        let targets: Vec<Target> = grid
            .iter()
            .map(|&mu2| Target::new(Homogeneous { mu2, ..target }))
            .collect();
        // The largest log-weight of every grid point, over all configurations.
        let mut max = vec![f64::NEG_INFINITY; grid.len()];
        for s in sums.iter().flatten() {
            let base = sampled.real_action(s);
            for (g, t) in targets.iter().enumerate() {
                max[g] = max[g].max(base - t.real_action(s));
            }
        }
        let mut bins = Vec::new();
        for chain in &sums {
            for block in chain.chunks_exact(bin) {
                let mut row = vec![0.0; PER_POINT * grid.len()];
                for s in block {
                    let base = sampled.real_action(s);
                    let m = s.phi1 / v;
                    let (m_abs, m2) = (m.abs(), m * m);
                    for (g, t) in targets.iter().enumerate() {
                        let w = (base - t.real_action(s) - max[g]).exp();
                        let q = &mut row[PER_POINT * g..PER_POINT * (g + 1)];
                        q[0] += w;
                        q[1] += w * m_abs;
                        q[2] += w * m2;
                        q[3] += w * m2 * m2;
                    }
                }
                row.iter_mut().for_each(|x| *x /= bin as f64);
                bins.push(row);
            }
        }
        if bins.len() < 2 {
            return Err(IrgError::Parameter(format!(
                "the direct simulation of {size}² gave {} bins; give more measurements",
                bins.len()
            )));
        }
        let timing = out.timing();
        let sweeps = (run.n_therm + run.n_configs as u64 * run.sweeps_between) * run.n_chains as u64;
        Ok(Self {
            size,
            sampled: target,
            grid,
            bins,
            tau_int_m2: gamma.tau_int,
            n_measurements,
            sweeps_between: run.sweeps_between,
            cpu_seconds: timing.update_seconds,
            seconds_per_sweep: timing.update_seconds / sweeps.max(1) as f64,
        })
    }

    /// `(⟨|m|⟩, ⟨m²⟩, χ, U)` at grid point `g` from bin means `means`.
    fn moments(&self, means: &[f64], g: usize) -> [f64; 4] {
        let q = &means[PER_POINT * g..PER_POINT * (g + 1)];
        let (m_abs, m2, m4) = (q[1] / q[0], q[2] / q[0], q[3] / q[0]);
        let v = (self.size * self.size) as f64;
        [m_abs, m2, v * (m2 - m_abs * m_abs), 1.0 - m4 / (3.0 * m2 * m2)]
    }

    /// `U` at any μ² inside the grid (linear interpolation between grid points), from bin
    /// means; outside the grid the nearest end segment is extended.
    fn binder_at(&self, means: &[f64], mu2: f64) -> f64 {
        let n = self.grid.len();
        let g = self.grid.partition_point(|&x| x <= mu2).clamp(1, n - 1) - 1;
        let (x0, x1) = (self.grid[g], self.grid[g + 1]);
        let (u0, u1) = (self.moments(means, g)[3], self.moments(means, g + 1)[3]);
        u0 + (u1 - u0) * (mu2 - x0) / (x1 - x0)
    }

    /// The μ² where `U` takes the value `u`: the first grid segment (from small μ²) that
    /// brackets `u`, interpolated linearly; `None` when no segment does.
    fn coupling_of(&self, means: &[f64], u: f64) -> Option<f64> {
        let us: Vec<f64> = (0..self.grid.len()).map(|g| self.moments(means, g)[3]).collect();
        (0..us.len() - 1).find_map(|g| {
            let (u0, u1) = (us[g], us[g + 1]);
            let inside = (u0.min(u1)..=u0.max(u1)).contains(&u) && u0 != u1;
            inside.then(|| self.grid[g] + (self.grid[g + 1] - self.grid[g]) * (u - u0) / (u1 - u0))
        })
    }

    /// Like [`DirectEnsemble::coupling_of`], but outside the grid the nearest end segment
    /// is extended (jackknife samples near the edge stay defined).
    fn coupling_of_extended(&self, means: &[f64], u: f64) -> f64 {
        self.coupling_of(means, u).unwrap_or_else(|| {
            let n = self.grid.len();
            let [(g0, g1), (h0, h1)] = [(0, 1), (n - 2, n - 1)];
            let at = |g: usize| self.moments(means, g)[3];
            // The end whose value is nearer to u.
            let (a, b) = if (at(g0) - u).abs() < (at(h1) - u).abs() {
                (g0, g1)
            } else {
                (h0, h1)
            };
            let (u0, u1) = (at(a), at(b));
            self.grid[a] + (self.grid[b] - self.grid[a]) * (u - u0) / (u1 - u0)
        })
    }

    /// `(μ², ⟨|m|⟩, χ, U)` at every grid point, with jackknife errors over this ensemble's
    /// bins.
    pub fn curve(&self) -> Vec<(f64, [Estimate; 3])> {
        (0..self.grid.len())
            .map(|g| {
                let est = |k: usize| {
                    let j = mc_sampler::stats::jackknife(&self.bins, |m| self.moments(m, g)[k]);
                    Estimate {
                        mean: j.mean,
                        err: j.err,
                    }
                };
                (self.grid[g], [est(0), est(2), est(3)])
            })
            .collect()
    }

    /// `⟨|m|⟩`, `χ` and `U` at the sampled μ².
    pub fn at_sampled(&self) -> [Estimate; 3] {
        let g = self
            .grid
            .iter()
            .position(|&x| x == self.sampled.mu2)
            .expect("the sampled μ² is on the grid");
        self.curve()[g].1
    }
}

pub(crate) fn mean_of_bins(bins: &[Vec<f64>]) -> Vec<f64> {
    let mut m = vec![0.0; bins.first().map_or(0, Vec::len)];
    for b in bins {
        m.iter_mut().zip(b).for_each(|(s, x)| *s += x);
    }
    m.iter_mut().for_each(|s| *s /= bins.len() as f64);
    m
}

/// Where the Binder cumulants of two direct sizes cross.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    /// The two linear sizes.
    pub sizes: [usize; 2],
    /// The μ² of the crossing.
    pub mu2: Estimate,
    /// `U` at the crossing.
    pub binder: Estimate,
}

/// The crossing of `U` of `a` and `b` on the overlap of their grids: the sign change of
/// `U_b − U_a` (evaluated on the finer grid) nearest the middle of the overlap.
fn crossing_of(a: &DirectEnsemble, ma: &[f64], b: &DirectEnsemble, mb: &[f64]) -> f64 {
    let lo = a.grid[0].max(b.grid[0]);
    let hi = a.grid[a.grid.len() - 1].min(b.grid[b.grid.len() - 1]);
    let fine = if b.grid.len() >= a.grid.len() { &b.grid } else { &a.grid };
    let xs: Vec<f64> = fine.iter().copied().filter(|&x| x >= lo && x <= hi).collect();
    let d = |x: f64| b.binder_at(mb, x) - a.binder_at(ma, x);
    let middle = 0.5 * (lo + hi);
    xs.windows(2)
        .filter(|w| d(w[0]) * d(w[1]) <= 0.0 && d(w[0]) != d(w[1]))
        .map(|w| w[0] + (w[1] - w[0]) * d(w[0]) / (d(w[0]) - d(w[1])))
        .min_by(|x, y| (x - middle).abs().total_cmp(&(y - middle).abs()))
        .unwrap_or(f64::NAN)
}

/// The Binder crossings of consecutive direct sizes (sorted by size), each with jackknife
/// errors over both ensembles.  A pair whose curves do not cross on the overlap of their
/// grids gives NaN.
pub fn binder_crossings(direct: &[DirectEnsemble]) -> Vec<Crossing> {
    let mut order: Vec<&DirectEnsemble> = direct.iter().collect();
    order.sort_by_key(|d| d.size);
    order
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let samples = [a.bins.as_slice(), b.bins.as_slice()];
            let mu2 = multi_jackknife(&samples, |m| crossing_of(a, &m[0], b, &m[1]));
            let binder = multi_jackknife(&samples, |m| b.binder_at(&m[1], crossing_of(a, &m[0], b, &m[1])));
            Crossing {
                sizes: [a.size, b.size],
                mu2,
                binder,
            }
        })
        .collect()
}

/// The inverse flow of one rescaled level against direct simulation of its size.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelFlow {
    /// Inverse steps from the parents.
    pub level: usize,
    /// Linear size.
    pub size: usize,
    /// `(parent μ², μ²′)`: the μ² at which direct simulation has the rescaled `U`.
    pub map: Vec<(f64, Estimate)>,
    /// `dμ²′/dμ²` (least squares over the parents' μ²).
    pub slope: Estimate,
    /// The fixed point of the fitted map, `μ²* = μ²′(μ²*)`.
    pub fixed_point: Estimate,
}

/// `ν` from the flow between two consecutive matched levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepExponent {
    /// The sizes of the two levels.
    pub sizes: [usize; 2],
    /// `dμ²_{k+1}/dμ²_k = slope_{k+1}/slope_k = 2^{−1/ν}`.
    pub ratio: Estimate,
    /// `ν = −ln 2 / ln ratio`.
    pub nu: Estimate,
}

/// `ν` from the slopes of several matched levels at once.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelFit {
    /// The sizes of the levels fitted, smallest first.
    pub sizes: Vec<usize>,
    /// `ν = −ln 2 / d(ln s_k)/dk`, from the least-squares line of `ln s_k` against the level
    /// `k` (the intercept is free, so a first step that contracts differently does not enter).
    pub nu: Estimate,
}

/// The inverse flow of every matched level and `ν` from consecutive levels.
#[derive(Debug, Clone, PartialEq)]
pub struct InverseFlow {
    /// One entry per level that has direct simulation of its size, smallest first.
    pub levels: Vec<LevelFlow>,
    /// One entry per pair of consecutive matched levels.
    pub steps: Vec<StepExponent>,
    /// One entry per matched level that has at least one matched level above it: the fit
    /// over that level and every matched level above it.
    pub fits: Vec<LevelFit>,
}

impl InverseFlow {
    /// The μ² that levels `1..=steps` of parents at `parent_mu2` represent according to
    /// this flow: `μ²* + s_l (μ² − μ²*)` with the slope `s_l` and fixed point `μ²*` of level
    /// `l`.  A level below the first matched one takes the slope of the first matched
    /// level raised to `l / level` and its fixed point; any other level continues the
    /// nearest matched level below it geometrically with the last step's ratio
    /// `s_{k+1}/s_k` (with one matched level, `s_k^{1/k}` per step).  These are the couplings at which the next pass refines each
    /// level (see the crate docs), so central values are used.
    pub fn level_mu2(&self, parent_mu2: f64, steps: usize) -> Vec<f64> {
        let (Some(first), Some(last)) = (self.levels.first(), self.levels.last()) else {
            return vec![parent_mu2; steps];
        };
        let per_step_last = match self.levels.len() {
            1 => last.slope.mean.max(f64::MIN_POSITIVE).powf(1.0 / last.level as f64),
            n => {
                let prev = &self.levels[n - 2];
                (last.slope.mean / prev.slope.mean).powf(1.0 / (last.level - prev.level) as f64)
            }
        };
        (1..=steps)
            .map(|l| {
                let (slope, fixed) = match self.levels.iter().find(|f| f.level == l) {
                    Some(f) => (f.slope.mean, f.fixed_point.mean),
                    None if l < first.level => (
                        first.slope.mean.max(0.0).powf(l as f64 / first.level as f64),
                        first.fixed_point.mean,
                    ),
                    None => {
                        // The nearest matched level below `l`.
                        let below = self.levels.iter().rev().find(|f| f.level < l).unwrap_or(last);
                        let gap = l.saturating_sub(below.level) as i32;
                        (below.slope.mean * per_step_last.powi(gap), below.fixed_point.mean)
                    }
                };
                let mu2 = fixed + slope * (parent_mu2 - fixed);
                if mu2.is_finite() { mu2 } else { parent_mu2 }
            })
            .collect()
    }
}

/// What the flow functions need: parent ensembles first, then direct ensembles.
struct FlowSample<'a> {
    mu2: Vec<f64>,
    n_parents: usize,
    direct: Vec<(usize, &'a DirectEnsemble)>,
    /// For each matched level, the parent ensembles whose central `U` lies on the curve.
    used: Vec<Vec<usize>>,
}

impl FlowSample<'_> {
    fn binder(means: &[f64], level: usize) -> f64 {
        let (m2, m4) = (means[PER_LEVEL * level + 1], means[PER_LEVEL * level + 2]);
        1.0 - m4 / (3.0 * m2 * m2)
    }

    fn matched(&self, all: &[Vec<f64>], d: usize, j: usize) -> f64 {
        let (level, direct) = self.direct[d];
        direct.coupling_of_extended(&all[self.n_parents + d], Self::binder(&all[j], level))
    }

    /// `(intercept at x̄, slope, x̄)` of the map of matched level `d`.
    fn line(&self, all: &[Vec<f64>], d: usize) -> (f64, f64, f64) {
        let xs: Vec<f64> = self.used[d].iter().map(|&j| self.mu2[j]).collect();
        let ys: Vec<f64> = self.used[d].iter().map(|&j| self.matched(all, d, j)).collect();
        let n = xs.len() as f64;
        (ys.iter().sum::<f64>() / n, slope(&xs, &ys), xs.iter().sum::<f64>() / n)
    }

    fn fixed_point(&self, all: &[Vec<f64>], d: usize) -> f64 {
        let (my, s, mx) = self.line(all, d);
        (my - s * mx) / (1.0 - s)
    }
}

/// The inverse flow of the rescaled ensembles (parents at several μ², same κ, λ and sizes)
/// against the direct ensembles whose sizes are rescaled sizes: the map `μ² → μ²′` of each
/// such level, its slope and fixed point, and `ν` from consecutive levels.
///
/// Why consecutive levels: the refinement sweeps at the parents' μ² relax the small lattices
/// of the first steps almost completely back to that μ², so the first step contributes a
/// slope near 1 instead of `2^{−1/ν}`; later steps inherit the long-wavelength modes and
/// each multiplies the slope by `2^{−1/ν}`.  The ratio of the slopes of two consecutive
/// levels removes the first steps (see the crate docs for the measurement).
pub fn inverse_flow(ensembles: &[RescaledEnsemble], direct: &[DirectEnsemble]) -> Result<InverseFlow, IrgError> {
    let Some(first) = ensembles.first() else {
        return Err(IrgError::Parameter(
            "no rescaled ensembles; give parents at two or more μ²".into(),
        ));
    };
    if ensembles.len() < 2 {
        return Err(IrgError::Parameter(
            "the inverse flow needs parents at two or more values of μ²".into(),
        ));
    }
    let levels = 0..first.sizes.len();
    let parent_bins: Vec<Vec<Vec<f64>>> = ensembles.iter().map(|e| ensemble_bins(e, &levels).bins).collect();
    let mut matched: Vec<(usize, &DirectEnsemble)> = direct
        .iter()
        .filter_map(|d| {
            first
                .sizes
                .iter()
                .position(|&s| s == d.size)
                .filter(|&l| l > 0)
                .map(|l| (l, d))
        })
        .collect();
    matched.sort_by_key(|(l, _)| *l);
    let mut samples: Vec<&[Vec<f64>]> = parent_bins.iter().map(Vec::as_slice).collect();
    samples.extend(matched.iter().map(|(_, d)| d.bins.as_slice()));
    let central: Vec<Vec<f64>> = samples.iter().map(|b| mean_of_bins(b)).collect();
    let mut flow = FlowSample {
        mu2: ensembles.iter().map(|e| e.target.mu2).collect(),
        n_parents: ensembles.len(),
        direct: matched.clone(),
        used: Vec::new(),
    };
    flow.used = matched
        .iter()
        .enumerate()
        .map(|(d, (level, de))| {
            (0..ensembles.len())
                .filter(|&j| {
                    de.coupling_of(&central[ensembles.len() + d], FlowSample::binder(&central[j], *level))
                        .is_some()
                })
                .collect()
        })
        .collect();
    let flow = flow;
    let mut out = Vec::new();
    let mut usable = Vec::new();
    for (d, &(level, de)) in matched.iter().enumerate() {
        if flow.used[d].len() < 2 {
            continue;
        }
        usable.push(d);
        let map = flow.used[d]
            .iter()
            .map(|&j| (flow.mu2[j], multi_jackknife(&samples, |all| flow.matched(all, d, j))))
            .collect();
        out.push(LevelFlow {
            level,
            size: de.size,
            map,
            slope: multi_jackknife(&samples, |all| flow.line(all, d).1),
            fixed_point: multi_jackknife(&samples, |all| flow.fixed_point(all, d)),
        });
    }
    if out.is_empty() {
        return Err(IrgError::Parameter(
            "no rescaled level has two Binder cumulants on the direct curve of its size; \
             simulate the rescaled sizes directly (and widen the parents' μ² range)"
                .into(),
        ));
    }
    let steps = usable
        .windows(2)
        .filter(|w| matched[w[1]].0 == matched[w[0]].0 + 1)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let ratio = |all: &[Vec<f64>]| flow.line(all, b).1 / flow.line(all, a).1;
            StepExponent {
                sizes: [matched[a].1.size, matched[b].1.size],
                ratio: multi_jackknife(&samples, ratio),
                nu: multi_jackknife(&samples, |all| -LN_2 / ratio(all).ln()),
            }
        })
        .collect();
    let fits = (0..usable.len().saturating_sub(1))
        .map(|first| {
            let used = &usable[first..];
            let ks: Vec<f64> = used.iter().map(|&d| matched[d].0 as f64).collect();
            let nu = |all: &[Vec<f64>]| {
                let ln_s: Vec<f64> = used.iter().map(|&d| flow.line(all, d).1.ln()).collect();
                -LN_2 / slope(&ks, &ln_s)
            };
            LevelFit {
                sizes: used.iter().map(|&d| matched[d].1.size).collect(),
                nu: multi_jackknife(&samples, nu),
            }
        })
        .collect();
    Ok(InverseFlow {
        levels: out,
        steps,
        fits,
    })
}
