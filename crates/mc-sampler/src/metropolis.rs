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
//! - The lattice kernel ([`LatticeKernel`]) handles homogeneous nearest-neighbour
//!   couplings on an even periodic lattice, one sublattice row at a time from contiguous
//!   rows of the other sublattice.  With AVX-512 it updates eight sites per vector and
//!   decides the test without any exponential: `ΔS`, rounded to `f32`, is compared with
//!   the edges of the acceptance cell in units of `ΔS` (`−ln` of the cell's ends, two
//!   4096-entry table read by one gather, [`CellEdges`]), widened by a margin that covers
//!   every rounding.  Lanes it cannot decide (the cell straddles `exp(−ΔS)`, about one
//!   update in 4·10³) keep their old value and run the accurate test after the vector pass
//!   over their block of 64 vectors.

use crate::SimRng;
use crate::fastexp::exp_neg;
use rayon::prelude::*;
use std::sync::LazyLock;

use crate::keystream::{StreamKey, fill_u32, fill_u32_parallel, refinement_key, word_at};
use crate::layout::{FastParams, Layout};

/// Margin of the cell edges, in units of `ΔS` (see [`CellEdges`]).
pub(crate) const EDGE_MARGIN: f64 = 2e-5;

/// The acceptance cells in units of `ΔS`, in single precision: the accurate test
/// surely accepts in cell `k` if `ΔS ≤ accept[k]` and surely rejects if
/// `ΔS ≥ reject[k]`.
///
/// The accurate test accepts when `exp_neg(ΔS) ≥ (k + 1)·2⁻¹²` (or `ΔS ≤ 0`) and rejects
/// when `exp_neg(ΔS) ≤ k·2⁻¹²`; in cell 0 it also rejects when `exp_neg(ΔS)` is at most the
/// smallest refined variable, `2⁻⁴⁵`.  So `accept[k] = −ln((k + 1)·2⁻¹²) − m` and
/// `reject[k] = −ln(max(k, 2⁻³³)·2⁻¹²) + m` with `m` = [`EDGE_MARGIN`], rounded to `f32`
/// (error below `2⁻²⁴·32 < 2·10⁻⁶`).  The margin covers those roundings, the error of
/// `exp_neg` (a few ulp) and that of rounding `ΔS` to `f32` (below `2⁻²⁴|ΔS|`, at most
/// `2·10⁻⁶` where it matters: a rounded `ΔS` compares with an edge of at most 32 only
/// when `ΔS` itself is below about 32).
pub(crate) struct CellEdges {
    /// `[accept[k], reject[k]]`, side by side so that one 64-bit gather reads both.
    pairs: [[f32; 2]; 4096],
}

#[cfg(test)]
impl CellEdges {
    pub(crate) fn accept(&self, k: usize) -> f32 {
        self.pairs[k][0]
    }

    pub(crate) fn reject(&self, k: usize) -> f32 {
        self.pairs[k][1]
    }
}

pub(crate) static EDGES: LazyLock<Box<CellEdges>> = LazyLock::new(|| {
    let mut edges = Box::new(CellEdges {
        pairs: [[0.0; 2]; 4096],
    });
    for (k, pair) in edges.pairs.iter_mut().enumerate() {
        let lowest = (k as f64).max(1.0 / 8_589_934_592.0);
        pair[0] = (-((k + 1) as f64 / 4096.0).ln() - EDGE_MARGIN) as f32;
        pair[1] = (-(lowest / 4096.0).ln() + EDGE_MARGIN) as f32;
    }
    edges
});

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

/// Random words of one sweep, and where they start in the chain's stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Words {
    words: Vec<u32>,
}

impl Words {
    /// Draws `n` words (split over the rayon pool if `parallel`); returns them and the
    /// stream position of the first.
    fn draw(&mut self, rng: &mut SimRng, n: usize, parallel: bool) -> (&[u32], u64) {
        self.words.resize(n, 0);
        let pos = rng.get_word_pos() as u64;
        if parallel {
            fill_u32_parallel(rng, &mut self.words[..n]);
        } else {
            fill_u32(rng, &mut self.words[..n]);
        }
        (&self.words[..n], pos)
    }
}

