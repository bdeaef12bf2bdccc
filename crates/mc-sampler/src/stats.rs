//! Statistics of Markov-chain data: Wolff's Γ-method, binning and the jackknife.
//!
//! # Primary observables: the Γ-method
//!
//! [`gamma_method`] follows U. Wolff, *Monte Carlo errors with less errors*,
//! Comput. Phys. Commun. 156 (2004) 143, hep-lat/0306017 (the `UWerr` recipe) for one
//! primary observable measured on `R` independent replicas (chains) of lengths `N_r`,
//! `N = Σ N_r`:
//!
//! * the mean is the mean of all `N` samples, `ā = Σ_r Σ_i a_i^r / N`;
//! * the autocorrelation function sums over replicas but never across their boundaries,
//!   with deviations from the overall mean (Wolff, sect. 3.3):
//!   `Γ(t) = Σ_r Σ_{i=1}^{N_r−t} (a_i^r − ā)(a_{i+t}^r − ā) / Σ_r max(N_r − t, 0)`;
//! * the window `W` is the first `W ≥ 1` with `g(W) = exp(−W/τ_W) − τ_W/√(W N) < 0`, where
//!   `τ_W = S / ln((2τ(W) + 1)/(2τ(W) − 1))`, `τ(W) = ½ + Σ_{t=1}^{W} Γ(t)/Γ(0)` (and
//!   `τ_W → 0` once `τ(W) ≤ ½`), searched up to half the longest replica; `S = 1.5` by
//!   default ([`DEFAULT_S_TAU`]);
//! * `C = Γ(0) + 2 Σ_{t=1}^{W} Γ(t)`; the bias of `Γ` from subtracting the estimated mean is
//!   corrected by `Γ(t) → Γ(t) + C/N` (Wolff eq. 49), so `C → C (1 + (2W + 1)/N)`;
//! * `err = √(C/N)`, `τ_int = C / (2Γ(0))` (both bias-corrected), and
//!   `δτ_int = 2 τ_int √((W + ½ − τ_int)/N)` (Madras–Sokal, Wolff eq. 42).
//!
//! `Γ(t)` is computed for all lags at once with a fast Fourier transform, so the cost is
//! `O(N log N)` even when the window grows large.
//!
//! Estimates that cannot be trusted carry a [`GammaEstimate::warning`] that says why:
//! fewer than [`MIN_SAMPLES_PER_TAU`] `τ_int` of data, a window that did not close before
//! half the chain length, a non-positive summed autocorrelation (strongly anticorrelated
//! data), replica means that disagree (`Q < 0.001` for the `χ²` of the replica means, as in
//! `UWerr`), constant or empty input.  Numbers stay finite (no NaN, no negative variance)
//! whenever there are at least two finite samples.
//!
//! # Derived quantities: binning and the jackknife
//!
//! Nonlinear functions of means (the susceptibility `χ = V(⟨m²⟩ − ⟨|m|⟩²)`, the Binder
//! cumulant `U = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`, ratios) get their errors from a delete-one-bin
//! [`jackknife`] over bins that are long compared with `τ_int` ([`bin_size_for`]).  Bins
//! lie within chains, never across chain boundaries ([`bin_chains`]).
//! [`chi_and_binder`] does all of it for the standard magnetisation cumulants.
//!
//! # Example
//!
//! ```
//! use mc_sampler::chain_rng;
//! use mc_sampler::stats::{bin_chains, bin_size_for, gamma_method, jackknife};
//! use rand::Rng;
//!
//! // Two replicas of an AR(1) process x_t = 0.8 x_{t−1} + ε_t (τ_int = 4.5) around 1.
//! let replica = |chain| {
//!     let mut rng = chain_rng(7, chain);
//!     let mut x = 0.0;
//!     (0..20_000).map(|_| { x = 0.8 * x + rng.random::<f64>() - 0.5; 1.0 + x }).collect::<Vec<f64>>()
//! };
//! let (a, b) = (replica(0), replica(1));
//! let est = gamma_method(&[&a, &b]);
//! assert!((est.mean - 1.0).abs() < 4.0 * est.err && est.warning.is_none());
//! assert!((est.tau_int - 4.5).abs() < 4.0 * est.tau_int_err);
//!
//! // Jackknife of a nonlinear function (⟨x²⟩ − ⟨x⟩²), bins long compared with τ_int.
//! let squares = |s: &[f64]| s.iter().map(|x| x * x).collect::<Vec<f64>>();
//! let (a2, b2) = (squares(&a), squares(&b));
//! let bins = bin_chains(&[&[&a, &b], &[&a2, &b2]], bin_size_for(est.tau_int, est.n_samples));
//! let variance = jackknife(&bins, |m| m[1] - m[0] * m[0]);
//! assert!(variance.mean > 0.0 && variance.err > 0.0 && variance.n_bins >= 20);
//! ```

