//! Exact global moves along two one-dimensional families of fields: the dilatation
//! `φ → sφ` and the uniform shift `φ → φ + c`.
//!
//! In an ordered phase cluster flips only change the sign of the magnetisation; its
//! amplitude relaxes through local updates, slowly.  Both moves act on the whole field at
//! once, and after one `O(V)` pass over the field each proposal costs `O(1)`:
//!
//! - **dilatation.**  With `K = Σ_i a_i φ_i² − Σ_pairs w_ij φ_iφ_j`, `R = Σ_i b_i φ_i⁴` and
//!   `L = Σ_i r_i φ_i`, the action of `sφ` is `S(sφ) = s²K + s⁴R + sL`.  The proposal is
//!   `ln s' = ln s + ε_s (2u − 1)` (symmetric in `ln s`), accepted with
//!   `min(1, exp(−[S(s'φ) − S(sφ)] + V ln(s'/s)))`: `s^V` is the Jacobian of the map on `V`
//!   variables, so this is Metropolis for `exp(−S)` in the coordinate `ln |φ|`.
//! - **shift.**  `S(φ + c) − S(φ) = C₁c + C₂c² + C₃c³ + C₄c⁴` with
//!   `C₁ = Σ_i [(2a_i − W_i)φ_i + 4b_iφ_i³ + r_i]`, `C₂ = Σ_i (a_i + 6b_iφ_i²) − Σ_pairs w_ij`,
//!   `C₃ = 4Σ_i b_iφ_i`, `C₄ = Σ_i b_i`, where `W_i = Σ_j w_ij`.  The proposal
//!   `c' = c + ε_c (2u − 1)` is symmetric and the map has unit Jacobian.
//!
//! With the sums fixed, `n_tries` proposals in a row are a Metropolis chain on `s` (then on
//! `c`) within the one-dimensional family, each step exact; the accepted `s` and `c` are then
//! applied to the field, `φ → sφ + c` (entry by entry, so the storage order does not matter).
//! The shift's sums of `sφ` follow from those of `φ` by powers of `s`, so one pass serves
//! both moves.  The step sizes are tuned during thermalisation only ([`crate::Chain`]).

use rand::Rng;

use crate::layout::{FastParams, Layout};

/// Partial sums per quantity in the homogeneous pass.
const LANES: usize = 8;

/// Proposals of each move per pass over the field.
pub(crate) const TRIES: usize = 4;

/// Step sizes and counters of the global moves of one chain.
#[derive(Debug, Clone)]
pub(crate) struct GlobalMoves {
    /// Half-width of the proposal in `ln s`.
    pub(crate) eps_scale: f64,
    /// Half-width of the proposal in `c`.
    pub(crate) eps_shift: f64,
    /// `W_i = Σ_j w_ij` in storage order.
    weighted_degree: Vec<f64>,
    /// `Σ_pairs w_ij`.
    pair_weight: f64,
    /// Proposals of the dilatation and of the shift per pass (0 switches a move off).
    pub(crate) tries: (usize, usize),
    /// Proposals and accepted proposals of the dilatation, then of the shift.
    pub(crate) scale_counts: (u64, u64),
    pub(crate) shift_counts: (u64, u64),
}

/// The sums of one pass.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sums {
    /// `Σ a φ² − Σ_pairs w φφ`.
    k: f64,
    /// `Σ b φ⁴`.
    r4: f64,
    /// `Σ r φ`.
    l: f64,
    /// `Σ (2a − W) φ`, `Σ b φ³`, `Σ b φ²`, `Σ b φ`.
    lin: f64,
    b3: f64,
    b2: f64,
    b1: f64,
    /// `Σ r`, `Σ a`, `Σ b` (field-independent).
    r0: f64,
    a0: f64,
    b0: f64,
}

impl Sums {
    /// All sums, in field order.
    #[cfg(test)]
    pub(crate) fn to_array(self) -> [f64; 10] {
        [
            self.k, self.r4, self.l, self.lin, self.b3, self.b2, self.b1, self.r0, self.a0, self.b0,
        ]
    }
}

