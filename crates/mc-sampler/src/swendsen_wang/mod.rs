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
//!   branch-free with a single-precision exponential (sixteen sites per AVX-512 vector
//!   where the CPU has it, chosen at run time by [`crate::simd`]; the same operations in
//!   the same order as the scalar code, which the compiler vectorises elsewhere); tests
//!   whose uniform lies within that exponential's error bound of the threshold are redone
//!   in double precision with the accurate one, so every decision is that of the accurate
//!   test.  Each odd site
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
//! the CPU has it; a lane whose parent lies in its own vector follows the parents until it
//! reaches a root; the pass checks `parent[s] ≤ s`, on which the gathers' bounds rest).
//! The lattice kernel labels odd row by odd row: every odd site hangs below its first
//! bonded even neighbour (or stays its own root) in one vectorised pass;
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
//! **Code.**  `kernels.rs` holds the bond tests (accurate, cheap, the row kernel),
//! `union_find.rs` the labelling and the rooting and flip pass, `avx512.rs` their
//! intrinsics; this file the schedule of one update and the work space.  Measured costs
//! are in `benches/README.md`.

use crate::SimRng;
use crate::fastexp::exp_neg;
use crate::keystream::{fill_u32_with, fill_u64_with};
use crate::layout::{FastParams, Layout};
use crate::simd::Isa;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernels;
mod union_find;

pub(crate) use kernels::{BondRow, bond_exact, row_bonds, row_bonds_exact};
#[cfg(test)]
pub(crate) use kernels::{CHEAP_REL_ERR, bond_cheap, exp_neg_cheap};
use kernels::{bond_arg, half_word, shifted, uniform32};
use union_find::{hang_odd_row, root_and_flip, union};

