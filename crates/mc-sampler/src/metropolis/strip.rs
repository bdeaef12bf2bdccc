//! One chain's lattice split in row strips: checkerboard Metropolis on the rows `y0..y1`
//! of a homogeneous even periodic lattice, with one halo row of the other sublattice on
//! each side.
//!
//! A half sweep of sublattice `p` updates its own rows from the other sublattice's rows
//! `y0 − 1 ..= y1` (the two halo rows belong to the neighbouring strips), and reads its
//! random words at their positions in the chain's stream: row `y` of the half sweep that
//! starts at word position `pos` uses the words `pos + y·Lx/2 ..`.  ChaCha is
//! random-access, so every strip computes exactly the words (and refinement words) the
//! whole-lattice kernel would give its rows, and the strips together make exactly the
//! decisions of [`crate::Chain`]'s Metropolis sweep.  Between half sweeps the strips
//! exchange their edge rows ([`RowStrip::edge_rows`], [`RowStrip::set_halo`]): two rows
//! of `Lx/2` values per strip and half sweep.  Nothing here knows how the strips talk to
//! each other; [`sweep_strips`] is the in-memory exchange.

use std::ops::Range;

use phi4_action::Couplings;

use super::Words;
use super::lattice::{RowParams, strip_rows_kernel};
use crate::keystream::{StreamKey, fill_u32_at, refinement_key};
use crate::layout::{FastParams, Layout};
use crate::{SamplerError, SimRng};

/// Rows `y0..y1` of one chain's `Lx × Ly` lattice under checkerboard Metropolis (see the
/// module docs): both sublattices of the own rows, a halo row of each sublattice on either
/// side, and the scratch space for the strip's random words.
///
/// ```
/// use mc_sampler::metropolis::{RowStrip, sweep_strips};
/// use mc_sampler::{chain_rng, Algorithm, Chain};
/// use mrf_graph::Lattice;
/// use phi4_action::{Couplings, Homogeneous};
///
/// let lattice = Lattice::new(8, 6).unwrap();
/// let c = Couplings::homogeneous(&lattice, Homogeneous { kappa: 0.5, mu2: 1.0, lambda: 0.2 }).unwrap();
/// let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(3, 0)).unwrap();
/// let step = chain.step_size().unwrap();
/// // Three strips of two rows each, one generator shared by value.
/// let mut strips: Vec<RowStrip> = (0..3).map(|k| RowStrip::new(&c, RowStrip::rows_of(6, 3, k)).unwrap()).collect();
/// let mut rng = chain_rng(3, 0);
/// for _ in 0..5 {
///     chain.sweep();
///     sweep_strips(&mut strips, &mut rng, step);
/// }
/// let joined: Vec<f64> = strips.iter().flat_map(|s| s.field()).collect();
/// assert_eq!(joined, chain.field());
/// ```
#[derive(Debug, Clone)]
pub struct RowStrip {
    p: FastParams,
    rows: Range<usize>,
    /// Entries per sublattice row, `Lx/2`.
    n: usize,
    /// Per sublattice: halo row `y0 − 1`, own rows `y0..y1`, halo row `y1`.
    sub: [Vec<f64>; 2],
    words: Words,
}

impl RowStrip {
    /// The rows of strip `k` of `n_strips` on a lattice of `ly` rows: as equal as they can
    /// be, the first `ly mod n_strips` strips one row longer.  Needs `k < n_strips ≤ ly`.
    pub fn rows_of(ly: usize, n_strips: usize, k: usize) -> Range<usize> {
        let (base, extra) = (ly / n_strips, ly % n_strips);
        let start = k * base + k.min(extra);
        start..start + base + usize::from(k < extra)
    }

    /// The strip of rows `rows` of `couplings`, with `φ = 0`.  The couplings must be
    /// homogeneous nearest-neighbour couplings on a periodic lattice with even extents (the
    /// lattice kernel of [`crate::Chain`]); anything else is refused.
    pub fn new(couplings: &Couplings, rows: Range<usize>) -> Result<Self, SamplerError> {
        let Some(p) = Layout::new(couplings).fast else {
            return Err(SamplerError::InvalidConfig(
                "a lattice split in row strips needs homogeneous nearest-neighbour couplings on a periodic \
                 lattice with even extents; run such couplings on one rank per chain"
                    .into(),
            ));
        };
        if rows.is_empty() || rows.end > p.ly {
            return Err(SamplerError::InvalidConfig(format!(
                "rows {}..{} are not a non-empty strip of a lattice with {} rows; give fewer strips than rows",
                rows.start, rows.end, p.ly
            )));
        }
        let n = p.lx / 2;
        let h = rows.len();
        Ok(Self {
            p,
            rows,
            n,
            sub: [vec![0.0; (h + 2) * n], vec![0.0; (h + 2) * n]],
            words: Words::default(),
        })
    }

    /// The own rows `y0..y1`.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    /// Number of sites of the whole lattice.
    pub fn n_sites(&self) -> usize {
        self.p.lx * self.p.ly
    }

    /// Number of own sites (`Lx` per own row).
    pub fn n_own_sites(&self) -> usize {
        self.p.lx * self.rows.len()
    }

