//! The bond tests and the rooting and flip pass in AVX-512, sixteen sites per vector.
//!
//! Everything here runs inside `#[target_feature]` functions with the features of
//! [`crate::simd::avx512_detected`]; the safe entry points take the [`Avx512`] token, which
//! proves that the CPU has them.  The operations are those of the scalar code, in the same order, without
//! fused multiply–add, so the decisions are the same.
#![allow(unsafe_code)]
use std::arch::x86_64::*;

use super::SwendsenWang;
use super::kernels::{BondRow, CHEAP_REL_ERR, LN2_HI_F32, LN2_LO_F32, MAX_ARG_F32, ROUND_MAGIC_F32, row_bonds_scalar};
use super::union_find::root_and_flip_scalar;
use crate::SimRng;
use crate::simd::Avx512;

const LANES: usize = 16;

/// [`SwendsenWang::bonds_lattice`] compiled with the AVX-512 features.
pub(super) fn bonds_lattice(_: Avx512, sw: &mut SwendsenWang, field: &[f64], rng: &mut SimRng) {
    // SAFETY: the token proves that the CPU has the features `bonds_lattice_avx512` enables.
    unsafe { bonds_lattice_avx512(sw, field, rng) }
}

#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
fn bonds_lattice_avx512(sw: &mut SwendsenWang, field: &[f64], rng: &mut SimRng) {
    sw.bonds_lattice_inline(field, rng);
}

/// [`SwendsenWang::label_lattice`] compiled with the AVX-512 features.
pub(super) fn label_lattice(_: Avx512, sw: &mut SwendsenWang, half: usize) {
    // SAFETY: the token proves that the CPU has the features `label_lattice_avx512` enables.
    unsafe { label_lattice_avx512(sw, half) }
}

#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
fn label_lattice_avx512(sw: &mut SwendsenWang, half: usize) {
    sw.label_lattice_inline(half);
}

/// [`super::union_find::root_and_flip`], sixteen sites per vector, the rest in scalar code.
pub(super) fn root_and_flip(
    _: Avx512,
    parent: &mut [u32],
    flip: &[u64],
    field: &mut [f64],
    split: usize,
) -> (usize, usize) {
    let n = field.len();
    assert!(split <= n && parent.len() == n && flip.len() * 64 >= n && n < 1 << 31);
    let lo = split - split % LANES;
    let hi = split + (n - split) / LANES * LANES;
    // SAFETY: the token proves that the CPU has the features `vector_part` enables; the
    // assertion above and the choice of `lo` and `hi` give its other conditions (ranges of
    // whole vectors inside `0..split` and `split..n`).
    // The even part must be rooted before the odd part reads it: vector, then tail.
    let (c0, f0) = unsafe { vector_part(parent, flip, field, 0..lo, true) };
    let (c1, f1) = root_and_flip_scalar(parent, flip, field, split, lo, n);
    // SAFETY: as above; the sites before `split` are rooted now.
    let (c2, f2) = unsafe { vector_part(parent, flip, field, split..hi, false) };
    let (c3, f3) = root_and_flip_scalar(parent, flip, field, split, split, hi);
    (c0 + c1 + c2 + c3, f0 + f1 + f2 + f3)
}

/// [`super::row_bonds`], sixteen sites per vector, the rest in scalar code.
pub(super) fn row_bonds(_: Avx512, b: &BondRow<'_, f32>, masks: &mut [u8]) -> u8 {
    let n = b.row.len();
    assert!(b.neighbours.iter().all(|nb| nb.len() >= n) && b.bits.len() >= 4 * n && masks.len() >= n);
    let full = n - n % LANES;
    // SAFETY: the token proves that the CPU has the features `row_bonds_vector` enables,
    // and the assertion above gives its other conditions.
    let vector = unsafe { row_bonds_vector(b, masks, full) };
    vector | row_bonds_scalar(b, masks, full)
}

