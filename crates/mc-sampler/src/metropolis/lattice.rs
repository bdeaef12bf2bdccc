//! The lattice kernel: homogeneous nearest-neighbour couplings on an even periodic
//! lattice, one sublattice row at a time, with the AVX-512 row update where the CPU has it
//! ([`super::avx512`]) and the accurate test at every site elsewhere.

use rayon::prelude::*;
use std::sync::LazyLock;

use super::{Words, update};
use crate::SimRng;
use crate::keystream::{StreamKey, refinement_key};
use crate::layout::FastParams;
use crate::simd::Isa;

/// Margin of the cell edges, in units of `ΔS` (see [`CellEdges`]).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 kernel only
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
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 kernel only
pub(crate) struct CellEdges {
    /// `[accept[k], reject[k]]`, side by side so that one 64-bit gather reads both.
    pub(crate) pairs: [[f32; 2]; 4096],
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

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 kernel only
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

/// With row splitting on ([`crate::Chain::set_split_rows`]), sublattices with at least
/// this many sites are updated in row blocks spread over the rayon pool (when it has more
/// than one thread).
pub(crate) const PARALLEL_MIN_SITES: usize = 128 * 128 / 2;
/// Row blocks per sublattice in parallel mode (fixed, so that nothing depends on the
/// number of threads; rows are independent, so the result does not depend on it either).
const ROW_BLOCKS: usize = 8;

/// Scratch space of the lattice kernel.
#[derive(Debug, Clone)]
pub(crate) struct LatticeKernel {
    p: FastParams,
    words: Words,
    /// Whether large sublattices are split into row blocks over the rayon pool.
    pub(crate) split_rows: bool,
}

impl LatticeKernel {
    /// The kernel for `p`, with the instruction set of kernels constructed now on this
    /// thread ([`crate::simd`]).
    pub(crate) fn new(p: FastParams) -> Self {
        Self {
            p,
            words: Words::default(),
            split_rows: false,
        }
    }

    /// Replaces the homogeneous parameters (couplings and extents) for the next sweeps and
    /// keeps the scratch space and the instruction set: the sweeps are then exactly those
    /// of `LatticeKernel::new(p)`.
    pub(crate) fn set_params(&mut self, p: FastParams) {
        self.p = p;
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
        let isa = self.words.isa();
        let (words, pos) = self.words.draw(rng, own.len(), parallel);
        let rows = RowSource {
            other,
            words,
            first_index: pos,
            n,
            ly,
            parity,
            strip_first_row: None,
        };
        if parallel {
            let block_rows = ly.div_ceil(ROW_BLOCKS);
            own.par_chunks_mut(block_rows * n)
                .enumerate()
                .map(|(i, block)| rows_kernel(isa, block, i * block_rows, &rows, &params, refine))
                .sum()
        } else {
            rows_kernel(isa, own, 0, &rows, &params, refine)
        }
    }
}

/// The other sublattice and the random words of one half sweep.
pub(crate) struct RowSource<'a> {
    other: &'a [f64],
    words: &'a [u32],
    first_index: u64,
    /// Entries per sublattice row.
    pub(crate) n: usize,
    ly: usize,
    parity: usize,
    /// For a row strip ([`super::strip`]): the first own row `y0`.  Then `other` holds the
    /// other sublattice's rows `y0 − 1 ..= y1` (halo rows first and last) and `words` and
    /// `first_index` start at own row `y0`.
    strip_first_row: Option<usize>,
}

impl RowSource<'_> {
    /// The neighbours and words of own row `y`.
    #[inline(always)]
    pub(crate) fn row(&self, y: usize) -> Row<'_> {
        let (n, ly, other) = (self.n, self.ly, self.other);
        let (j, same, up, down) = match self.strip_first_row {
            None => (y, y, (y + 1) % ly, (y + ly - 1) % ly),
            Some(y0) => (y - y0, y - y0 + 1, y - y0 + 2, y - y0),
        };
        Row {
            same: &other[same * n..(same + 1) * n],
            shift: (y + self.parity) % 2,
            up: &other[up * n..][..n],
            down: &other[down * n..][..n],
            words: &self.words[j * n..(j + 1) * n],
            first_index: self.first_index + (j * n) as u64,
        }
    }
}

/// Updates the own rows `first_row..` of a row strip (`own`, whole rows of sublattice
/// `parity`) from the other sublattice's rows with their halo rows (`other_with_halo`, one
/// row more on each side) and the strip's words (`words`, main-stream position
/// `first_index` for the first); the decisions are exactly those of the whole-lattice
/// half sweep.
#[allow(clippy::too_many_arguments)]
pub(crate) fn strip_rows_kernel(
    isa: Isa,
    own: &mut [f64],
    first_row: usize,
    other_with_halo: &[f64],
    words: &[u32],
    first_index: u64,
    (n, ly, parity): (usize, usize, usize),
    params: &RowParams,
    refine: &StreamKey,
) -> u64 {
    let rows = RowSource {
        other: other_with_halo,
        words,
        first_index,
        n,
        ly,
        parity,
        strip_first_row: Some(first_row),
    };
    rows_kernel(isa, own, first_row, &rows, params, refine)
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
    pub(crate) fn field(&self, row: &Row<'_>, k: usize) -> f64 {
        self.w * (row.horizontal(k) + (row.up[k] + row.down[k])) - self.r
    }
}

/// Updates own rows `y0..` (`own`, whole rows): the AVX-512 kernel where `isa` has it, the
/// accurate scalar one elsewhere.  Both make exactly the decisions of the accurate test.
fn rows_kernel(isa: Isa, own: &mut [f64], y0: usize, src: &RowSource<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = isa.avx512() {
        return super::avx512::rows_update(token, own, y0, src, p, refine);
    }
    let _ = isa;
    own.chunks_mut(src.n)
        .enumerate()
        .map(|(j, x)| row_update_scalar(x, &src.row(y0 + j), p, refine, 0))
        .sum()
}

/// The update of one row, as in [`rows_kernel`] (for tests).
#[cfg(test)]
pub(crate) fn row_kernel(isa: Isa, x: &mut [f64], row: &Row<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = isa.avx512() {
        return super::avx512::row_update(token, x, row, p, refine);
    }
    let _ = isa;
    row_update_scalar(x, row, p, refine, 0)
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
