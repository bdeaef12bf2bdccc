//! Single-site Metropolis in checkerboard order.
//!
//! A proposal `φ_i → φ_i + d` is accepted with probability `min(1, exp(−ΔS))`.  The sweep
//! visits the colour classes of the storage order one after the other ([`crate::layout`]);
//! the step size `δ` is tuned during thermalisation only and frozen afterwards
//! ([`crate::Chain`]).
//!
//! # Random words
//!
//! Each update consumes one 32-bit word of the chain's generator, drawn in bulk.
//! - The low 20 bits `m` give the step `d = δ·((m + ½)·2⁻²⁰ − ½)`: a grid symmetric about
//!   zero, so the proposal is exactly symmetric and every step satisfies detailed balance.
//! - The high 12 bits `k` place the acceptance variable in the cell `[k, k + 1)·2⁻¹²`.
//!   Almost always the cell lies wholly below or above `exp(−ΔS)` and decides the test.
//!   When it straddles `exp(−ΔS)` (about once in 10⁴ updates), the variable is refined to
//!   `u = (k + (j + ½)·2⁻³²)·2⁻¹²` with a 32-bit word `j` from the chain's *refinement
//!   stream*: the same ChaCha8 key with the top bit of the stream number flipped, read at
//!   the word position of the update's own word.  The stream is random-access, so the
//!   refinement word depends only on which update asks, never on the order or the thread
//!   in which updates run.
//!
//! So `u` is uniform on a grid of spacing `2⁻⁴⁴` and the test `u < exp(−ΔS)` is exact up
//! to that grid and the accuracy of [`crate::fastexp::exp_neg`] (a few ulp).
//!
//! # Kernels
//!
//! All kernels make the same decisions from the same words: the *accurate test*
//! ([`accept`]).  `ΔS = d·((x + y)(a + b(x² + y²)) − h)` with `y = x + d` is computed with
//! the same operations everywhere, so it is bit-identical across kernels.
//! - The general kernel ([`sweep_general`]) walks the relabelled neighbour tables of any
//!   [`phi4_action::Couplings`] (inhomogeneous, diagonal pairs, arbitrary graphs, linear
//!   terms) and runs the accurate test at every site.
//! - The lattice kernel ([`LatticeKernel`], in `lattice.rs`) handles homogeneous
//!   nearest-neighbour couplings on an even periodic lattice, one sublattice row at a time
//!   from contiguous rows of the other sublattice.  Where the CPU has AVX-512 (chosen at
//!   run time, [`crate::simd`]; the intrinsics are in `avx512.rs`) it updates eight sites
//!   per vector and decides the test without any exponential: `ΔS`, rounded to `f32`, is
//!   compared with the edges of the acceptance cell in units of `ΔS` (`−ln` of the cell's
//!   ends, two 4096-entry table read by one gather, [`CellEdges`](lattice::CellEdges)),
//!   widened by a margin that covers every rounding.  Lanes it cannot decide (the cell
//!   straddles `exp(−ΔS)`, about one update in 4·10³) keep their old value and run the
//!   accurate test after the vector pass over their block of 64 vectors.  Elsewhere it runs
//!   the accurate test at every site of the row.

use crate::SimRng;
use crate::fastexp::exp_neg;
use crate::keystream::{StreamKey, fill_u32_parallel_with, fill_u32_with, refinement_key, word_at};
use crate::layout::Layout;
use crate::simd::Isa;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod lattice;
mod strip;

pub(crate) use lattice::LatticeKernel;
#[cfg(test)]
use lattice::{EDGE_MARGIN, EDGES};
pub use strip::{RowStrip, sweep_strips};

const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;
/// `1.5 − 2⁻²¹`: `(1 + m·2⁻²⁰) − STEP_OFFSET = (m + ½)·2⁻²⁰ − ½`, exactly.
const STEP_OFFSET: f64 = 1.5 - 0.5 / 1_048_576.0;
/// Width of an acceptance cell, `2⁻¹²`.
const CELL: f64 = 1.0 / 4096.0;
/// Refinement grid inside a cell, `2⁻⁴⁴`.
const REFINE: f64 = CELL / 4_294_967_296.0;

