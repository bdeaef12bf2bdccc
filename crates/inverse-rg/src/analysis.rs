//! Observables of rescaled ensembles, their reweighting in μ² with the parents' action, and
//! critical exponents, all with jackknife errors over bins of parent configurations.

use mc_sampler::stats::{bin_chains, bin_size_for, gamma_method, jackknife};
use reweight::Target;

use crate::IrgError;
use crate::ensemble::RescaledEnsemble;

/// A mean with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Central value.
    pub mean: f64,
    /// Standard error (jackknife over bins of parent configurations).
    pub err: f64,
}

/// The observables of one size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeObservables {
    /// Linear size `L`.
    pub size: usize,
    /// `⟨|m|⟩`.
    pub m_abs: Estimate,
    /// `⟨m²⟩`.
    pub m2: Estimate,
    /// `χ = V (⟨m²⟩ − ⟨|m|⟩²)`.
    pub chi: Estimate,
    /// `U = 1 − ⟨m⁴⟩ / (3 ⟨m²⟩²)`.
    pub binder: Estimate,
    /// `dU/dμ²` of the parents' couplings.
    pub binder_slope: Estimate,
}

/// Per configuration: the weight, then `(|m|, m², m⁴)` of every level times the weight,
/// then `P = Σφ²` of the parent times the weight, then `(m², m⁴)` of every level times
/// `P` times the weight.
const PER_LEVEL: usize = 3;

/// Bins of weighted products, ready for the jackknife.
struct Binned {
    bins: Vec<Vec<f64>>,
    n_levels: usize,
}

impl Binned {
    fn ratio(&self, means: &[f64], q: usize) -> f64 {
        means[q] / means[0]
    }

    fn level(&self, means: &[f64], level: usize, k: usize) -> f64 {
        self.ratio(means, 1 + PER_LEVEL * level + k)
    }

    fn p(&self, means: &[f64]) -> f64 {
        self.ratio(means, 1 + PER_LEVEL * self.n_levels)
    }

    fn level_p(&self, means: &[f64], level: usize, k: usize) -> f64 {
        self.ratio(means, 2 + PER_LEVEL * self.n_levels + 2 * level + k)
    }

    /// `(⟨|m|⟩, ⟨m²⟩, χ, U, dU/dμ²)` of `level` on `n_sites` sites from bin means.
    fn derived(&self, means: &[f64], level: usize, n_sites: f64) -> [f64; 5] {
        let m_abs = self.level(means, level, 0);
        let m2 = self.level(means, level, 1);
        let m4 = self.level(means, level, 2);
        let p = self.p(means);
        // d⟨O⟩/dμ² = −½ (⟨O P⟩ − ⟨O⟩⟨P⟩), since ∂S/∂μ² = ½ Σφ².
        let dm2 = -0.5 * (self.level_p(means, level, 0) - m2 * p);
        let dm4 = -0.5 * (self.level_p(means, level, 1) - m4 * p);
        let binder = 1.0 - m4 / (3.0 * m2 * m2);
        let slope = -(dm4 * m2 - 2.0 * m4 * dm2) / (3.0 * m2 * m2 * m2);
        [m_abs, m2, n_sites * (m2 - m_abs * m_abs).max(0.0), binder, slope]
    }
}

impl RescaledEnsemble {
    /// The bin size over parent configurations: [`bin_size_for`] the largest Γ-method
    /// `τ_int` of `|m|` and `m²` over all levels (chains of parents as replicas).
    pub fn bin_size(&self) -> usize {
        let mut tau: f64 = 0.5;
        let mut n = 0;
        for level in &self.levels {
            for k in 0..2 {
                let series: Vec<Vec<f64>> = level
                    .iter()
                    .map(|c| c.iter().map(|o| if k == 0 { o.m_abs } else { o.m2 }).collect())
                    .collect();
                let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
                let est = gamma_method(&refs);
                if est.tau_int.is_finite() {
                    tau = tau.max(est.tau_int);
                }
                n = est.n_samples;
            }
        }
        let shortest = self
            .parent_sums
            .iter()
            .map(Vec::len)
            .filter(|&l| l > 0)
            .min()
            .unwrap_or(1);
        bin_size_for(tau, n).min(shortest).max(1)
    }

    fn binned(&self, mu2: f64) -> Result<Binned, IrgError> {
        if !mu2.is_finite() {
            return Err(IrgError::Parameter(format!(
                "μ² = {mu2} is not finite; give a finite value"
            )));
        }
        let sampled = Target::new(self.target);
        let target = Target::new(phi4_action::Homogeneous { mu2, ..self.target });
        let log_w: Vec<Vec<f64>> = self
            .parent_sums
            .iter()
            .map(|c| {
                c.iter()
                    .map(|s| sampled.real_action(s) - target.real_action(s))
                    .collect()
            })
            .collect();
        let max = log_w.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
        let n_levels = self.levels.len();
        let n_q = 2 + PER_LEVEL * n_levels + 2 * n_levels;
        // quantities[q][c][k]
        let mut quantities = vec![Vec::with_capacity(self.parent_sums.len()); n_q];
        for (c, sums) in self.parent_sums.iter().enumerate() {
            let mut per_q = vec![Vec::with_capacity(sums.len()); n_q];
            for (k, s) in sums.iter().enumerate() {
                let w = (log_w[c][k] - max).exp();
                per_q[0].push(w);
                for (l, level) in self.levels.iter().enumerate() {
                    let o = &level[c][k];
                    per_q[1 + PER_LEVEL * l].push(w * o.m_abs);
                    per_q[2 + PER_LEVEL * l].push(w * o.m2);
                    per_q[3 + PER_LEVEL * l].push(w * o.m4);
                    per_q[2 + PER_LEVEL * n_levels + 2 * l].push(w * s.phi2 * o.m2);
                    per_q[3 + PER_LEVEL * n_levels + 2 * l].push(w * s.phi2 * o.m4);
                }
                per_q[1 + PER_LEVEL * n_levels].push(w * s.phi2);
            }
            for (q, series) in per_q.into_iter().enumerate() {
                quantities[q].push(series);
            }
        }
        let refs: Vec<Vec<&[f64]>> = quantities
            .iter()
            .map(|q| q.iter().map(Vec::as_slice).collect())
            .collect();
        let refs: Vec<&[&[f64]]> = refs.iter().map(Vec::as_slice).collect();
        Ok(Binned {
            bins: bin_chains(&refs, self.bin_size()),
            n_levels,
        })
    }