impl GlobalMoves {
    pub(crate) fn new(layout: &Layout) -> Self {
        let n = layout.n_sites();
        // A first guess: the curvature of S(sφ) in ln s is about 2V, and the curvature of the
        // shift is of order V; thermalisation tunes both.
        let eps = 1.0 / (n as f64).sqrt();
        let mut moves = Self {
            eps_scale: eps,
            eps_shift: 2.0 * eps,
            weighted_degree: vec![0.0; n],
            pair_weight: 0.0,
            tries: (TRIES, TRIES),
            scale_counts: (0, 0),
            shift_counts: (0, 0),
        };
        moves.refresh(layout);
        moves
    }

    /// Recomputes the coupling-dependent sums after the couplings of `layout` changed (same
    /// graph); step sizes and counters are kept.
    pub(crate) fn refresh(&mut self, layout: &Layout) {
        for (s, d) in self.weighted_degree.iter_mut().enumerate() {
            *d = layout.neighbours(s).1.iter().sum();
        }
        self.pair_weight = 0.5 * self.weighted_degree.iter().sum::<f64>();
    }

    fn sums(&self, layout: &Layout, field: &[f64]) -> Sums {
        match layout.fast {
            Some(p) => self.sums_homogeneous(field, p),
            None => self.sums_general(layout, field),
        }
    }

    /// The sums from the neighbour tables (any couplings).
    pub(crate) fn sums_general(&self, layout: &Layout, field: &[f64]) -> Sums {
        let mut t = Sums::default();
        let mut pairs = 0.0;
        for (s, &x) in field.iter().enumerate() {
            let (js, ws) = layout.neighbours(s);
            let mut h = 0.0;
            for (&j, &w) in js.iter().zip(ws) {
                h += w * field[j as usize];
            }
            let (a, b, r) = (layout.a[s], layout.b[s], layout.r[s]);
            let x2 = x * x;
            pairs += x * h;
            t.k += a * x2;
            t.r4 += b * (x2 * x2);
            t.l += r * x;
            t.lin += (2.0 * a - self.weighted_degree[s]) * x;
            t.b3 += b * (x2 * x);
            t.b2 += b * x2;
            t.b1 += b * x;
            t.r0 += r;
            t.a0 += a;
            t.b0 += b;
        }
        t.k -= 0.5 * pairs;
        t
    }

    /// [`GlobalMoves::sums`] for homogeneous couplings on an even periodic lattice in the
    /// `[even | odd]` storage order: power sums of the field, and the pair sum from the even
    /// sublattice only (every pair has exactly one even end), each even row against the
    /// contiguous odd rows around it.  Eight partial sums per quantity, added in a fixed
    /// order, so that LLVM vectorises the loops and the result does not depend on threads.
    pub(crate) fn sums_homogeneous(&self, field: &[f64], p: FastParams) -> Sums {
        let FastParams { lx, ly, w, a, b, r } = p;
        let n = lx / 2;
        let half = field.len() / 2;
        let (even, odd) = field.split_at(half);
        let mut pair_acc = [0.0f64; LANES];
        for y in 0..ly {
            // Even entry k of row y sits at x = 2k + s; its horizontal neighbours are odd
            // entries k − 1 + s and k + s of the same row.
            let s = y % 2;
            let e = &even[y * n..(y + 1) * n];
            let same = &odd[y * n..(y + 1) * n];
            let up = &odd[((y + 1) % ly) * n..][..n];
            let down = &odd[((y + ly - 1) % ly) * n..][..n];
            // The entries whose neighbours do not wrap around the row, then the one whose
            // neighbours do (odd entries n − 1 and 0).
            let (body, wrap_at) = if s == 0 { (1..n, 0) } else { (0..n - 1, n - 1) };
            let mut k = body.start;
            while k + LANES <= body.end {
                for (i, acc) in pair_acc.iter_mut().enumerate() {
                    let kk = k + i;
                    let h = same[kk + s - 1] + same[kk + s] + up[kk] + down[kk];
                    *acc += e[kk] * h;
                }
                k += LANES;
            }
            for (i, kk) in (k..body.end).enumerate() {
                pair_acc[i] += e[kk] * (same[kk + s - 1] + same[kk + s] + up[kk] + down[kk]);
            }
            pair_acc[LANES - 1] += e[wrap_at] * (same[n - 1] + same[0] + up[wrap_at] + down[wrap_at]);
        }
        let pairs = w * pair_acc.iter().sum::<f64>();
        let (mut m1, mut m2, mut m3, mut m4) = ([0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES], [0.0f64; LANES]);
        let chunks = field.chunks_exact(LANES);
        let tail = chunks.remainder();
        for c in chunks {
            for i in 0..LANES {
                let x = c[i];
                let x2 = x * x;
                m1[i] += x;
                m2[i] += x2;
                m3[i] += x2 * x;
                m4[i] += x2 * x2;
            }
        }
        for (i, &x) in tail.iter().enumerate() {
            let x2 = x * x;
            m1[i] += x;
            m2[i] += x2;
            m3[i] += x2 * x;
            m4[i] += x2 * x2;
        }
        let total = |v: [f64; LANES]| v.iter().sum::<f64>();
        let (m1, m2, m3, m4) = (total(m1), total(m2), total(m3), total(m4));
        let v = field.len() as f64;
        Sums {
            k: a * m2 - pairs,
            r4: b * m4,
            l: r * m1,
            lin: (2.0 * a - self.weighted_degree[0]) * m1,
            b3: b * m3,
            b2: b * m2,
            b1: b * m1,
            r0: v * r,
            a0: v * a,
            b0: v * b,
        }
    }

