//! Swendsen–Wang updates of the embedded Ising model (Brower–Tamayo bonds).
//!
//! Write `φ_i = ε_i |φ_i|`.  At fixed `|φ|` the pair terms are an Ising model in the signs
//! (see [`crate::cluster`]).  One Swendsen–Wang update puts a bond on *every* pair `(i, j)`
//! independently, with probability `p_ij = 1 − exp(−2 w_ij φ_iφ_j)` when
//! `w_ij φ_iφ_j > 0` and 0 otherwise (either sign of `w_ij`), labels the clusters of the
//! bonds, and then flips each cluster (`φ → −φ` on all its sites) independently.  Given the
//! bonds and `|φ|`, the clusters' signs are independent and each has the two states
//! "as is" and "flipped"; the site terms `a φ² + b φ⁴` do not see them, the linear terms do:
//! flipping cluster `C` changes the action by `ΔS_C = −2 Σ_{i∈C} r_i φ_i`
//! ([`phi4_action::Couplings::action`] has `+ r_i φ_i`).  The flip is a heat-bath choice
//! between the two states, with probability `1 / (1 + exp(ΔS_C))` (½ when `r = 0`).  So the
//! update is exact for every [`phi4_action::Couplings`]: inhomogeneous, diagonal pairs,
//! any graph, linear terms.  It changes only signs, so the schedules of [`crate::Algorithm`]
//! combine it with local sweeps.
//!
//! **Random bits.**  Each bond test uses 32 bits, two tests per 64-bit word, drawn in bulk
//! with [`crate::fill_u64`] (the lattice kernel draws the same stream as 32-bit halves,
//! low half first); the acceptance variable is `u = (k + ½)·2⁻³²` and the bond is
//! active iff `u ≥ exp(−2 w φ_iφ_j)` (`1 − u` is uniform like `u`).  Then one bit per site
//! index (`r = 0`) or 32 bits per site index (`r ≠ 0`) decide the flips; the bits of a
//! cluster are those of its smallest storage index, which is its union–find root.  The
//! number of words drawn per update is fixed: `⌈P/2⌉` for `P` pairs, then `⌈V/64⌉` or
//! `⌈V/2⌉`.
//!
//! **Two implementations** that consume the same words and make the same decisions:
//! - the general one walks a pair list built from the relabelled neighbour tables
//!   ([`crate::layout`]), any graph and couplings, with the accurate exponential, and joins
//!   the two ends of every bond by union–find;
//! - the lattice one handles homogeneous nearest-neighbour couplings on an even periodic
//!   lattice in the `[even | odd]` storage order.  Every pair has exactly one odd end, so
//!   it walks the odd sublattice row by row with the four neighbour rows of the even
//!   sublattice laid out contiguously (in `f32`), and computes the four bond tests of a row
//!   branch-free with a single-precision exponential (sixteen sites per AVX-512 vector where
//!   the build has it, the same operations in the same order as the scalar code, which the
//!   compiler vectorises elsewhere); tests whose uniform lies
//!   within that exponential's error bound of the threshold are redone in double precision
//!   with the accurate one, so every decision is that of the accurate test.  Each odd site
//!   gets a 4-bit mask of its bonds; it then hangs below its first bonded even neighbour
//!   and the roots of its other bonded neighbours are merged with that one's.  The general
//!   pair list of such a lattice is built in the lattice kernel's order (odd row, direction,
//!   site), so both give identical chains (a test checks this).
//!
//! **Labelling.**  Union–find on `u32` parents with path halving, the larger root always
//! linked below the smaller one, so every parent index is at most the site's own and the
//! root of a cluster is its smallest storage index (whatever the order of the unions).  One
//! ascending pass `parent[s] ← parent[parent[s]]` then gives every site its root, and with
//! `r = 0` the same pass flips the field (AVX-512 gathers, sixteen sites per vector, where
//! the build has it; a lane whose parent lies in its own vector follows the parents until
//! it reaches a root).  The lattice kernel labels odd row by odd row: every odd site hangs
//! below its first bonded even neighbour (or stays its own root) in one vectorised pass;
//! then the bonds after the first become unions (first, other bonded neighbour), walked from
//! one 64-bit mask per direction and block of 64 sites, so the only branches are the ends
//! of those loops.  A union's finds take two hops without a branch (parent and grandparent,
//! with path halving) and loop only when the grandparent is not a root (well below 1% of
//! the finds), and both ends of the union are then pointed at the new root, which keeps
//! the later finds from them short.  In the flip pass the even half is rooted first; an
//! odd site's parent is then itself or an even site that holds its root.  Mispredicted
//! branches were most of the labelling's cost at first; what remains is the latency of the
//! finds' dependent loads.
//!
//! **Cost** (talk's point, 2-core VM at 2 GHz, `cargo bench -p qftml-benches --bench
//! cluster -- swendsen_wang/`, best of 3 on a loaded VM): 11 ns per site on 64² and 9.5 on
//! 256² (14–16 before the AVX-512 bond tests and flip pass and the mask-driven unions, 24
//! before the branch-free labelling; a thread-CPU-time loop gives best-of-15 values of
//! 8–9 on both).  From a profile at 256²: the labelling about 4.5 ns per site (about 1.1
//! finds per site, bound by chains of dependent loads), the bond tests about 2 plus 1 for
//! their 32-bit words (1.2 ns per 64-bit word), the flip pass about 1.1, the rest (f32
//! copies of the field, resets) about 0.5.

