//! Single-site Metropolis in checkerboard order.
//!
//! A proposal `φ_i → φ_i + δ (u − ½)` with `u` uniform is accepted with probability
//! `min(1, exp(−ΔS))`.  The proposal is symmetric, so every single-site step satisfies
//! detailed balance; the sweep visits the colour classes of the storage order one after the
//! other ([`crate::layout`]).  The step size `δ` is tuned during thermalisation only and
//! frozen afterwards ([`crate::Chain`]).
//!
//! Each update consumes exactly one 64-bit word of the chain's generator: the low 32 bits
//! give the proposal and the high 32 bits the acceptance variable, on the grid
//! `(k + ½)·2⁻³²`.  The acceptance probability `exp(−ΔS)` is computed branch-free
//! ([`crate::fastexp`]) with the argument clamped at 0, so `ΔS ≤ 0` gives exactly 1 and is
//! always accepted.  The lattice kernel first decides each test with a cheaper `exp`
//! (relative error below 10⁻⁵) and redoes, with the accurate one, the rare tests whose
//! uniform lies within that error of the threshold, so its decisions are exactly those of
//! the accurate test.
//!
//! Two implementations (they consume the same random words, and differ only in the order in
//! which the local field is summed):
//! - the general kernel walks the relabelled neighbour tables of any [`phi4_action::Couplings`]
//!   (inhomogeneous, diagonal pairs, arbitrary graphs, linear terms);
//! - the lattice kernel handles homogeneous nearest-neighbour couplings on an even periodic
//!   lattice.  It updates one sublattice row at a time from contiguous rows of the other
//!   sublattice, draws that row's random words in one call, and has no branches in the row
//!   loop, so LLVM vectorises it.

use rand::Rng;

use crate::SimRng;
use crate::fastexp::{APPROX_REL_ERR, exp_neg, exp_neg_approx, uniform_hi_open, uniform_lo};
use crate::layout::{FastParams, Layout};

/// One Metropolis update of `x` with local field `h`; returns the new value and whether the
/// proposal was accepted.  Shared by both kernels so that they agree bit for bit.
#[inline(always)]
pub(crate) fn update(x: f64, h: f64, a: f64, b: f64, delta: f64, bits: u64) -> (f64, bool) {
    let (y, ds, u) = propose(x, h, a, b, delta, bits);
    let p = exp_neg_approx(ds);
    let accept = if undecided(ds, u, p) { u < exp_neg(ds) } else { u < p };
    (if accept { y } else { x }, accept)
}

/// One sweep of the general kernel over the field in storage order; returns the number of
/// accepted proposals.
pub(crate) fn sweep_general<R: Rng + ?Sized>(layout: &Layout, field: &mut [f64], rng: &mut R, delta: f64) -> u64 {
    let mut accepted = 0;
    for s in 0..field.len() {
        let h = layout.local_field(field, s);
        let (x, acc) = update(field[s], h, layout.a[s], layout.b[s], delta, rng.next_u64());
        field[s] = x;
        accepted += acc as u64;
    }
    accepted
}

/// Scratch space of the lattice kernel.
#[derive(Debug, Clone)]
pub(crate) struct LatticeKernel {
    p: FastParams,
    bits: Vec<u64>,
    horizontal: Vec<f64>,
    old: Vec<f64>,
}

impl LatticeKernel {
    pub(crate) fn new(p: FastParams) -> Self {
        Self {
            p,
            bits: vec![0; (p.lx / 2) * rows_per_fill(p)],
            horizontal: vec![0.0; p.lx / 2],
            old: vec![0.0; p.lx / 2],
        }
    }

    /// One sweep (even sublattice, then odd) over the field in storage order; returns the
    /// number of accepted proposals.
    pub(crate) fn sweep(&mut self, field: &mut [f64], rng: &mut SimRng, delta: f64) -> u64 {
        let half = field.len() / 2;
        let (even, odd) = field.split_at_mut(half);
        let mut accepted = self.half_sweep(even, odd, 0, rng, delta);
        accepted += self.half_sweep(odd, even, 1, rng, delta);
        accepted
    }

