//! The interface the trainers are written against: an energy-based model
//! `p(x; θ) ∝ exp(−E(x; θ))` and persistent chains that sample it.
//!
//! Both KL trainers need the same few things of a model: its parameters `θ` as one flat
//! vector, the energy of a configuration, and the sufficient statistics `∂E/∂θ` of a
//! configuration in the layout of `θ` (the data term of KL(q‖p) and the covariances of the
//! Bogoliubov gradient are averages of them).  Sampling is the job of a [`ModelSampler`]:
//! persistent chains whose parameters change between sweeps and which report a measurement
//! of every chain in chain order.  [`Couplings`] with [`PersistentChains`] implement them for
//! lattice φ⁴; the φ⁴ networks implement them with binary and continuous units.

use phi4_action::Couplings;

use crate::{PersistentChains, SamplerError};

/// A parametrised energy `E(x; θ)` over configurations of `n_units()` real (or binary, as
/// 0/1) units.
pub trait Model: Send + Sync {
    /// Length of a configuration.
    fn n_units(&self) -> usize;
    /// Number of parameters.
    fn n_params(&self) -> usize;
    /// The parameters `θ` as one flat vector.
    fn params(&self) -> Vec<f64>;
    /// The energy `E(x; θ)` (for φ⁴, the action `S`).
    fn energy(&self, x: &[f64]) -> f64;
    /// The sufficient statistics `∂E/∂θ` of `x` into `out` (length [`Model::n_params`]).
    fn grad_energy(&self, x: &[f64], out: &mut [f64]);
}

impl Model for Couplings {
    fn n_units(&self) -> usize {
        self.n_sites()
    }
    fn n_params(&self) -> usize {
        Couplings::n_params(self)
    }
    fn params(&self) -> Vec<f64> {
        Couplings::params(self)
    }
    fn energy(&self, x: &[f64]) -> f64 {
        self.action(x)
    }
    fn grad_energy(&self, x: &[f64], out: &mut [f64]) {
        self.grad_action(x, out)
    }
}

/// Persistent Markov chains of a [`Model`], steered by a trainer.
pub trait ModelSampler {
    /// The model sampled.
    type Model: Model;
    /// The current model.
    fn model(&self) -> &Self::Model;
    /// Replaces the parameters of every chain (fields, generators and tuned steps kept).
    fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError>;
    /// `n` sweeps of every chain.
    fn sweep(&mut self, n: u64);
    /// `f(model, x)` of the current configuration of every chain, in chain order.
    fn measure<M: Send>(&mut self, f: impl Fn(&Self::Model, &[f64]) -> M + Sync) -> Vec<M>;
}

impl ModelSampler for PersistentChains {
    type Model = Couplings;
    fn model(&self) -> &Couplings {
        self.couplings()
    }
    fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError> {
        PersistentChains::set_params(self, theta)
    }
    fn sweep(&mut self, n: u64) {
        PersistentChains::sweep(self, n)
    }
    fn measure<M: Send>(&mut self, f: impl Fn(&Couplings, &[f64]) -> M + Sync) -> Vec<M> {
        self.measure_with(f)
    }
}