use crate::fastexp::exp_neg;
use crate::keystream::fill_u32;
use crate::layout::{FastParams, Layout};
use crate::{SimRng, fill_u64};

/// 64-bit words of bond bits drawn per call of the general kernel (two tests per word).
const CHUNK_WORDS: usize = 1024;

/// Relative error bound of [`exp_neg_cheap`]`(x as f32)` against [`exp_neg`]`(x)` for the
/// arguments where a bond test can be undecided (`x` below about 25; beyond that
/// `exp(−x) < 2⁻³³` lies below every uniform).  In single precision: rounding `x` to `f32`
/// (`x·2⁻²⁴ < 2·10⁻⁶` relative), the two-part `ln 2` reduction, the degree-5 polynomial
/// (truncation below `3·10⁻⁶`) and a few roundings of `2⁻²⁴` add up to below `10⁻⁵`; the
/// bound leaves a margin of three.  The arguments of a bond test are themselves rounded
/// products of `f32` values, which adds `4·2⁻²⁴·x`, still inside the margin.
pub(crate) const CHEAP_REL_ERR: f32 = 3e-5;

const ROUND_MAGIC_F32: f32 = 12_582_912.0;
/// `ln 2` split for single precision: 16 significant bits (`0.693145751953125`, exact
/// products with the reduction's integers) plus the rest.
const LN2_HI_F32: f32 = f32::from_bits(0x3f31_7200);
const LN2_LO_F32: f32 = f32::from_bits(0x35bf_be8e);
/// Largest argument in single precision: `exp(−80)` is still a normal `f32`.
const MAX_ARG_F32: f32 = 80.0;

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
    let mut p = 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    let scale = f32::from_bits(((k + 127) as u32) << 23);
    p * scale
}

/// The bond-test uniform `(k + ½)·2⁻³²` from 32 bits.
#[inline(always)]
fn uniform32(bits: u32) -> f64 {
    (bits as f64 + 0.5) * (1.0 / 4_294_967_296.0)
}

/// The 32 bits of test `q` in `words` (low half for even `q`).
#[inline(always)]
fn half_word(words: &[u64], q: usize) -> u32 {
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
fn bond_arg(two_w: f64, xi: f64, xj: f64) -> f64 {
    two_w * (xi * xj)
}

#[inline(always)]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    loop {
        let p = parent[x as usize];
        if p == x {
            return x;
        }
        let g = parent[p as usize];
        parent[x as usize] = g;
        x = g;
    }
}