/// With row splitting on ([`crate::Chain::set_split_rows`]), sublattices with at least
/// this many sites are updated in row blocks spread over the rayon pool (when it has more
/// than one thread).
pub(crate) const PARALLEL_MIN_SITES: usize = 128 * 128 / 2;
/// Row blocks per sublattice in parallel mode (fixed, so that nothing depends on the
/// number of threads; rows are independent, so the result does not depend on it either).
const ROW_BLOCKS: usize = 8;

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

/// Scratch space of the lattice kernel.
#[derive(Debug, Clone)]
pub(crate) struct LatticeKernel {
    p: FastParams,
    words: Words,
    /// Whether large sublattices are split into row blocks over the rayon pool.
    pub(crate) split_rows: bool,
}

impl LatticeKernel {
    pub(crate) fn new(p: FastParams) -> Self {
        Self {
            p,
            words: Words::default(),
            split_rows: false,
        }
    }

    /// One sweep (even sublattice, then odd) over the field in storage order; returns the
    /// number of accepted proposals.  Each sublattice draws its `V/2` words in one call.
    pub(crate) fn sweep(&mut self, field: &mut [f64], rng: &mut SimRng, delta: f64) -> u64 {
        let refine = refinement_key(rng);
        let half = field.len() / 2;
        let (even, odd) = field.split_at_mut(half);
        let mut accepted = self.half_sweep(even, odd, 0, rng, &refine, delta);
        accepted += self.half_sweep(odd, even, 1, rng, &refine, delta);
        accepted
    }

    fn half_sweep(
        &mut self,
        own: &mut [f64],
        other: &[f64],
        parity: usize,
        rng: &mut SimRng,
        refine: &StreamKey,
        delta: f64,
    ) -> u64 {
        let FastParams { lx, ly, w, a, b, r } = self.p;
        let n = lx / 2;
        let params = RowParams { w, a, b, r, delta };
        let parallel = self.split_rows && own.len() >= PARALLEL_MIN_SITES && rayon::current_num_threads() > 1;
        let (words, pos) = self.words.draw(rng, own.len(), parallel);
        let rows = RowSource {
            other,
            words,
            first_index: pos,
            n,
            ly,
            parity,
        };
        if parallel {
            let block_rows = ly.div_ceil(ROW_BLOCKS);
            own.par_chunks_mut(block_rows * n)
                .enumerate()
                .map(|(i, block)| rows_kernel(block, i * block_rows, &rows, &params, refine))
                .sum()
        } else {
            rows_kernel(own, 0, &rows, &params, refine)
        }
    }
}

/// The other sublattice and the random words of one half sweep.
pub(crate) struct RowSource<'a> {
    other: &'a [f64],
    words: &'a [u32],
    first_index: u64,
    n: usize,
    ly: usize,
    parity: usize,
}

impl RowSource<'_> {
    /// The neighbours and words of own row `y`.
    #[inline(always)]
    fn row(&self, y: usize) -> Row<'_> {
        let (n, ly, other) = (self.n, self.ly, self.other);
        Row {
            same: &other[y * n..(y + 1) * n],
            shift: (y + self.parity) % 2,
            up: &other[((y + 1) % ly) * n..][..n],
            down: &other[((y + ly - 1) % ly) * n..][..n],
            words: &self.words[y * n..(y + 1) * n],
            first_index: self.first_index + (y * n) as u64,
        }
    }
}

/// The neighbours and random words of one sublattice row.
pub(crate) struct Row<'a> {
    /// The other sublattice's entries in the same row.  Own entry `k` sits at
    /// `x = 2k + shift`; its horizontal neighbours are `same[k + shift − 1]` (left) and
    /// `same[k + shift]` (right), periodically.
    pub(crate) same: &'a [f64],
    pub(crate) shift: usize,
    pub(crate) up: &'a [f64],
    pub(crate) down: &'a [f64],
    pub(crate) words: &'a [u32],
    /// Main-stream word position of `words[0]`.
    pub(crate) first_index: u64,
}

