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
            bits: vec![0; p.lx / 2],
            horizontal: vec![0.0; p.lx / 2],
            old: vec![0.0; p.lx / 2],
        }
    }

    /// One sweep (even sublattice, then odd) over the field in storage order; returns the
    /// number of accepted proposals.
    pub(crate) fn sweep<R: Rng + ?Sized>(&mut self, field: &mut [f64], rng: &mut R, delta: f64) -> u64 {
        let half = field.len() / 2;
        let (even, odd) = field.split_at_mut(half);
        let mut accepted = self.half_sweep(even, odd, 0, rng, delta);
        accepted += self.half_sweep(odd, even, 1, rng, delta);
        accepted
    }

    fn half_sweep<R: Rng + ?Sized>(
        &mut self,
        own: &mut [f64],
        other: &[f64],
        parity: usize,
        rng: &mut R,
        delta: f64,
    ) -> u64 {
        let FastParams { ly, w, a, b, r, .. } = self.p;
        let n = self.bits.len();
        let mut accepted = 0;
        for y in 0..ly {
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
            rng.fill(&mut self.bits[..]);
            let row = &mut own[y * n..(y + 1) * n];
            accepted += row_update(row, &mut self.old, hs, up, down, &self.bits, w, a, b, r, delta);
        }
        accepted
    }
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

#[inline(never)]
#[allow(clippy::too_many_arguments)]
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