    /// The observables of every size at the parents' couplings.
    pub fn observables(&self) -> Vec<SizeObservables> {
        self.observables_at(self.target.mu2).expect("the parents' μ² is finite")
    }

    /// The observables of every size reweighted to `mu2` with the parents' action
    /// (`exp(−ΔS)` of each parent weighs its whole lineage; the refinement sweeps stay at
    /// the couplings they were done at, so keep `mu2` within the overlap of the parents).
    pub fn observables_at(&self, mu2: f64) -> Result<Vec<SizeObservables>, IrgError> {
        let binned = self.binned(mu2)?;
        Ok(self
            .sizes
            .iter()
            .enumerate()
            .map(|(level, &size)| {
                let v = (size * size) as f64;
                let est = |k: usize| {
                    let j = jackknife(&binned.bins, |m| binned.derived(m, level, v)[k]);
                    Estimate {
                        mean: j.mean,
                        err: j.err,
                    }
                };
                SizeObservables {
                    size,
                    m_abs: est(0),
                    m2: est(1),
                    chi: est(2),
                    binder: est(3),
                    binder_slope: est(4),
                }
            })
            .collect())
    }

    /// Fits of `ln y = c + s ln L` over the levels `levels` at `mu2`, for `y` = χ and
    /// `y = |dU/dμ²|`: returns `(γ/ν, ν)` = `(s_χ, 1/s_U)` with jackknife errors (each
    /// jackknife sample drops one bin of parents from every level at once, so the
    /// correlations between levels are in the errors).
    pub fn exponents(&self, mu2: f64, levels: std::ops::Range<usize>) -> Result<Exponents, IrgError> {
        if levels.end > self.sizes.len() || levels.len() < 2 {
            return Err(IrgError::Parameter(format!(
                "fitting exponents needs at least two of the {} levels; got levels {levels:?}",
                self.sizes.len()
            )));
        }
        let binned = self.binned(mu2)?;
        let logs: Vec<f64> = levels.clone().map(|l| (self.sizes[l] as f64).ln()).collect();
        let fit = |means: &[f64], k: usize| {
            let ys: Vec<f64> = levels
                .clone()
                .map(|l| {
                    let v = (self.sizes[l] * self.sizes[l]) as f64;
                    binned.derived(means, l, v)[k].abs().ln()
                })
                .collect();
            slope(&logs, &ys)
        };
        let g = jackknife(&binned.bins, |m| fit(m, 2));
        let s = jackknife(&binned.bins, |m| fit(m, 4));
        let nu = jackknife(&binned.bins, |m| 1.0 / fit(m, 4));
        Ok(Exponents {
            gamma_over_nu: Estimate {
                mean: g.mean,
                err: g.err,
            },
            inverse_nu: Estimate {
                mean: s.mean,
                err: s.err,
            },
            nu: Estimate {
                mean: nu.mean,
                err: nu.err,
            },
        })
    }
}

/// Critical exponents from the scaling of the rescaled sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponents {
    /// `γ/ν` from `χ ∝ L^{γ/ν}`.
    pub gamma_over_nu: Estimate,
    /// `1/ν` from `dU/dμ² ∝ L^{1/ν}`.
    pub inverse_nu: Estimate,
    /// `ν`.
    pub nu: Estimate,
}

/// The least-squares slope of `ys` against `xs`.
pub(crate) fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// Jackknife over independent ensembles: `samples[e]` are the bins of ensemble `e`, and `f`
/// maps the bin means of every ensemble to the derived value.  The variance is the sum over
/// ensembles of the delete-one-bin jackknife variance in that ensemble with the others at
/// their full means.
pub(crate) fn multi_jackknife(samples: &[&[Vec<f64>]], f: impl Fn(&[Vec<f64>]) -> f64) -> Estimate {
    let full: Vec<Vec<f64>> = samples.iter().map(|b| crate::flow::mean_of_bins(b)).collect();
    let centre = f(&full);
    let mut variance = 0.0;
    for (j, bins) in samples.iter().enumerate() {
        let n = bins.len();
        let total: Vec<f64> = full[j].iter().map(|m| m * n as f64).collect();
        let mut means = full.clone();
        let thetas: Vec<f64> = bins
            .iter()
            .map(|bin| {
                means[j] = total.iter().zip(bin).map(|(t, x)| (t - x) / (n - 1) as f64).collect();
                f(&means)
            })
            .collect();
        let avg = thetas.iter().sum::<f64>() / n as f64;
        variance += (n - 1) as f64 / n as f64 * thetas.iter().map(|t| (t - avg) * (t - avg)).sum::<f64>();
    }
    Estimate {
        mean: centre,
        err: variance.sqrt(),
    }
}
