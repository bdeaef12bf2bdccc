//! Exact Markov chain Monte Carlo for lattice φ⁴.
//!
//! The chains sample `p(φ; θ) ∝ exp(−S(φ; θ))` for any [`phi4_action::Couplings`]
//! (inhomogeneous, next-nearest-neighbour pairs, linear terms, arbitrary graphs).  The
//! kernels, each exact for every action it accepts:
//! - single-site Metropolis in checkerboard (colour-class) order, the step size tuned during
//!   thermalisation only; homogeneous nearest-neighbour lattices with even extents use a
//!   vectorised row kernel with bulk random bits ([`metropolis`]);
//! - exact single-site heat bath, whose conditional `exp(−a x² − b x⁴ + h x)` is drawn by
//!   rejection from a Gaussian envelope for any sign of `a` ([`QuarticSampler`]);
//! - Wolff cluster updates of the embedded Ising model with Brower–Tamayo bonds, made exact
//!   for linear terms by an accept/reject step ([`cluster`]);
//! - Swendsen–Wang updates of the same embedded Ising model: bonds on all pairs, union–find
//!   labelling, every cluster flipped independently (heat-bath flips with linear terms), with
//!   a branch-free lattice kernel for homogeneous even lattices ([`swendsen_wang`]);
//! - exact global moves, a dilatation `φ → sφ` (with the Jacobian `s^V`) and a uniform
//!   shift `φ → φ + c`, each proposal `O(1)` after one `O(V)` pass ([`global`]);
//! - the schedules of [`Algorithm`] combine them; [`Chain`] is one chain and
//!   [`run_chains`] runs many in parallel with rayon, chain `c` drawing from
//!   [`chain_rng`]`(seed, c)`, so the same seed gives the same output on any number of
//!   threads.
//!
//! Exact Gaussian draws for free fields are in [`exact`].
//!
//! # Exactness and reproducibility
//!
//! Every tuned quantity (the Metropolis step, the global-move steps, the number of Wolff
//! clusters per sweep) is set during thermalisation only and frozen afterwards, and the
//! work of a sweep never depends on the random outcome of that sweep (a "flip clusters
//! until V sites" rule would bias the chain).  Fast paths make exactly the decisions of the
//! accurate test: the vectorised Metropolis and Swendsen–Wang passes decide with cheap
//! exponentials and redo the rare undecided tests with the accurate one, and the Wolff bond
//! test uses Taylor bounds of `exp` before falling back to it.  The kernels use no fused
//! multiply–add and no thread-dependent reductions, so chains are bit-identical on any
//! number of threads.  Random words come in bulk from the ChaCha8 keystream
//! ([`fill_u32`], [`fill_u64`]: exactly what `SimRng::fill` gives, computed sixteen blocks
//! at a time with AVX-512 where the CPU has it); because ChaCha is random-access, one chain
//! may split a Metropolis half sweep into row blocks over several threads
//! ([`Chain::set_split_rows`]) and still be bit-identical.
//!
//! # Vector kernels
//!
//! The AVX-512 kernels are compiled into every x86-64 build and run where the CPU has them,
//! chosen at run time; [`simd::set_vector_kernels`] switches them off for the calling
//! thread ([`simd`]).  Measured costs are in `benches/README.md`.
//!
//! # Example
//!
//! ```
//! use mc_sampler::{run_chains, Algorithm, RunConfig};
//! use mrf_graph::Lattice;
//! use phi4_action::{gaussian::FreeField, Couplings, Homogeneous};
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let c = Couplings::homogeneous(&lattice, Homogeneous { kappa: 1.0, mu2: 1.0, lambda: 0.0 }).unwrap();
//! let config = RunConfig {
//!     algorithm: Algorithm::HeatBath,
//!     n_chains: 2,
//!     n_therm: 100,
//!     n_sweeps: 2000,
//!     measure_every: 1,
//!     seed: 7,
//!     save_configs: false,
//!     two_point: false,
//!     progress_every: 0,
//! };
//! let out = run_chains(&c, &config, |_| {}).unwrap();
//! let phi2: f64 = out.chains.iter().flat_map(|ch| ch.observables.iter().map(|o| o.phi2)).sum::<f64>()
//!     / (2.0 * out.n_measurements() as f64);
//! let exact = FreeField::from_couplings(&c).unwrap().phi2().re;
//! assert!((phi2 - exact).abs() < 0.03, "{phi2} vs {exact}");
//! ```
#![deny(missing_docs)]

mod chain;
pub mod checkpoint;
pub mod cluster;
mod error;
mod fastexp;
mod frame;
pub mod global;
pub mod heatbath;
mod keystream;
mod layout;
pub mod metropolis;
mod model;
mod persistent;
mod quartic;
pub mod simd;
pub mod swendsen_wang;

pub mod ensemble;
pub mod exact;
pub mod stats;

pub use chain::{
    Algorithm, Chain, ChainOutput, ChainStats, Measure, RunConfig, RunOutput, Series, Timing, run_chain_range_with,
    run_chains, run_chains_with, two_point_axes,
};
pub use error::SamplerError;
pub use fastexp::exp_neg;
pub use keystream::{fill_u32, fill_u32_parallel, fill_u64};
pub use model::{Model, ModelSampler};
pub use persistent::PersistentChains;
pub use quartic::QuarticSampler;

/// The one random number generator of the project: portable and reproducible across
/// platforms and versions.  Seed it explicitly (`SimRng::seed_from_u64(seed)`) and give
/// every chain its own stream (`rng.set_stream(chain)`).
pub type SimRng = rand_chacha::ChaCha8Rng;

/// A generator for chain `chain` of a run seeded with `seed`: same seed, independent stream.
pub fn chain_rng(seed: u64, chain: u64) -> SimRng {
    use rand::SeedableRng;
    let mut rng = SimRng::seed_from_u64(seed);
    rng.set_stream(chain);
    rng
}

#[cfg(test)]
mod tests;
