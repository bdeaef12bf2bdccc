//! Reweighting of lattice φ⁴ ensembles: from samples of one action to expectation values
//! under another.
//!
//! Configurations drawn from `p_S ∝ e^{−S}` also describe any other action `T`:
//! `⟨O⟩_T = ⟨O e^{−(T−S)}⟩_S / ⟨e^{−(T−S)}⟩_S`, as long as the two distributions overlap.
//! For a complex target `T = T_re + i T_im` the weight carries a phase,
//! `⟨O⟩_T = ⟨O e^{−i T_im}⟩_{T_re} / ⟨e^{−i T_im}⟩_{T_re}`, and the average phase
//! `⟨e^{−i T_im}⟩_{T_re} = Z_T / Z_{T_re}` measures how severe the sign problem is.
//! Every homogeneous action is linear in five sums per configuration ([`SufficientStats`]:
//! `Σ_⟨ij⟩ φφ`, `Σ_⟨⟨ij⟩⟩ φφ`, `Σφ`, `Σφ²`, `Σφ⁴`), so a [`ReweightEnsemble`] holds those once
//! and each point of a coupling scan ([`scan`], [`trajectory`]) costs O(configurations).
//! Weights are formed in log space (the maximum subtracted); errors come from a
//! delete-one-bin jackknife over bins inside chains whose size follows the Γ-method `τ_int`
//! of the weighted series, so autocorrelation is respected, and derived quantities (χ, the
//! Binder cumulant, the phase) are jackknifed as functions of means.  Each point carries its
//! overlap diagnostics ([`Overlap`]: Kish effective sample size, the Pareto tail diagnostic
//! k̂, histograms of `T − S`, KL estimates) and its [`Flag`]s.  Several ensembles at
//! different couplings combine by multi-histogram reweighting ([`multi_histogram`], MBAR),
//! which gives free-energy differences `−ln(Z_k/Z_0)`, the overlap matrix of the ensembles
//! ([`StateOverlap`]) and expectations at unsampled couplings.
//!
//! # When a reweighted number is trusted
//!
//! A point is flagged, with a reason that says what would fix it ([`Flag`]), when
//! - its importance weights are heavy-tailed: Pareto k̂ > 0.45 ([`pareto_k_hat`]; the raw
//!   weights need a finite variance, k < 0.5, for their error bars to mean anything);
//! - its Kish ESS is below 50, or below 10 % of the samples (of the largest ensemble, for
//!   multi-histogram points);
//! - for complex targets, its average phase is consistent with zero at a family-wise
//!   probability of 10⁻³ over the whole scan (Hotelling's test, Šidák's threshold): such a
//!   point has no observables at all;
//! - for multi-histogram reweighting, the ensembles barely overlap (gap of the overlap matrix
//!   below 0.03);
//! - an estimate is not finite.
//!
//! Configurations found in two chains (the same ensemble given twice, or one chain in two
//! ensembles) are refused ([`ReweightError::SharedConfigurations`], by content hash).  The
//! rules and their measured justification are in [`Thresholds`].  Measured on 8×8 free
//! fields (κ = 1, μ² = 1, 4000 exact draws; `cargo test -p reweight --test exact scans --
//! --nocapture`, 5 seeds, and with `QFTML_SLOW=1` 20 seeds): scans of μ² (60 points), g′
//! (49) and the imaginary mass (300) leave no unflagged point beyond 4σ of the exact value,
//! and flag few of the points that the exact answers call reliable (finite weight variance,
//! exact ESS/N ≥ 0.1, exact phase ≥ 8 of its expected errors): none of the μ² and
//! imaginary-mass points, 8 of 185 g′ points (5 seeds).  The error bars cover the exact
//! values as they should (68 % and 95 % within binomial bands over 300 seeds, for
//! single-ensemble real and complex and multi-histogram estimates).
//!
//! The library works on in-memory data only: per chain, the sampled action and the sums of
//! each configuration ([`ChainSums::new`], or [`ChainSums::from_configs`] from configurations),
//! or an ensemble read from disk by `mc-sampler`, whose stored actions and sums are used as
//! they are ([`ReweightEnsemble::from_stored`]: nothing is measured again).
//!
//! # Example
//!
//! Exact draws of a free field on a 4×4 lattice, reweighted to a diagonal coupling g′ and to
//! an imaginary mass, against the exact Gaussian answers.
//!
//! ```
//! use mc_sampler::{chain_rng, exact::ExactGaussian};
//! use mrf_graph::Lattice;
//! use phi4_action::gaussian::{FreeField, GaussianMrf};
//! use phi4_action::Homogeneous;
//! use reweight::{ChainSums, ReweightEnsemble, ReweightOptions, SampledAction, Target, reweight};
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let sampled = Target::new(Homogeneous { kappa: 1.0, mu2: 1.0, lambda: 0.0 });
//! let couplings = sampled.couplings(&lattice).unwrap();
//! let draws = ExactGaussian::new(&GaussianMrf::from_couplings(&couplings).unwrap());
//! let mut rng = chain_rng(42, 0);
//! let configs: Vec<Vec<f64>> = (0..4000).map(|_| draws.sample(&mut rng)).collect();
//! let chain = ChainSums::from_configs(&couplings, &lattice, configs.iter().map(|c| c.as_slice())).unwrap();
//! let ensemble = ReweightEnsemble::new(lattice, SampledAction::Homogeneous(sampled), vec![chain]).unwrap();
//!
//! let target = sampled.with_g_nnn(0.05).with_imag_mass(0.05);
//! let result = reweight(&ensemble, &target, &ReweightOptions::recommended()).unwrap();
//! let exact = FreeField { lattice, kappa: 1.0, mu2: 1.0, g_nnn: 0.05, imag_mass: 0.05 };
//! let phi2 = result.observables.unwrap().phi2;
//! assert!((phi2.re - exact.phi2().re).abs() < 5.0 * phi2.err_re);
//! assert!((phi2.im - exact.phi2().im).abs() < 5.0 * phi2.err_im);
//! let phase = result.avg_phase.unwrap();
//! assert!(!result.flagged && phase.abs > 0.9 && result.overlap.ess > 1000.0);
//! assert!(result.overlap.k_hat.is_nan() || result.overlap.k_hat < 0.7);
//! ```
#![deny(missing_docs)]

