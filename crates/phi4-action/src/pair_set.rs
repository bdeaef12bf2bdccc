//! Which lattice pairs carry couplings, and their names in files and on the command line.

use mrf_graph::{Geometry, Lattice};

/// Which lattice pairs carry couplings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairSet {
    /// Nearest neighbours `⟨ij⟩`: pairs `0..2V`.
    NearestNeighbour,
    /// Diagonal next-nearest neighbours `⟨⟨ij⟩⟩`: pairs `0..2V`.
    Diagonal,
    /// Nearest neighbours (pairs `0..2V`) then diagonals (pairs `2V..4V`).
    Both,
}

impl PairSet {
    /// Every pair set, in the order of [`PairSet::name`]'s documentation.
    pub const ALL: [PairSet; 3] = [PairSet::NearestNeighbour, PairSet::Diagonal, PairSet::Both];

    /// The pairs of this set on `lattice`, in the documented order.
    pub fn pairs(self, lattice: &Lattice) -> Vec<[u32; 2]> {
        match self {
            PairSet::NearestNeighbour => lattice.nearest_neighbour_pairs(),
            PairSet::Diagonal => lattice.diagonal_pairs(),
            PairSet::Both => {
                let mut p = lattice.nearest_neighbour_pairs();
                p.extend(lattice.diagonal_pairs());
                p
            }
        }
    }

    /// The name in ensemble headers, couplings files and output: `nearest-neighbour`,
    /// `diagonal` or `both`.
    pub fn name(self) -> &'static str {
        match self {
            PairSet::NearestNeighbour => "nearest-neighbour",
            PairSet::Diagonal => "diagonal",
            PairSet::Both => "both",
        }
    }

    /// The pair set called `name` ([`PairSet::name`]); `None` for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The names of every pair set, quoted and joined for messages:
    /// `"nearest-neighbour", "diagonal" or "both"`.
    pub fn names_for_message() -> String {
        let quoted: Vec<String> = Self::ALL.iter().map(|p| format!("{:?}", p.name())).collect();
        let (last, rest) = quoted.split_last().expect("three pair sets");
        format!("{} or {last}", rest.join(", "))
    }

    /// The pair set whose pairs are exactly the edges of `geometry`, in the same order
    /// (`None` for geometries with other pairs, e.g. triangular).
    pub fn of_geometry(geometry: Geometry) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.geometry() == Some(geometry))
    }

    /// The graph geometry whose edges are exactly these pairs, in the same order (`None`
    /// for the diagonals alone, which no named geometry has).
    pub fn geometry(self) -> Option<Geometry> {
        match self {
            PairSet::NearestNeighbour => Some(Geometry::Square),
            PairSet::Both => Some(Geometry::SquareDiagonals),
            PairSet::Diagonal => None,
        }
    }
}
