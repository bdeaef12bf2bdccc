//! The bond tests: the accurate one (`u ≥ exp(−2wφφ′)` in double precision), the cheap
//! single-precision one of the lattice kernel with its error bound, and the row kernel
//! that runs the cheap tests branch-free over one odd row (AVX-512 where the CPU has it,
//! [`super::avx512`]).

use crate::fastexp::{exp_neg, horner};
use crate::simd::Isa;

/// Relative error bound of [`exp_neg_cheap`]`(x as f32)` against [`exp_neg`]`(x)` for the
/// arguments where a bond test can be undecided (`x` below about 25; beyond that
/// `exp(−x) < 2⁻³³` lies below every uniform).  In single precision: rounding `x` to `f32`
/// (`x·2⁻²⁴ < 2·10⁻⁶` relative), the two-part `ln 2` reduction, the degree-5 polynomial
/// (truncation below `3·10⁻⁶`) and a few roundings of `2⁻²⁴` add up to below `10⁻⁵`; the
/// bound leaves a margin of three.  The arguments of a bond test are themselves rounded
/// products of `f32` values, which adds `4·2⁻²⁴·x`, still inside the margin.
pub(crate) const CHEAP_REL_ERR: f32 = 3e-5;

pub(super) const ROUND_MAGIC_F32: f32 = 12_582_912.0;
/// `ln 2` split for single precision: 16 significant bits (`0.693145751953125`, exact
/// products with the reduction's integers) plus the rest.
pub(super) const LN2_HI_F32: f32 = f32::from_bits(0x3f31_7200);
pub(super) const LN2_LO_F32: f32 = f32::from_bits(0x35bf_be8e);
/// Largest argument in single precision: `exp(−80)` is still a normal `f32`.
pub(super) const MAX_ARG_F32: f32 = 80.0;

/// `exp(−x)` for `x ≥ 0` in single precision (negative `x` gives 1, `x > 80` gives
/// `exp(−80)`), branch-free, relative error below [`CHEAP_REL_ERR`]: the reduction of
/// [`crate::fastexp`] with a degree-5 polynomial, eight or sixteen lanes per vector.
#[inline(always)]
pub(crate) fn exp_neg_cheap(x: f32) -> f32 {
    let y = -(x.clamp(0.0, MAX_ARG_F32));
    let t = y * std::f32::consts::LOG2_E + ROUND_MAGIC_F32;
    let k = t.to_bits().wrapping_sub(ROUND_MAGIC_F32.to_bits()) as i32;
    let kf = t - ROUND_MAGIC_F32;
    let r = (y - kf * LN2_HI_F32) - kf * LN2_LO_F32;
    let p = horner!(r; 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0);
    let scale = f32::from_bits(((k + 127) as u32) << 23);
    p * scale
}

/// The bond-test uniform `(k + ½)·2⁻³²` from 32 bits.
#[inline(always)]
pub(super) fn uniform32(bits: u32) -> f64 {
    (bits as f64 + 0.5) * (1.0 / 4_294_967_296.0)
}

/// The 32 bits of test `q` in `words` (low half for even `q`).
#[inline(always)]
pub(super) fn half_word(words: &[u64], q: usize) -> u32 {
    (words[q / 2] >> (32 * (q % 2))) as u32
}

/// The exact bond decision: active iff `u ≥ exp(−x)`, `x = 2 w φ_iφ_j` (never for `x ≤ 0`).
#[inline(always)]
pub(crate) fn bond_exact(x: f64, bits: u32) -> bool {
    uniform32(bits) >= exp_neg(x)
}

/// The cheap decision in single precision from the `f32` argument, and whether it may
/// differ from [`bond_exact`].
#[inline(always)]
pub(crate) fn bond_cheap(x: f32, bits: u32) -> (bool, bool) {
    let u = (bits as f32 + 0.5) * (1.0 / 4_294_967_296.0);
    let p = exp_neg_cheap(x);
    (u >= p, (x > 0.0) & ((u - p).abs() <= 2.0 * CHEAP_REL_ERR * p))
}

/// The bond argument `2 w φ_iφ_j`, computed the same way by both kernels.
#[inline(always)]
pub(super) fn bond_arg(two_w: f64, xi: f64, xj: f64) -> f64 {
    two_w * (xi * xj)
}