/// The step `(m + ½)·2⁻²⁰ − ½ ∈ (−½, ½)` from the low 20 bits of `word` (multiply by `δ`).
#[inline(always)]
pub(crate) fn step_fraction(word: u32) -> f64 {
    f64::from_bits(ONE_BITS | (u64::from(word & 0xF_FFFF) << 32)) - STEP_OFFSET
}

/// The lower edge `k·2⁻¹²` of the acceptance cell, from the high 12 bits of `word`.
#[inline(always)]
pub(crate) fn cell_floor(word: u32) -> f64 {
    f64::from_bits(ONE_BITS | (u64::from(word >> 20) << 40)) - 1.0
}

/// `ΔS` of the move `x → x + d` in the local field `h`.
#[inline(always)]
pub(crate) fn delta_s(x: f64, d: f64, h: f64, a: f64, b: f64) -> f64 {
    let y = x + d;
    d * ((x + y) * (a + b * (x * x + y * y)) - h)
}

/// The accurate test: accept with probability `min(1, exp(−ΔS))`, the acceptance variable
/// taken from `word`'s cell and, only if needed, refined by `refine()`.
#[inline]
pub(crate) fn accept(ds: f64, word: u32, refine: impl FnOnce() -> u32) -> bool {
    if ds <= 0.0 {
        return true;
    }
    let p = exp_neg(ds);
    let floor = cell_floor(word);
    if p >= floor + CELL {
        true
    } else if p <= floor {
        false
    } else {
        floor + (f64::from(refine()) + 0.5) * REFINE < p
    }
}

/// One accurate update of `x` with local field `h`, from `word` (main stream word position
/// `index`); returns the new value and whether the proposal was accepted.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn update(
    x: f64,
    h: f64,
    a: f64,
    b: f64,
    delta: f64,
    word: u32,
    refine: &StreamKey,
    index: u64,
) -> (f64, bool) {
    let d = delta * step_fraction(word);
    let acc = accept(delta_s(x, d, h, a, b), word, || word_at(refine, index));
    (if acc { x + d } else { x }, acc)
}

/// Random words of one sweep, and where they start in the chain's stream; also the
/// instruction set of the kernel that owns them, chosen when they are constructed
/// ([`crate::simd`]).
#[derive(Debug, Clone)]
pub(crate) struct Words {
    words: Vec<u32>,
    isa: Isa,
}

impl Default for Words {
    /// No words yet, and the instruction set of kernels constructed now on this thread.
    fn default() -> Self {
        Self {
            words: Vec::new(),
            isa: Isa::current(),
        }
    }
}

impl Words {
    /// Draws `n` words (split over the rayon pool if `parallel`); returns them and the
    /// stream position of the first.
    fn draw(&mut self, rng: &mut SimRng, n: usize, parallel: bool) -> (&[u32], u64) {
        self.words.resize(n, 0);
        let pos = rng.get_word_pos() as u64;
        if parallel {
            fill_u32_parallel_with(self.isa, rng, &mut self.words[..n]);
        } else {
            fill_u32_with(self.isa, rng, &mut self.words[..n]);
        }
        (&self.words[..n], pos)
    }

    /// The instruction set the owning kernel runs with.
    fn isa(&self) -> Isa {
        self.isa
    }
}

/// One sweep of the general kernel over the field in storage order; returns the number of
/// accepted proposals.
#[cfg(test)]
pub(crate) fn sweep_general(layout: &Layout, field: &mut [f64], rng: &mut SimRng, delta: f64) -> u64 {
    let mut words = Words::default();
    sweep_general_with(layout, field, rng, delta, &mut words)
}

/// [`sweep_general`] with caller-owned scratch space.
pub(crate) fn sweep_general_with(
    layout: &Layout,
    field: &mut [f64],
    rng: &mut SimRng,
    delta: f64,
    words: &mut Words,
) -> u64 {
    let refine = refinement_key(rng);
    let (words, pos) = words.draw(rng, field.len(), false);
    let mut accepted = 0;
    for (s, &word) in words.iter().enumerate() {
        let h = layout.local_field(field, s);
        let (x, acc) = update(
            field[s],
            h,
            layout.a[s],
            layout.b[s],
            delta,
            word,
            &refine,
            pos + s as u64,
        );
        field[s] = x;
        accepted += acc as u64;
    }
    accepted
}

#[cfg(test)]
mod tests;
