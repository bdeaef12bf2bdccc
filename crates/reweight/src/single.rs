//! Single-ensemble reweighting `S → T` with jackknife errors and overlap diagnostics.

use mc_sampler::stats::{bin_chains, bin_size_for, gamma_method, jackknife};
use num_complex::Complex64;
use rayon::prelude::*;

use crate::ReweightError;
use crate::ensemble::ReweightEnsemble;
use crate::flags::{Flag, Thresholds, hotelling_p_value};
use crate::psis::pareto_k_hat;
use crate::target::Target;
use phi4_action::Observables;

/// A (possibly complex) expectation value with the jackknife errors of its real and
/// imaginary parts.  For real targets `im` and `err_im` are zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
    /// Error of the real part.
    pub err_re: f64,
    /// Error of the imaginary part.
    pub err_im: f64,
}

impl Estimate {
    /// The value as a complex number.
    pub fn value(&self) -> Complex64 {
        Complex64::new(self.re, self.im)
    }
}

/// A real number with its error.
pub type RealEstimate = records::MeanErr;

/// Reweighted observables under the target (definitions in DESIGN.md section 2, with
/// `action_density = T/V` of the target, complex for complex targets), in the output order
/// of `qftml reweight`.
pub type ObservableEstimates = records::ReweightedObservables<Estimate>;

/// The observables from the estimates of the reweighted quantities, indexed in the order
/// `m, |m|, m², m⁴, φ², φ⁴, nn, T/V, χ, U`.
pub(crate) fn observables_from(e: impl Fn(usize) -> Estimate) -> ObservableEstimates {
    records::ReweightedObservables {
        run: records::ObservableSet {
            phi2: e(4),
            m_abs: e(1),
            m2: e(2),
            m4: e(3),
            nn: e(6),
            action_density: e(7),
            chi: e(8),
            binder: e(9),
        },
        m: e(0),
        phi4: e(5),
    }
}

/// Histograms of `x = T − S` (real part, per configuration) on common bins.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlapHistogram {
    /// Bin edges, `n_bins + 1` values.
    pub edges: Vec<f64>,
    /// Fraction of the samples in each bin: the distribution of `x` under `S`.
    pub under_sampled: Vec<f64>,
    /// Fraction of the weight `e^{−x}` in each bin: the distribution of `x` under `Re T`.
    pub under_target: Vec<f64>,
}

/// How well the sampled ensemble covers the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    /// Kish effective sample size `(Σw)²/Σw²` of the weights `w = e^{−(Re T − S)}`.
    pub ess: f64,
    /// Pareto tail diagnostic k̂ of the same weights ([`crate::pareto_k_hat`]; NaN when the
    /// largest weights are all equal, e.g. for a target that differs only in its imaginary
    /// part).
    pub k_hat: f64,
    /// The k̂ above which the point is flagged (`min(0.45, 1 − 1/log₁₀ N)`).
    pub k_hat_threshold: f64,
    /// `ess / n_samples`.
    pub ess_fraction: f64,
    /// `KL(p_T‖p_S) = ⟨ln w⟩_T − ln⟨w⟩_S` (real part of the target).
    pub kl_target_sampled: RealEstimate,
    /// `KL(p_S‖p_T) = ln⟨w⟩_S − ⟨ln w⟩_S`.
    pub kl_sampled_target: RealEstimate,
    /// Histograms of `T − S` under both.
    pub histogram: OverlapHistogram,
}

/// Everything known about one reweighted point.
#[derive(Debug, Clone, PartialEq)]
pub struct Reweighted {
    /// The target.
    pub target: Target,
    /// Observables under the target; `None` when the average phase is consistent with zero
    /// ([`Flag::PhaseUnresolved`]): the ratio of two noise-dominated averages is no number.
    pub observables: Option<ObservableEstimates>,
    /// `ln(Z_{Re T}/Z_S) = ln⟨e^{−(Re T − S)}⟩_S`.
    pub ln_z_ratio: RealEstimate,
    /// For complex targets, the average phase `⟨e^{−i Im T}⟩_{Re T} = Z_T/Z_{Re T}`.
    pub avg_phase: Option<Phase>,
    /// Overlap diagnostics.
    pub overlap: Overlap,
    /// Number of configurations used.
    pub n_samples: usize,
    /// Bin size of the jackknife (within chains).
    pub bin_size: usize,
    /// Number of jackknife bins.
    pub n_bins: usize,
    /// The integrated autocorrelation time that set the bin size: the largest Γ-method
    /// `τ_int` of the sampled observables ([`ReweightEnsemble::tau_int`]), the weights and, for complex
    /// targets, the phase factors.
    pub tau_int: f64,
    /// Why the point is not to be trusted (see [`Thresholds`]); empty for a trusted point.
    pub flags: Vec<Flag>,
    /// True when `flags` is not empty.
    pub flagged: bool,
    /// The flags and any other warning about the errors, as one sentence for people.
    pub reason: Option<String>,
}

