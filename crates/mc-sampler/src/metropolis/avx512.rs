//! The row update in AVX-512, eight sites per vector.
//!
//! Everything here runs inside `#[target_feature]` functions with the features of
//! [`crate::simd::avx512_detected`]; the safe entry points take the [`Avx512`] token, which
//! proves that the CPU has them.  The operations are those of the scalar code, in the same order, without
//! fused multiply–add, so `ΔS` is bit-identical to [`super::delta_s`].
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::lattice::{CellEdges, EDGES, Row, RowParams, RowSource, row_update_scalar};
use super::update;
use crate::keystream::StreamKey;
use crate::simd::Avx512;

const LANES: usize = 8;

/// The update of one row (for tests).
#[cfg(test)]
pub(crate) fn row_update(_: Avx512, x: &mut [f64], row: &Row<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    // SAFETY: the token proves that the CPU has the features these functions enable.
    unsafe {
        let consts = Consts::new(p);
        update_one_row(x, row, p, &consts, refine)
    }
}

/// Updates own rows `y0..` of `src` (`own`, whole rows).
pub(crate) fn rows_update(
    _: Avx512,
    own: &mut [f64],
    y0: usize,
    src: &RowSource<'_>,
    p: &RowParams,
    refine: &StreamKey,
) -> u64 {
    // SAFETY: the token proves that the CPU has the features `rows_update_avx512` enables.
    unsafe { rows_update_avx512(own, y0, src, p, refine) }
}

#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
fn rows_update_avx512(own: &mut [f64], y0: usize, src: &RowSource<'_>, p: &RowParams, refine: &StreamKey) -> u64 {
    let consts = Consts::new(p);
    let mut accepted = 0;
    for (j, x) in own.chunks_mut(src.n).enumerate() {
        accepted += update_one_row(x, &src.row(y0 + j), p, &consts, refine);
    }
    accepted
}

/// The vector pass over the whole vectors of a row, the accurate test in the lanes it
/// cannot decide and at the sites after the last whole vector.
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
#[inline]
fn update_one_row(x: &mut [f64], row: &Row<'_>, p: &RowParams, consts: &Consts, refine: &StreamKey) -> u64 {
    let n = x.len();
    assert!(row.same.len() == n && row.shift < 2 && row.up.len() >= n && row.down.len() >= n && row.words.len() >= n);
    let full = n - n % LANES;
    // SAFETY: `full` is a multiple of 8 and, by the assertion above, at most the length of
    // every slice of `row` and `x`, with `row.same` as long as `x`.
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
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
    #[inline]
    fn new(p: &RowParams) -> Self {
        Self {
            w: _mm512_set1_pd(p.w),
            a: _mm512_set1_pd(p.a),
            b: _mm512_set1_pd(p.b),
            r: _mm512_set1_pd(p.r),
            delta: _mm512_set1_pd(p.delta),
            // (m + ½)·2⁻²⁰ − ½ = m·2⁻²⁰ − (½ − 2⁻²¹): the product is exact and the sum an
            // odd multiple of 2⁻²¹ below ½ in size, so exact too, and equal to
            // `step_fraction`.
            step_scale: _mm512_set1_pd(1.0 / 1_048_576.0),
            step_shift: _mm512_set1_pd(-(0.5 - 0.5 / 1_048_576.0)),
            low20: _mm256_set1_epi32(0xF_FFFF),
            deinterleave: _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15),
            edges: &EDGES,
        }
    }
}

/// The horizontal neighbours (left, right) of own entries `k..k + 8` of a row with
/// shift 1: `same[k..k + 8]` and `same[k + 1..k + 9]`, periodically.
///
/// # Safety
/// `k + 8 ≤ row.same.len()` (checked in debug builds).
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
#[inline]
unsafe fn horizontal_shift_one(row: &Row<'_>, k: usize) -> (__m512d, __m512d) {
    let same = row.same.as_ptr();
    let n = row.same.len();
    debug_assert!(k + LANES <= n);
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

/// The vector pass over entries `0..full` of a row, then the accurate test in its
/// undecided lanes.
///
/// # Safety
/// `full` is a multiple of 8, `row.same.len() == x.len()`, and `full` is at most the length
/// of `x`, `row.up`, `row.down` and `row.words` (checked in debug builds).
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
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
    debug_assert!(
        full.is_multiple_of(LANES)
            && n == x.len()
            && full <= n
            && full <= row.up.len()
            && full <= row.down.len()
            && full <= row.words.len()
    );
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
        let d = _mm512_mul_pd(vdelta, _mm512_add_pd(_mm512_mul_pd(m, step_scale), step_shift));
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
