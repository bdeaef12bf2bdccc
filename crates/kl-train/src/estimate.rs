//! What the trainer measures on its chains: the gradient of the Bogoliubov bound, `⟨A − S⟩`
//! and `ln⟨e^{−(A−S)}⟩`, accumulated per chain and reduced in chain order.

use mc_sampler::stats::{bin_chains, bin_size_for, gamma_method, jackknife};
use serde::{Deserialize, Serialize};

/// A mean with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The central value.
    pub mean: f64,
    /// Its standard error (autocorrelation included where the samples come from chains).
    pub err: f64,
}

/// Sums of one chain over the measurements of an epoch: `d = A − S − shift`, `∂S/∂θ` and
/// `d ∂S/∂θ`, and the series of `d` (scalars only; no configuration is kept).
#[derive(Debug, Clone)]
pub(crate) struct ChainSums {
    pub(crate) d: Vec<f64>,
    pub(crate) sum_grad: Vec<f64>,
    pub(crate) sum_d_grad: Vec<f64>,
}

impl ChainSums {
    pub(crate) fn new(n_params: usize) -> Self {
        Self {
            d: Vec::new(),
            sum_grad: vec![0.0; n_params],
            sum_d_grad: vec![0.0; n_params],
        }
    }

    pub(crate) fn clear(&mut self) {
        self.d.clear();
        self.sum_grad.fill(0.0);
        self.sum_d_grad.fill(0.0);
    }

    /// The sums as one flat record `[d… | Σ∂S | Σ d ∂S]` (for the exchange between processes).
    pub(crate) fn record(&self) -> impl Iterator<Item = f64> + '_ {
        self.d.iter().chain(&self.sum_grad).chain(&self.sum_d_grad).copied()
    }

    /// The sums from a [`ChainSums::record`] of the same shape.
    pub(crate) fn set_record(&mut self, record: &[f64]) {
        let n = self.sum_grad.len();
        let (d, rest) = record.split_at(record.len() - 2 * n);
        self.d.clear();
        self.d.extend_from_slice(d);
        self.sum_grad.copy_from_slice(&rest[..n]);
        self.sum_d_grad.copy_from_slice(&rest[n..]);
    }

    pub(crate) fn add(&mut self, d: f64, grad: &[f64]) {
        self.d.push(d);
        for ((s, sd), &g) in self.sum_grad.iter_mut().zip(&mut self.sum_d_grad).zip(grad) {
            *s += g;
            *sd += d * g;
        }
    }
}

/// The reduction of [`ChainSums`] over all chains, in chain order.
pub(crate) struct EpochEstimate {
    /// `⟨A − S⟩` (the shift added back).
    pub(crate) mean_diff: f64,
    /// `⟨A − S⟩ + ln⟨e^{−(A−S)}⟩`, the KL estimate of these samples.
    pub(crate) gap: f64,
}

/// `∂𝓕/∂θ_k = ⟨A⟩⟨∂_kS⟩ − ⟨A ∂_kS⟩ + ⟨S ∂_kS⟩ − ⟨S⟩⟨∂_kS⟩ = −Cov(A − S, ∂_kS)`, written
/// into `grad`; `shift` was subtracted from every `A − S` before it was accumulated (the
/// covariance does not depend on it; it keeps the sums small).
pub(crate) fn reduce(sums: &[ChainSums], shift: f64, grad: &mut [f64]) -> EpochEstimate {
    let n: usize = sums.iter().map(|s| s.d.len()).sum();
    let nf = n as f64;
    let mut sum_d = 0.0;
    grad.fill(0.0);
    let mut sum_grad = vec![0.0; grad.len()];
    for s in sums {
        sum_d += s.d.iter().sum::<f64>();
        for ((t, sd), (&g, &dg)) in sum_grad
            .iter_mut()
            .zip(grad.iter_mut())
            .zip(s.sum_grad.iter().zip(&s.sum_d_grad))
        {
            *t += g;
            *sd += dg;
        }
    }
    let mean_d = sum_d / nf;
    for (g, &sg) in grad.iter_mut().zip(&sum_grad) {
        *g = -(*g / nf - mean_d * (sg / nf));
    }
    let min_d = sums
        .iter()
        .flat_map(|s| s.d.iter().copied())
        .fold(f64::INFINITY, f64::min);
    let sum_w: f64 = sums.iter().flat_map(|s| s.d.iter()).map(|d| (min_d - d).exp()).sum();
    EpochEstimate {
        mean_diff: mean_d + shift,
        gap: mean_d + (sum_w / nf).ln() - min_d,
    }
}

/// `⟨Δ⟩`, `ln⟨e^{−Δ}⟩` and `⟨Δ⟩ + ln⟨e^{−Δ}⟩` of per-chain series of `Δ = A − S` under `p`,
/// with delete-one-bin jackknife errors (bins of `⌈10 τ_int⌉` inside chains, `τ_int` from the
/// Γ-method of `Δ`); the exponentials are formed after subtracting the smallest `Δ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReweightedDiff {
    /// `⟨A − S⟩_p`.
    pub mean_diff: Estimate,
    /// `ln⟨e^{−(A−S)}⟩_p = ln(Z_A/Z_S)`.
    pub ln_mean_weight: Estimate,
    /// `⟨A − S⟩_p + ln⟨e^{−(A−S)}⟩_p = KL(p‖q) ≥ 0`.
    pub kl: Estimate,
    /// Kish effective sample size of the weights `e^{−(A−S)}`.
    pub ess: f64,
    /// `τ_int` of `A − S` (in measurements).
    pub tau_int: f64,
    /// Number of measurements.
    pub n_samples: usize,
}

/// See [`ReweightedDiff`]; `series[c]` is the series of `A − S` of chain `c`.
pub fn reweighted_diff(series: &[Vec<f64>]) -> ReweightedDiff {
    let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    let gamma = gamma_method(&refs);
    let n: usize = refs.iter().map(|s| s.len()).sum();
    let shortest = refs.iter().map(|s| s.len()).min().unwrap_or(0);
    let min_d = refs
        .iter()
        .flat_map(|s| s.iter().copied())
        .fold(f64::INFINITY, f64::min);
    let weights: Vec<Vec<f64>> = refs
        .iter()
        .map(|s| s.iter().map(|d| (min_d - d).exp()).collect())
        .collect();
    let (sum_w, sum_w2) = weights
        .iter()
        .flatten()
        .fold((0.0, 0.0), |(s, s2), w| (s + w, s2 + w * w));
    let bin_size = bin_size_for(gamma.tau_int, n).min(shortest.max(1));
    let weight_refs: Vec<&[f64]> = weights.iter().map(Vec::as_slice).collect();
    let bins = bin_chains(&[&refs, &weight_refs], bin_size);
    let estimate = |f: &dyn Fn(&[f64]) -> f64| {
        let j = jackknife(&bins, f);
        Estimate {
            mean: j.mean,
            err: j.err,
        }
    };
    ReweightedDiff {
        mean_diff: estimate(&|x| x[0]),
        ln_mean_weight: estimate(&|x| x[1].ln() - min_d),
        kl: estimate(&|x| x[0] + x[1].ln() - min_d),
        ess: sum_w * sum_w / sum_w2,
        tau_int: gamma.tau_int,
        n_samples: n,
    }
}