/// The average phase of a complex target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Real part of `⟨e^{−iθ}⟩`.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
    /// `|⟨e^{−iθ}⟩|`.
    pub abs: f64,
    /// Jackknife error of `abs`.
    pub err: f64,
    /// Jackknife error of `re`.
    pub err_re: f64,
    /// Jackknife error of `im`.
    pub err_im: f64,
    /// Probability that a zero phase gives a value at least this far from zero (Hotelling's
    /// test on `re`, `im` with their jackknife covariance).
    pub p_value: f64,
}

/// Knobs of a reweighting run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReweightOptions {
    /// Flagging rule.
    pub thresholds: Thresholds,
    /// Number of histogram bins of `T − S`.
    pub histogram_bins: usize,
    /// A fixed jackknife bin size; `None` chooses it from the Γ-method `τ_int` of the weighted
    /// series (`mc_sampler::stats::bin_size_for`).
    pub bin_size: Option<usize>,
    /// Upper limit on the number of jackknife bins (the automatic bin size grows to respect
    /// it; longer bins never bias the error, they only make it noisier).
    pub max_bins: usize,
    /// Number of points tested together, for the phase test's threshold; [`scan`] uses at
    /// least the number of its targets.
    pub scan_points: usize,
}

impl ReweightOptions {
    /// Recommended settings: [`Thresholds::RECOMMENDED`], 40 histogram bins, automatic bin
    /// size, at most 1000 jackknife bins, one point.
    pub fn recommended() -> Self {
        Self {
            thresholds: Thresholds::RECOMMENDED,
            histogram_bins: 40,
            bin_size: None,
            max_bins: 1000,
            scan_points: 1,
        }
    }

    /// The same options for a point that is one of `n` tested together.
    pub fn with_scan_points(mut self, n: usize) -> Self {
        self.scan_points = n.max(1);
        self
    }

    /// The same options with a fixed jackknife bin size.
    pub fn with_bin_size(mut self, bin_size: usize) -> Self {
        self.bin_size = Some(bin_size);
        self
    }
}

/// Index of each quantity in the per-configuration vector.
const Q_W: usize = 0; // w̃
const Q_WLW: usize = 1; // w̃ (lw − c)
const Q_LW: usize = 2; // lw − c
const Q_PRE: usize = 3; // w̃ cos θ
const Q_PIM: usize = 4; // −w̃ sin θ
const Q_OBS: usize = 5; // then (re, im) of w̃ e^{−iθ} O for each observable
const N_OBS: usize = 8; // m, m_abs, m2, m4, phi2, phi4, nn, action_density
const N_Q: usize = Q_OBS + 2 * N_OBS;

/// Derived values from the vector of quantity means.
struct Derived {
    obs: [Complex64; 10],
    phase: Complex64,
    ln_mean_w: f64,
    kl_ts: f64,
    kl_st: f64,
}

fn derive(q: &[f64], n_sites: f64) -> Derived {
    let p = Complex64::new(q[Q_PRE], q[Q_PIM]);
    let mut obs = [Complex64::new(0.0, 0.0); 10];
    for (k, o) in obs.iter_mut().take(N_OBS).enumerate() {
        *o = Complex64::new(q[Q_OBS + 2 * k], q[Q_OBS + 2 * k + 1]) / p;
    }
    let (m_abs, m2, m4) = (obs[1], obs[2], obs[3]);
    obs[8] = n_sites * (m2 - m_abs * m_abs);
    obs[9] = 1.0 - m4 / (3.0 * m2 * m2);
    let ln_mean_w = q[Q_W].ln();
    Derived {
        obs,
        phase: p / q[Q_W],
        ln_mean_w,
        kl_ts: q[Q_WLW] / q[Q_W] - ln_mean_w,
        kl_st: ln_mean_w - q[Q_LW],
    }
}

/// Reweight `ensemble` to `target`.
pub fn reweight(
    ensemble: &ReweightEnsemble,
    target: &Target,
    options: &ReweightOptions,
) -> Result<Reweighted, ReweightError> {
    target.couplings(&ensemble.lattice)?;
    Ok(evaluate(ensemble, target, options))
}

