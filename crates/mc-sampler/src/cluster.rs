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
//!
//! **Random words.**  An update reads 32-bit words of the chain's stream in order: two for
//! the seed site (a 64-bit word, low half first), one per neighbour of every site taken
//! from the growth queue (used for that pair's bond test when the pair is satisfied and
//! its far end is not yet in the cluster, skipped otherwise: a fixed number of words per
//! site keeps the four tests of a lattice site independent of each other), and, with a
//! linear term, two for the acceptance (a 53-bit uniform).  The words come in bulk from
//! [`crate::fill_u32`], in chunks that double from 16 to 1024 words during an update; the
//! words of the last chunk that the update did not need are skipped.  So the chain is
//! reproducible (the words an update uses depend only on the stream and the field), every
//! word is used at most once, and no state outlives an update but the generator's.
//!
//! **Bond test.**  The bond is active iff `u ≥ exp(−x)`, `x = 2 w_ij φ_iφ_j`, with the
//! uniform `u = (k + ½)·2⁻³²` of the test's word `k` (as in [`crate::swendsen_wang`]).  The
//! top 10 bits of `k` put `u` in one of 1024 cells `[c/1024, (c+1)/1024)`; `x` above
//! `−ln(c/1024)` (plus a margin of 10⁻⁹, far above every rounding) means a bond, `x` below
//! `−ln((c+1)/1024)` (minus the margin, and at least the smallest positive number, as no
//! `x ≤ 0` is a bond) means none, and only the remaining ≈ 1/1024 of the tests evaluate
//! [`exp_neg`].  So each decision is that of the accurate test
//! `u ≥ exp_neg(x)`, at the cost of a table load and two comparisons.
//!
//! **Two paths** that make the same decisions from the same words:
//! - the general one walks the relabelled neighbour tables ([`crate::layout`]) of any graph,
//!   marks the cluster's sites in a bit set (cleared from the member list afterwards), and
//!   flips the cluster once it is complete (after the acceptance, with a linear term);
//! - the lattice one handles homogeneous nearest-neighbour couplings on an even periodic
//!   lattice in the `[even | odd]` storage order: the four neighbours of a storage index
//!   come from index arithmetic on the site's position in the other sublattice (no
//!   tables).  A site joining the cluster is marked in a byte array with the update's
//!   generation number (1 to 255; the array is cleared when the number wraps, so no pass
//!   clears it), and it is flipped when it is taken from the queue, after its own tests
//!   have read it.  A neighbour whose value was already flipped is marked, so its test
//!   never counts, and the decisions of one site never wait for the field written by the
//!   previous one: only the marks pass from site to site.  Without a linear term nothing
//!   is done after the growth; a rejected flip (linear term) is undone.  The four bond
//!   tests of a site compare `x` with the table's edges two tests per SSE2 vector (on
//!   x86-64, one at a time elsewhere), without branches except the rare accurate
//!   exponential.  A test checks that both paths give bit-identical chains when the
//!   neighbour tables list the neighbours in the lattice path's order.

use std::sync::OnceLock;

use crate::fastexp::{exp_neg, uniform53};
use crate::layout::{FastParams, Layout};
use crate::{SimRng, fill_u32};

/// Number of cells of the bond test's table (a power of two).
const CELL_BITS: u32 = 10;
const CELLS: usize = 1 << CELL_BITS;
/// Margin of the table's edges, far above the rounding of `ln` and of [`exp_neg`].
const CELL_MARGIN: f64 = 1e-9;

/// `[never, sure]` of every cell `c`: `x < never` ⇒ no bond, `x > sure` ⇒ bond.
fn cells() -> &'static [[f64; 2]; CELLS] {
    static TABLE: OnceLock<Box<[[f64; 2]; CELLS]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Box::new([[0.0; 2]; CELLS]);
        for (c, e) in t.iter_mut().enumerate() {
            // At least the smallest positive number: `x ≥ never` implies `x > 0`, and no
            // `x ≤ 0` is ever a bond (its `exp(−x) ≥ 1 > u`).
            let never = (-((c + 1) as f64 / CELLS as f64).ln() - CELL_MARGIN).max(f64::from_bits(1));
            let sure = if c == 0 {
                f64::INFINITY
            } else {
                -(c as f64 / CELLS as f64).ln() + CELL_MARGIN
            };
            *e = [never, sure];
        }
        t
    })
}