/// `right[k] = same[(k + s) mod n]`, `left[k] = same[(k − 1 + s) mod n]`.
pub(super) fn shifted<T: Copy>(same: &[T], s: usize, right: &mut [T], left: &mut [T]) {
    let n = same.len();
    if s == 0 {
        right.copy_from_slice(same);
        left[0] = same[n - 1];
        left[1..].copy_from_slice(&same[..n - 1]);
    } else {
        right[..n - 1].copy_from_slice(&same[1..]);
        right[n - 1] = same[0];
        left.copy_from_slice(same);
    }
}

/// The inputs of the bond tests of one odd row: its values, those of its four even
/// neighbours per site, the row's `4·n` bond words (direction `d` at `d·n..`) and `2w`;
/// in `f32` for the cheap tests and `f64` for the accurate ones.
#[derive(Clone, Copy)]
pub(crate) struct BondRow<'a, T> {
    pub(crate) row: &'a [T],
    /// The right, left, up and down neighbours of the row's sites.
    pub(crate) neighbours: [&'a [T]; 4],
    pub(crate) bits: &'a [u32],
    pub(crate) two_w: T,
}

/// Bond tests of one odd row with the cheap single-precision exponential, into `masks`
/// (bit 0 right, 1 left, 2 up, 3 down; bits 4–7 flag the tests it cannot decide); returns
/// the union of the flags.  Branch-free; AVX-512 (sixteen sites per vector) where `isa` has
/// it, with the same operations in the same order, so the same decisions and flags.
pub(crate) fn row_bonds(isa: Isa, b: &BondRow<'_, f32>, masks: &mut [u8]) -> u8 {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = isa.avx512() {
        return super::avx512::row_bonds(token, b, masks);
    }
    let _ = isa;
    row_bonds_scalar(b, masks, 0)
}

/// [`row_bonds`] in scalar code (vectorised by the compiler), from site `start` on.
#[inline(never)]
pub(super) fn row_bonds_scalar(b: &BondRow<'_, f32>, masks: &mut [u8], start: usize) -> u8 {
    let (row, [right, left, up, down], bits, two_w) = (b.row, b.neighbours, b.bits, b.two_w);
    let n = row.len();
    let (right, left, up, down, masks) = (&right[..n], &left[..n], &up[..n], &down[..n], &mut masks[..n]);
    let (b_r, b_l, b_u, b_d) = (&bits[..n], &bits[n..2 * n], &bits[2 * n..3 * n], &bits[3 * n..4 * n]);
    let mut undecided = 0u8;
    for k in start..n {
        let x = row[k];
        let (r, ur) = bond_cheap(two_w * (x * right[k]), b_r[k]);
        let (l, ul) = bond_cheap(two_w * (x * left[k]), b_l[k]);
        let (u, uu) = bond_cheap(two_w * (x * up[k]), b_u[k]);
        let (d, ud) = bond_cheap(two_w * (x * down[k]), b_d[k]);
        let undecided_bits = ur as u8 | (ul as u8) << 1 | (uu as u8) << 2 | (ud as u8) << 3;
        masks[k] = r as u8 | (l as u8) << 1 | (u as u8) << 2 | (d as u8) << 3 | undecided_bits << 4;
        undecided |= undecided_bits;
    }
    undecided
}

/// Redo with the accurate exponential the tests that [`row_bonds`] flagged, and clear the
/// flags.
pub(crate) fn row_bonds_exact(b: &BondRow<'_, f64>, masks: &mut [u8]) {
    let (row, [right, left, up, down], bits, two_w) = (b.row, b.neighbours, b.bits, b.two_w);
    let n = row.len();
    for k in 0..n {
        let flags = masks[k] >> 4;
        if flags == 0 {
            continue;
        }
        let nb = [right[k], left[k], up[k], down[k]];
        let mut m = masks[k] & 0xF;
        for d in 0..4 {
            if (flags >> d) & 1 != 0 {
                let bit = 1u8 << d;
                m = if bond_exact(bond_arg(two_w, row[k], nb[d]), bits[d * n + k]) {
                    m | bit
                } else {
                    m & !bit
                };
            }
        }
        masks[k] = m;
    }
}