#[cfg(test)]
mod tests;

/// Wolff's default `S`: the window is chosen where the statistical error of `τ_int` and its
/// truncation bias balance for `τ_exp ≈ S τ_int` (hep-lat/0306017, sect. 3.3).
pub const DEFAULT_S_TAU: f64 = 1.5;

/// Fewer samples than this many `τ_int` give a warning: the error of the error and of
/// `τ_int` are then no longer small, and a slow mode may have been missed altogether.
pub const MIN_SAMPLES_PER_TAU: f64 = 50.0;

/// Replica means whose `χ²` has a `Q`-value below this threshold give a warning.
pub const REPLICA_Q_THRESHOLD: f64 = 1e-3;

/// Result of the Γ-method for one primary observable.
#[derive(Debug, Clone, PartialEq)]
pub struct GammaEstimate {
    /// Mean over all samples of all replicas.
    pub mean: f64,
    /// Standard error of the mean, including autocorrelations.
    pub err: f64,
    /// Integrated autocorrelation time in units of the sample spacing (½ for independent
    /// samples).
    pub tau_int: f64,
    /// Statistical error of `tau_int` (Madras–Sokal).
    pub tau_int_err: f64,
    /// The summation window `W` (0 when no autocorrelation could be summed).
    pub window: usize,
    /// Total number of samples `N` over all replicas.
    pub n_samples: usize,
    /// Why the estimate should not be trusted, if it should not; `None` when it is fine.
    pub warning: Option<String>,
}

/// Wolff's Γ-method (hep-lat/0306017) for a primary observable measured on independent
/// replicas, with automatic windowing at `S = 1.5`; see the [module docs](self) for the
/// formulas.  Empty replicas are skipped.
///
/// With no samples the mean and error are NaN, and with a single sample the error is NaN
/// (both with a warning); non-finite samples make the mean and error NaN with a warning.
/// Otherwise every field is finite.
pub fn gamma_method(replicas: &[&[f64]]) -> GammaEstimate {
    gamma_method_with(replicas, DEFAULT_S_TAU)
}

