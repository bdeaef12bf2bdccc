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
//! at a time with AVX-512); because ChaCha is random-access, one chain may split a
//! Metropolis half sweep into row blocks over several threads ([`Chain::set_split_rows`])
//! and still be bit-identical.
//!
//! # Performance (2-core x86-64 VM, shared with other builds; see `benches/`)
//!
//! The lattice Metropolis kernel updates eight sites per AVX-512 vector from one 32-bit
//! random word per update and decides the test by comparing `ΔS` with tabulated edges of
//! the acceptance cell, without an exponential ([`metropolis`]).  Measured on the otherwise
//! idle VM (`cargo bench -p qftml-benches --bench sampler`, 2026-11-29; the host adds
//! ±15% between runs), ns per site update on one core, criterion means of three runs:
//! 2.6–3.3 at L = 64, 1.9–2.5 at L = 256, 2.5–2.7 at L = 1024; best of five in the
//! `linear_cost` bench 2.0–2.6 at every L from 64 to 1024, so the cost does not grow with
//! L.  Before the cell-edge test it was 3.4 at L = 256, before the rework 9, and 17.5 for
//! the first auto-vectorised kernel.  About a fifth of it is the keystream (1.1 ns per 64
//! random bits; `rand_chacha`'s own refill takes 2.2–2.8).  Two chains on two threads run
//! 1.82× as fast as on one (`two_chains`, L = 256, 1000 sweeps), one chain split over two
//! threads 1.4–1.9× (`one_chain_split`, L = 1024; the split is bound by memory traffic as
//! much as by arithmetic now, and the host's noise shows most there).  Without AVX-512 the
//! kernels fall back to scalar code that makes the same decisions.
//!
//! Swendsen–Wang ([`swendsen_wang`], `cargo bench -p qftml-benches --bench cluster`) costs
//! 10.0 ns per site on 64² and 8.9 on 256² at the talk's point (criterion means on the idle
//! VM; labelling about 4.5, bond tests about 2 plus 1 for their random words, flips about
//! 1), against 84–104 ns per site added for Wolff.  The global-move pass (vectorised sums)
//! costs about 1.5 ns per site.  Measuring a configuration ([`Chain::measure`]: action,
//! `m`, `φ²`, `φ⁴`, nearest-neighbour product) costs about 3.3 ns per site on 64² and 256²
//! (`measure` bench).
//!
//! The hybrid schedule (four rounds of a Metropolis sweep and a global-move pass, then one
//! Swendsen–Wang update) has τ_int(m²) = 4.4–4.8 sweeps at the talk's point on 64² (4.54 ±
//! 0.25, 4.51 ± 0.25, 4.78 ± 0.27, 4.37 ± 0.24 from `qftml sample --algorithm hybrid
//! --sweeps 20000` with seeds 1–4, two chains each) at 54 ns per site per sweep on 64² and
//! 44 on 256², so τ × cost ≈ 200–250 ns per site.  The earlier schedule (one Metropolis
//! sweep, one global pass, Wolff clusters covering V/2 sites) had τ ≈ 8.5 sweeps at about
//! 55 ns per site per sweep, τ × cost ≈ 470.  Per nanosecond the Metropolis sweeps and
//! global passes do more for `m²` than further cluster updates: per Swendsen–Wang update,
//! one round gives τ ≈ 9.5, two ≈ 6.4–7.1, three ≈ 5.0–5.7, four ≈ 4.3–5.1 (measured before
//! the Metropolis rework; each round now costs about 5 ns per site, the update about 15),
//! while two copies of (round, update) give ≈ 4.9.  Swendsen–Wang in place of Wolff alone
//! changes τ little (9.5 against 8.5 with one round); the `sw` schedule (one update and one
//! Metropolis sweep, no global moves) has τ ≈ 25.  Metropolis alone has τ ≈ 1400 ± 500 and
//! heat bath 360 ± 120 (slow test, `QFTML_SLOW=1 cargo test -p mc-sampler --release --lib
//! tau_int -- --nocapture`).
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
pub mod cluster;
mod error;
mod fastexp;
pub mod global;
pub mod heatbath;
mod keystream;
mod layout;
pub mod metropolis;
mod quartic;
pub mod simd;
pub mod swendsen_wang;

pub mod ensemble;
pub mod exact;
pub mod stats;

pub use chain::{Algorithm, Chain, ChainOutput, ChainStats, RunConfig, RunOutput, Timing, run_chains, two_point_axes};
pub use error::SamplerError;
pub use keystream::{fill_u32, fill_u32_parallel, fill_u64};
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