    /// One pass: `tries.0` dilatation proposals, then `tries.1` shift proposals, then
    /// `φ → sφ + c`.
    pub(crate) fn update<R: Rng + ?Sized>(&mut self, layout: &Layout, field: &mut [f64], rng: &mut R) {
        let t = self.sums(layout, field);
        let v = field.len() as f64;
        // −log weight of sφ, up to a constant.
        let g = |ln_s: f64| {
            let s = ln_s.exp();
            let s2 = s * s;
            s2 * t.k + s2 * s2 * t.r4 + s * t.l - v * ln_s
        };
        let ln_s = walk(g, g(0.0), self.tries.0, self.eps_scale, &mut self.scale_counts, rng);
        let s = ln_s.exp();
        let (s2, s3) = (s * s, s * s * s);
        let c1 = s * t.lin + 4.0 * s3 * t.b3 + t.r0;
        let c2 = t.a0 + 6.0 * s2 * t.b2 - self.pair_weight;
        let c3 = 4.0 * s * t.b1;
        let c4 = t.b0;
        let f = |c: f64| c * (c1 + c * (c2 + c * (c3 + c * c4)));
        let c = walk(f, 0.0, self.tries.1, self.eps_shift, &mut self.shift_counts, rng);
        if s != 1.0 || c != 0.0 {
            for x in field.iter_mut() {
                *x = s * *x + c;
            }
        }
    }
}

/// Metropolis test for a change `ds` of the action (always draws one uniform).
#[inline]
/// `tries` Metropolis steps of a number `x` from 0 (where `−log weight = g_start`) under
/// `−log weight = g(x)`, with proposals uniform within `eps` of `x`; `counts` gains the
/// proposals and the acceptances.  Returns the last `x`.
fn walk<R: Rng + ?Sized>(
    g: impl Fn(f64) -> f64,
    g_start: f64,
    tries: usize,
    eps: f64,
    counts: &mut (u64, u64),
    rng: &mut R,
) -> f64 {
    let (mut x, mut g_cur) = (0.0, g_start);
    for _ in 0..tries {
        let prop = x + eps * (2.0 * rng.random::<f64>() - 1.0);
        let g_new = g(prop);
        counts.0 += 1;
        if accept(g_new - g_cur, rng) {
            x = prop;
            g_cur = g_new;
            counts.1 += 1;
        }
    }
    x
}

fn accept<R: Rng + ?Sized>(ds: f64, rng: &mut R) -> bool {
    let u: f64 = rng.random();
    ds <= 0.0 || u < (-ds).exp()
}