/// [`gamma_method`] with a chosen `S` (`s_tau`), Wolff's ratio `τ_exp/τ_int` assumed by the
/// windowing rule: larger `S` gives larger windows (less truncation bias, more noise).
///
/// # Panics
///
/// If `s_tau` is not a finite positive number.
pub fn gamma_method_with(replicas: &[&[f64]], s_tau: f64) -> GammaEstimate {
    assert!(
        s_tau.is_finite() && s_tau > 0.0,
        "S = {s_tau} must be a finite positive number"
    );
    let chains: Vec<&[f64]> = replicas.iter().copied().filter(|r| !r.is_empty()).collect();
    let n: usize = chains.iter().map(|c| c.len()).sum();
    let nf = n as f64;
    let undefined = |mean: f64, warning: String| GammaEstimate {
        mean,
        err: f64::NAN,
        tau_int: 0.5,
        tau_int_err: 0.0,
        window: 0,
        n_samples: n,
        warning: Some(warning),
    };
    if n == 0 {
        return undefined(f64::NAN, "no samples: the mean and its error are undefined".into());
    }
    if chains.iter().any(|c| c.iter().any(|x| !x.is_finite())) {
        return undefined(
            f64::NAN,
            "the series contains NaN or infinite values: fix the measurement".into(),
        );
    }
    let mean = chains.iter().map(|c| c.iter().sum::<f64>()).sum::<f64>() / nf;
    if n == 1 {
        return undefined(
            mean,
            "a single sample has no error estimate: measure more configurations".into(),
        );
    }
    let first = chains[0][0];
    if chains.iter().all(|c| c.iter().all(|&x| x == first)) {
        return GammaEstimate {
            mean: first,
            err: 0.0,
            tau_int: 0.5,
            tau_int_err: 0.0,
            window: 0,
            n_samples: n,
            warning: Some("the series is constant: its error is zero and τ_int is undefined (reported as 0.5)".into()),
        };
    }

    let w_max = chains.iter().map(|c| c.len()).max().unwrap_or(0) / 2;
    let gamma = autocorrelation(&chains, mean, w_max);
    let gamma0 = gamma[0];
    let mut warnings = Vec::new();

    // Automatic windowing.
    let mut window = None;
    let mut gint = 0.0;
    for (w, &g) in gamma.iter().enumerate().skip(1) {
        gint += g / gamma0;
        let tau_w = if gint <= 0.0 {
            f64::EPSILON
        } else {
            s_tau / ((gint + 1.0) / gint).ln()
        };
        let g_w = (-(w as f64) / tau_w).exp() - tau_w / (w as f64 * nf).sqrt();
        if g_w < 0.0 {
            window = Some(w);
            break;
        }
    }
    let window = match window {
        Some(w) => w,
        None if w_max == 0 => {
            warnings.push(format!(
                "every replica has fewer than 2 samples ({n} in total), so no autocorrelation could be \
                 estimated: the error assumes independent samples; measure longer chains"
            ));
            0
        }
        None => {
            warnings.push(format!(
                "the automatic window did not close up to W = {w_max} (half the longest replica): the \
                 chains are too short for their autocorrelation time and the error is underestimated; \
                 run much longer chains"
            ));
            w_max
        }
    };

    // Summed autocorrelation, bias-corrected (Wolff eq. 49).
    let c_raw = gamma0 + 2.0 * gamma[1..=window].iter().sum::<f64>();
    let (c, gamma0_corr) = (c_raw * (1.0 + (2 * window + 1) as f64 / nf), gamma0 + c_raw / nf);
    let (c, tau_int, tau_int_err) = if c > 0.0 {
        let tau = c / (2.0 * gamma0_corr);
        let dtau = 2.0 * tau * ((window as f64 + 0.5 - tau).max(0.0) / nf).sqrt();
        (c, tau, dtau)
    } else {
        warnings.push(format!(
            "the summed autocorrelation function is not positive (C = {c:.3e}; strongly anticorrelated \
             data?): the error falls back to the naive one, with τ_int = 0.5"
        ));
        (gamma0, 0.5, 0.0)
    };
    let err = (c / nf).sqrt();

    if nf < MIN_SAMPLES_PER_TAU * tau_int {
        warnings.push(format!(
            "only {n} samples for τ_int = {tau_int:.3}, fewer than {MIN_SAMPLES_PER_TAU} τ_int: the error \
             and τ_int are unreliable; measure at least {} samples",
            (MIN_SAMPLES_PER_TAU * tau_int).ceil()
        ));
    }
    if chains.len() >= 2 {
        // Consistency of the replica means (UWerr's Q-value).
        let chi2: f64 = chains
            .iter()
            .map(|r| {
                let d = r.iter().sum::<f64>() / r.len() as f64 - mean;
                d * d * r.len() as f64
            })
            .sum::<f64>()
            / c;
        let dof = (chains.len() - 1) as f64;
        let q = gamma_q(dof / 2.0, chi2 / 2.0);
        if q < REPLICA_Q_THRESHOLD {
            warnings.push(format!(
                "the means of the {} replicas disagree (χ²/dof = {:.2}, Q = {q:.1e}): chains may not be \
                 thermalised or may be stuck in different modes",
                chains.len(),
                chi2 / dof
            ));
        }
    }

    GammaEstimate {
        mean,
        err,
        tau_int,
        tau_int_err,
        window,
        n_samples: n,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    }
}

