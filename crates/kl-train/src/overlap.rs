//! The overlap of a model `p ∝ e^{−S}` and a target `q ∝ e^{−A}`: the distribution of
//! `A − S` under `p` and under `q`, each from its own chains (the target sampled directly,
//! not reweighted), their histograms on common bins and one number for their overlap.

use mc_sampler::stats::gamma_method;
use mc_sampler::{Algorithm, PersistentChains};
use phi4_action::Couplings;

use crate::TrainError;
use crate::estimate::{Estimate, ReweightedDiff, reweighted_diff};
use crate::free_energy::check_target;

/// How [`overlap`] samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlapOptions {
    /// Schedule of the chains of both actions.
    pub algorithm: Algorithm,
    /// Chains of each action.
    pub n_chains: usize,
    /// Thermalisation sweeps of each chain.
    pub n_therm: u64,
    /// Measurements per chain, one sweep apart.
    pub n_measure: usize,
    /// Seed of the chains of the model; the target's chains use `seed + 1`.
    pub seed: u64,
    /// Bins of the histograms.
    pub n_bins: usize,
}

impl OverlapOptions {
    /// Heat bath, 16 chains of each action, 200 thermalisation sweeps, 200 measurements per
    /// chain, 40 bins.
    pub fn recommended(seed: u64) -> Self {
        Self {
            algorithm: Algorithm::HeatBath,
            n_chains: 16,
            n_therm: 200,
            n_measure: 200,
            seed,
            n_bins: 40,
        }
    }
}

/// Histograms of `A − S` under `p` and under `q` on common bins, as probabilities per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffHistograms {
    /// `n_bins + 1` bin edges, increasing.
    pub edges: Vec<f64>,
    /// Fraction of the samples of `p` in each bin.
    pub under_model: Vec<f64>,
    /// Fraction of the samples of `q` in each bin.
    pub under_target: Vec<f64>,
}

/// `A − S` under the model and under the target.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionDiffOverlap {
    /// `A − S` under `p`, one series per chain.
    pub under_model: Vec<Vec<f64>>,
    /// `A − S` under `q`, one series per chain.
    pub under_target: Vec<Vec<f64>>,
    /// `⟨A − S⟩_p`, `ln⟨e^{−(A−S)}⟩_p`, KL(p‖q) and the Kish effective sample size of the
    /// weights `e^{−(A−S)}` that reweight `p` to `q`.
    pub model: ReweightedDiff,
    /// `⟨A − S⟩_q` (Γ-method error).  `⟨A − S⟩_q ≤ F_A − F_S ≤ ⟨A − S⟩_p`, with equality
    /// only when `p = q`.
    pub mean_under_target: Estimate,
    /// The two histograms.
    pub histograms: DiffHistograms,
    /// `Σ_k min(p_k, q_k)` over the bins: 1 for identical histograms, 0 for disjoint ones.
    pub overlap_coefficient: f64,
}

/// Samples `A − S` from chains of `model` and from chains of `target` (same lattice).
pub fn overlap(
    model: &Couplings,
    target: &Couplings,
    options: &OverlapOptions,
) -> Result<ActionDiffOverlap, TrainError> {
    check_target(model, target)?;
    if options.n_chains == 0 || options.n_measure < 2 || options.n_bins == 0 {
        return Err(TrainError::InvalidConfig(format!(
            "the overlap needs at least one chain ({}), two measurements per chain ({}) and one bin ({})",
            options.n_chains, options.n_measure, options.n_bins
        )));
    }
    let diff = |phi: &[f64]| target.action(phi) - model.action(phi);
    let series_under = |sampled: &Couplings, seed: u64| -> Result<Vec<Vec<f64>>, TrainError> {
        let mut chains = PersistentChains::new(sampled, options.algorithm, seed, options.n_chains)?;
        chains.thermalise(options.n_therm);
        let mut series = vec![Vec::with_capacity(options.n_measure); options.n_chains];
        for _ in 0..options.n_measure {
            chains.sweep(1);
            let values = chains.measure_with(|_, phi| diff(phi));
            series.iter_mut().zip(values).for_each(|(s, v)| s.push(v));
        }
        Ok(series)
    };
    let under_model = series_under(model, options.seed)?;
    let under_target = series_under(target, options.seed.wrapping_add(1))?;
    let refs: Vec<&[f64]> = under_target.iter().map(Vec::as_slice).collect();
    let gamma = gamma_method(&refs);
    let histograms = histograms(&under_model, &under_target, options.n_bins);
    let overlap_coefficient = histograms
        .under_model
        .iter()
        .zip(&histograms.under_target)
        .map(|(p, q)| p.min(*q))
        .sum();
    Ok(ActionDiffOverlap {
        model: reweighted_diff(&under_model),
        mean_under_target: Estimate {
            mean: gamma.mean,
            err: gamma.err,
        },
        under_model,
        under_target,
        histograms,
        overlap_coefficient,
    })
}

/// Both sets of series binned on `n_bins` equal bins spanning every value.
fn histograms(under_model: &[Vec<f64>], under_target: &[Vec<f64>], n_bins: usize) -> DiffHistograms {
    let all = || under_model.iter().chain(under_target).flatten().copied();
    let lo = all().fold(f64::INFINITY, f64::min);
    let hi = all().fold(f64::NEG_INFINITY, f64::max);
    // Every value equal: one bin of unit width around it.
    let width = if hi > lo {
        (hi - lo) / n_bins as f64
    } else {
        1.0 / n_bins as f64
    };
    let start = if hi > lo { lo } else { lo - 0.5 };
    let edges = (0..=n_bins).map(|k| start + width * k as f64).collect();
    let binned = |series: &[Vec<f64>]| {
        let mut counts = vec![0.0; n_bins];
        let n: usize = series.iter().map(Vec::len).sum();
        for &x in series.iter().flatten() {
            let k = (((x - start) / width) as usize).min(n_bins - 1);
            counts[k] += 1.0 / n as f64;
        }
        counts
    };
    DiffHistograms {
        edges,
        under_model: binned(under_model),
        under_target: binned(under_target),
    }
}