    fn half_sweep(&mut self, own: &mut [f64], other: &[f64], parity: usize, rng: &mut SimRng, delta: f64) -> u64 {
        let FastParams { lx, ly, w, a, b, r } = self.p;
        let n = lx / 2;
        let chunk = rows_per_fill(self.p);
        let mut accepted = 0;
        for y in 0..ly {
            if y % chunk == 0 {
                let rows = chunk.min(ly - y);
                crate::fill_u64(rng, &mut self.bits[..rows * n]);
            }
            let bits = &self.bits[(y % chunk) * n..][..n];
            // Own sites of row y sit at x = 2k + s; their horizontal neighbours are the
            // other sublattice's entries k − 1 + s and k + s of the same row.
            let s = (y + parity) % 2;
            let same = &other[y * n..(y + 1) * n];
            let hs = &mut self.horizontal[..n];
            if s == 0 {
                hs[0] = same[n - 1] + same[0];
                for ((h, l), rr) in hs[1..].iter_mut().zip(&same[..n - 1]).zip(&same[1..]) {
                    *h = l + rr;
                }
            } else {
                for ((h, l), rr) in hs[..n - 1].iter_mut().zip(&same[..n - 1]).zip(&same[1..]) {
                    *h = l + rr;
                }
                hs[n - 1] = same[n - 1] + same[0];
            }
            let up = &other[((y + 1) % ly) * n..][..n];
            let down = &other[((y + ly - 1) % ly) * n..][..n];
            let row = &mut own[y * n..(y + 1) * n];
            accepted += row_kernel(row, &mut self.old, hs, up, down, bits, w, a, b, r, delta);
        }
        accepted
    }
}

/// Rows of one sublattice whose random words are drawn in one call (about 8192 words).
fn rows_per_fill(p: FastParams) -> usize {
    (8192 / (p.lx / 2)).clamp(1, p.ly)
}

/// The proposal, `ΔS` and acceptance variable of one lattice update.
#[inline(always)]
pub(crate) fn propose(x: f64, h: f64, a: f64, b: f64, delta: f64, bits: u64) -> (f64, f64, f64) {
    let y = x + delta * (uniform_lo(bits) - 0.5);
    let (x2, y2) = (x * x, y * y);
    let ds = a * (y2 - x2) + b * (y2 * y2 - x2 * x2) - h * (y - x);
    (y, ds, uniform_hi_open(bits))
}

/// Whether the cheap exponential `p` cannot decide `u < exp(−ΔS)`.
#[inline(always)]
pub(crate) fn undecided(ds: f64, u: f64, p: f64) -> bool {
    (ds > 0.0) & ((u - p).abs() <= 2.0 * APPROX_REL_ERR * p)
}

/// The row update: the AVX-512 kernel where the build has it, the portable one elsewhere.
/// Both make exactly the decisions of the accurate test, so they give identical chains.
#[inline]
#[allow(clippy::too_many_arguments)]
fn row_kernel(
    row: &mut [f64],
    old: &mut [f64],
    horizontal: &[f64],
    up: &[f64],
    down: &[f64],
    bits: &[u64],
    w: f64,
    a: f64,
    b: f64,
    r: f64,
    delta: f64,
) -> u64 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        let _ = old;
        avx512::row_update(row, horizontal, up, down, bits, w, a, b, r, delta)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    row_update(row, old, horizontal, up, down, bits, w, a, b, r, delta)
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(all(target_arch = "x86_64", target_feature = "avx512f"), allow(dead_code))]
pub(crate) fn row_update(
    row: &mut [f64],
    old: &mut [f64],
    horizontal: &[f64],
    up: &[f64],
    down: &[f64],
    bits: &[u64],
    w: f64,
    a: f64,
    b: f64,
    r: f64,
    delta: f64,
) -> u64 {
    let n = row.len();
    let (old, horizontal, up, down, bits) = (&mut old[..n], &horizontal[..n], &up[..n], &down[..n], &bits[..n]);
    old.copy_from_slice(row);
    let field = |k: usize| w * horizontal[k] + w * (up[k] + down[k]) - r;
    let mut accepted = 0u64;
    let mut n_undecided = 0u64;
    for k in 0..n {
        let x = row[k];
        let (y, ds, u) = propose(x, field(k), a, b, delta, bits[k]);
        let p = exp_neg_approx(ds);
        let accept = u < p;
        row[k] = if accept { y } else { x };
        accepted += accept as u64;
        n_undecided += undecided(ds, u, p) as u64;
    }
    if n_undecided > 0 {
        for k in 0..n {
            let x = old[k];
            let (y, ds, u) = propose(x, field(k), a, b, delta, bits[k]);
            let p = exp_neg_approx(ds);
            if undecided(ds, u, p) {
                let exact = u < exp_neg(ds);
                accepted = accepted + exact as u64 - (u < p) as u64;
                row[k] = if exact { y } else { x };
            }
        }
    }
    accepted
}