/// `Γ(t)` for `t = 0..=w_max`, summed over replicas (deviations from the overall mean,
/// never across replica boundaries) and divided by the number of pairs.
fn autocorrelation(chains: &[&[f64]], mean: f64, w_max: usize) -> Vec<f64> {
    let mut sums = vec![0.0; w_max + 1];
    let mut pairs = vec![0usize; w_max + 1];
    for chain in chains {
        let dev: Vec<f64> = chain.iter().map(|x| x - mean).collect();
        let lags = autocorrelation_sums(&dev, w_max);
        for (t, s) in lags.iter().enumerate() {
            sums[t] += s;
            pairs[t] += dev.len() - t;
        }
    }
    sums.iter().zip(&pairs).map(|(s, &p)| s / p.max(1) as f64).collect()
}

/// `Σ_{i} x_i x_{i+t}` for `t = 0..=min(w_max, n − 1)`: direct sums for short series,
/// zero-padded FFT otherwise.
fn autocorrelation_sums(x: &[f64], w_max: usize) -> Vec<f64> {
    let n = x.len();
    let lags = w_max.min(n - 1) + 1;
    if n * lags <= 1 << 16 {
        return (0..lags)
            .map(|t| x[..n - t].iter().zip(&x[t..]).map(|(a, b)| a * b).sum())
            .collect();
    }
    let m = (2 * n).next_power_of_two();
    let mut re = vec![0.0; m];
    let mut im = vec![0.0; m];
    re[..n].copy_from_slice(x);
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    re.truncate(lags);
    re.iter_mut().for_each(|r| *r /= m as f64);
    re
}

/// In-place iterative radix-2 FFT of `re + i im` (length a power of two); `inverse`
/// conjugates the twiddles (no normalisation).
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let twiddles: Vec<(f64, f64)> = (0..half)
            .map(|k| {
                let angle = sign * 2.0 * std::f64::consts::PI * k as f64 / len as f64;
                (angle.cos(), angle.sin())
            })
            .collect();
        for start in (0..n).step_by(len) {
            for (k, &(wr, wi)) in twiddles.iter().enumerate() {
                let (a, b) = (start + k, start + k + half);
                let (xr, xi) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
        len <<= 1;
    }
}

/// Upper regularised incomplete gamma function `Q(a, x) = Γ(a, x)/Γ(a)` (series for
/// `x < a + 1`, Lentz continued fraction otherwise).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_prefactor = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_prefactor.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_prefactor.exp() * h).clamp(0.0, 1.0)
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative accuracy ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEF[0]
        + COEF
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, c)| c / (x + i as f64))
            .sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// Means of consecutive bins of `bin_size` samples; an incomplete tail is dropped.
///
/// # Panics
///
/// If `bin_size` is zero.
pub fn bin_means(series: &[f64], bin_size: usize) -> Vec<f64> {
    assert!(bin_size > 0, "the bin size must be at least 1");
    series
        .chunks_exact(bin_size)
        .map(|bin| bin.iter().sum::<f64>() / bin_size as f64)
        .collect()
}

/// Bins of several quantities over several chains, ready for [`jackknife`]:
/// `quantities[q][c]` is the series of quantity `q` in chain `c`, and the result holds
/// `bins[b][q]`, the mean of quantity `q` in bin `b`.  Bins are consecutive runs of
/// `bin_size` samples within one chain (never across a chain boundary), chain by chain in
/// order; the incomplete tail of each chain is dropped.
///
/// # Panics
///
/// If `bin_size` is zero, or the quantities do not have the same number of chains and the
/// same length in each chain.
pub fn bin_chains(quantities: &[&[&[f64]]], bin_size: usize) -> Vec<Vec<f64>> {
    assert!(bin_size > 0, "the bin size must be at least 1");
    let Some(first) = quantities.first() else {
        return Vec::new();
    };
    for q in quantities {
        assert_eq!(q.len(), first.len(), "every quantity needs the same number of chains");
        for (a, b) in q.iter().zip(first.iter()) {
            assert_eq!(a.len(), b.len(), "every quantity needs the same length in each chain");
        }
    }
    let mut bins = Vec::new();
    for c in 0..first.len() {
        for b in 0..first[c].len() / bin_size {
            let range = b * bin_size..(b + 1) * bin_size;
            bins.push(
                quantities
                    .iter()
                    .map(|q| q[c][range.clone()].iter().sum::<f64>() / bin_size as f64)
                    .collect(),
            );
        }
    }
    bins
}

