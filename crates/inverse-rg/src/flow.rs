//! The inverse flow `μ² → μ²′`: the coupling of direct simulation whose Binder cumulant
//! equals that of a rescaled size, and `ν` from the slope of that map at the fixed point.

use mc_sampler::{Series, run_chains_with};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, SufficientStats};
use reweight::{ChainSums, ReweightEnsemble, ReweightOptions, SampledAction, Target, reweight};

use crate::IrgError;
use crate::analysis::Estimate;
use crate::ensemble::{ParentRun, RescaledEnsemble};

/// `U(μ²)` of direct simulation of one size, on a grid of μ² reached by reweighting one
/// ensemble sampled at the centre (exact reweighting with the ensemble's own action).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectCurve {
    /// Linear size.
    pub size: usize,
    /// μ² of the sampled ensemble.
    pub sampled_mu2: f64,
    /// `(μ², U)` on the grid, μ² increasing; points whose overlap is flagged are left out.
    pub points: Vec<(f64, Estimate)>,
    /// `⟨|m|⟩`, `χ` and `U` at the sampled μ², for comparison with rescaled ensembles.
    pub at_sampled: [Estimate; 3],
    /// CPU seconds of the updates (thermalisation included).
    pub cpu_seconds: f64,
}

impl DirectCurve {
    /// Samples `size²` at `target` with the hybrid schedule (`run.n_configs` measurements
    /// per chain, `run.sweeps_between` sweeps apart) and reweights to `grid` (μ² values).
    pub fn simulate(size: usize, target: Homogeneous, run: ParentRun, grid: &[f64]) -> Result<Self, IrgError> {
        let lattice = Lattice::new(size, size)?;
        let couplings = Couplings::homogeneous(&lattice, target)?;
        let config = run.hybrid(false);
        let (out, series) = run_chains_with(
            &couplings,
            &config,
            |_| Series::new(|c: &Couplings, phi: &[f64]| (c.action(phi), SufficientStats::measure(&lattice, phi))),
            |_| {},
        )?;
        let chains = series
            .into_iter()
            .map(|s| {
                let (action, stats): (Vec<f64>, Vec<SufficientStats>) = s.values.into_iter().unzip();
                ChainSums::new(action, stats)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IrgError::Parameter(e.to_string()))?;
        let sampled = Target::new(target);
        let ensemble = ReweightEnsemble::new(lattice, SampledAction::Homogeneous(sampled), chains)
            .map_err(|e| IrgError::Parameter(e.to_string()))?;
        let options = ReweightOptions::recommended();
        let estimate = |e: reweight::Estimate| Estimate {
            mean: e.re,
            err: e.err_re,
        };
        let at = reweight(&ensemble, &sampled, &options).map_err(|e| IrgError::Parameter(e.to_string()))?;
        // The sampled action itself: a real target of weight one, so always resolved.
        let at = at
            .observables
            .ok_or_else(|| IrgError::Parameter("the sampled action gave no observables".into()))?;
        let mut points = Vec::with_capacity(grid.len());
        let mut sorted = grid.to_vec();
        sorted.sort_by(f64::total_cmp);
        for mu2 in sorted {
            let point = reweight(&ensemble, &Target::new(Homogeneous { mu2, ..target }), &options)
                .map_err(|e| IrgError::Parameter(e.to_string()))?;
            if let (false, Some(observables)) = (point.flagged, &point.observables) {
                points.push((mu2, estimate(observables.binder)));
            }
        }
        Ok(Self {
            size,
            sampled_mu2: target.mu2,
            points,
            at_sampled: [estimate(at.m_abs), estimate(at.chi), estimate(at.binder)],
            cpu_seconds: out.timing().update_seconds,
        })
    }

    /// The μ² where the curve takes the value `u` (linear interpolation between the two
    /// grid points around it), with the error from the errors of `u` and of the curve
    /// divided by the local slope; `None` when `u` is outside the curve.
    pub fn coupling_of(&self, u: Estimate) -> Option<Estimate> {
        self.points.windows(2).find_map(|w| {
            let ((x0, u0), (x1, u1)) = (w[0], w[1]);
            let (lo, hi) = (u0.mean.min(u1.mean), u0.mean.max(u1.mean));
            if !(lo..=hi).contains(&u.mean) || u0.mean == u1.mean {
                return None;
            }
            let slope = (u1.mean - u0.mean) / (x1 - x0);
            let t = (u.mean - u0.mean) / (u1.mean - u0.mean);
            let curve_err = (1.0 - t) * u0.err + t * u1.err;
            Some(Estimate {
                mean: x0 + t * (x1 - x0),
                err: (u.err * u.err + curve_err * curve_err).sqrt() / slope.abs(),
            })
        })
    }
}

/// The inverse flow of one level: the μ² of the parents and the matched μ²′ of the rescaled
/// size, and `ν` from the slope `dμ²′/dμ² = 2^{−k/ν}` (`k` = level).
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Level `k` (number of inverse steps).
    pub level: usize,
    /// Linear size of the level.
    pub size: usize,
    /// `(parent μ², matched μ²′)` for every ensemble whose `U` lies on the direct curve.
    pub map: Vec<(f64, Estimate)>,
    /// The slope `dμ²′/dμ²` (weighted least squares).
    pub slope: Estimate,
    /// `ν = k ln 2 / (−ln slope)`.
    pub nu: Estimate,
    /// The fixed point of the map, `μ²* = μ²′(μ²*)`, from the fitted line.
    pub fixed_point: Estimate,
}