    /// Sets the own rows from `phi`, the field of rows `y0..y1` in site order (`Lx` values a
    /// row); the halo rows are left as they are.
    pub fn set_field(&mut self, phi: &[f64]) -> Result<(), SamplerError> {
        if phi.len() != self.n_own_sites() {
            return Err(SamplerError::InvalidConfig(format!(
                "the strip's field has {} values, but rows {}..{} of width {} hold {}",
                phi.len(),
                self.rows.start,
                self.rows.end,
                self.p.lx,
                self.n_own_sites()
            )));
        }
        if let Some(i) = phi.iter().position(|x| !x.is_finite()) {
            return Err(SamplerError::InvalidConfig(format!(
                "phi[{i}] = {} is not finite",
                phi[i]
            )));
        }
        for (j, row) in phi.chunks(self.p.lx).enumerate() {
            let y = self.rows.start + j;
            for (x, &v) in row.iter().enumerate() {
                let parity = (x + y) % 2;
                self.sub[parity][(j + 1) * self.n + x / 2] = v;
            }
        }
        Ok(())
    }

    /// The own rows in site order (`Lx` values a row).
    pub fn field(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.n_own_sites());
        for j in 0..self.rows.len() {
            let y = self.rows.start + j;
            out.extend((0..self.p.lx).map(|x| self.sub[(x + y) % 2][(j + 1) * self.n + x / 2]));
        }
        out
    }

    /// The first and the last own row of `sublattice` (0 even, 1 odd): what the strips
    /// below and above need as their halo rows.
    pub fn edge_rows(&self, sublattice: usize) -> (&[f64], &[f64]) {
        let (n, h) = (self.n, self.rows.len());
        let s = &self.sub[sublattice];
        (&s[n..2 * n], &s[h * n..(h + 1) * n])
    }

    /// Sets the halo rows of `sublattice`: `below` is row `y0 − 1` (the last row of the strip
    /// below, periodically), `above` is row `y1` (the first row of the strip above).  Each
    /// has `Lx/2` values.
    pub fn set_halo(&mut self, sublattice: usize, below: &[f64], above: &[f64]) {
        let (n, h) = (self.n, self.rows.len());
        let s = &mut self.sub[sublattice];
        s[..n].copy_from_slice(below);
        s[(h + 1) * n..].copy_from_slice(above);
    }

    /// The half sweep of sublattice `parity` (0 even, 1 odd) on the own rows, with step
    /// `delta`, from the chain's generator `rng` at the start of the half sweep; `rng` is
    /// left where the whole-lattice half sweep leaves it (`V/2` words on).  The halo rows of
    /// the other sublattice must be current.  Returns the accepted proposals of the own rows.
    pub fn half_sweep(&mut self, parity: usize, rng: &mut SimRng, delta: f64) -> u64 {
        let FastParams { lx, ly, w, a, b, r } = self.p;
        let (n, h) = (self.n, self.rows.len());
        let pos = rng.get_word_pos();
        let first = pos + (self.rows.start * n) as u128;
        let isa = self.words.isa();
        self.words.words.resize(h * n, 0);
        fill_u32_at(isa, &StreamKey::of(rng), first, &mut self.words.words);
        let refine = refinement_key(rng);
        let params = RowParams { w, a, b, r, delta };
        let [even, odd] = &mut self.sub;
        let (own, other) = if parity == 0 { (even, &*odd) } else { (odd, &*even) };
        let accepted = strip_rows_kernel(
            isa,
            &mut own[n..(h + 1) * n],
            self.rows.start,
            other,
            &self.words.words,
            first as u64,
            (n, ly, parity),
            &params,
            &refine,
        );
        rng.set_word_pos(pos + (lx * ly / 2) as u128);
        accepted
    }

    /// The Metropolis step after a thermalisation sweep that accepted `accepted` of
    /// `proposals` proposals (summed over all strips): the rule of [`crate::Chain::thermalise`].
    pub fn tuned_step(step: f64, proposals: u64, accepted: u64) -> f64 {
        crate::chain::tune(step, (0, 0), (proposals, accepted))
    }

    /// The first Metropolis step of a chain of these couplings (that of [`crate::Chain::new`]).
    pub fn initial_step(couplings: &Couplings) -> f64 {
        crate::chain::initial_step(&Layout::new(couplings))
    }
}

/// One Metropolis sweep (even sublattice, then odd) of the strips of one chain, ordered from
/// the bottom row up and covering the lattice, with the halo rows exchanged in memory before
/// each half sweep; `rng` is the chain's generator (at least one strip).  Returns the accepted proposals.  Exactly
/// the sweep of [`crate::Chain`]'s lattice kernel.
pub fn sweep_strips(strips: &mut [RowStrip], rng: &mut SimRng, delta: f64) -> u64 {
    let mut accepted = 0;
    for parity in 0..2 {
        exchange_halos(strips, 1 - parity);
        let start = rng.clone();
        for strip in strips.iter_mut() {
            *rng = start.clone();
            accepted += strip.half_sweep(parity, rng, delta);
        }
    }
    accepted
}

/// Copies every strip's edge rows of `sublattice` into its neighbours' halo rows.
fn exchange_halos(strips: &mut [RowStrip], sublattice: usize) {
    let k = strips.len();
    let edges: Vec<(Vec<f64>, Vec<f64>)> = strips
        .iter()
        .map(|s| {
            let (first, last) = s.edge_rows(sublattice);
            (first.to_vec(), last.to_vec())
        })
        .collect();
    for (i, strip) in strips.iter_mut().enumerate() {
        let below = &edges[(i + k - 1) % k].1;
        let above = &edges[(i + 1) % k].0;
        strip.set_halo(sublattice, below, above);
    }
}