/// Hangs every odd site of odd row `y` below its first bonded even neighbour (right, left,
/// up, down; itself when it has no bond), branch-free, then makes the unions (first bonded
/// neighbour, other bonded neighbour) of the sites with more than one bond: one bit mask
/// per direction and block of 64 sites, walked bit by bit, so the only branches are the
/// loop ends.  After each union both ends point at the new root (an index no larger than
/// either, so `parent[s] ≤ s` still holds), which keeps later finds from them short.
#[inline(never)]
fn hang_odd_row(parent: &mut [u32], masks: &[u8], half: usize, n: usize, ly: usize, y: usize) {
    let s = (y + 1) % 2;
    let same = (y * n) as u32;
    let up = (((y + 1) % ly) * n) as u32;
    let down = (((y + ly - 1) % ly) * n) as u32;
    let own = (half + y * n) as u32;
    let masks = &masks[y * n..(y + 1) * n];
    let nu = n as u32;
    let su = s as u32;
    // Right neighbour of odd entry k: even entry (k + s) mod n; left: (k − 1 + s) mod n.
    let right = |k: u32| same + if k + su == nu { 0 } else { k + su };
    let left = |k: u32| same + if k + su == 0 { nu - 1 } else { k + su - 1 };
    {
        let row = &mut parent[half + y * n..half + (y + 1) * n];
        for (k, (p, &m)) in row.iter_mut().zip(masks).enumerate() {
            let k = k as u32;
            let mut first = own + k;
            first = if m & 8 != 0 { down + k } else { first };
            first = if m & 4 != 0 { up + k } else { first };
            first = if m & 2 != 0 { left(k) } else { first };
            first = if m & 1 != 0 { right(k) } else { first };
            *p = first;
        }
    }
    for (b, block) in masks.chunks(64).enumerate() {
        // Bit k of `extra[d − 1]`: direction d is bonded and is not the first bond.
        let mut extra = [0u64; 3];
        for (k, &m) in block.iter().enumerate() {
            let m = m as u64;
            extra[0] |= ((m >> 1) & m & 1) << k;
            extra[1] |= ((m >> 2) & ((m & 3) != 0) as u64 & 1) << k;
            extra[2] |= ((m >> 3) & ((m & 7) != 0) as u64 & 1) << k;
        }
        let base = (b * 64) as u32;
        for (d, mut bits) in extra.into_iter().enumerate() {
            while bits != 0 {
                let k = base + bits.trailing_zeros();
                bits &= bits - 1;
                let first = parent[(own + k) as usize];
                let other = match d {
                    0 => left(k),
                    1 => up + k,
                    _ => down + k,
                };
                let (ra, rb) = (find_short(parent, first), find_short(parent, other));
                let (lo, hi) = (ra.min(rb), ra.max(rb));
                parent[hi as usize] = lo;
                parent[first as usize] = lo;
                parent[other as usize] = lo;
            }
        }
    }
}

/// [`find`] for the short paths of the lattice labelling: two hops without a branch (the
/// site's parent becomes its grandparent, path halving), the loop only when the grandparent
/// is not a root.
#[inline(always)]
fn find_short(parent: &mut [u32], x: u32) -> u32 {
    let p = parent[x as usize];
    let g = parent[p as usize];
    parent[x as usize] = g;
    let gg = parent[g as usize];
    if gg == g { g } else { find(parent, gg) }
}

#[inline(always)]
fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SwStep {
    /// Number of clusters (every site is in one).
    pub(crate) clusters: usize,
    /// Number of clusters flipped.
    pub(crate) flipped: usize,
}

/// Work space of the Swendsen–Wang update, allocated once per chain.
#[derive(Debug, Clone)]
pub(crate) struct SwendsenWang {
    /// Union–find parents (storage indices).
    parent: Vec<u32>,
    /// Bond words of one chunk.
    bits: Vec<u64>,
    /// Flip words of one update.
    flip: Vec<u64>,
    /// Per-cluster `Σ r φ` (indexed by root), when `r ≠ 0`.
    sums: Vec<f64>,
    has_r: bool,
    /// Every pair once (storage indices), in the order of the bond tests, and `2 w`.
    pairs: Vec<[u32; 2]>,
    two_w: Vec<f64>,
    /// The lattice kernel, when the couplings allow it.
    lattice: Option<LatticeBonds>,
}

