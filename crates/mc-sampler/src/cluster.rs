//! Embedded-Ising cluster updates (Wolff, with Brower–Tamayo bonds).
//!
//! Write `φ_i = ε_i |φ_i|`.  At fixed `|φ|` the pair terms are an Ising model in the signs,
//! `exp(Σ w_ij φ_iφ_j) = exp(Σ J_ij ε_iε_j)` with `J_ij = w_ij |φ_iφ_j|`, and the site terms
//! `a_i φ_i² + b_i φ_i⁴` do not depend on the signs.  The Fortuin–Kasteleyn representation
//! puts a bond on every *satisfied* pair (`w_ij φ_iφ_j > 0`) with probability
//! `p_ij = 1 − exp(−2 w_ij φ_iφ_j)`; a Wolff update grows the bond cluster of a random seed
//! site and flips the signs of all its sites.  This is exact for either sign of `w_ij`
//! (an antiferromagnetic pair is satisfied when the signs differ, and flipping a whole
//! cluster keeps it so), for inhomogeneous couplings and for any pair graph.
//!
//! A linear term `Σ r_i φ_i` is not invariant under the flip: the cluster is then used as a
//! Metropolis–Hastings proposal (the cluster construction is symmetric under the flip
//! relative to the pair terms), accepted with probability
//! `min(1, exp(−ΔS_r))`, `ΔS_r = −2 Σ_{i∈C} r_i φ_i`.  So the update is exact for every
//! [`phi4_action::Couplings`].  It changes only signs, so on its own it is not ergodic:
//! the schedules of [`crate::Algorithm`] always combine it with local sweeps.

use rand::Rng;

use crate::fastexp::{exp_neg, uniform53};
use crate::layout::Layout;

/// `u ≥ exp(−x)` for `x > 0`, decided without `exp` in most cases by Taylor bounds:
/// `1 − x + x²/2 − x³/6 ≤ exp(−x) ≤ 1/(1 + x + x²/2 + x³/6)`.  Only a `u` between the
/// bounds (with margins far above rounding) goes to the accurate exponential, so the result
/// is always that of `u ≥ exp_neg(x)`.
#[inline(always)]
fn bond(u: f64, x: f64) -> bool {
    const MARGIN: f64 = 1e-12;
    let x2 = x * x;
    let (even, odd) = (1.0 + 0.5 * x2, x * (1.0 + x2 * (1.0 / 6.0)));
    if u * (even + odd) >= 1.0 + MARGIN {
        true
    } else if u < (even - odd) - MARGIN {
        false
    } else {
        u >= exp_neg(x)
    }
}

/// Work space of the Wolff update: a generation stamp per site (no clearing between
/// clusters) and the member list, reused as the growth stack.
#[derive(Debug, Clone)]
pub(crate) struct Wolff {
    stamp: Vec<u32>,
    generation: u32,
    members: Vec<u32>,
}

/// What one Wolff update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClusterStep {
    /// Number of sites in the cluster.
    pub(crate) size: usize,
    /// Whether the flip was made (always, unless a linear term rejected it).
    pub(crate) flipped: bool,
}

impl Wolff {
    pub(crate) fn new(n_sites: usize) -> Self {
        Self {
            stamp: vec![0; n_sites],
            generation: 0,
            members: Vec::with_capacity(n_sites),
        }
    }

    /// One Wolff update of the field (storage order).
    pub(crate) fn update<R: Rng + ?Sized>(&mut self, layout: &Layout, field: &mut [f64], rng: &mut R) -> ClusterStep {
        let n = field.len();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.fill(0);
            self.generation = 1;
        }
        let generation = self.generation;
        let seed = ((rng.next_u64() as u128 * n as u128) >> 64) as usize;
        self.members.clear();
        self.members.push(seed as u32);
        self.stamp[seed] = generation;
        let mut next = 0;
        while next < self.members.len() {
            let i = self.members[next] as usize;
            next += 1;
            let xi = field[i];
            let (js, ws) = layout.neighbours(i);
            for (&j, &w) in js.iter().zip(ws) {
                let j = j as usize;
                if self.stamp[j] == generation {
                    continue;
                }
                let coupling = w * xi * field[j];
                // Bond with probability 1 − exp(−2 w φ_iφ_j) on satisfied pairs.
                if coupling > 0.0 && bond(uniform53(rng.next_u64()), 2.0 * coupling) {
                    self.stamp[j] = generation;
                    self.members.push(j as u32);
                }
            }
        }
        let flipped = if layout.has_r {
            let r_phi: f64 = self
                .members
                .iter()
                .map(|&i| layout.r[i as usize] * field[i as usize])
                .sum();
            // ΔS = −2 Σ r_i φ_i; accept with min(1, exp(2 Σ r_i φ_i)).
            uniform53(rng.next_u64()) < exp_neg(-2.0 * r_phi)
        } else {
            true
        };
        if flipped {
            for &i in &self.members {
                field[i as usize] = -field[i as usize];
            }
        }
        ClusterStep {
            size: self.members.len(),
            flipped,
        }
    }
}
