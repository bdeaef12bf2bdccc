//! Variational training of lattice φ⁴ Markov random fields by minimising KL(p‖q).
//!
//! A model `p(φ; θ) = e^{−S(φ; θ)}/Z_S` with every coupling free (`w_ij` per pair, `a_i`,
//! `b_i` and optionally `r_i` per site) is fitted to a target `q = e^{−A}/Z_A`, any real
//! action on the same lattice (inhomogeneous, with diagonal next-nearest pairs).  By the
//! Gibbs–Bogoliubov inequality `F_A ≤ 𝓕 ≡ ⟨A − S⟩_p + F_S` with `F = −ln Z`, and
//! `𝓕 − F_A = KL(p‖q) ≥ 0`.  Its gradient needs no partition function:
//! `∂𝓕/∂θ_k = ⟨A⟩⟨∂_kS⟩ − ⟨A ∂_kS⟩ + ⟨S ∂_kS⟩ − ⟨S⟩⟨∂_kS⟩ = −Cov_p(A − S, ∂_kS)`.
//!
//! [`VariationalTrainer`] estimates it every epoch from persistent chains of `p`
//! (`mc_sampler::PersistentChains`, steered in place), accumulating `A − S`, `∂S/∂θ` and
//! their products per chain through the measurement hook (no configuration is stored) and
//! reducing in chain order, so a seed gives the same bits on any number of threads.  The
//! update is plain SGD (as in the talk) or Adam ([`Optimizer`]) with the rate
//! `η_t = η₀/(1 + t/t_half)` ([`Schedule`]).  `b_i = e^{β_i}` with `β_i` free, so every
//! `b_i > 0` by construction.  A step to non-finite or runaway couplings stops with
//! [`TrainError::Diverged`]; [`VariationalTrainer::state`] is the checkpoint payload
//! ([`CHECKPOINT_KIND`], with the chains' `ChainState`s), and a trainer restored from it
//! continues bit-identically.
//!
//! The bound along training ([`bound`]): `F_S` exact for a Gaussian `S` and otherwise by
//! thermodynamic integration from an exactly solvable reference (independent sites by
//! one-dimensional quadrature, or a Gaussian; Gauss–Legendre in `t`, sampled at the nodes,
//! [`thermodynamic_integration`]); `F_A = F_S − ln⟨e^{−(A−S)}⟩_p` by reweighting
//! in log space; the gap `⟨A − S⟩_p + ln⟨e^{−(A−S)}⟩_p` with binned jackknife errors.
//! How far apart model and target are ([`overlap`]): `A − S` under `p` and under `q`, each
//! sampled by its own chains, as histograms with their overlap coefficient and the Kish
//! effective sample size of the weights that reweight `p` to `q`.
//!
//! From data ([`DataTrainer`]): with only samples of `q`, minimising KL(q‖p) is maximum
//! likelihood, `∂KL/∂θ_k = ⟨∂_kS⟩_data − ⟨∂_kS⟩_p`, the data term from shuffled mini-batches
//! and the model term from the same persistent chains, optimiser, reparametrisation,
//! divergence rules and checkpoints ([`DATA_CHECKPOINT_KIND`]).  The linear couplings `r_i`
//! carry a non-zero mean; a Gaussian model (`b = 0`) recovers free-field couplings, a quartic
//! one (`b_i > 0`) learns images.
//!
//! # Example
//!
//! Train a 4×4 model against the talk's target `A` for a few epochs.
//!
//! ```
//! use kl_train::{TrainConfig, VariationalTrainer};
//! use mrf_graph::Lattice;
//! use phi4_action::targets;
//!
//! let target = targets::a(&Lattice::new(4, 4).unwrap()).unwrap();
//! let mut trainer = VariationalTrainer::new(&target, TrainConfig::recommended(7)).unwrap();
//! for _ in 0..20 {
//!     trainer.step().unwrap();
//! }
//! // The nearest-neighbour couplings have started to grow towards w = 1.
//! let w = trainer.couplings().w();
//! assert!(w.iter().sum::<f64>() / w.len() as f64 > 0.1);
//! assert!(trainer.couplings().b().iter().all(|b| *b > 0.0));
//! ```
//!
//! Learn from samples: independent sites with mean 1 and variance 1/4 (`φ = 1 ± 1/2`), whose
//! independent-site fit is `a = 2, r = −4`, already the starting point.
//!
//! ```
//! use kl_train::{DataConfig, DataTrainer};
//! use mrf_graph::Lattice;
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let data: Vec<f64> = (0..64 * 16).map(|k| if (k / 16 + k % 16) % 2 == 0 { 0.5 } else { 1.5 }).collect();
//! let config = DataConfig { batch: 16, quartic: false, smoothing: 0.0, ..DataConfig::recommended(1) };
//! let mut trainer = DataTrainer::new(&lattice, &data, config).unwrap();
//! for _ in 0..10 {
//!     trainer.step().unwrap();
//! }
//! let r = trainer.couplings().r();
//! assert!(r.iter().all(|r| (r + 4.0).abs() < 1.0));
//! ```
#![deny(missing_docs)]

mod data;
mod estimate;
mod free_energy;
mod optimizer;
mod overlap;
mod share;
mod trainer;

pub use data::{Agreement, DATA_CHECKPOINT_KIND, DataConfig, DataTrainer, DataTrainerState, FieldMoments, StepSummary};
pub use estimate::{Estimate, ReweightedDiff, reweighted_diff};
pub use free_energy::{
    Bound, FreeEnergy, IntegrationOptions, Reference, bound, free_energy, gauss_legendre, gaussian_free_energy,
    gaussian_reference, independent_sites, site_free_energy, thermodynamic_integration,
};
pub use optimizer::{Optimizer, OptimizerState, Schedule};
pub use overlap::{ActionDiffOverlap, DiffHistograms, OverlapOptions, overlap};
pub use share::{AllChains, ChainShare};
pub use trainer::{
    CHECKPOINT_KIND, CouplingSpreads, EpochSummary, MAX_COUPLING, RunIdentity, Spread, TrainConfig, Trainer,
    TrainerState, VariationalTrainer,
};

/// Errors of the trainer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Settings that cannot work.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// The couplings of the model or target are invalid.
    #[error(transparent)]
    Action(#[from] phi4_action::ActionError),
    /// The chains refused the couplings or settings.
    #[error(transparent)]
    Sampler(#[from] mc_sampler::SamplerError),
    /// A checkpoint of another run.
    #[error("the checkpoint belongs to a different run ({0}); resume with the settings that wrote it")]
    DifferentRun(String),
    /// The couplings ran away.
    #[error(
        "training diverged at epoch {epoch}: {reason}; lower the learning rate (it was {rate:e}) or raise the \
         samples per epoch or the chains"
    )]
    Diverged {
        /// The epoch whose step failed.
        epoch: u64,
        /// What happened.
        reason: String,
        /// The learning rate of that epoch.
        rate: f64,
    },
}

impl TrainError {
    /// The divergence, for a reason, of the step numbered `epoch` at learning rate `rate`.
    pub(crate) fn diverged(epoch: u64, rate: f64) -> impl Fn(String) -> TrainError {
        move |reason| TrainError::Diverged { epoch, reason, rate }
    }
}

#[cfg(test)]
mod tests;
