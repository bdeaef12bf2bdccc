//! Exact Markov chain Monte Carlo for lattice φ⁴.
#![deny(missing_docs)]

mod error;
pub mod ensemble;
pub mod exact;
pub mod stats;

pub use error::SamplerError;

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