/// Scratch space of the lattice kernel.
#[derive(Debug, Clone)]
struct LatticeBonds {
    p: FastParams,
    /// The even neighbours to the right and to the left of the odd sites of a row.
    right: Vec<f64>,
    left: Vec<f64>,
    /// The same in single precision, the even sublattice and one odd row in single precision.
    right32: Vec<f32>,
    left32: Vec<f32>,
    even32: Vec<f32>,
    row32: Vec<f32>,
    /// The bond bits of one chunk of rows as 32-bit halves (low half first).
    bits32: Vec<u32>,
    /// Active bonds of every odd site, bits 0–3: right, left, up, down.
    masks: Vec<u8>,
}

impl SwendsenWang {
    pub(crate) fn new(layout: &Layout) -> Self {
        let n = layout.n_sites();
        let (pairs, two_w) = match layout.fast {
            Some(p) => lattice_pairs(layout, p),
            None => {
                let mut pairs = Vec::new();
                let mut two_w = Vec::new();
                for s in 0..n {
                    let (js, ws) = layout.neighbours(s);
                    for (&j, &w) in js.iter().zip(ws) {
                        if j as usize > s {
                            pairs.push([s as u32, j]);
                            two_w.push(2.0 * w);
                        }
                    }
                }
                (pairs, two_w)
            }
        };
        let lattice = layout.fast.map(|p| LatticeBonds {
            p,
            right: vec![0.0; p.lx / 2],
            left: vec![0.0; p.lx / 2],
            right32: vec![0.0; p.lx / 2],
            left32: vec![0.0; p.lx / 2],
            even32: vec![0.0; p.lx * p.ly / 2],
            row32: vec![0.0; p.lx / 2],
            bits32: vec![0; 2 * p.lx * (CHUNK_WORDS / p.lx).max(1)],
            masks: vec![0; p.lx * p.ly / 2],
        });
        let flip_words = if layout.has_r { n.div_ceil(2) } else { n.div_ceil(64) };
        Self {
            parent: vec![0; n],
            bits: vec![0; CHUNK_WORDS.max(lattice.as_ref().map_or(0, |l| l.p.lx))],
            flip: vec![0; flip_words],
            sums: if layout.has_r { vec![0.0; n] } else { Vec::new() },
            has_r: layout.has_r,
            pairs,
            two_w,
            lattice,
        }
    }

    /// One update of the field (storage order), with the lattice kernel where possible.
    pub(crate) fn update(&mut self, layout: &Layout, field: &mut [f64], rng: &mut SimRng) -> SwStep {
        self.update_with(layout, field, rng, true)
    }

    /// One update; `use_lattice = false` forces the general kernel.
    pub(crate) fn update_with(
        &mut self,
        layout: &Layout,
        field: &mut [f64],
        rng: &mut SimRng,
        use_lattice: bool,
    ) -> SwStep {
        if use_lattice && self.lattice.is_some() {
            // The odd sites get their parents from the labelling.
            let half = field.len() / 2;
            for (s, p) in self.parent[..half].iter_mut().enumerate() {
                *p = s as u32;
            }
            self.bonds_lattice(field, rng);
            self.label_lattice(field.len() / 2);
        } else {
            self.reset();
            self.bonds_general(field, rng);
        }
        self.flip_clusters(layout, field, rng)
    }

    /// Every site its own root.
    pub(crate) fn reset(&mut self) {
        for (s, p) in self.parent.iter_mut().enumerate() {
            *p = s as u32;
        }
    }

    fn bonds_general(&mut self, field: &[f64], rng: &mut SimRng) {
        let parent = &mut self.parent;
        for (pairs, two_w) in self
            .pairs
            .chunks(2 * CHUNK_WORDS)
            .zip(self.two_w.chunks(2 * CHUNK_WORDS))
        {
            let words = &mut self.bits[..pairs.len().div_ceil(2)];
            fill_u64(rng, words);
            for (q, (&[i, j], &tw)) in pairs.iter().zip(two_w).enumerate() {
                let x = bond_arg(tw, field[i as usize], field[j as usize]);
                if bond_exact(x, half_word(words, q)) {
                    union(parent, i, j);
                }
            }
        }
    }