/// [`super::exp_neg_cheap`] on sixteen lanes, the same operations in the same order.
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
#[inline]
fn exp_neg_cheap(x: __m512) -> __m512 {
    let set = _mm512_set1_ps;
    let clamped = _mm512_min_ps(_mm512_max_ps(x, set(0.0)), set(MAX_ARG_F32));
    let y = _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(clamped),
        _mm512_set1_epi32(i32::MIN),
    ));
    let magic = set(ROUND_MAGIC_F32);
    let t = _mm512_add_ps(_mm512_mul_ps(y, set(std::f32::consts::LOG2_E)), magic);
    let k = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    let kf = _mm512_sub_ps(t, magic);
    let r = _mm512_sub_ps(
        _mm512_sub_ps(y, _mm512_mul_ps(kf, set(LN2_HI_F32))),
        _mm512_mul_ps(kf, set(LN2_LO_F32)),
    );
    let mut p = set(1.0 / 120.0);
    for c in [1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_add_ps(_mm512_mul_ps(p, r), set(c));
    }
    let scale = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(k, _mm512_set1_epi32(127))));
    _mm512_mul_ps(p, scale)
}

/// The cheap bond tests of sites `0..full` of a row, sixteen per vector; returns the union
/// of their flags.
///
/// # Safety
/// `full` is a multiple of 16 and at most `n = b.row.len()`; every slice of
/// `b.neighbours` and `masks` hold at least `n` entries and `b.bits` at least `4·n` (checked
/// in debug builds).
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
unsafe fn row_bonds_vector(b: &BondRow<'_, f32>, masks: &mut [u8], full: usize) -> u8 {
    let (row, [right, left, up, down], bits, two_w) = (b.row, b.neighbours, b.bits, b.two_w);
    let n = row.len();
    debug_assert!(
        full.is_multiple_of(LANES)
            && full <= n
            && [right, left, up, down].iter().all(|nb| nb.len() >= n)
            && bits.len() >= 4 * n
            && masks.len() >= n
    );
    let set = _mm512_set1_ps;
    let (vtw, half, scale, tol) = (
        set(two_w),
        set(0.5),
        set(1.0 / 4_294_967_296.0),
        set(2.0 * CHEAP_REL_ERR),
    );
    let abs = _mm512_set1_epi32(0x7fff_ffff);
    let mut undecided = 0u8;
    let mut k = 0;
    while k < full {
        // SAFETY (loads/stores): k + 16 ≤ full ≤ n ≤ the length of every slice, and
        // 4·n ≤ bits.len().
        let x = unsafe { _mm512_loadu_ps(row.as_ptr().add(k)) };
        let mut m = _mm512_setzero_si512();
        for (d, nb) in [right, left, up, down].into_iter().enumerate() {
            let e = unsafe { _mm512_loadu_ps(nb.as_ptr().add(k)) };
            let w = unsafe { _mm512_loadu_si512(bits.as_ptr().add(d * n + k).cast()) };
            let arg = _mm512_mul_ps(vtw, _mm512_mul_ps(x, e));
            let u = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepu32_ps(w), half), scale);
            let p = exp_neg_cheap(arg);
            let bond = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(u, p);
            let diff = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_sub_ps(u, p)), abs));
            let close = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(diff, _mm512_mul_ps(tol, p));
            let flag = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(close, arg, _mm512_setzero_ps());
            m = _mm512_mask_or_epi32(m, bond, m, _mm512_set1_epi32(1 << d));
            m = _mm512_mask_or_epi32(m, flag, m, _mm512_set1_epi32(16 << d));
            undecided |= ((flag != 0) as u8) << d;
        }
        unsafe { _mm_storeu_si128(masks.as_mut_ptr().add(k).cast(), _mm512_cvtepi32_epi8(m)) };
        k += LANES;
    }
    undecided
}