/// The accurate bond test: `u ≥ exp_neg(x)` with `u = (k + ½)·2⁻³²`.
#[inline]
pub(crate) fn bond_exact(x: f64, bits: u32) -> bool {
    (bits as f64 + 0.5) * (1.0 / 4_294_967_296.0) >= exp_neg(x)
}

/// The table's decision for `x` and word `bits`: `(bond, undecided)`; when `undecided`,
/// [`bond_exact`] decides.
#[inline(always)]
fn bond_cell(table: &[[f64; 2]; CELLS], x: f64, bits: u32) -> (bool, bool) {
    let [never, sure] = table[(bits >> (32 - CELL_BITS)) as usize];
    let bond = x > sure;
    (bond, !bond & (x >= never))
}

/// [`bond_cell`] of four tests, as bit masks `(bonds, undecided)` (bit `d` for test `d`).
#[inline(always)]
fn bond_cells4(table: &[[f64; 2]; CELLS], xs: [f64; 4], bits: [u32; 4]) -> (u32, u32) {
    #[cfg(target_arch = "x86_64")]
    {
        bond_cells4_sse2(table, xs, bits)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        bond_cells4_scalar(table, xs, bits)
    }
}

/// [`bond_cells4`] one test at a time.
#[inline(always)]
#[cfg(any(test, not(target_arch = "x86_64")))]
fn bond_cells4_scalar(table: &[[f64; 2]; CELLS], xs: [f64; 4], bits: [u32; 4]) -> (u32, u32) {
    let (mut bonds, mut undecided) = (0, 0);
    for d in 0..4 {
        let (b, u) = bond_cell(table, xs[d], bits[d]);
        bonds |= (b as u32) << d;
        undecided |= (u as u32) << d;
    }
    (bonds, undecided)
}

/// [`bond_cells4`] two tests per SSE2 vector (part of x86-64): the same comparisons.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn bond_cells4_sse2(table: &[[f64; 2]; CELLS], xs: [f64; 4], bits: [u32; 4]) -> (u32, u32) {
    use std::arch::x86_64::*;
    let edges = bits.map(|k| table[(k >> (32 - CELL_BITS)) as usize]);
    // SAFETY: SSE2 is part of x86-64; every load reads a `[f64; 2]` it is given.
    unsafe {
        let pair = |d: usize| _mm_loadu_pd(edges[d].as_ptr());
        let half = |x: __m128d, e0: __m128d, e1: __m128d| {
            let (never, sure) = (_mm_unpacklo_pd(e0, e1), _mm_unpackhi_pd(e0, e1));
            let bond = _mm_cmpgt_pd(x, sure);
            let undecided = _mm_andnot_pd(bond, _mm_cmpge_pd(x, never));
            (_mm_movemask_pd(bond) as u32, _mm_movemask_pd(undecided) as u32)
        };
        let (b01, u01) = half(_mm_loadu_pd(xs.as_ptr()), pair(0), pair(1));
        let (b23, u23) = half(_mm_loadu_pd(xs.as_ptr().add(2)), pair(2), pair(3));
        (b01 | b23 << 2, u01 | u23 << 2)
    }
}

/// One bond test: the table, then the accurate exponential where the table cannot decide.
#[inline(always)]
fn bond(table: &[[f64; 2]; CELLS], x: f64, bits: u32) -> bool {
    let (bond, undecided) = bond_cell(table, x, bits);
    if undecided { bond_exact(x, bits) } else { bond }
}

/// The words of one update, read in stream order from chunks drawn with [`fill_u32`].
#[derive(Debug, Clone)]
struct Words {
    buf: Vec<u32>,
    next: usize,
    end: usize,
    chunk: usize,
}