    pub(crate) fn bonds_lattice(&mut self, field: &[f64], rng: &mut SimRng) {
        let Some(lat) = &mut self.lattice else { return };
        let FastParams { lx, ly, w, .. } = lat.p;
        let two_w = 2.0 * w;
        let n = lx / 2;
        let half = field.len() / 2;
        let (even, odd) = field.split_at(half);
        for (d, &x) in lat.even32.iter_mut().zip(even) {
            *d = x as f32;
        }
        // Bond tests, odd row by odd row, into one 4-bit mask per odd site.
        let rows_per_chunk = (CHUNK_WORDS / lx).max(1);
        let mut y0 = 0;
        while y0 < ly {
            let rows = rows_per_chunk.min(ly - y0);
            // The 64-bit words of the rows as their 32-bit halves, low half first: the same
            // stream as 64-bit words.
            let words = &mut lat.bits32[..rows * 2 * lx];
            fill_u32(rng, words);
            for (dy, bits) in words.chunks_exact(2 * lx).enumerate() {
                let y = y0 + dy;
                let s = (y + 1) % 2;
                let same = &lat.even32[y * n..(y + 1) * n];
                // Right neighbour of odd entry k: even entry k + s; left: k − 1 + s.
                shifted(same, s, &mut lat.right32, &mut lat.left32);
                let up = &lat.even32[((y + 1) % ly) * n..][..n];
                let down = &lat.even32[((y + ly - 1) % ly) * n..][..n];
                let row = &odd[y * n..(y + 1) * n];
                for (d, &x) in lat.row32.iter_mut().zip(row) {
                    *d = x as f32;
                }
                let masks = &mut lat.masks[y * n..(y + 1) * n];
                let cheap = BondRow {
                    row: &lat.row32,
                    right: &lat.right32,
                    left: &lat.left32,
                    up,
                    down,
                    bits,
                    two_w: two_w as f32,
                };
                if row_bonds(&cheap, masks) != 0 {
                    shifted(&even[y * n..(y + 1) * n], s, &mut lat.right, &mut lat.left);
                    let accurate = BondRow {
                        row,
                        right: &lat.right,
                        left: &lat.left,
                        up: &even[((y + 1) % ly) * n..][..n],
                        down: &even[((y + ly - 1) % ly) * n..][..n],
                        bits,
                        two_w,
                    };
                    row_bonds_exact(&accurate, masks);
                }
            }
            y0 += rows;
        }
    }

    /// Labelling of the lattice kernel from the bond masks.
    pub(crate) fn label_lattice(&mut self, half: usize) {
        let Some(lat) = &self.lattice else { return };
        let FastParams { lx, ly, .. } = lat.p;
        let n = lx / 2;
        // Labelling: every odd site hangs below its first bonded even neighbour, and the
        // roots of its other bonded even neighbours (all of smaller storage index) are
        // merged with that one's; even sites are never linked directly to each other.
        let parent = &mut self.parent;
        for y in 0..ly {
            hang_odd_row(parent, &lat.masks, half, n, ly, y);
        }
    }

    /// Root every site, then flip each cluster with its own random bits.
    pub(crate) fn flip_clusters(&mut self, layout: &Layout, field: &mut [f64], rng: &mut SimRng) -> SwStep {
        fill_u64(rng, &mut self.flip);
        let parent = &mut self.parent;
        if !self.has_r {
            // The lattice kernel's odd sites hang below even sites (or are alone), so their
            // roots are known once the even half is rooted.
            let split = if self.lattice.is_some() {
                field.len() / 2
            } else {
                field.len()
            };
            let (clusters, flipped) = root_and_flip(parent, &self.flip, field, split);
            return SwStep { clusters, flipped };
        }
        for s in 0..parent.len() {
            let p = parent[s];
            parent[s] = parent[p as usize];
        }
        let mut clusters = 0;
        let mut flipped = 0;
        // Σ r φ per cluster: the root (smallest index) comes first in ascending order.
        for s in 0..field.len() {
            let root = parent[s] as usize;
            if root == s {
                self.sums[s] = 0.0;
            }
            self.sums[root] += layout.r[s] * field[s];
        }
        // Reuse the sums as flip flags (1.0 flips).
        for (s, &root) in parent.iter().enumerate() {
            if root as usize == s {
                clusters += 1;
                let rphi = self.sums[s];
                // P(flip) = 1 / (1 + exp(ΔS)), ΔS = −2 Σ r φ.
                let p = if rphi >= 0.0 {
                    1.0 / (1.0 + exp_neg(2.0 * rphi))
                } else {
                    let e = exp_neg(-2.0 * rphi);
                    e / (1.0 + e)
                };
                let flip = uniform32(half_word(&self.flip, s)) < p;
                flipped += flip as usize;
                self.sums[s] = if flip { 1.0 } else { 0.0 };
            }
        }
        for s in 0..field.len() {
            if self.sums[parent[s] as usize] != 0.0 {
                field[s] = -field[s];
            }
        }
        SwStep { clusters, flipped }
    }
}