/// 64-bit words of bond bits drawn per call of the general kernel (two tests per word).
const CHUNK_WORDS: usize = 1024;

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
    /// The instruction set of the kernels, chosen at construction ([`crate::simd`]).
    isa: Isa,
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
    /// The work space for `layout`, with the instruction set of kernels constructed now on
    /// this thread ([`crate::simd`]).
    pub(crate) fn new(layout: &Layout) -> Self {
        Self::with_isa(layout, Isa::current())
    }

    fn with_isa(layout: &Layout, isa: Isa) -> Self {
        let n = layout.n_sites();
        let (pairs, two_w) = match layout.fast {
            Some(p) => {
                let pairs = lattice_pairs(p);
                let two_w = pair_couplings(layout, &pairs).collect();
                (pairs, two_w)
            }
            None => {
                let mut pairs = Vec::new();
                let mut two_w = Vec::new();
                general_pairs(layout, |pair, tw| {
                    pairs.push(pair);
                    two_w.push(tw);
                });
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
            isa,
        }
    }

    /// Brings every coupling-derived cache (`2w` of every pair, the lattice kernel's
    /// parameters, whether there are linear terms and the flip and sum buffers that depend
    /// on it) up to date for `layout`, a layout of the same graph whose couplings changed.
    /// When the structure is the same (the lattice kernel applies before and after, with
    /// the same extents, and `r ≠ 0` somewhere before and after or nowhere) nothing is
    /// reallocated; otherwise the work space is rebuilt.  Either way the next updates are
    /// exactly those of `SwendsenWang::new(layout)`, with this work space's instruction
    /// set.
    pub(crate) fn refresh(&mut self, layout: &Layout) {
        let same_structure = self.parent.len() == layout.n_sites()
            && self.has_r == layout.has_r
            && match (&self.lattice, layout.fast) {
                (Some(lat), Some(p)) => (lat.p.lx, lat.p.ly) == (p.lx, p.ly),
                (None, None) => true,
                _ => false,
            };
        if same_structure && self.refresh_couplings(layout) {
            if let (Some(lat), Some(p)) = (&mut self.lattice, layout.fast) {
                lat.p = p;
            }
        } else {
            *self = Self::with_isa(layout, self.isa);
        }
    }

    /// Rewrites `2w` of every pair in place; false (and nothing to rely on) if the pairs
    /// of `layout` are not those of this work space.
    fn refresh_couplings(&mut self, layout: &Layout) -> bool {
        if layout.fast.is_some() {
            if self.two_w.len() != self.pairs.len() {
                return false;
            }
            for (tw, new) in self.two_w.iter_mut().zip(pair_couplings(layout, &self.pairs)) {
                *tw = new;
            }
            return true;
        }
        let (pairs, two_w) = (&self.pairs, &mut self.two_w);
        let mut q = 0;
        let mut same = true;
        general_pairs(layout, |pair, tw| {
            same &= pairs.get(q) == Some(&pair);
            if same {
                two_w[q] = tw;
            }
            q += 1;
        });
        same && q == pairs.len()
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
            fill_u64_with(self.isa, rng, words);
            for (q, (&[i, j], &tw)) in pairs.iter().zip(two_w).enumerate() {
                let x = bond_arg(tw, field[i as usize], field[j as usize]);
                if bond_exact(x, half_word(words, q)) {
                    union(parent, i, j);
                }
            }
        }
    }

    /// Bond tests of the lattice kernel into one mask per odd site.
    pub(crate) fn bonds_lattice(&mut self, field: &[f64], rng: &mut SimRng) {
        #[cfg(target_arch = "x86_64")]
        if let Some(token) = self.isa.avx512() {
            return avx512::bonds_lattice(token, self, field, rng);
        }
        self.bonds_lattice_inline(field, rng);
    }

    /// The body of [`Self::bonds_lattice`], compiled once portable and once inside an
    /// AVX-512 function (its conversions and copies vectorise with the wider registers).
    #[inline(always)]
    pub(super) fn bonds_lattice_inline(&mut self, field: &[f64], rng: &mut SimRng) {
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
            fill_u32_with(self.isa, rng, words);
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
                    neighbours: [&lat.right32, &lat.left32, up, down],
                    bits,
                    two_w: two_w as f32,
                };
                if row_bonds(self.isa, &cheap, masks) != 0 {
                    shifted(&even[y * n..(y + 1) * n], s, &mut lat.right, &mut lat.left);
                    let accurate = BondRow {
                        row,
                        neighbours: [
                            &lat.right,
                            &lat.left,
                            &even[((y + 1) % ly) * n..][..n],
                            &even[((y + ly - 1) % ly) * n..][..n],
                        ],
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
        #[cfg(target_arch = "x86_64")]
        if let Some(token) = self.isa.avx512() {
            return avx512::label_lattice(token, self, half);
        }
        self.label_lattice_inline(half);
    }

    /// The body of [`Self::label_lattice`], compiled once portable and once inside an
    /// AVX-512 function (the hanging pass vectorises with the wider registers, the unions
    /// use the bit-manipulation instructions).
    #[inline(always)]
    pub(super) fn label_lattice_inline(&mut self, half: usize) {
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
        fill_u64_with(self.isa, rng, &mut self.flip);
        let parent = &mut self.parent;
        if !self.has_r {
            // The lattice kernel's odd sites hang below even sites (or are alone), so their
            // roots are known once the even half is rooted.
            let split = if self.lattice.is_some() {
                field.len() / 2
            } else {
                field.len()
            };
            let (clusters, flipped) = root_and_flip(self.isa, parent, &self.flip, field, split);
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

/// The pair list of an even periodic lattice in the lattice kernel's order: odd row `y`,
/// direction `d` (right, left, up, down), odd entry `k` (storage index `V/2 + y·Lx/2 + k`);
/// test `q` uses the 32-bit half `q mod 2` (low first) of word `q/2`, so the tests of a row
/// are the `2·Lx` halves of its `Lx` words in order.  The even end is listed second.
fn lattice_pairs(p: FastParams) -> Vec<[u32; 2]> {
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
    pairs
}

/// `2w` of every pair of a lattice pair list, from the neighbour tables of `layout`.
fn pair_couplings<'a>(layout: &'a Layout, pairs: &'a [[u32; 2]]) -> impl Iterator<Item = f64> + 'a {
    pairs.iter().map(|&[i, j]| {
        let (js, ws) = layout.neighbours(i as usize);
        let at = js
            .iter()
            .position(|&x| x == j)
            .expect("lattice pair in the neighbour table");
        2.0 * ws[at]
    })
}

/// Every pair `[s, j]` with `j > s` of the neighbour tables of `layout` with its `2w`, in
/// the order of the general kernel's bond tests.
fn general_pairs(layout: &Layout, mut f: impl FnMut([u32; 2], f64)) {
    for s in 0..layout.n_sites() {
        let (js, ws) = layout.neighbours(s);
        for (&j, &w) in js.iter().zip(ws) {
            if j as usize > s {
                f([s as u32, j], 2.0 * w);
            }
        }
    }
}

#[cfg(test)]
mod tests;