/// Result of a jackknife.
#[derive(Debug, Clone, PartialEq)]
pub struct JackknifeEstimate {
    /// `f` of the means over all bins (not bias-corrected; see [`jackknife`]).
    pub mean: f64,
    /// Jackknife standard error.
    pub err: f64,
    /// Number of bins `B`.
    pub n_bins: usize,
}

/// Delete-one-bin jackknife of a derived quantity.
///
/// `bins[b][q]` is the mean of quantity `q` in bin `b` (equal-size bins, e.g. from
/// [`bin_chains`]); `f` maps a vector of means to the derived value.  With `x̄` the mean of
/// all bins and `x̄_(b)` the mean without bin `b`:
/// `mean = f(x̄)`, `err = √((B − 1)/B Σ_b (f(x̄_(b)) − f̄)²)` with `f̄` the average of the
/// `f(x̄_(b))`.
///
/// The mean is **not** bias-corrected: the jackknife bias estimate
/// `(B − 1)(f̄ − f(x̄))` is `O(1/N)`, far below the error for the bin counts used here, and
/// subtracting it adds noise.  For a linear `f` the error equals the naive standard error of
/// the bin values of `f`.
///
/// With no bins the mean is NaN; with one bin the error is NaN.
///
/// # Panics
///
/// If the bins do not all have the same number of quantities.
pub fn jackknife(bins: &[Vec<f64>], f: impl Fn(&[f64]) -> f64) -> JackknifeEstimate {
    let n_bins = bins.len();
    let Some(first) = bins.first() else {
        return JackknifeEstimate {
            mean: f64::NAN,
            err: f64::NAN,
            n_bins,
        };
    };
    let n_q = first.len();
    let mut total = vec![0.0; n_q];
    for bin in bins {
        assert_eq!(bin.len(), n_q, "every bin needs the same number of quantities");
        total.iter_mut().zip(bin).for_each(|(t, x)| *t += x);
    }
    let full: Vec<f64> = total.iter().map(|t| t / n_bins as f64).collect();
    let mean = f(&full);
    if n_bins < 2 {
        return JackknifeEstimate {
            mean,
            err: f64::NAN,
            n_bins,
        };
    }
    let mut loo = vec![0.0; n_q];
    let thetas: Vec<f64> = bins
        .iter()
        .map(|bin| {
            loo.iter_mut()
                .zip(total.iter().zip(bin))
                .for_each(|(l, (t, x))| *l = (t - x) / (n_bins - 1) as f64);
            f(&loo)
        })
        .collect();
    let avg = thetas.iter().sum::<f64>() / n_bins as f64;
    let ss: f64 = thetas.iter().map(|t| (t - avg) * (t - avg)).sum();
    JackknifeEstimate {
        mean,
        err: ((n_bins - 1) as f64 / n_bins as f64 * ss).sqrt(),
        n_bins,
    }
}

/// A bin size that makes bins effectively independent: `⌈10 τ_int⌉`, but no more than
/// `n_samples / 20` so that at least 20 bins remain, and at least 1.
///
/// Rule of thumb behind the numbers: for an exponential autocorrelation the variance of
/// bin means of size `b` underestimates the true one by a relative `≈ 2τ_int/b` (about 20 %
/// at `b = 10 τ_int` in the variance, 10 % in the error, for `τ_int ≫ 1`; smaller for nearly
/// independent data), and the jackknife error of `B` bins has a relative error of about
/// `1/√(2B)` (16 % at 20 bins).  When `n_samples < 200 τ_int` the cap wins and the bins are
/// shorter than `10 τ_int`; [`chi_and_binder`] warns when they are shorter than `4 τ_int`.
/// A non-finite `tau_int` gives the largest allowed size.
pub fn bin_size_for(tau_int: f64, n_samples: usize) -> usize {
    let cap = (n_samples / 20).max(1);
    if !tau_int.is_finite() {
        return cap;
    }
    ((10.0 * tau_int).ceil().max(1.0) as usize).min(cap)
}