/// Roots every site and flips the clusters whose root's bit in `flip` is set (`r = 0`);
/// returns the numbers of clusters and of flipped clusters.  Sites below `split` are rooted
/// in one ascending pass (`parent[s] ≤ s`, so `parent[parent[s]]` is already a root) and
/// keep their roots in `parent`; every site from `split` on must be alone or hang directly
/// below a site before `split` (the odd sites of the lattice kernel), and its root is not
/// stored.  AVX-512 where the build has it, scalar elsewhere; the same results.
fn root_and_flip(parent: &mut [u32], flip: &[u64], field: &mut [f64], split: usize) -> (usize, usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        avx512::root_and_flip(parent, flip, field, split)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    {
        root_and_flip_scalar(parent, flip, field, split, 0, split)
    }
}

/// [`root_and_flip`] from site `lo` below `split` and from site `hi` from `split` on, given
/// that the sites before `lo` are rooted.
fn root_and_flip_scalar(
    parent: &mut [u32],
    flip: &[u64],
    field: &mut [f64],
    split: usize,
    lo: usize,
    hi: usize,
) -> (usize, usize) {
    let bit_of = |root: u32| (flip[root as usize / 64] >> (root % 64)) & 1;
    let (mut clusters, mut flipped) = (0usize, 0usize);
    for s in lo..split {
        let root = parent[parent[s] as usize];
        parent[s] = root;
        let bit = bit_of(root);
        let is_root = (root as usize == s) as usize;
        clusters += is_root;
        flipped += is_root & bit as usize;
        field[s] = f64::from_bits(field[s].to_bits() ^ (bit << 63));
    }
    for s in hi..field.len() {
        let root = parent[parent[s] as usize];
        let bit = bit_of(root);
        let is_root = (root as usize == s) as usize;
        clusters += is_root;
        flipped += is_root & bit as usize;
        field[s] = f64::from_bits(field[s].to_bits() ^ (bit << 63));
    }
    (clusters, flipped)
}