const FIRST_CHUNK: usize = 16;
const MAX_CHUNK: usize = 1024;

impl Words {
    fn new() -> Self {
        Self {
            buf: vec![0; 2 * MAX_CHUNK],
            next: 0,
            end: 0,
            chunk: FIRST_CHUNK,
        }
    }

    /// Forget the words of the previous update.
    fn start(&mut self) {
        self.next = 0;
        self.end = 0;
        self.chunk = FIRST_CHUNK;
    }

    /// At least `k` unread words in `buf[next..end]`.
    #[inline(always)]
    fn ensure(&mut self, rng: &mut SimRng, k: usize) {
        if self.end - self.next < k {
            self.refill(rng, k);
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, rng: &mut SimRng, k: usize) {
        self.buf.copy_within(self.next..self.end, 0);
        self.end -= self.next;
        self.next = 0;
        let m = self.chunk.max(k);
        if self.buf.len() < self.end + m {
            self.buf.resize(self.end + m, 0);
        }
        fill_u32(rng, &mut self.buf[self.end..self.end + m]);
        self.end += m;
        self.chunk = (2 * self.chunk).min(MAX_CHUNK);
    }

    /// The next word (after [`Words::ensure`]).
    #[inline(always)]
    fn take(&mut self) -> u32 {
        let w = self.buf[self.next];
        self.next += 1;
        w
    }

    /// Two words as one 64-bit word, low half first.
    fn take_u64(&mut self, rng: &mut SimRng) -> u64 {
        self.ensure(rng, 2);
        let lo = self.take() as u64;
        lo | (self.take() as u64) << 32
    }
}

/// Work space of the Wolff update: the member list (also the growth queue), the members'
/// marks (a bit set for the general path, generation numbers for the lattice path), and the
/// update's random words.
#[derive(Debug, Clone)]
pub(crate) struct Wolff {
    in_cluster: Vec<u64>,
    marks: Vec<u8>,
    generation: u8,
    members: Vec<u32>,
    words: Words,
}

/// What one Wolff update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClusterStep {
    /// Number of sites in the cluster.
    pub(crate) size: usize,
    /// Whether the flip was made (always, unless a linear term rejected it).
    pub(crate) flipped: bool,
}

/// Neighbour arithmetic of the `[even | odd]` storage order of an `lx × ly` lattice.
#[derive(Debug, Clone, Copy)]
struct Grid {
    half: u32,
    /// Sites per row of a sublattice, `lx/2`.
    row: u32,
    ly: u32,
    /// `⌈2⁶⁴/row⌉`: `t / row = (t·m) >> 64` for every 32-bit `t`.
    m: u64,
}

impl Grid {
    fn new(p: &FastParams) -> Self {
        let row = (p.lx / 2) as u32;
        Self {
            half: (p.lx * p.ly / 2) as u32,
            row,
            ly: p.ly as u32,
            m: u64::MAX / row as u64 + 1,
        }
    }

    /// The four neighbours (storage indices) of storage index `s`: right, left, up, down.
    #[inline(always)]
    fn neighbours(&self, s: u32) -> [u32; 4] {
        let odd = s >= self.half;
        let (t, base) = if odd { (s - self.half, 0) } else { (s, self.half) };
        let y = ((self.m as u128 * t as u128) >> 64) as u32;
        let h = t - y * self.row;
        // x = 2h + o; the other sublattice holds x ± 1 at h + o and h + o − 1 of row y, and
        // x at h of rows y ± 1; `q` is position h of row y there.
        let o = (y ^ odd as u32) & 1;
        let q = base + t;
        let right = if h + o == self.row { q + o - self.row } else { q + o };
        let left = if h + o == 0 { q + self.row - 1 } else { q + o - 1 };
        let up = if y + 1 == self.ly {
            q + self.row - self.half
        } else {
            q + self.row
        };
        let down = if y == 0 { q + self.half - self.row } else { q - self.row };
        [right, left, up, down]
    }
}