mod ensemble;
mod flags;
mod mbar;
mod psis;
mod single;
mod target;

pub use ensemble::{ChainSums, ReweightEnsemble, SampledAction};
pub use flags::{Flag, Thresholds};
pub use mbar::{
    MbarOptions, MbarPoint, MbarSolution, MultiHistogram, MultiHistogramOptions, ReducedPotentials, StateOverlap,
    asymptotic_covariance, multi_histogram, solve_mbar, state_overlap,
};
pub use phi4_action::SufficientStats;
pub use psis::{k_hat_threshold, pareto_k_hat, tail_length};
pub use single::{
    Estimate, ObservableEstimates, Overlap, OverlapHistogram, Phase, RealEstimate, ReweightOptions, Reweighted,
    reweight, scan,
};
pub use target::{Coupling, Scan, Target, trajectory};

/// Errors of the reweighting library.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReweightError {
    /// No configurations.
    #[error("the ensemble has no configurations; give at least one non-empty chain")]
    Empty,
    /// Per-configuration columns of different lengths.
    #[error("a chain has {actions} actions but {stats} sets of sums; give one of each per configuration")]
    ChainLength {
        /// Number of actions.
        actions: usize,
        /// Number of sums.
        stats: usize,
    },
    /// A configuration of the wrong size.
    #[error("a configuration has {got} sites but the lattice has {expected}")]
    ConfigSize {
        /// Lattice volume.
        expected: usize,
        /// Configuration length.
        got: usize,
    },
    /// NaN or infinity in the input.
    #[error("the {what} of configuration {index} is not finite; drop or re-measure it")]
    NotFinite {
        /// Which column.
        what: &'static str,
        /// Configuration index within its chain.
        index: usize,
    },
    /// The recorded action does not match the declared couplings.
    #[error(
        "chain {chain}, configuration {index}: recorded action {recorded} but the declared sampled couplings \
         give {computed}; declare the right couplings or use SampledAction::Recorded"
    )]
    ActionMismatch {
        /// Chain.
        chain: usize,
        /// Configuration.
        index: usize,
        /// Recorded `S`.
        recorded: f64,
        /// `S` from the couplings.
        computed: f64,
    },
    /// A complex action was declared as the sampled one.
    #[error("the sampled action has imaginary mass {imag_mass}; only real actions can be sampled")]
    ComplexSampled {
        /// The imaginary mass.
        imag_mass: f64,
    },
    /// The real part of a target is not a normalisable action.
    #[error("the target ({target}) is not a normalisable action")]
    Target {
        /// The target.
        target: Target,
        /// Why.
        source: phi4_action::ActionError,
    },
    /// A scan specification that does not parse.
    #[error(
        "bad scan `{spec}`: {reason} (expected NAME=FROM:TO:N with NAME one of kappa, mu2, lambda, g-nnn, linear, imag-mass)"
    )]
    BadScan {
        /// The specification.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// The same configurations in two chains (e.g. one ensemble given twice).
    #[error(
        "ensemble {ensemble_a} chain {chain_a} and ensemble {ensemble_b} chain {chain_b} share {count} \
         configuration(s): the same samples counted twice would shrink the error bars without adding \
         information; give each ensemble once and sample chains with different seeds or streams"
    )]
    SharedConfigurations {
        /// First ensemble (input order).
        ensemble_a: usize,
        /// Its chain.
        chain_a: usize,
        /// Second ensemble.
        ensemble_b: usize,
        /// Its chain.
        chain_b: usize,
        /// Configurations (content hashes) the two chains share, counted in sorted order.
        count: usize,
    },
    /// Multi-histogram input or convergence problem.
    #[error("multi-histogram reweighting: {0}")]
    Mbar(String),
}

#[cfg(test)]
mod tests;