/// The bond tests and the rooting and flip pass in AVX-512, sixteen sites per vector.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BondRow, CHEAP_REL_ERR, LN2_HI_F32, LN2_LO_F32, MAX_ARG_F32, ROUND_MAGIC_F32, root_and_flip_scalar};

    const LANES: usize = 16;

    pub(super) fn root_and_flip(parent: &mut [u32], flip: &[u64], field: &mut [f64], split: usize) -> (usize, usize) {
        let n = field.len();
        assert!(split <= n && parent.len() == n && flip.len() * 64 >= n && n < 1 << 31);
        let lo = split - split % LANES;
        let hi = split + (n - split) / LANES * LANES;
        // SAFETY: this module is compiled only when AVX-512F is enabled for the whole build.
        // Every vector load and store covers sites `s..s + 16` with `s + 16 ≤ lo ≤ split`
        // or `split ≤ s` and `s + 16 ≤ hi ≤ n`, inside `parent` and `field`.  Every gather
        // index is a parent index, which is at most the site's own (`parent[s] ≤ s < n`,
        // an invariant of the labelling that every union keeps), so inside `parent`, or a
        // root divided by 32, inside `flip` (`flip.len() · 64 ≥ n`).
        // The even part must be rooted before the odd part reads it: vector, then tail.
        let (c0, f0) = unsafe { vector_part(parent, flip, field, 0..lo, true) };
        let (c1, f1) = root_and_flip_scalar(parent, flip, field, split, lo, n);
        let (c2, f2) = unsafe { vector_part(parent, flip, field, split..hi, false) };
        let (c3, f3) = root_and_flip_scalar(parent, flip, field, split, split, hi);
        (c0 + c1 + c2 + c3, f0 + f1 + f2 + f3)
    }

    /// [`super::row_bonds`], sixteen sites per vector, the rest in scalar code.
    pub(super) fn row_bonds(b: &BondRow<'_, f32>, masks: &mut [u8]) -> u8 {
        let n = b.row.len();
        assert!(
            b.right.len() >= n
                && b.left.len() >= n
                && b.up.len() >= n
                && b.down.len() >= n
                && b.bits.len() >= 4 * n
                && masks.len() >= n
        );
        let full = n - n % LANES;
        // SAFETY: this module is compiled only when AVX-512F is enabled for the whole build,
        // and the assertion above bounds every load and store (sites k..k + 16 with
        // k + 16 ≤ full ≤ n, bits d·n + k.. with d < 4).
        let vector = unsafe { row_bonds_vector(b, masks, full) };
        vector | super::row_bonds_scalar(b, masks, full)
    }

    /// [`super::exp_neg_cheap`] on sixteen lanes, the same operations in the same order.
    #[target_feature(enable = "avx512f")]
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

    #[target_feature(enable = "avx512f")]
    unsafe fn row_bonds_vector(b: &BondRow<'_, f32>, masks: &mut [u8], full: usize) -> u8 {
        let BondRow {
            row,
            right,
            left,
            up,
            down,
            bits,
            two_w,
        } = *b;
        let n = row.len();
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
    /// from their parents' roots (sites from the split on).
    #[target_feature(enable = "avx512f")]
    unsafe fn vector_part(
        parent: &mut [u32],
        flip: &[u64],
        field: &mut [f64],
        range: std::ops::Range<usize>,
        below: bool,
    ) -> (usize, usize) {
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
        let mut idx = _mm512_add_epi32(_mm512_set1_epi32(range.start as i32), iota);
        let mut s = range.start;
        while below && s < range.end {
            let p = unsafe { _mm512_loadu_si512(pp.add(s).cast()) };
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
            let alone = _mm512_cmpeq_epi32_mask(p, idx);
            let root = unsafe { _mm512_mask_i32gather_epi32::<4>(p, !alone, p, pp.cast::<i32>()) };
            apply(s, idx, root);
            idx = _mm512_add_epi32(idx, step);
            s += LANES;
        }
        (clusters, flipped)
    }
}

/// `right[k] = same[(k + s) mod n]`, `left[k] = same[(k − 1 + s) mod n]`.
fn shifted<T: Copy>(same: &[T], s: usize, right: &mut [T], left: &mut [T]) {
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
    pub(crate) right: &'a [T],
    pub(crate) left: &'a [T],
    pub(crate) up: &'a [T],
    pub(crate) down: &'a [T],
    pub(crate) bits: &'a [u32],
    pub(crate) two_w: T,
}

/// Bond tests of one odd row with the cheap single-precision exponential, into `masks` (bit 0 right, 1 left,
/// 2 up, 3 down; bits 4–7 flag the tests it cannot decide); returns the union of the flags.
/// Branch-free; AVX-512 (sixteen sites per vector) where the build has it, with the same
/// operations in the same order, so the same decisions and flags.
pub(crate) fn row_bonds(b: &BondRow<'_, f32>, masks: &mut [u8]) -> u8 {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        avx512::row_bonds(b, masks)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    {
        row_bonds_scalar(b, masks, 0)
    }
}