/// Reweight `ensemble` to every point of `targets` (e.g. from [`crate::trajectory`]); each
/// point costs O(number of configurations); points run in parallel (rayon), with results
/// independent of the number of threads.
pub fn scan(
    ensemble: &ReweightEnsemble,
    targets: &[Target],
    options: &ReweightOptions,
) -> Result<Vec<Reweighted>, ReweightError> {
    for t in targets {
        t.couplings(&ensemble.lattice)?;
    }
    let options = options.with_scan_points(options.scan_points.max(targets.len()));
    // Points are independent and each is evaluated sequentially, so the result does not
    // depend on the number of threads.
    Ok(targets.par_iter().map(|t| evaluate(ensemble, t, &options)).collect())
}

fn evaluate(ensemble: &ReweightEnsemble, target: &Target, options: &ReweightOptions) -> Reweighted {
    let n_sites = ensemble.lattice.n_sites();
    let v = n_sites as f64;
    let n_chains = ensemble.chains.len();
    let weights: Vec<(Vec<f64>, Vec<f64>)> = (0..n_chains).map(|c| ensemble.log_weights(c, target)).collect();
    let lw_max = weights
        .iter()
        .flat_map(|(lw, _)| lw.iter().copied())
        .fold(f64::NEG_INFINITY, f64::max);

    // Per chain, per quantity series.
    let mut series: Vec<Vec<Vec<f64>>> = Vec::with_capacity(n_chains);
    for (chain, (lw, theta)) in ensemble.chains.iter().zip(&weights) {
        let n = chain.len();
        let mut cols: Vec<Vec<f64>> = (0..N_Q).map(|_| Vec::with_capacity(n)).collect();
        for ((s, &l), &th) in chain.stats().iter().zip(lw).zip(theta) {
            let lwc = l - lw_max;
            let w = lwc.exp();
            let (sin, cos) = th.sin_cos();
            let (pre, pim) = (w * cos, -w * sin);
            let obs_re = Observables::from_sums(s, n_sites, target.real_action(s)).to_array();
            let obs_im = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, target.imag_action(s) / v];
            cols[Q_W].push(w);
            cols[Q_WLW].push(w * lwc);
            cols[Q_LW].push(lwc);
            cols[Q_PRE].push(pre);
            cols[Q_PIM].push(pim);
            for k in 0..N_OBS {
                let (ore, oim) = (obs_re[k], obs_im[k]);
                cols[Q_OBS + 2 * k].push(pre * ore - pim * oim);
                cols[Q_OBS + 2 * k + 1].push(pre * oim + pim * ore);
            }
        }
        series.push(cols);
    }
    let n_samples: usize = ensemble.chains.iter().map(|c| c.len()).sum();
    let full: Vec<f64> = (0..N_Q)
        .map(|q| series.iter().map(|cols| cols[q].iter().sum::<f64>()).sum::<f64>() / n_samples as f64)
        .collect();

    // Bin size from the Γ-method τ_int: of the observables (once per ensemble) and of the
    // weights and phase factors of this target.
    let weight_series: &[usize] = if target.is_complex() {
        &[Q_W, Q_PRE, Q_PIM]
    } else {
        &[Q_W]
    };
    let tau_int = weight_series
        .iter()
        .map(|&q| {
            let replicas: Vec<&[f64]> = series.iter().map(|cols| cols[q].as_slice()).collect();
            gamma_method(&replicas).tau_int
        })
        .filter(|t| t.is_finite())
        .fold(ensemble.tau_int, f64::max);
    let shortest = ensemble
        .chains
        .iter()
        .map(|c| c.len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(1);
    let bin_size = options.bin_size.unwrap_or_else(|| {
        let by_count = n_samples.div_ceil(options.max_bins.max(2));
        bin_size_for(tau_int, n_samples).max(by_count).min(shortest.max(1))
    });
    let per_quantity: Vec<Vec<&[f64]>> = (0..N_Q)
        .map(|q| series.iter().map(|cols| cols[q].as_slice()).collect())
        .collect();
    let refs: Vec<&[&[f64]]> = per_quantity.iter().map(|c| c.as_slice()).collect();
    let bins = bin_chains(&refs, bin_size.max(1));
    let n_bins = bins.len();

    let central = derive(&full, v);
    let jk = |f: &dyn Fn(&Derived) -> f64| jackknife(&bins, |q| f(&derive(q, v))).err;
    let est = |k: usize| Estimate {
        re: central.obs[k].re,
        im: central.obs[k].im,
        err_re: jk(&|d| d.obs[k].re),
        err_im: jk(&|d| d.obs[k].im),
    };
    let observables = observables_from(est);
    let ln_z_ratio = RealEstimate {
        mean: lw_max + central.ln_mean_w,
        err: jk(&|d| d.ln_mean_w),
    };
    let avg_phase = target.is_complex().then(|| {
        // The jackknife variance is a quadratic form in the replicates, so the covariance
        // follows from the variances of re, im and re + im.
        let (var_re, var_im) = (jk(&|d| d.phase.re).powi(2), jk(&|d| d.phase.im).powi(2));
        let var_sum = jk(&|d| d.phase.re + d.phase.im).powi(2);
        let c = (var_sum - var_re - var_im) / 2.0;
        let cov = [[var_re, c], [c, var_im]];
        Phase {
            re: central.phase.re,
            im: central.phase.im,
            abs: central.phase.norm(),
            err: jk(&|d| d.phase.norm()),
            err_re: cov[0][0].sqrt(),
            err_im: cov[1][1].sqrt(),
            p_value: hotelling_p_value([central.phase.re, central.phase.im], cov, n_bins),
        }
    });

    // Overlap.
    let (sum_w, sum_w2) = series
        .iter()
        .flat_map(|cols| cols[Q_W].iter())
        .fold((0.0, 0.0), |(a, b), &w| (a + w, b + w * w));
    let ess = sum_w * sum_w / sum_w2;
    let all_log_weights: Vec<f64> = weights.iter().flat_map(|(lw, _)| lw.iter().copied()).collect();
    let t = &options.thresholds;
    let histogram = histogram(&weights, lw_max, options.histogram_bins.max(1));
    let overlap = Overlap {
        ess,
        k_hat: pareto_k_hat(&all_log_weights),
        k_hat_threshold: t.k_hat_threshold(n_samples),
        ess_fraction: ess / n_samples as f64,
        kl_target_sampled: RealEstimate {
            mean: central.kl_ts,
            err: jk(&|d| d.kl_ts),
        },
        kl_sampled_target: RealEstimate {
            mean: central.kl_st,
            err: jk(&|d| d.kl_st),
        },
        histogram,
    };

    let mut flags = t.weight_flags(overlap.k_hat, ess, n_samples, n_samples);
    let mut observables = Some(observables);
    if let Some(p) = &avg_phase {
        let alpha = t.phase_alpha_per_point(options.scan_points);
        if p.p_value.is_nan() || p.p_value > alpha {
            flags.push(Flag::PhaseUnresolved {
                abs: p.abs,
                err: p.err,
                p_value: p.p_value,
                alpha,
                n_points: options.scan_points.max(1),
            });
            observables = None;
        }
    }
    if observables.as_ref().is_some_and(|o| {
        o.named()
            .iter()
            .any(|(_, e)| ![e.re, e.im, e.err_re, e.err_im].iter().all(|x| x.is_finite()))
    }) {
        flags.push(Flag::NotFinite);
    }
    let mut reasons: Vec<String> = flags.iter().map(Flag::to_string).collect();
    if n_bins < 20 {
        reasons.push(format!(
            "only {n_bins} jackknife bins: the errors are themselves uncertain; sample more or use a smaller bin size"
        ));
    }
    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));

    Reweighted {
        target: *target,
        observables,
        ln_z_ratio,
        avg_phase,
        overlap,
        n_samples,
        bin_size,
        n_bins,
        tau_int,
        flagged: !flags.is_empty(),
        flags,
        reason,
    }
}

fn histogram(weights: &[(Vec<f64>, Vec<f64>)], lw_max: f64, n_bins: usize) -> OverlapHistogram {
    // x = T − S = −lw.
    let (lo, hi) = weights
        .iter()
        .flat_map(|(lw, _)| lw.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &l| {
            (lo.min(-l), hi.max(-l))
        });
    let width = if hi > lo { (hi - lo) / n_bins as f64 } else { 1.0 };
    let edges: Vec<f64> = (0..=n_bins).map(|k| lo + width * k as f64).collect();
    let (mut under_sampled, mut under_target) = (vec![0.0; n_bins], vec![0.0; n_bins]);
    let (mut n, mut total_w) = (0.0, 0.0);
    for (lw, _) in weights {
        for &l in lw {
            let k = (((-l - lo) / width) as usize).min(n_bins - 1);
            let w = (l - lw_max).exp();
            under_sampled[k] += 1.0;
            under_target[k] += w;
            n += 1.0;
            total_w += w;
        }
    }
    under_sampled.iter_mut().for_each(|x| *x /= n);
    under_target.iter_mut().for_each(|x| *x /= total_w);
    OverlapHistogram {
        edges,
        under_sampled,
        under_target,
    }
}