impl Flow {
    /// `ν` from one inverse step, `previous` (level `k − 1`) to `self` (level `k`):
    /// `dμ²_k/dμ²_{k−1} = slope_k / slope_{k−1} = 2^{−1/ν}`.  This leaves out the first
    /// steps, where the re-equilibration of a small lattice pulls the rescaled coupling back
    /// towards the parents' μ²; the two slopes come from the same parents, so their errors
    /// are added in quadrature as a conservative bound.
    pub fn nu_per_step(&self, previous: &Flow) -> Result<Estimate, IrgError> {
        if self.level != previous.level + 1 {
            return Err(IrgError::Parameter(format!(
                "a per-step ν needs consecutive levels, not {} and {}",
                previous.level, self.level
            )));
        }
        let ratio = self.slope.mean / previous.slope.mean;
        let rel =
            ((self.slope.err / self.slope.mean).powi(2) + (previous.slope.err / previous.slope.mean).powi(2)).sqrt();
        let ln = ratio.ln();
        Ok(Estimate {
            mean: -std::f64::consts::LN_2 / ln,
            err: std::f64::consts::LN_2 * rel / (ln * ln),
        })
    }
}

/// The inverse flow of level `level` of the ensembles (parents at several μ²) against the
/// direct curve of the same size.  Needs at least two matched points.
pub fn inverse_flow(ensembles: &[RescaledEnsemble], level: usize, direct: &DirectCurve) -> Result<Flow, IrgError> {
    let size = ensembles
        .first()
        .and_then(|e| e.sizes.get(level).copied())
        .ok_or_else(|| IrgError::Parameter(format!("there is no level {level} to match")))?;
    if size != direct.size || level == 0 {
        return Err(IrgError::Parameter(format!(
            "level {level} has size {size}, but the direct curve has size {}; match a rescaled level (k ≥ 1) \
             with direct simulation of its size",
            direct.size
        )));
    }
    let map: Vec<(f64, Estimate)> = ensembles
        .iter()
        .filter_map(|e| {
            let u = e.observables()[level].binder;
            direct.coupling_of(u).map(|m| (e.target.mu2, m))
        })
        .collect();
    if map.len() < 2 {
        return Err(IrgError::Parameter(format!(
            "only {} of the {} rescaled Binder cumulants of size {size} lie on the direct curve; \
             widen the direct μ² grid or move the parents' μ² closer together",
            map.len(),
            ensembles.len()
        )));
    }
    // Weighted least squares of μ²′ = a + s μ².
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, y) in &map {
        let w = 1.0 / (y.err * y.err).max(1e-300);
        sw += w;
        sx += w * x;
        sy += w * y.mean;
        sxx += w * x * x;
        sxy += w * x * y.mean;
    }
    let det = sw * sxx - sx * sx;
    let slope = Estimate {
        mean: (sw * sxy - sx * sy) / det,
        err: (sw / det).sqrt(),
    };
    let intercept = (sxx * sy - sx * sxy) / det;
    let (var_a, var_s, cov_as) = (sxx / det, sw / det, -sx / det);
    // μ²* = a / (1 − s); its error from the covariance of the fitted line.
    let one_minus = 1.0 - slope.mean;
    let (da, ds) = (1.0 / one_minus, intercept / (one_minus * one_minus));
    let fixed_point = Estimate {
        mean: intercept / one_minus,
        err: (da * da * var_a + ds * ds * var_s + 2.0 * da * ds * cov_as)
            .max(0.0)
            .sqrt(),
    };
    let k = level as f64;
    let ln = slope.mean.ln();
    let nu = Estimate {
        mean: -k * std::f64::consts::LN_2 / ln,
        err: k * std::f64::consts::LN_2 * slope.err / (slope.mean * ln * ln).abs(),
    };
    Ok(Flow {
        level,
        size,
        map,
        slope,
        nu,
        fixed_point,
    })
}