/// [`row_bonds`] in scalar code (vectorised by the compiler), from site `start` on.
#[inline(never)]
fn row_bonds_scalar(b: &BondRow<'_, f32>, masks: &mut [u8], start: usize) -> u8 {
    let BondRow {
        row,
        right,
        left,
        up,
        down,
        bits,
        two_w,
    } = *b;
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
    let BondRow {
        row,
        right,
        left,
        up,
        down,
        bits,
        two_w,
    } = *b;
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

/// The pair list of an even periodic lattice in the lattice kernel's order: odd row `y`,
/// direction `d` (right, left, up, down), odd entry `k` (storage index `V/2 + y·Lx/2 + k`);
/// test `q` uses the 32-bit half `q mod 2` (low first) of word `q/2`, so the tests of a row
/// are the `2·Lx` halves of its `Lx` words in order.  The even end is listed second.
fn lattice_pairs(layout: &Layout, p: FastParams) -> (Vec<[u32; 2]>, Vec<f64>) {
    let (lx, ly) = (p.lx, p.ly);
    let n = lx / 2;
    let half = n * ly;
    let mut pairs = Vec::with_capacity(2 * lx * ly);
    for y in 0..ly {
        let s = (y + 1) % 2;
        let same = y * n;
        for d in 0..4 {
            for k in 0..n {
                let j = half + y * n + k;
                let e = match d {
                    0 => same + (k + s) % n,
                    1 => same + (k + n - 1 + s) % n,
                    2 => ((y + 1) % ly) * n + k,
                    _ => ((y + ly - 1) % ly) * n + k,
                };
                pairs.push([j as u32, e as u32]);
            }
        }
    }
    let two_w = pairs
        .iter()
        .map(|&[i, j]| {
            let (js, ws) = layout.neighbours(i as usize);
            let at = js
                .iter()
                .position(|&x| x == j)
                .expect("lattice pair in the neighbour table");
            2.0 * ws[at]
        })
        .collect();
    (pairs, two_w)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

    use super::{BondRow, root_and_flip, root_and_flip_scalar, row_bonds, row_bonds_scalar};
    use crate::chain_rng;

    /// The row kernel (vectorised where the build allows it) gives the masks and flags of
    /// the scalar one, bit for bit, for row lengths with and without a scalar tail.
    #[test]
    fn row_bonds_equal_scalar_row_bonds() {
        let mut rng = chain_rng(7, 0);
        for n in [1, 15, 16, 17, 40, 64, 128] {
            for _ in 0..2000 {
                let mut v = || (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect::<Vec<f32>>();
                let (row, right, left, up, down) = (v(), v(), v(), v(), v());
                let bits: Vec<u32> = (0..4 * n).map(|_| rng.next_u32()).collect();
                let (mut m1, mut m2) = (vec![0u8; n], vec![0u8; n]);
                let b = BondRow {
                    row: &row,
                    right: &right,
                    left: &left,
                    up: &up,
                    down: &down,
                    bits: &bits,
                    two_w: 2.0,
                };
                let u1 = row_bonds(&b, &mut m1);
                let u2 = row_bonds_scalar(&b, &mut m2, 0);
                assert_eq!((u1, &m1), (u2, &m2), "n = {n}");
            }
        }
    }

    /// The rooting and flip pass (vectorised where the build allows it) gives the roots,
    /// signs and counts of the scalar one, on random forests with `parent[s] ≤ s` below
    /// `split` and sites from `split` on alone or hung below a site before `split`.
    #[test]
    fn root_and_flip_equals_scalar() {
        let mut rng = chain_rng(8, 0);
        for (n, split) in [(40usize, 20usize), (64, 32), (64, 64), (200, 100), (90, 41)] {
            for _ in 0..500 {
                let parent: Vec<u32> = (0..n)
                    .map(|s| {
                        let lim = if s < split { s + 1 } else { split };
                        if rng.random_range(0..3) == 0 {
                            s as u32
                        } else {
                            rng.random_range(0..lim) as u32
                        }
                    })
                    .collect();
                let flip: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
                let field: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
                let (mut p1, mut p2) = (parent.clone(), parent);
                let (mut f1, mut f2) = (field.clone(), field);
                let c1 = root_and_flip(&mut p1, &flip, &mut f1, split);
                let c2 = root_and_flip_scalar(&mut p2, &flip, &mut f2, split, 0, split);
                assert_eq!(c1, c2);
                assert_eq!(p1[..split], p2[..split]);
                assert_eq!(f1, f2);
            }
        }
    }
}
