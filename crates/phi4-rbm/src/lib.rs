//! φ⁴ neural networks: the lattice φ⁴ action on the complete bipartite graph, a generalised
//! restricted Boltzmann machine.
//!
//! A network has visible units `φ_i` and hidden units `h_j`, coupled only across the layers:
//!
//! `S(φ, h) = −Σ_ij w_ij φ_i h_j + Σ_i (r_i φ_i + a_i φ_i² + b_i φ_i⁴) + Σ_j (s_j h_j + m_j h_j² + n_j h_j⁴)`,
//!
//! and `p(φ, h) = e^{−S}/Z`.  Each layer has one unit type ([`UnitKind`]): φ⁴, Gaussian
//! (`b = 0`), Bernoulli (`{0, 1}`) or the Ising spins `±1` (the limit `b → ∞`, `a = −2b`
//! of φ⁴ units).  The talk's special cases are named constructors of [`Network`]:
//! Gaussian–Gaussian, Gaussian–Bernoulli, Bernoulli–Bernoulli (the classic RBM with
//! `p(h_j = 1 | φ) = σ(Σ_i w_ij φ_i − s_j)`), φ⁴–Bernoulli and its Ising limit.
//!
//! Given one layer the units of the other are independent, each with a one-dimensional
//! density `∝ exp(−E(x) + t x)`: block Gibbs sampling ([`GibbsChains`]) draws them exactly
//! (the quartic rejection sampler of `mc_sampler` for φ⁴ units), a mini-batch at a time with
//! matrix products.  Summing out the hidden layer gives the visible marginal
//! `p(φ) = e^{−F(φ)}/Z` with the free energy `F(φ) = Σ_i E_i(φ_i) − Σ_j ln Z_j(Σ_i w_ij φ_i)`
//! ([`Network::free_energy`]; `ln Z_j` in closed form for binary and Gaussian units and by
//! quadrature for φ⁴ units, [`quadrature`]).  [`Trainer`] minimises KL(q‖p(φ)) over data
//! by CD-k or persistent CD with momentum and weight decay, and checkpoints its exact state
//! ([`TrainerState`]).  [`eval`] measures reconstruction error, pseudo-log-likelihood, `ln Z`
//! by AIS or exactly, and builds the data of the next network of a stack.
//!
//! # Example
//!
//! A Bernoulli–Bernoulli network on sixteen binary pixels (a 4×4 image), trained for a few
//! epochs; its exact log-likelihood comes from enumerating the 2¹⁶ visible states.
//!
//! ```
//! use mc_sampler::chain_rng;
//! use phi4_rbm::{eval, Data, Network, NetworkInit, TrainConfig, Trainer, UnitKind};
//!
//! // Two 4×4 patterns, horizontal and vertical bars.
//! let bars: Vec<f64> = (0..16).map(|i| f64::from(u8::from(i / 4 % 2 == 0))).collect();
//! let stripes: Vec<f64> = (0..16).map(|i| f64::from(u8::from(i % 2 == 0))).collect();
//! let rows: Vec<f64> = (0..20).flat_map(|k| if k % 2 == 0 { bars.clone() } else { stripes.clone() }).collect();
//! let data = Data::from_rows(&rows, 16)?;
//!
//! let init = NetworkInit {
//!     visible: UnitKind::Bernoulli, hidden: UnitKind::Bernoulli, n_visible: 16, n_hidden: 4,
//!     weight_sd: 0.01, visible_coefficients: [0.0; 3], hidden_coefficients: [0.0; 3],
//! };
//! let network = Network::initial(&init, &mut chain_rng(1, 0))?;
//! let config = TrainConfig {
//!     batch_size: 4, learning_rate: 0.1, cd_k: 1, persistent: true,
//!     momentum: 0.5, weight_decay: 0.0, train_shape: false, seed: 1,
//!     shuffle: true,
//! };
//! let mut trainer = Trainer::new(network.clone(), config)?;
//! for _ in 0..30 {
//!     trainer.train_epoch(&data)?;
//! }
//! let before = eval::log_likelihood(&network, &data, eval::exact_log_partition(&network)?)?;
//! let trained = trainer.network();
//! let after = eval::log_likelihood(trained, &data, eval::exact_log_partition(trained)?)?;
//! assert!(after > before + 3.0, "{before} -> {after}");
//! # Ok::<(), phi4_rbm::RbmError>(())
//! ```
#![deny(missing_docs)]

mod data;
mod error;
pub mod eval;
mod gibbs;
mod network;
pub mod quadrature;
mod train;
mod units;

pub use data::Data;
pub use error::RbmError;
pub use gibbs::{GibbsChains, NetworkChains, sample_stack};
pub use network::{Network, NetworkInit};
pub use train::{EpochSummary, RECONSTRUCTION_STRIDE, SHAPE_FLOOR, TrainConfig, Trainer, TrainerState};
pub use units::{Layer, Moments, UnitKind};

#[cfg(test)]
mod tests;