/// Homogeneous couplings and step of the lattice kernel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowParams {
    pub(crate) w: f64,
    pub(crate) a: f64,
    pub(crate) b: f64,
    pub(crate) r: f64,
    pub(crate) delta: f64,
}

impl Row<'_> {
    /// Sum of the two horizontal neighbours of own entry `k`, left plus right.
    #[inline(always)]
    fn horizontal(&self, k: usize) -> f64 {
        let n = self.same.len();
        let right = k + self.shift;
        let left = if right == 0 { n - 1 } else { right - 1 };
        self.same[left] + self.same[if right == n { 0 } else { right }]
    }
}

impl RowParams {
    #[inline(always)]
    fn field(&self, row: &Row<'_>, k: usize) -> f64 {
        self.w * (row.horizontal(k) + (row.up[k] + row.down[k])) - self.r
    }
}

/// Updates own rows `y0..` (`own`, whole rows): the AVX-512 kernel where the build has it,
/// the accurate scalar one elsewhere.  Both make exactly the decisions of the accurate
/// test.
fn rows_kernel(own: &mut [f64], y0: usize, src: &RowSource<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl"))]
    {
        avx512::rows_update(own, y0, src, p, refine)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl")))]
    {
        own.chunks_mut(src.n)
            .enumerate()
            .map(|(j, x)| row_update_scalar(x, &src.row(y0 + j), p, refine, 0))
            .sum()
    }
}

/// The update of one row, as in [`rows_kernel`] (for tests).
#[cfg(test)]
pub(crate) fn row_kernel(x: &mut [f64], row: &Row<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl"))]
    {
        avx512::row_update(x, row, p, refine)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl")))]
    {
        row_update_scalar(x, row, p, refine, 0)
    }
}

/// The accurate test at sites `start..` of a row.
pub(crate) fn row_update_scalar(x: &mut [f64], row: &Row<'_>, p: &RowParams, refine: &StreamKey, start: usize) -> u64 {
    let mut accepted = 0;
    for (k, xk) in x.iter_mut().enumerate().skip(start) {
        let (new, acc) = update(
            *xk,
            p.field(row, k),
            p.a,
            p.b,
            p.delta,
            row.words[k],
            refine,
            row.first_index + k as u64,
        );
        *xk = new;
        accepted += acc as u64;
    }
    accepted
}

/// The row update in AVX-512, eight sites per vector.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl"))]
#[allow(unsafe_code)]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use super::{CellEdges, EDGES, Row, RowParams, RowSource, row_update_scalar, update};
    use crate::keystream::StreamKey;

    const LANES: usize = 8;

    #[cfg(test)]
    pub(crate) fn row_update(x: &mut [f64], row: &Row<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
        let consts = Consts::new(p);
        // SAFETY: this module is compiled only when the build enables AVX-512F and VL.
        unsafe { update_one_row(x, row, p, &consts, refine) }
    }

    /// Updates own rows `y0..` of `src` (`own`, whole rows).
    pub(crate) fn rows_update(
        own: &mut [f64],
        y0: usize,
        src: &RowSource<'_>,
        p: &RowParams,
        refine: &StreamKey,
    ) -> u64 {
        // SAFETY: this module is compiled only when the build enables AVX-512F and VL.
        unsafe { rows_update_avx512(own, y0, src, p, refine) }
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    unsafe fn rows_update_avx512(
        own: &mut [f64],
        y0: usize,
        src: &RowSource<'_>,
        p: &RowParams,
        refine: &StreamKey,
    ) -> u64 {
        let consts = Consts::new(p);
        own.chunks_mut(src.n)
            .enumerate()
            // SAFETY: the caller's features are those of `update_one_row`.
            .map(|(j, x)| unsafe { update_one_row(x, &src.row(y0 + j), p, &consts, refine) })
            .sum()
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    unsafe fn update_one_row(x: &mut [f64], row: &Row<'_>, p: &RowParams, consts: &Consts, refine: &StreamKey) -> u64 {
        let n = x.len();
        assert!(
            row.same.len() == n && row.shift < 2 && row.up.len() >= n && row.down.len() >= n && row.words.len() >= n
        );
        let full = n - n % LANES;
        // SAFETY: this module is compiled only when AVX-512F and AVX-512VL are enabled for
        // the whole build, and the assertion above bounds every load and store (see
        // `vector_part`).
        let accepted = unsafe { vector_part(x, row, p, consts, refine, full) };
        accepted + row_update_scalar(x, row, p, refine, full)
    }

    /// Broadcast constants of the vector pass.
    #[derive(Clone, Copy)]
    struct Consts {
        w: __m512d,
        a: __m512d,
        b: __m512d,
        r: __m512d,
        delta: __m512d,
        step_scale: __m512d,
        step_shift: __m512d,
        low20: __m256i,
        deinterleave: __m512i,
        edges: &'static CellEdges,
    }

    impl Consts {
        #[inline(always)]
        fn new(p: &RowParams) -> Self {
            // SAFETY: the build enables AVX-512F (this module's condition).
            unsafe {
                let set = _mm512_set1_pd;
                Self {
                    w: set(p.w),
                    a: set(p.a),
                    b: set(p.b),
                    r: set(p.r),
                    delta: set(p.delta),
                    // (m + ½)·2⁻²⁰ − ½ = m·2⁻²⁰ − (½ − 2⁻²¹): an odd multiple of 2⁻²¹ below ½
                    // in size, so the fused multiply–add of the step is exact and equals
                    // `step_fraction`.
                    step_scale: set(1.0 / 1_048_576.0),
                    step_shift: set(-(0.5 - 0.5 / 1_048_576.0)),
                    low20: _mm256_set1_epi32(0xF_FFFF),
                    deinterleave: _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15),
                    edges: &EDGES,
                }
            }
        }
    }

    /// The horizontal neighbours (left, right) of own entries `k..k + 8` of a row with
    /// shift 1: `same[k..k + 8]` and `same[k + 1..k + 9]`, periodically.
    ///
    /// # Safety
    /// `k + 8 ≤ row.same.len()`.
    #[inline(always)]
    unsafe fn horizontal_shift_one(row: &Row<'_>, k: usize) -> (__m512d, __m512d) {
        let same = row.same.as_ptr();
        let n = row.same.len();
        // SAFETY (all loads): every index read is in 0..n, since k + 8 ≤ n.
        unsafe {
            let left = _mm512_loadu_pd(same.add(k));
            let right = if k + LANES == n {
                // [same[n − 7..n], same[0]]
                let first = _mm512_castpd_si512(_mm512_loadu_pd(same));
                _mm512_castsi512_pd(_mm512_alignr_epi64::<1>(first, _mm512_castpd_si512(left)))
            } else {
                _mm512_loadu_pd(same.add(k + 1))
            };
            (left, right)
        }
    }

    /// The vector pass over entries `0..full` of a row (`full` a multiple of 8, at most
    /// the length of every slice of `row`), then the accurate test in its undecided lanes.
    #[target_feature(enable = "avx512f,avx512vl")]
    #[inline]
    unsafe fn vector_part(
        x: &mut [f64],
        row: &Row<'_>,
        p: &RowParams,
        consts: &Consts,
        refine: &StreamKey,
        full: usize,
    ) -> u64 {
        let Consts {
            w: vw,
            a: va,
            b: vb,
            r: vr,
            delta: vdelta,
            step_scale,
            step_shift,
            low20,
            deinterleave,
            edges,
        } = *consts;
        let mut accepted = 0u64;
        // Per block of 64 vectors: the undecided lanes of each vector, and which vectors
        // have any.
        let mut masks = [0u8; 64];
        let mut pending = 0u64;
        // With shift 0 the left neighbours are assembled from the right ones of this vector
        // and the last (same[k − 8..k], initially same[n − 8..n]) instead of being loaded:
        // a load from same[k − 1] would partly overlap the store to x[k − 8..k] in the low
        // twelve address bits (the sublattices are a multiple of 4 KiB apart) and wait for
        // it.
        let n = row.same.len();
        // SAFETY: full ≥ 8 whenever the loop runs, so n ≥ 8.
        let mut previous_right = if full > 0 {
            unsafe { _mm512_castpd_si512(_mm512_loadu_pd(row.same.as_ptr().add(n - LANES))) }
        } else {
            _mm512_setzero_si512()
        };
        let mut k = 0;
        while k < full {
            // SAFETY (loads/stores): k + 8 ≤ full ≤ the length of every slice.
            let xk = unsafe { _mm512_loadu_pd(x.as_ptr().add(k)) };
            let (left, right) = if row.shift == 0 {
                let right = unsafe { _mm512_castpd_si512(_mm512_loadu_pd(row.same.as_ptr().add(k))) };
                let left = _mm512_alignr_epi64::<7>(right, previous_right);
                previous_right = right;
                (_mm512_castsi512_pd(left), _mm512_castsi512_pd(right))
            } else {
                unsafe { horizontal_shift_one(row, k) }
            };
            let upk = unsafe { _mm512_loadu_pd(row.up.as_ptr().add(k)) };
            let downk = unsafe { _mm512_loadu_pd(row.down.as_ptr().add(k)) };
            let word = unsafe { _mm256_loadu_si256(row.words.as_ptr().add(k).cast()) };
            // h and ΔS with exactly the operations of `RowParams::field` and `delta_s`.
            let h = _mm512_sub_pd(
                _mm512_mul_pd(vw, _mm512_add_pd(_mm512_add_pd(left, right), _mm512_add_pd(upk, downk))),
                vr,
            );
            let m = _mm512_cvtepi32_pd(_mm256_and_si256(word, low20));
            let d = _mm512_mul_pd(vdelta, _mm512_fmadd_pd(m, step_scale, step_shift));
            let y = _mm512_add_pd(xk, d);
            let q = _mm512_add_pd(_mm512_mul_pd(xk, xk), _mm512_mul_pd(y, y));
            let e = _mm512_add_pd(va, _mm512_mul_pd(vb, q));
            let ds = _mm512_mul_pd(d, _mm512_sub_pd(_mm512_mul_pd(_mm512_add_pd(xk, y), e), h));
            // Compare ΔS with the edges of the acceptance cell k = word >> 20 (< 4096).
            let dsf = _mm512_cvtpd_ps(ds);
            let cell = _mm256_srli_epi32::<20>(word);
            // SAFETY: the table has 4096 pairs (8 bytes each) and every index is below 4096.
            let pairs = unsafe { _mm512_i32gather_pd::<8>(cell, edges.pairs.as_ptr().cast()) };
            // [a0, r0, a1, r1, …] → [a0 … a7 | r0 … r7]
            let split = _mm512_permutexvar_ps(deinterleave, _mm512_castpd_ps(pairs));
            let accept_edge = _mm512_castps512_ps256(split);
            let reject_edge = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(split)));
            let sure_accept = _mm256_cmp_ps_mask::<_CMP_LE_OQ>(dsf, accept_edge);
            let sure_reject = _mm256_cmp_ps_mask::<_CMP_GE_OQ>(dsf, reject_edge);
            // Undecided lanes keep their old value for now (see `redo`).
            let new = _mm512_mask_blend_pd(sure_accept, xk, y);
            unsafe { _mm512_storeu_pd(x.as_mut_ptr().add(k), new) };
            accepted += u64::from(sure_accept.count_ones());
            let v = (k / LANES) % 64;
            let undecided = !(sure_accept | sure_reject);
            masks[v] = undecided;
            pending |= u64::from(undecided != 0) << v;
            k += LANES;
            if k % (64 * LANES) == 0 || k == full {
                if pending != 0 {
                    let base = (k - 1) / (64 * LANES) * (64 * LANES);
                    accepted += redo(pending, &masks, base, x, row, p, refine);
                }
                pending = 0;
            }
        }
        accepted
    }

    /// Runs the accurate test, after the vector pass over a block of 64 vectors starting at
    /// site `base`, in the undecided lanes (`masks`) of the `pending` vectors: those lanes
    /// still hold their old value and their neighbours are unchanged, so this is the same
    /// update.  Returns the number accepted here.
    #[cold]
    #[inline(never)]
    fn redo(
        mut pending: u64,
        masks: &[u8; 64],
        base: usize,
        x: &mut [f64],
        row: &Row<'_>,
        p: &RowParams,
        refine: &StreamKey,
    ) -> u64 {
        let mut accepted = 0;
        while pending != 0 {
            let v = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            for lane in 0..LANES {
                if masks[v] & (1 << lane) != 0 {
                    let i = base + v * LANES + lane;
                    let (new, acc) = update(
                        x[i],
                        p.field(row, i),
                        p.a,
                        p.b,
                        p.delta,
                        row.words[i],
                        refine,
                        row.first_index + i as u64,
                    );
                    x[i] = new;
                    accepted += acc as u64;
                }
            }
        }
        accepted
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

    use super::*;
    use crate::chain_rng;

    /// The lattice kernel (vectorised first pass, accurate test in the lanes it cannot
    /// decide) makes exactly the decisions of the accurate test, including refinements.
    #[test]
    fn row_kernel_equals_accurate_test() {
        let mut rng = chain_rng(99, 0);
        let refine = refinement_key(&rng);
        let n = 64;
        let p = RowParams {
            w: 1.0,
            a: 1.52425,
            b: 0.175,
            r: 0.1,
            delta: 2.5,
        };
        let (mut cheap_undecided, mut refined) = (0, 0);
        for round in 0..16_000u64 {
            // Every eighth round has large fields: ΔS far beyond the last cell edge.
            let scale = if round % 8 == 7 { 20.0 } else { 1.0 };
            let x: Vec<f64> = (0..n).map(|_| scale * rng.random_range(-2.5..2.5)).collect();
            let same: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let up: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let down: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let words: Vec<u32> = (0..n).map(|_| rng.next_u32()).collect();
            let row = Row {
                same: &same,
                shift: (round % 2) as usize,
                up: &up,
                down: &down,
                words: &words,
                first_index: round * n as u64,
            };
            let mut fast = x.clone();
            let accepted = row_kernel(&mut fast, &row, &p, &refine);
            let mut count = 0;
            for k in 0..n {
                let h = p.field(&row, k);
                let d = p.delta * step_fraction(words[k]);
                let ds = delta_s(x[k], d, h, p.a, p.b);
                let mut asked = false;
                let acc = accept(ds, words[k], || {
                    asked = true;
                    word_at(&refine, row.first_index + k as u64)
                });
                refined += asked as u64;
                let expected = if acc { x[k] + d } else { x[k] };
                assert_eq!(expected.to_bits(), fast[k].to_bits(), "round {round} site {k}");
                count += acc as u64;
                let cell = (words[k] >> 20) as usize;
                let dsf = ds as f32;
                cheap_undecided += (dsf > EDGES.accept(cell) && dsf < EDGES.reject(cell)) as u64;
            }
            assert_eq!(count, accepted);
        }
        assert!(
            cheap_undecided > 100,
            "the accurate fallback was hardly exercised: {cheap_undecided}"
        );
        assert!(refined > 5, "refinement words were hardly exercised: {refined}");
    }

    /// Splitting the rows of a large lattice over threads changes nothing: the field is
    /// bit-identical with and without splitting, on one and two threads, and so is the
    /// generator's state afterwards.
    #[test]
    fn split_rows_are_bit_identical() {
        use crate::{Algorithm, Chain};
        use mrf_graph::Lattice;
        use phi4_action::{Couplings, Homogeneous};
        let c = Couplings::homogeneous(
            &Lattice::square(128).unwrap(),
            Homogeneous {
                kappa: 1.0,
                mu2: -0.9515,
                lambda: 0.7,
            },
        )
        .unwrap();
        let run = |threads: usize, split: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(8, 3)).unwrap();
            assert!(chain.uses_lattice_kernel());
            chain.set_split_rows(split);
            pool.install(|| {
                for _ in 0..5 {
                    chain.sweep();
                }
            });
            let (field, mut rng) = chain.into_parts();
            (field.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), rng.next_u64())
        };
        let reference = run(1, false);
        assert_eq!(run(2, true), reference);
        assert_eq!(run(1, true), reference);
    }

    /// The single-precision cell edges of the vector kernel are safe: a `ΔS` whose `f32`
    /// rounding lies on the sure side of an edge gets that decision from the accurate test,
    /// for the smallest and the largest refinement word.
    #[test]
    fn cell_edges_are_sure() {
        for k in 0..4096u32 {
            let word = k << 20 | 0x5_5555;
            let (accept_edge, reject_edge) = (EDGES.accept(k as usize), EDGES.reject(k as usize));
            assert!(accept_edge < reject_edge);
            // The largest f64 that rounds to at most the accept edge, the smallest that
            // rounds to at least the reject edge.
            let below = f64::from(accept_edge) * (1.0 + f64::from(f32::EPSILON) / 2.0);
            let above = f64::from(reject_edge) * (1.0 - f64::from(f32::EPSILON) / 2.0);
            for refine in [0, u32::MAX] {
                assert!(
                    accept(below, word, || refine),
                    "cell {k}: ΔS = {below} must be accepted"
                );
                assert!(
                    !accept(above, word, || refine),
                    "cell {k}: ΔS = {above} must be rejected"
                );
            }
            // The edges are tight: within a few margins of the true cell ends.
            let tight = 4.0 * EDGE_MARGIN;
            assert!(f64::from(accept_edge) > -((f64::from(k) + 1.0) / 4096.0).ln() - tight);
            if k > 0 {
                assert!(f64::from(reject_edge) < -(f64::from(k) / 4096.0).ln() + tight);
            }
        }
        assert!(f64::from(EDGES.reject(0)) < 45.0 * std::f64::consts::LN_2 + 4.0 * EDGE_MARGIN);
    }

    /// The step grid is symmetric about zero and the cell edges are exact.
    #[test]
    fn step_grid_is_symmetric_and_cells_exact() {
        for m in [0u32, 1, 2, 0x7FFFF, 0x80000, 0xFFFFE, 0xFFFFF] {
            let mirror = 0xFFFFF - m;
            assert_eq!(step_fraction(m), -step_fraction(mirror), "m = {m}");
            assert!(step_fraction(m).abs() < 0.5);
            assert_eq!(step_fraction(m), (f64::from(m) + 0.5) / 1_048_576.0 - 0.5);
        }
        for k in [0u32, 1, 2047, 4095] {
            assert_eq!(cell_floor(k << 20 | 0xABCDE), f64::from(k) / 4096.0);
        }
        // The refined variable lies strictly inside its cell.
        let lowest = 0.0 + 0.5 * REFINE;
        let highest = (4095.0 + (f64::from(u32::MAX) + 0.5) / 4_294_967_296.0) * CELL;
        assert!(lowest > 0.0 && highest < 1.0);
    }

    /// The acceptance probability of the accurate test, averaged over all cells and
    /// refinement words, is `exp(−ΔS)` to the grid: checked by exhausting the 12-bit cells
    /// with a fixed refinement word at the cell holding `p`.
    #[test]
    fn accurate_test_accepts_with_probability_exp_minus_ds() {
        for ds in [1e-9, 0.01, 0.3, 1.0, 4.0, 20.0] {
            let p = exp_neg(ds);
            let accepted_cells = (0..4096u32).filter(|&k| accept(ds, k << 20, || 0)).count();
            let with_refined_max = (0..4096u32).filter(|&k| accept(ds, k << 20, || u32::MAX)).count();
            // Cells wholly below p accept whatever the refinement; the cell holding p
            // accepts for some refinement words and not others.
            assert!((accepted_cells as f64) <= p * 4096.0 + 1.0 && (with_refined_max as f64) >= p * 4096.0 - 1.0);
            assert!(with_refined_max <= accepted_cells && accepted_cells - with_refined_max <= 1);
        }
        assert!(accept(-1.0, u32::MAX, || unreachable!()));
        assert!(accept(0.0, u32::MAX, || unreachable!()));
    }
}
