//! Labelling of the bond clusters: union–find on `u32` parents with path halving, the
//! lattice kernel's row-wise hanging and unions, and the pass that roots every site and
//! flips the clusters (AVX-512 where the CPU has it, [`super::avx512`]).
//!
//! Invariant of every function here: `parent[s] ≤ s` (the larger root is always linked
//! below the smaller one), so the root of a cluster is its smallest storage index.  The
//! rooting pass checks it wherever it relies on it.

use crate::simd::Isa;

#[inline(always)]
pub(super) fn find(parent: &mut [u32], mut x: u32) -> u32 {
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
#[inline(always)]
pub(super) fn hang_odd_row(parent: &mut [u32], masks: &[u8], half: usize, n: usize, ly: usize, y: usize) {
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
pub(super) fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

/// Roots every site and flips the clusters whose root's bit in `flip` is set (`r = 0`);
/// returns the numbers of clusters and of flipped clusters.  Sites below `split` are rooted
/// in one ascending pass (`parent[s] ≤ s`, so `parent[parent[s]]` is already a root) and
/// keep their roots in `parent`; every site from `split` on must be alone or hang directly
/// below a site before `split` (the odd sites of the lattice kernel), and its root is not
/// stored.  AVX-512 where `isa` has it, scalar elsewhere; the same results.
///
/// # Panics
/// If some site's parent index is larger than its own (a labelling bug), or the slices do
/// not fit (`parent` and `field` of one length, at least one flip bit per site).
pub(super) fn root_and_flip(
    isa: Isa,
    parent: &mut [u32],
    flip: &[u64],
    field: &mut [f64],
    split: usize,
) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = isa.avx512() {
        return super::avx512::root_and_flip(token, parent, flip, field, split);
    }
    let _ = isa;
    root_and_flip_scalar(parent, flip, field, split, 0, split)
}

/// [`root_and_flip`] from site `lo` below `split` and from site `hi` from `split` on, given
/// that the sites before `lo` are rooted.  Panics where a parent index is larger than the
/// site's own, so that the roots it stores keep `parent[s] ≤ s` for the vector pass.
pub(super) fn root_and_flip_scalar(
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
        let p = parent[s] as usize;
        assert!(p <= s, "labelling bug: parent {p} of site {s}");
        let root = parent[p];
        parent[s] = root;
        let bit = bit_of(root);
        let is_root = (root as usize == s) as usize;
        clusters += is_root;
        flipped += is_root & bit as usize;
        field[s] = f64::from_bits(field[s].to_bits() ^ (bit << 63));
    }
    for s in hi..field.len() {
        let p = parent[s] as usize;
        assert!(p <= s, "labelling bug: parent {p} of site {s}");
        let root = parent[p];
        let bit = bit_of(root);
        let is_root = (root as usize == s) as usize;
        clusters += is_root;
        flipped += is_root & bit as usize;
        field[s] = f64::from_bits(field[s].to_bits() ^ (bit << 63));
    }
    (clusters, flipped)
}
