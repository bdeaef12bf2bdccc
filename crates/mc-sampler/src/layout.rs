//! Storage order of the field and relabelled neighbour tables.
//!
//! Every kernel works on the field in *storage order*: sites grouped by colour class of a
//! proper colouring of the pair graph (no two neighbours share a colour), so a plain
//! sequential pass over storage indices is a checkerboard-ordered sweep.  On a periodic
//! nearest-neighbour lattice with even extents the colouring is the checkerboard, and the
//! storage order is `[even sites | odd sites]`, each sublattice row by row:
//! site `(x, y)` of parity `p = (x + y) mod 2` lives at `p·V/2 + y·Lx/2 + ⌊x/2⌋`.  The
//! vectorised Metropolis kernel ([`crate::metropolis`]) needs exactly this layout.  Any
//! other graph (diagonal pairs, odd extents, arbitrary edge lists) gets a greedy colouring
//! in site order (4 colours for the square lattice with both diagonals and even extents).

use phi4_action::{Couplings, PairSet};

/// The couplings relabelled into storage order.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Storage index → site.
    pub(crate) perm: Vec<u32>,
    /// Start of each neighbour list, in storage order (`n + 1` entries).
    pub(crate) offsets: Vec<u32>,
    /// Neighbours (storage indices).
    pub(crate) nbr: Vec<u32>,
    /// Coupling to each neighbour.
    pub(crate) w: Vec<f64>,
    /// `a`, `b`, `r` in storage order.
    pub(crate) a: Vec<f64>,
    pub(crate) b: Vec<f64>,
    pub(crate) r: Vec<f64>,
    /// True when some `r_i ≠ 0`.
    pub(crate) has_r: bool,
    /// Number of colour classes.
    pub(crate) n_colours: usize,
    /// `(Lx, Ly)` of a periodic nearest-neighbour lattice with even extents (checkerboard
    /// storage order), whatever the couplings.
    checkerboard: Option<(usize, usize)>,
    /// The homogeneous even-extent nearest-neighbour lattice, when the couplings are one.
    pub(crate) fast: Option<FastParams>,
}

/// Parameters of the vectorised lattice kernel: homogeneous nearest-neighbour couplings on
/// an `lx × ly` periodic lattice with even extents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FastParams {
    pub(crate) lx: usize,
    pub(crate) ly: usize,
    pub(crate) w: f64,
    pub(crate) a: f64,
    pub(crate) b: f64,
    pub(crate) r: f64,
}

impl Layout {
    pub(crate) fn new(c: &Couplings) -> Self {
        let n = c.n_sites();
        let checkerboard = match c.lattice() {
            Some((lattice, PairSet::NearestNeighbour)) if lattice.is_checkerboard_bipartite() => {
                Some((lattice.lx(), lattice.ly()))
            }
            _ => None,
        };
        let (perm, n_colours) = match checkerboard {
            Some((lx, ly)) => {
                let mut perm = Vec::with_capacity(n);
                for parity in 0..2 {
                    for y in 0..ly {
                        let x0 = (y + parity) % 2;
                        perm.extend((x0..lx).step_by(2).map(|x| (y * lx + x) as u32));
                    }
                }
                (perm, 2)
            }
            None => greedy_colour_order(c),
        };
        let mut inv = vec![0u32; n];
        for (s, &i) in perm.iter().enumerate() {
            inv[i as usize] = s as u32;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut nbr = Vec::new();
        offsets.push(0);
        for &i in &perm {
            let (js, _) = c.neighbours(i as usize);
            nbr.extend(js.iter().map(|&j| inv[j as usize]));
            offsets.push(nbr.len() as u32);
        }
        let mut layout = Self {
            a: vec![0.0; n],
            b: vec![0.0; n],
            r: vec![0.0; n],
            has_r: false,
            w: vec![0.0; nbr.len()],
            perm,
            offsets,
            nbr,
            n_colours,
            checkerboard,
            fast: None,
        };
        layout.refresh(c);
        layout
    }

    /// Copies the couplings of `c` into storage order, in place.  `c` must have the graph
    /// this layout was built for (the storage order depends on the graph only).
    pub(crate) fn refresh(&mut self, c: &Couplings) {
        debug_assert_eq!(c.n_sites(), self.n_sites());
        let mut k = 0;
        for &i in &self.perm {
            let (_, ws) = c.neighbours(i as usize);
            self.w[k..k + ws.len()].copy_from_slice(ws);
            k += ws.len();
        }
        debug_assert_eq!(k, self.w.len());
        for (((a, b), r), &i) in self.a.iter_mut().zip(&mut self.b).zip(&mut self.r).zip(&self.perm) {
            let i = i as usize;
            (*a, *b, *r) = (c.a()[i], c.b()[i], c.r()[i]);
        }
        self.has_r = c.r().iter().any(|x| *x != 0.0);
        self.fast = self
            .checkerboard
            .zip(c.uniform_params())
            .map(|((lx, ly), [w, a, b, r])| FastParams { lx, ly, w, a, b, r });
    }

    /// Number of sites.
    #[inline]
    pub(crate) fn n_sites(&self) -> usize {
        self.perm.len()
    }

    /// Neighbours (storage indices) and couplings of storage index `s`.
    #[inline]
    pub(crate) fn neighbours(&self, s: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[s] as usize..self.offsets[s + 1] as usize;
        (&self.nbr[range.clone()], &self.w[range])
    }

    /// Local field `h = Σ_j w_ij φ_j − r_i` of storage index `s`.
    #[inline]
    pub(crate) fn local_field(&self, field: &[f64], s: usize) -> f64 {
        let (js, ws) = self.neighbours(s);
        let mut h = 0.0;
        for (&j, &w) in js.iter().zip(ws) {
            h += w * field[j as usize];
        }
        h - self.r[s]
    }

    /// Field in storage order → site order.
    pub(crate) fn to_sites(&self, field: &[f64], out: &mut [f64]) {
        for (&i, &x) in self.perm.iter().zip(field) {
            out[i as usize] = x;
        }
    }

    /// Field in site order → storage order.
    pub(crate) fn store_sites(&self, phi: &[f64], out: &mut [f64]) {
        for (o, &i) in out.iter_mut().zip(&self.perm) {
            *o = phi[i as usize];
        }
    }
}

/// Greedy colouring in site order; storage order lists colour 0, then 1, … (sites ascending
/// within a colour).
fn greedy_colour_order(c: &Couplings) -> (Vec<u32>, usize) {
    let n = c.n_sites();
    let mut colour = vec![u32::MAX; n];
    let mut used = Vec::new();
    for i in 0..n {
        used.clear();
        used.extend(
            c.neighbours(i)
                .0
                .iter()
                .map(|&j| colour[j as usize])
                .filter(|&k| k != u32::MAX),
        );
        used.sort_unstable();
        used.dedup();
        let mut k = 0u32;
        for &u in &used {
            if u == k {
                k += 1;
            } else if u > k {
                break;
            }
        }
        colour[i] = k;
    }
    let n_colours = colour.iter().map(|&k| k as usize + 1).max().unwrap_or(1);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    perm.sort_by_key(|&i| (colour[i as usize], i));
    (perm, n_colours)
}
