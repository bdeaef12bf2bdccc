//! Periodic `Lx × Ly` lattices: site indexing and the pair sets of the action.

use crate::GraphError;

/// Smallest extent of a periodic lattice in either direction.
///
/// With 3 sites a periodic row closes into a triangle and with 2 the left and right
/// neighbours coincide, so the nearest-neighbour graph would not be the square lattice.
pub const MIN_EXTENT: usize = 4;

/// A periodic `lx × ly` square lattice; site `i = y * lx + x`, volume `n_sites = lx * ly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lattice {
    lx: usize,
    ly: usize,
}

impl Lattice {
    /// A periodic lattice of `lx × ly` sites; both extents must be at least 4.
    pub fn new(lx: usize, ly: usize) -> Result<Self, GraphError> {
        if lx < MIN_EXTENT || ly < MIN_EXTENT {
            return Err(GraphError::LatticeTooSmall {
                geometry: "square",
                min: MIN_EXTENT,
                lx,
                ly,
            });
        }
        if lx.checked_mul(ly).is_none_or(|v| v > u32::MAX as usize) {
            return Err(GraphError::LatticeTooLarge {
                lx,
                ly,
                max: u32::MAX as u64,
            });
        }
        Ok(Self { lx, ly })
    }

    /// A periodic `l × l` lattice.
    pub fn square(l: usize) -> Result<Self, GraphError> {
        Self::new(l, l)
    }

    /// Extent in x.
    pub fn lx(&self) -> usize {
        self.lx
    }

    /// Extent in y.
    pub fn ly(&self) -> usize {
        self.ly
    }

    /// Number of sites `V = lx * ly`.
    pub fn n_sites(&self) -> usize {
        self.lx * self.ly
    }

    /// Index of the site at `(x, y)`, coordinates taken modulo the extents.
    pub fn site(&self, x: isize, y: isize) -> usize {
        let x = x.rem_euclid(self.lx as isize) as usize;
        let y = y.rem_euclid(self.ly as isize) as usize;
        y * self.lx + x
    }

    /// Coordinates `(x, y)` of site `i`.
    pub fn coords(&self, i: usize) -> (usize, usize) {
        (i % self.lx, i / self.lx)
    }

    /// The site displaced from `i` by `(dx, dy)`, with periodic wrap-around.
    pub fn shift(&self, i: usize, dx: isize, dy: isize) -> usize {
        let (x, y) = self.coords(i);
        self.site(x as isize + dx, y as isize + dy)
    }

    /// Checkerboard colour of site `i`: `(x + y) mod 2`.
    pub fn parity(&self, i: usize) -> usize {
        let (x, y) = self.coords(i);
        (x + y) % 2
    }

    /// True when both extents are even, so the checkerboard colouring is consistent across
    /// the periodic boundary and nearest neighbours always have opposite colours.
    pub fn is_checkerboard_bipartite(&self) -> bool {
        self.lx.is_multiple_of(2) && self.ly.is_multiple_of(2)
    }

    /// Nearest-neighbour pairs `⟨ij⟩`, each once: for every site `i`, `(i, i + x̂)` then
    /// `(i, i + ŷ)`; pair `2i + d` has direction `d`.  There are `2V` pairs.
    pub fn nearest_neighbour_pairs(&self) -> Vec<[u32; 2]> {
        (0..self.n_sites())
            .flat_map(|i| {
                [
                    [i as u32, self.shift(i, 1, 0) as u32],
                    [i as u32, self.shift(i, 0, 1) as u32],
                ]
            })
            .collect()
    }

    /// Diagonal next-nearest-neighbour pairs `⟨⟨ij⟩⟩` (distance √2), each once: for every
    /// site `i`, `(i, i + x̂ + ŷ)` then `(i, i + x̂ − ŷ)`.  There are `2V` pairs.
    pub fn diagonal_pairs(&self) -> Vec<[u32; 2]> {
        (0..self.n_sites())
            .flat_map(|i| {
                [
                    [i as u32, self.shift(i, 1, 1) as u32],
                    [i as u32, self.shift(i, 1, -1) as u32],
                ]
            })
            .collect()
    }

    /// Triangular-lattice pairs: nearest neighbours plus one diagonal `(i, i + x̂ + ŷ)` per site
    /// (`3V` pairs).
    pub fn triangular_pairs(&self) -> Vec<[u32; 2]> {
        (0..self.n_sites())
            .flat_map(|i| {
                [
                    [i as u32, self.shift(i, 1, 0) as u32],
                    [i as u32, self.shift(i, 0, 1) as u32],
                    [i as u32, self.shift(i, 1, 1) as u32],
                ]
            })
            .collect()
    }
}
