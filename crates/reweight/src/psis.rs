//! The Pareto tail diagnostic k̂ of importance weights (Vehtari, Simpson, Gelman, Yao and
//! Gabry, *Pareto smoothed importance sampling*, JMLR 25 (2024) 1, arXiv:1507.02646).
//!
//! The largest `M = min(⌈N/5⌉, ⌈3√N⌉)` weights are fitted by a generalized Pareto
//! distribution `P(w − u > x) = (1 + k x/σ)^{−1/k}` above the threshold `u` (the largest weight
//! outside the tail), with the estimator of Zhang and Stephens (Technometrics 51 (2009) 316):
//! a profile likelihood in `θ = −k/σ` integrated over a grid of `30 + ⌊√M⌋` points, then the
//! shape at the posterior mean of `θ`, pulled towards `k = 0.5` by the weakly informative prior
//! of Vehtari et al. (as if 10 extra observations had `k = 0.5`).
//!
//! The shape `k` is the inverse power of the tail: weights have `⌊1/k⌋` finite moments.  For
//! `k ≥ 0.5` the variance of the weights is infinite, so the Kish effective sample size (a
//! ratio of second moments) is itself unreliable and the raw importance-sampling estimate
//! has no central limit theorem behind its error bar; Vehtari et al. allow up to `k = 0.7`
//! for Pareto-*smoothed* weights, which this crate does not use (see
//! [`Thresholds`](crate::Thresholds) for the measurement behind the limit of 0.45).

/// Number of largest weights in the tail fit: `min(⌈N/5⌉, ⌈3√N⌉)`.
pub fn tail_length(n: usize) -> usize {
    let n = n as f64;
    (0.2 * n).ceil().min((3.0 * n.sqrt()).ceil()) as usize
}

/// The sample-size limit on k̂ for `n` weights: `min(1 − 1/log₁₀ n, 0.7)` (Vehtari et al.
/// 2024, section 3.2.4: below `n ≈ 2200` fewer samples need a lighter tail for the same
/// relative error); [`Thresholds::k_hat_threshold`](crate::Thresholds::k_hat_threshold)
/// applies the stricter limit for raw weights on top.
pub fn k_hat_threshold(n: usize) -> f64 {
    let log10 = (n.max(2) as f64).log10();
    (1.0 - 1.0 / log10).min(0.7)
}

/// The Pareto k̂ of the importance weights `exp(log_weights)`.
///
/// NaN when there are fewer than 5 tail values or the largest `M` weights are all equal (no
/// tail to fit: the weights are bounded there); non-finite log-weights are ignored.
pub fn pareto_k_hat(log_weights: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = log_weights.iter().copied().filter(|x| x.is_finite()).collect();
    let n = sorted.len();
    let m = tail_length(n);
    if m < 5 || m >= n {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let max = sorted[n - 1];
    let threshold = (sorted[n - m - 1] - max).exp();
    let exceedances: Vec<f64> = sorted[n - m..].iter().map(|&l| (l - max).exp() - threshold).collect();
    if exceedances[m - 1] <= f64::EPSILON * (1.0 + threshold) || exceedances[0] < 0.0 {
        return f64::NAN;
    }
    generalized_pareto_shape(&exceedances)
}

/// Zhang–Stephens estimate of the shape `k` of a generalized Pareto distribution from positive
/// exceedances sorted in ascending order, with the weakly informative prior towards 0.5.
pub(crate) fn generalized_pareto_shape(x: &[f64]) -> f64 {
    let n = x.len();
    let nf = n as f64;
    let grid = 30 + nf.sqrt().floor() as usize;
    // The first quartile of the sample sets the scale of the grid; the prior constant 3 is
    // Zhang and Stephens'.
    let quartile = x[((nf / 4.0 + 0.5).floor() as usize).clamp(1, n) - 1];
    let x_max = x[n - 1];
    // Mean of ln(1 − θ x): the maximum-likelihood k for a given θ.
    let mean_log = |theta: f64| x.iter().map(|&xi| (-theta * xi).ln_1p()).sum::<f64>() / nf;
    let thetas: Vec<f64> = (1..=grid)
        .map(|j| 1.0 / x_max + (1.0 - (grid as f64 / (j as f64 - 0.5)).sqrt()) / (3.0 * quartile))
        .collect();
    // Profile log-likelihood n (ln(−θ/k) − k − 1) with k = mean ln(1 − θx).
    let profile: Vec<f64> = thetas
        .iter()
        .map(|&theta| {
            let k = mean_log(theta);
            let l = nf * ((-theta / k).ln() - k - 1.0);
            if l.is_finite() { l } else { f64::NEG_INFINITY }
        })
        .collect();
    let top = profile.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return f64::NAN;
    }
    let weights: Vec<f64> = profile.iter().map(|l| (l - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    let theta_hat = thetas.iter().zip(&weights).map(|(t, w)| t * w).sum::<f64>() / total;
    let k = mean_log(theta_hat);
    // Weakly informative prior: as if 10 more exceedances had k = 0.5.
    let k = (nf * k + 10.0 * 0.5) / (nf + 10.0);
    if k.is_nan() { f64::INFINITY } else { k }
}