/// The row update in AVX-512, eight sites per vector.
///
/// The proposal, `ΔS` and acceptance variable are computed with the same operations in the
/// same order as [`propose`], so they are bit-identical to the portable kernel's.  The test
/// `u < exp(−ΔS)` is first decided with a degree-3 `2^r` (relative error below
/// [`avx512::CHEAP_REL_ERR`]); lanes it cannot decide (about one in a thousand) are redone
/// with the accurate [`exp_neg`], so every decision is that of the accurate test.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[allow(unsafe_code)]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    use super::{propose, update};
    use crate::fastexp::exp_neg;

    /// Relative error bound of the degree-3 exponential (its truncation error is below
    /// `1.2·10⁻³`).
    pub(crate) const CHEAP_REL_ERR: f64 = 2e-3;
    const LANES: usize = 8;

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row_update(
        row: &mut [f64],
        horizontal: &[f64],
        up: &[f64],
        down: &[f64],
        bits: &[u64],
        w: f64,
        a: f64,
        b: f64,
        r: f64,
        delta: f64,
    ) -> u64 {
        let n = row.len();
        assert!(horizontal.len() >= n && up.len() >= n && down.len() >= n && bits.len() >= n);
        let full = n - n % LANES;
        // SAFETY: this module is compiled only when AVX-512F is enabled for the whole
        // build, and the assertion above bounds every load and store (k + 8 ≤ full ≤ n).
        let mut accepted = unsafe { vector_part(row, horizontal, up, down, bits, full, w, a, b, r, delta) };
        for k in full..n {
            let h = w * horizontal[k] + w * (up[k] + down[k]) - r;
            let (x, acc) = update(row[k], h, a, b, delta, bits[k]);
            row[k] = x;
            accepted += acc as u64;
        }
        accepted
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn vector_part(
        row: &mut [f64],
        horizontal: &[f64],
        up: &[f64],
        down: &[f64],
        bits: &[u64],
        full: usize,
        w: f64,
        a: f64,
        b: f64,
        r: f64,
        delta: f64,
    ) -> u64 {
        let set = _mm512_set1_pd;
        let (vw, va, vb, vr, vdelta) = (set(w), set(a), set(b), set(r), set(delta));
        let (one_half, zero) = (set(1.5), _mm512_setzero_pd());
        let log2e = set(-std::f64::consts::LOG2_E);
        let ln2 = std::f64::consts::LN_2;
        let (c1, c2, c3) = (set(ln2), set(ln2 * ln2 / 2.0), set(ln2 * ln2 * ln2 / 6.0));
        let one = set(1.0);
        let band = set(2.0 * CHEAP_REL_ERR);
        // u < p with u = v − 1 + 2⁻³³, v ∈ [1, 2) from the high 32 bits: v < p + (1 − 2⁻³³).
        let shift = set(1.0 - 0.5 / 4_294_967_296.0);
        let one_bits = _mm512_set1_epi64(0x3FF0_0000_0000_0000);
        let mantissa = _mm512_set1_epi64(0x000F_FFFF_FFF0_0000);
        let sign_mask = _mm512_set1_epi64(i64::MAX);
        let mut accepted = 0u64;
        let mut k = 0;
        while k < full {
            // SAFETY (loads/stores): k + 8 ≤ full ≤ the length of every slice.
            let x = unsafe { _mm512_loadu_pd(row.as_ptr().add(k)) };
            let hs = unsafe { _mm512_loadu_pd(horizontal.as_ptr().add(k)) };
            let upk = unsafe { _mm512_loadu_pd(up.as_ptr().add(k)) };
            let downk = unsafe { _mm512_loadu_pd(down.as_ptr().add(k)) };
            let word = unsafe { _mm512_loadu_si512(bits.as_ptr().add(k).cast()) };
            let h = _mm512_sub_pd(_mm512_mul_pd(vw, _mm512_add_pd(hs, _mm512_add_pd(upk, downk))), vr);
            // Proposal step d = δ(u − ½), u from the low 32 bits (exactly as `propose`).
            let lo = _mm512_ternarylogic_epi64::<0xEA>(_mm512_slli_epi64::<20>(word), mantissa, one_bits);
            let d = _mm512_mul_pd(vdelta, _mm512_sub_pd(_mm512_castsi512_pd(lo), one_half));
            let y = _mm512_add_pd(x, d);
            // ΔS = d·((x + y)(a + b(x² + y²)) − h).
            let q = _mm512_add_pd(_mm512_mul_pd(x, x), _mm512_mul_pd(y, y));
            let e = _mm512_add_pd(va, _mm512_mul_pd(vb, q));
            let ds = _mm512_mul_pd(d, _mm512_sub_pd(_mm512_mul_pd(_mm512_add_pd(x, y), e), h));
            // exp(−ΔS) = 2^t, t = −ΔS·log₂e = kf + r with |r| ≤ ½; degree-3 Taylor of 2^r.
            // No clamping is needed: ΔS ≤ 0 gives p ≥ 1, huge ΔS gives p = 0.
            let t = _mm512_mul_pd(ds, log2e);
            let kf = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
            let rr = _mm512_sub_pd(t, kf);
            let poly = _mm512_add_pd(
                one,
                _mm512_mul_pd(
                    rr,
                    _mm512_add_pd(c1, _mm512_mul_pd(rr, _mm512_add_pd(c2, _mm512_mul_pd(rr, c3)))),
                ),
            );
            let p = _mm512_scalef_pd(poly, kf);
            // Acceptance variable from the high 32 bits.
            let hi = _mm512_ternarylogic_epi64::<0xEA>(_mm512_srli_epi64::<12>(word), mantissa, one_bits);
            let v = _mm512_castsi512_pd(hi);
            let threshold = _mm512_add_pd(p, shift);
            let mut accept = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(v, threshold);
            let gap = _mm512_castsi512_pd(_mm512_and_si512(
                _mm512_castpd_si512(_mm512_sub_pd(v, threshold)),
                sign_mask,
            ));
            let undecided = _mm512_mask_cmp_pd_mask::<_CMP_LE_OQ>(
                _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ds, zero),
                gap,
                _mm512_mul_pd(band, p),
            );
            if undecided != 0 {
                accept = redo(
                    accept,
                    undecided,
                    &row[k..k + LANES],
                    h,
                    &bits[k..k + LANES],
                    a,
                    b,
                    delta,
                );
            }
            let new = _mm512_mask_blend_pd(accept, x, y);
            unsafe { _mm512_storeu_pd(row.as_mut_ptr().add(k), new) };
            accepted += u64::from(accept.count_ones());
            k += LANES;
        }
        accepted
    }

    /// Redoes the undecided lanes with the accurate exponential.
    #[cold]
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    fn redo(mut accept: u8, undecided: u8, x: &[f64], h: __m512d, bits: &[u64], a: f64, b: f64, delta: f64) -> u8 {
        let mut hs = [0.0f64; LANES];
        // SAFETY: `hs` holds eight f64.
        unsafe { _mm512_storeu_pd(hs.as_mut_ptr(), h) };
        for lane in 0..LANES {
            if undecided & (1 << lane) != 0 {
                let (_, ds, u) = propose(x[lane], hs[lane], a, b, delta, bits[lane]);
                let exact = u < exp_neg(ds);
                accept = (accept & !(1 << lane)) | (u8::from(exact) << lane);
            }
        }
        accept
    }
}