/// Susceptibility and Binder cumulant with binned jackknife errors; see [`chi_and_binder`].
#[derive(Debug, Clone, PartialEq)]
pub struct MagnetisationCumulants {
    /// `χ = V (⟨m²⟩ − ⟨|m|⟩²)`.
    pub chi: JackknifeEstimate,
    /// `U = 1 − ⟨m⁴⟩ / (3 ⟨m²⟩²)`.
    pub binder: JackknifeEstimate,
    /// The bin size used, from [`bin_size_for`].
    pub bin_size: usize,
    /// The largest `τ_int` of `|m|`, `m²` and `m⁴` (Γ-method), which set the bin size.
    pub tau_int: f64,
    /// Why the errors should not be trusted, if they should not.
    pub warning: Option<String>,
}

/// The susceptibility `χ = V (⟨m²⟩ − ⟨|m|⟩²)` and the Binder cumulant
/// `U = 1 − ⟨m⁴⟩ / (3 ⟨m²⟩²)` from per-chain series of `|m|`, `m²` and `m⁴`
/// (`m_abs[c]`, `m2[c]`, `m4[c]` for chain `c`, equal lengths within a chain) on a lattice
/// of `n_sites` sites.
///
/// The bin size is [`bin_size_for`] the largest Γ-method `τ_int` of the three series (all
/// chains merged) and the total number of samples, capped at the shortest chain; bins lie
/// within chains ([`bin_chains`]) and the errors come from the [`jackknife`].  The
/// susceptibility of any sample is non-negative (Cauchy–Schwarz), so rounding below zero is
/// clamped to zero.  Warnings from the Γ-method, too few bins (< 20) or bins shorter than
/// `4 τ_int` are collected in `warning`.
///
/// # Panics
///
/// If the three series do not have the same number of chains and lengths.
pub fn chi_and_binder(m_abs: &[&[f64]], m2: &[&[f64]], m4: &[&[f64]], n_sites: usize) -> MagnetisationCumulants {
    let mut warnings = Vec::new();
    let mut tau_int: f64 = 0.5;
    let mut n_samples = 0;
    for (name, series) in [("|m|", m_abs), ("m²", m2), ("m⁴", m4)] {
        let est = gamma_method(series);
        if est.tau_int.is_finite() {
            tau_int = tau_int.max(est.tau_int);
        }
        n_samples = est.n_samples;
        if let Some(w) = est.warning {
            warnings.push(format!("{name}: {w}"));
        }
    }
    let shortest = m_abs.iter().map(|c| c.len()).filter(|&l| l > 0).min().unwrap_or(1);
    let bin_size = bin_size_for(tau_int, n_samples).min(shortest).max(1);
    let bins = bin_chains(&[m_abs, m2, m4], bin_size);
    let v = n_sites as f64;
    let chi = jackknife(&bins, |m| v * (m[1] - m[0] * m[0]).max(0.0));
    let binder = jackknife(&bins, |m| 1.0 - m[2] / (3.0 * m[1] * m[1]));
    if bins.len() < 20 {
        warnings.push(format!(
            "only {} bins of {bin_size} samples: the jackknife errors are unreliable; measure longer chains",
            bins.len()
        ));
    }
    if (bin_size as f64) < 4.0 * tau_int {
        warnings.push(format!(
            "bins of {bin_size} samples are shorter than 4 τ_int = {:.1}: the jackknife errors are \
             underestimated; measure longer chains",
            4.0 * tau_int
        ));
    }
    if !binder.mean.is_finite() {
        warnings.push("⟨m²⟩ = 0, so the Binder cumulant is undefined".into());
    }
    MagnetisationCumulants {
        chi,
        binder,
        bin_size,
        tau_int,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
    }
}
