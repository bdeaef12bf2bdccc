//! `qftml reweight`.

use serde::{Deserialize, Serialize};

use crate::{MeanErr, Provenance, ReweightedObservables};

/// A homogeneous target action
/// `−κ Σ_⟨ij⟩ φφ − g′ Σ_⟨⟨ij⟩⟩ φφ + (μ² + 4κ)/2 Σφ² + λ/4 Σφ⁴ + r Σφ + i c Σφ²`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// κ.
    pub kappa: f64,
    /// μ².
    pub mu2: f64,
    /// λ.
    pub lambda: f64,
    /// g′.
    pub g_nnn: f64,
    /// r.
    pub linear: f64,
    /// c.
    pub imag_mass: f64,
}

/// The average phase `⟨e^{−i Im T}⟩_{Re T}` of a complex target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Real part.
    #[serde(with = "crate::nullable")]
    pub re: f64,
    /// Imaginary part.
    #[serde(with = "crate::nullable")]
    pub im: f64,
    /// Modulus.
    #[serde(with = "crate::nullable")]
    pub abs: f64,
    /// Jackknife error of the modulus.
    #[serde(with = "crate::nullable")]
    pub err: f64,
    /// Probability that a zero phase gives a value at least this far from zero (Hotelling's
    /// test on the real and imaginary parts).
    #[serde(with = "crate::nullable")]
    pub p_value: f64,
}

/// Histograms of `T − S` under the sampled and the target distribution, on common bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramRecord {
    /// Bin edges (one more than bins).
    pub edges: Vec<f64>,
    /// Fraction of the samples per bin.
    pub under_sampled: Vec<f64>,
    /// Fraction of the weight per bin.
    pub under_target: Vec<f64>,
}

/// Overlap diagnostics of single-ensemble reweighting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlapRecord {
    /// Kish effective sample size over the number of samples.
    #[serde(with = "crate::nullable")]
    pub ess_fraction: f64,
    /// `KL(p_T‖p_S)`.
    pub kl_target_sampled: MeanErr,
    /// `KL(p_S‖p_T)`.
    pub kl_sampled_target: MeanErr,
    /// Histograms of `T − S`.
    pub histogram: HistogramRecord,
}

/// How the jackknife errors of a single-ensemble point were made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JackknifeRecord {
    /// Configurations used.
    pub n_samples: usize,
    /// Bin size (within chains).
    pub bin_size: usize,
    /// Number of bins.
    pub n_bins: usize,
    /// The integrated autocorrelation time that set the bin size.
    #[serde(with = "crate::nullable")]
    pub tau_int: f64,
}

/// One reweighted target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReweightPoint {
    /// The target action.
    pub target: TargetRecord,
    /// Observables under the target; `null` when the average phase is consistent with zero
    /// (flag `phase`): such a point has no central value.
    pub observables: Option<ReweightedObservables>,
    /// Kish effective sample size of the weights.
    #[serde(with = "crate::nullable")]
    pub ess: f64,
    /// Pareto tail diagnostic k̂ of the weights (`null` when the largest weights are all
    /// equal).
    #[serde(with = "crate::nullable")]
    pub k_hat: f64,
    /// The k̂ above which the point is flagged.
    #[serde(with = "crate::nullable")]
    pub k_hat_threshold: f64,
    /// True when the point is not to be trusted (see `flags` and `reason`).
    pub flagged: bool,
    /// The codes of the rules the point fails: `heavy-tail`, `few-effective`,
    /// `ess-fraction`, `phase`, `state-overlap`, `not-finite`.
    pub flags: Vec<String>,
    /// Why the point is flagged and what would fix it, or another warning about its errors.
    pub reason: Option<String>,
    /// The average phase, for complex targets.
    pub avg_phase: Option<PhaseRecord>,
    /// `ln(Z_{Re T}/Z_S)` (single ensemble).
    pub ln_z_ratio: Option<MeanErr>,
    /// Overlap diagnostics (single ensemble).
    pub overlap: Option<OverlapRecord>,
    /// Jackknife binning (single ensemble).
    pub jackknife: Option<JackknifeRecord>,
    /// `f_T − f_0 = −ln(Z_T/Z_0)` (multi-histogram).
    pub delta_f: Option<MeanErr>,
}

/// How the points were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReweightMethod {
    /// From one ensemble, with overlap diagnostics.
    SingleEnsemble,
    /// Multi-histogram (MBAR) over several ensembles.
    MultiHistogram,
}

/// A free-energy difference of a sampled state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeltaF {
    /// `f_k − f_0`.
    #[serde(with = "crate::nullable")]
    pub mean: f64,
    /// Jackknife error.
    #[serde(with = "crate::nullable")]
    pub err: f64,
    /// MBAR asymptotic error (independent samples assumed).
    #[serde(with = "crate::nullable")]
    pub err_asymptotic: f64,
}

/// The overlap matrix of the sampled states of multi-histogram reweighting, as pymbar's
/// `compute_overlap` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateOverlapRecord {
    /// `O_ij = N_j Σ_n W_ni W_nj`, row `i`; every row sums to 1.
    pub matrix: Vec<Vec<f64>>,
    /// Its eigenvalues in descending order (the first is 1).
    pub eigenvalues: Vec<f64>,
    /// `1 − λ₂`: 0 for states that exchange no weight, 1 for identical states.
    #[serde(with = "crate::nullable")]
    pub gap: f64,
}

/// The sampled states of multi-histogram reweighting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiHistogramRecord {
    /// The sampled actions, in input order.
    pub states: Vec<TargetRecord>,
    /// Samples per state.
    pub n_k: Vec<usize>,
    /// Free energies of the states relative to the first.
    pub delta_f: Vec<DeltaF>,
    /// Overlap matrix of the states and its spectrum.
    pub overlap: StateOverlapRecord,
    /// Newton steps of the solve.
    pub iterations: usize,
}

/// `qftml reweight --json`: one point per target (a scan gives several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReweightRecord {
    /// [`ReweightRecord::SCHEMA`].
    pub schema: u32,
    /// Single ensemble or multi-histogram.
    pub method: ReweightMethod,
    /// Configurations over all ensembles.
    pub n_configs: usize,
    /// The sampled states, for multi-histogram reweighting.
    pub multi_histogram: Option<MultiHistogramRecord>,
    /// One point per target, in scan order.
    pub points: Vec<ReweightPoint>,
    /// Where the result comes from.
    pub provenance: Provenance,
}

crate::record!(ReweightRecord, "reweight", schema 2);