/// Sites `range` (whole vectors), rooted in place (`below`: sites before the split) or
/// from their parents' roots (sites from the split on); returns the numbers of clusters and
/// of flipped clusters among them.
///
/// Panics if a parent index is larger than the site's own: every index it gathers from is
/// then a parent or a root of an earlier site, so inside `parent`, and every root divided
/// by 32 lies inside `flip`.
///
/// # Safety
/// `range` covers whole vectors of sixteen sites and ends at most at `n = field.len()`;
/// `parent.len() == n < 2³¹` and `flip.len()·64 ≥ n`; with `below`, `range` starts at 0,
/// and without it, every site before `range.start` is rooted (checked in debug builds,
/// except the rooting).
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
unsafe fn vector_part(
    parent: &mut [u32],
    flip: &[u64],
    field: &mut [f64],
    range: std::ops::Range<usize>,
    below: bool,
) -> (usize, usize) {
    let n = field.len();
    debug_assert!(
        (range.end - range.start).is_multiple_of(LANES)
            && range.end <= n
            && parent.len() == n
            && n < 1 << 31
            && flip.len() * 64 >= n
            && (!below || range.start == 0)
    );
    let pp = parent.as_mut_ptr();
    let fp = field.as_mut_ptr();
    let bits = flip.as_ptr().cast::<i32>();
    let step = _mm512_set1_epi32(LANES as i32);
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let sign = _mm512_set1_epi64(i64::MIN);
    let (mut clusters, mut flipped) = (0usize, 0usize);
    // Flips the sites `s..s + 16` whose roots `root` have their bit set.
    let mut apply = |s: usize, idx: __m512i, root: __m512i| {
        let word = unsafe { _mm512_i32gather_epi32::<4>(_mm512_srli_epi32::<5>(root), bits) };
        let bit = _mm512_srlv_epi32(word, _mm512_and_si512(root, _mm512_set1_epi32(31)));
        let m = _mm512_test_epi32_mask(bit, _mm512_set1_epi32(1));
        let is_root = _mm512_cmpeq_epi32_mask(root, idx);
        clusters += is_root.count_ones() as usize;
        flipped += (is_root & m).count_ones() as usize;
        for h in 0..2 {
            let mh = (m >> (8 * h)) as u8;
            let at = unsafe { fp.add(s + 8 * h).cast::<i64>() };
            let x = unsafe { _mm512_loadu_si512(at.cast()) };
            let y = _mm512_mask_xor_epi64(x, mh, x, sign);
            unsafe { _mm512_storeu_si512(at.cast(), y) };
        }
    };
    // SAFETY (in both loops): the loads and stores cover sites `s..s + 16` inside `range`,
    // so inside `parent` and `field`.  `check_parents` makes every parent in the vector at
    // most its own site, and the sites before `s` hold roots that are at most their own
    // index (written by this loop from such values, or checked by the scalar tail), so
    // every gathered index, parent or root, is at most the lane's site and below `n`, and
    // every root / 32 indexes a 32-bit word inside `flip` (`flip.len()·64 ≥ n`).
    let mut idx = _mm512_add_epi32(_mm512_set1_epi32(range.start as i32), iota);
    let mut s = range.start;
    while below && s < range.end {
        let p = unsafe { _mm512_loadu_si512(pp.add(s).cast()) };
        check_parents(p, idx, s);
        let mut root = unsafe { _mm512_i32gather_epi32::<4>(p, pp.cast::<i32>()) };
        // Lanes whose parent lies in this block may see a parent not rooted yet: follow
        // until every lane is at a root (parent[root] = root).
        loop {
            let up = unsafe { _mm512_i32gather_epi32::<4>(root, pp.cast::<i32>()) };
            let todo = _mm512_cmpneq_epi32_mask(up, root);
            if todo == 0 {
                break;
            }
            root = up;
        }
        unsafe { _mm512_storeu_si512(pp.add(s).cast(), root) };
        apply(s, idx, root);
        idx = _mm512_add_epi32(idx, step);
        s += LANES;
    }
    while !below && s < range.end {
        let p = unsafe { _mm512_loadu_si512(pp.add(s).cast()) };
        check_parents(p, idx, s);
        let alone = _mm512_cmpeq_epi32_mask(p, idx);
        let root = unsafe { _mm512_mask_i32gather_epi32::<4>(p, !alone, p, pp.cast::<i32>()) };
        apply(s, idx, root);
        idx = _mm512_add_epi32(idx, step);
        s += LANES;
    }
    (clusters, flipped)
}

/// Panics unless every lane of `p` (the parents of sites `idx`, the vector at site `s`) is
/// at most its site: the labelling's invariant, on which the gathers' bounds rest.
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
#[inline]
fn check_parents(p: __m512i, idx: __m512i, s: usize) {
    let bad = _mm512_cmpgt_epu32_mask(p, idx);
    if bad != 0 {
        labelling_bug(s + bad.trailing_zeros() as usize);
    }
}

#[cold]
#[inline(never)]
fn labelling_bug(site: usize) -> ! {
    panic!("labelling bug: the parent of site {site} has a larger index")
}
