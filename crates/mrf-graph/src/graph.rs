//! Undirected simple graphs with neighbour lists.

use crate::{GraphError, Lattice};

/// The named geometries of the talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Geometry {
    /// Periodic square lattice, nearest neighbours: maximal cliques are edges.
    Square,
    /// Periodic triangular lattice: maximal cliques are triangles.
    Triangular,
    /// Periodic square lattice with both diagonals: maximal cliques are squares (4 sites).
    SquareDiagonals,
}

impl Geometry {
    /// Name used in messages and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Geometry::Square => "square",
            Geometry::Triangular => "triangular",
            Geometry::SquareDiagonals => "square-diagonals",
        }
    }
}

/// An undirected simple graph on sites `0..n_sites`.
///
/// Edges keep the order they were given in (edge `k` of a lattice graph is pair `k` of the
/// action), and every site has a neighbour list, its Markov blanket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    n_sites: usize,
    edges: Vec<[u32; 2]>,
    offsets: Vec<usize>,
    neighbours: Vec<u32>,
    incident: Vec<u32>,
}

impl Graph {
    /// A graph from an edge list; self-loops, duplicate edges and sites out of range are
    /// errors.
    pub fn from_edges(n_sites: usize, edges: Vec<[u32; 2]>) -> Result<Self, GraphError> {
        if n_sites == 0 {
            return Err(GraphError::Empty { what: "a graph" });
        }
        for (k, &[i, j]) in edges.iter().enumerate() {
            let (i, j) = (i as usize, j as usize);
            if i >= n_sites || j >= n_sites {
                return Err(GraphError::SiteOutOfRange { edge: k, i, j, n_sites });
            }
            if i == j {
                return Err(GraphError::SelfLoop { edge: k, i });
            }
        }
        let mut keyed: Vec<(u32, u32, usize)> = edges
            .iter()
            .enumerate()
            .map(|(k, &[i, j])| (i.min(j), i.max(j), k))
            .collect();
        keyed.sort_unstable();
        if let Some(w) = keyed.windows(2).find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1) {
            return Err(GraphError::DuplicateEdge {
                first: w[0].2.min(w[1].2),
                second: w[0].2.max(w[1].2),
                i: w[0].0 as usize,
                j: w[0].1 as usize,
            });
        }
        let mut degree = vec![0usize; n_sites];
        for &[i, j] in &edges {
            degree[i as usize] += 1;
            degree[j as usize] += 1;
        }
        let mut offsets = Vec::with_capacity(n_sites + 1);
        offsets.push(0);
        for d in &degree {
            offsets.push(offsets.last().copied().unwrap_or(0) + d);
        }
        let mut fill = offsets.clone();
        let mut neighbours = vec![0u32; offsets[n_sites]];
        let mut incident = vec![0u32; offsets[n_sites]];
        for (k, &[i, j]) in edges.iter().enumerate() {
            for (a, b) in [(i, j), (j, i)] {
                let slot = &mut fill[a as usize];
                neighbours[*slot] = b;
                incident[*slot] = k as u32;
                *slot += 1;
            }
        }
        // Neighbour lists in edge order, so site 0 of a square lattice reads right, up, left, down.
        for i in 0..n_sites {
            let range = offsets[i]..offsets[i + 1];
            let mut pairs: Vec<(u32, u32)> = incident[range.clone()]
                .iter()
                .copied()
                .zip(neighbours[range.clone()].iter().copied())
                .collect();
            pairs.sort_unstable();
            for (slot, (k, j)) in range.zip(pairs) {
                incident[slot] = k;
                neighbours[slot] = j;
            }
        }
        Ok(Self {
            n_sites,
            edges,
            offsets,
            neighbours,
            incident,
        })
    }

    /// The graph of a named periodic geometry on `lattice`.
    pub fn periodic(geometry: Geometry, lattice: &Lattice) -> Self {
        let edges = match geometry {
            Geometry::Square => lattice.nearest_neighbour_pairs(),
            Geometry::Triangular => lattice.triangular_pairs(),
            Geometry::SquareDiagonals => {
                let mut e = lattice.nearest_neighbour_pairs();
                e.extend(lattice.diagonal_pairs());
                e
            }
        };
        Self::from_edges(lattice.n_sites(), edges).expect("lattices of extent >= 4 give simple graphs")
    }

    /// Periodic square lattice (nearest neighbours).
    pub fn square(lattice: &Lattice) -> Self {
        Self::periodic(Geometry::Square, lattice)
    }

    /// Periodic triangular lattice: square lattice plus the `(x+1, y+1)` diagonal.
    pub fn triangular(lattice: &Lattice) -> Self {
        Self::periodic(Geometry::Triangular, lattice)
    }

    /// Periodic square lattice with both diagonals (eight neighbours per site).
    pub fn square_diagonals(lattice: &Lattice) -> Self {
        Self::periodic(Geometry::SquareDiagonals, lattice)
    }

    /// Complete bipartite graph: visible sites `0..n_visible`, hidden sites
    /// `n_visible..n_visible + n_hidden`, every visible site joined to every hidden one;
    /// edge `i * n_hidden + j` joins visible `i` and hidden `j`.
    pub fn complete_bipartite(n_visible: usize, n_hidden: usize) -> Result<Self, GraphError> {
        if n_visible == 0 {
            return Err(GraphError::Empty {
                what: "the visible layer",
            });
        }
        if n_hidden == 0 {
            return Err(GraphError::Empty {
                what: "the hidden layer",
            });
        }
        let edges = (0..n_visible)
            .flat_map(|i| (0..n_hidden).map(move |j| [i as u32, (n_visible + j) as u32]))
            .collect();
        Self::from_edges(n_visible + n_hidden, edges)
    }

    /// Number of sites.
    pub fn n_sites(&self) -> usize {
        self.n_sites
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.edges.len()
    }

    /// The edges, in the order given at construction.
    pub fn edges(&self) -> &[[u32; 2]] {
        &self.edges
    }

    /// Neighbours of site `i`: its Markov blanket.
    pub fn neighbours(&self, i: usize) -> &[u32] {
        &self.neighbours[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Indices of the edges at site `i`, aligned with [`Graph::neighbours`].
    pub fn incident_edges(&self, i: usize) -> &[u32] {
        &self.incident[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The Markov blanket of site `i` (its neighbours), as a sorted list.
    pub fn markov_blanket(&self, i: usize) -> Vec<u32> {
        let mut b = self.neighbours(i).to_vec();
        b.sort_unstable();
        b
    }

    /// True if `i` and `j` are joined by an edge.
    pub fn are_neighbours(&self, i: usize, j: usize) -> bool {
        self.neighbours(i).contains(&(j as u32))
    }

    /// Index of the edge joining `i` and `j`, if any.
    pub fn edge_between(&self, i: usize, j: usize) -> Option<usize> {
        self.neighbours(i)
            .iter()
            .position(|&n| n as usize == j)
            .map(|p| self.incident_edges(i)[p] as usize)
    }

    /// Largest number of neighbours of any site.
    pub fn max_degree(&self) -> usize {
        (0..self.n_sites)
            .map(|i| self.offsets[i + 1] - self.offsets[i])
            .max()
            .unwrap_or(0)
    }
}
