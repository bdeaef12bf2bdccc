//! Run-time choice between the vector kernels and the portable ones.
//!
//! The AVX-512 kernels (the Metropolis row kernel, the Swendsen–Wang bond tests,
//! labelling and flip pass, the ChaCha8 keystream) are compiled into every x86-64 build as
//! `#[target_feature]` functions for AVX-512 F, VL, BW and DQ with the bit-manipulation
//! instructions every such CPU has (POPCNT, BMI1, BMI2, LZCNT), whatever the build's target
//! CPU; scalar loops that need the wider instructions to be vectorised well are compiled a
//! second time inside such functions.  Whether they run is decided at run time: the CPU is asked once
//! per process (`is_x86_feature_detected!`, cached), and a kernel records the answer when
//! it is constructed.  Elsewhere (another architecture, an x86-64 CPU without AVX-512) the
//! portable kernels run.  Both make exactly the same decisions from the same random words,
//! with no fused multiply–add, so a chain gives the same bits either way.
//!
//! # Switching the vector kernels off
//!
//! [`set_vector_kernels`]`(false)` turns them off *for the calling thread*: kernels
//! constructed afterwards on this thread (the scratch space that [`crate::Chain::new`]
//! builds) run the portable code for their whole life, also on the rayon threads a chain
//! splits its rows over, and [`crate::fill_u32`], [`crate::fill_u64`] and
//! [`crate::fill_u32_parallel`] called on this thread use the portable keystream.  The
//! switch is thread-local, so tests running in parallel threads cannot see each other's
//! setting; chains that [`crate::run_chains`] builds on the rayon pool follow the pool
//! threads' setting, which is on unless code running there turned it off.
//!
//! ```
//! use mc_sampler::{Algorithm, Chain, chain_rng, simd};
//! use mrf_graph::Lattice;
//! use phi4_action::{Couplings, Homogeneous};
//!
//! let c = Couplings::homogeneous(
//!     &Lattice::square(32).unwrap(),
//!     Homogeneous { kappa: 1.0, mu2: -0.9515, lambda: 0.7 },
//! )
//! .unwrap();
//! let run = || {
//!     let mut chain = Chain::new(&c, Algorithm::Hybrid, chain_rng(3, 0)).unwrap();
//!     chain.thermalise(3);
//!     chain.field()
//! };
//! let vector = run();
//! simd::set_vector_kernels(false);
//! assert!(!simd::vector_kernels_enabled());
//! let portable = run();
//! simd::set_vector_kernels(true);
//! assert_eq!(vector, portable);
//! ```

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether this CPU can run the AVX-512 kernels (AVX-512 F, VL, BW and DQ, POPCNT, BMI1,
/// BMI2, LZCNT); asked once per process.
pub fn avx512_detected() -> bool {
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("bmi2")
        && std::arch::is_x86_feature_detected!("lzcnt")
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// Turns the vector kernels on or off for the calling thread (see the [module
/// docs](self)); on by default.  Kernels constructed before the call keep their choice.
pub fn set_vector_kernels(enabled: bool) {
    ENABLED.with(|e| e.set(enabled));
}

/// Whether kernels constructed now on this thread run the vector code: the CPU has it and
/// [`set_vector_kernels`] did not turn it off.
pub fn vector_kernels_enabled() -> bool {
    Isa::current().avx512().is_some()
}

/// The instruction set a kernel runs with, chosen when the kernel is constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Isa {
    avx512: Option<Avx512>,
}

impl Isa {
    /// The portable kernels.
    #[cfg(test)]
    pub(crate) const PORTABLE: Isa = Isa { avx512: None };

    /// What kernels constructed now on this thread run: AVX-512 where the CPU has it,
    /// unless [`set_vector_kernels`] turned it off on this thread.
    pub(crate) fn current() -> Isa {
        let avx512 = (avx512_detected() && ENABLED.with(Cell::get)).then_some(Avx512(()));
        Isa { avx512 }
    }

    /// The proof that the AVX-512 kernels may run, when they may.
    #[inline]
    pub(crate) fn avx512(self) -> Option<Avx512> {
        self.avx512
    }

    /// [`Isa::current`] and, when that is not AVX-512, a note on stderr that the vector
    /// kernel `what` is not exercised (for the tests that compare kernels).
    #[cfg(test)]
    pub(crate) fn current_or_note(what: &str) -> Isa {
        let isa = Isa::current();
        if isa.avx512().is_none() {
            eprintln!("avx512f not available: vector kernel not exercised ({what}); testing the portable one only");
        }
        isa
    }

    /// The instruction sets to compare in tests: the portable one, then the current one if
    /// it differs (with a note on stderr when it does not).
    #[cfg(test)]
    pub(crate) fn all_for_test(what: &str) -> Vec<Isa> {
        let current = Isa::current_or_note(what);
        if current == Isa::PORTABLE {
            vec![Isa::PORTABLE]
        } else {
            vec![Isa::PORTABLE, current]
        }
    }
}

/// Proof that the CPU has the features of [`avx512_detected`]: only [`Isa::current`] makes one,
/// after asking the CPU.  The safe entry points of the AVX-512 kernels take it, so their
/// `#[target_feature]` functions are only ever called on a CPU that has the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Avx512(());