impl Wolff {
    pub(crate) fn new(n_sites: usize) -> Self {
        Self {
            in_cluster: vec![0; n_sites.div_ceil(64)],
            marks: vec![0; n_sites],
            generation: 0,
            members: vec![0; n_sites + 4],
            words: Words::new(),
        }
    }

    /// One Wolff update of the field (storage order): the lattice path where the couplings
    /// allow it.
    pub(crate) fn update(&mut self, layout: &Layout, field: &mut [f64], rng: &mut SimRng) -> ClusterStep {
        self.update_with(layout, field, rng, layout.fast.is_some())
    }

    /// One Wolff update, by the lattice path when `lattice` (which needs `layout.fast`).
    pub(crate) fn update_with(
        &mut self,
        layout: &Layout,
        field: &mut [f64],
        rng: &mut SimRng,
        lattice: bool,
    ) -> ClusterStep {
        let n = field.len();
        debug_assert!(n < 1 << 32 && self.members.len() == n + 4);
        self.words.start();
        let seed = ((self.words.take_u64(rng) as u128 * n as u128) >> 64) as u32;
        match layout.fast.filter(|_| lattice) {
            Some(p) => self.update_lattice(&p, layout, field, rng, seed),
            None => self.update_general(layout, field, rng, seed),
        }
    }

    fn update_general(&mut self, layout: &Layout, field: &mut [f64], rng: &mut SimRng, seed: u32) -> ClusterStep {
        let table = cells();
        let (members, in_cluster, words) = (&mut self.members, &mut self.in_cluster, &mut self.words);
        members[0] = seed;
        in_cluster[seed as usize / 64] |= 1 << (seed % 64);
        let (mut len, mut next) = (1, 0);
        while next < len {
            let i = members[next] as usize;
            next += 1;
            let xi = field[i];
            let (js, ws) = layout.neighbours(i);
            words.ensure(rng, js.len());
            for (&j, &w) in js.iter().zip(ws) {
                let bits = words.take();
                let marked = (in_cluster[j as usize / 64] >> (j % 64)) & 1 != 0;
                let x = (2.0 * w) * (xi * field[j as usize]);
                // A bond only on a satisfied pair whose far end is not yet in.
                if !marked & (x > 0.0) && bond(table, x, bits) {
                    in_cluster[j as usize / 64] |= 1 << (j % 64);
                    members[len] = j;
                    len += 1;
                }
            }
        }
        let members = &members[..len];
        let flipped = !layout.has_r || {
            let r_phi: f64 = members.iter().map(|&i| layout.r[i as usize] * field[i as usize]).sum();
            accept(words, r_phi, rng)
        };
        for &i in members {
            if flipped {
                field[i as usize] = -field[i as usize];
            }
            in_cluster[i as usize / 64] = 0;
        }
        ClusterStep { size: len, flipped }
    }

    fn update_lattice(
        &mut self,
        p: &FastParams,
        layout: &Layout,
        field: &mut [f64],
        rng: &mut SimRng,
        seed: u32,
    ) -> ClusterStep {
        let grid = Grid::new(p);
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
        let (members, marks, words) = (&mut self.members[..], &mut self.marks[..], &mut self.words);
        let len = grow_lattice(
            &grid,
            2.0 * p.w,
            field,
            marks,
            self.generation,
            members,
            words,
            rng,
            seed,
        );
        let members = &members[..len];
        let flipped = !layout.has_r || {
            // Σ r φ of the unflipped cluster.
            let sum: f64 = members.iter().map(|&i| field[i as usize]).sum();
            accept(words, -p.r * sum, rng)
        };
        if !flipped {
            for &i in members {
                field[i as usize] = -field[i as usize];
            }
        }
        ClusterStep { size: len, flipped }
    }
}

/// Grows the cluster of `seed` on the lattice `grid` with `2w = two_w` and flips it: a
/// site is marked with `generation` in `marks` when it joins and flipped when it is taken
/// from the queue.  Returns the cluster size, the members being `members[..size]`.
#[allow(unsafe_code, clippy::too_many_arguments)]
fn grow_lattice(
    grid: &Grid,
    two_w: f64,
    phi: &mut [f64],
    marks: &mut [u8],
    generation: u8,
    members: &mut [u32],
    words: &mut Words,
    rng: &mut SimRng,
    seed: u32,
) -> usize {
    let n = phi.len();
    // Every index below is a member (`< n`: the seed or a neighbour from `grid`, which maps
    // storage indices `< n` to storage indices `< n`) or a queue position `≤ n + 3`.
    assert!(
        n == 2 * grid.half as usize && marks.len() == n && members.len() >= n + 4 && (seed as usize) < n,
        "Wolff work space does not match the lattice"
    );
    let table = cells();
    members[0] = seed;
    marks[seed as usize] = generation;
    let (mut len, mut next) = (1, 0);
    while next < len {
        words.ensure(rng, 4);
        // The sites whose four words are in the buffer: no refill in the inner loop.
        let chunk = &words.buf[words.next..words.end];
        let first = next;
        for bits in chunk.as_chunks::<4>().0 {
            if next == len {
                break;
            }
            // SAFETY: `next < len ≤ n` (each site joins once: it is marked when it joins).
            let i = unsafe { *members.get_unchecked(next) } as usize;
            next += 1;
            let js = grid.neighbours(i as u32);
            debug_assert!(i < n && js.iter().all(|&j| (j as usize) < n));
            // SAFETY: `i` and its neighbours are storage indices `< n = phi.len()`.  A
            // neighbour already flipped is marked: its test does not count.
            let xi = unsafe { *phi.get_unchecked(i) };
            unsafe { *phi.get_unchecked_mut(i) = -xi };
            let xs = js.map(|j| two_w * (xi * unsafe { *phi.get_unchecked(j as usize) }));
            // The table's decisions (`x > sure` implies `x > 0`), as bit masks.
            let (mut bonds, undecided) = bond_cells4(table, xs, *bits);
            if undecided != 0 {
                for d in 0..4 {
                    if undecided >> d & 1 != 0 && bond_exact(xs[d], bits[d]) {
                        bonds |= 1 << d;
                    }
                }
            }
            for (d, &j) in js.iter().enumerate() {
                let j = j as usize;
                let bond = bonds >> d & 1 != 0;
                // SAFETY: `j < n = marks.len()`; `len ≤ n < members.len()` (each site joins
                // once).
                unsafe {
                    let mark = *marks.get_unchecked(j);
                    let add = bond & (mark != generation);
                    *marks.get_unchecked_mut(j) = if bond { generation } else { mark };
                    *members.get_unchecked_mut(len) = j as u32;
                    len += add as usize;
                }
            }
        }
        words.next += 4 * (next - first);
    }
    len
}

/// The Metropolis–Hastings test of a flip with `Σ_C r_i φ_i = r_phi`: `ΔS = −2 r_phi`,
/// accepted with `min(1, exp(2 r_phi))`.
fn accept(words: &mut Words, r_phi: f64, rng: &mut SimRng) -> bool {
    uniform53(words.take_u64(rng)) < exp_neg(-2.0 * r_phi)
}

/// The four neighbours that the lattice path computes for storage index `s`, in its order.
#[cfg(test)]
pub(crate) fn lattice_neighbours(p: &FastParams, s: u32) -> [u32; 4] {
    Grid::new(p).neighbours(s)
}

/// The table's decisions of four tests as bit masks `(bonds, undecided)`: the lattice
/// path's (two tests per vector on x86-64), then one test at a time.
#[cfg(test)]
pub(crate) fn bond_cells4_both(xs: [f64; 4], bits: [u32; 4]) -> [(u32, u32); 2] {
    let table = cells();
    [bond_cells4(table, xs, bits), bond_cells4_scalar(table, xs, bits)]
}

/// The table's decision of [`bond`] and whether it fell back to [`bond_exact`].
#[cfg(test)]
pub(crate) fn bond_table(x: f64, bits: u32) -> (bool, bool) {
    let table = cells();
    (bond(table, x, bits), bond_cell(table, x, bits).1)
}
