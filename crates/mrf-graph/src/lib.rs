//! Graphs of lattice Markov random fields.
//!
//! A lattice field theory with nearest-neighbour (or any pairwise) interactions is a
//! Markov random field on a graph `G(Λ, e)`: the field `φ_i` at a site depends on the rest
//! of the lattice only through its neighbours (its Markov blanket).  By the
//! Hammersley–Clifford theorem a strictly positive density has this property exactly when it
//! factorises into one strictly positive potential `ψ_c` per maximal clique `c`,
//! `p(φ) = ∏_c ψ_c(φ) / Z`.  This crate provides the graphs of the talk (periodic square,
//! triangular, square with both diagonals, complete bipartite, arbitrary edge lists), their
//! neighbour lists and maximal cliques (Bron–Kerbosch with pivoting), and the factorisation
//! itself as code: [`CliqueFactorisation`] builds `ψ_c` from any site/pair energy
//! decomposition ([`PairwiseEnergy`]) and checks `∏_c ψ_c = exp(−S)` and the local Markov
//! property.
//!
//! Main types: [`Lattice`] (periodic `Lx × Ly` indexing, site `i = y * Lx + x`),
//! [`Graph`] (sites, edges, neighbour lists), [`maximal_cliques`], [`CliqueFactorisation`].
//!
//! # Example
//!
//! ```
//! use mrf_graph::{maximal_cliques, Graph, Lattice};
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let square = Graph::square(&lattice);
//! let cliques = maximal_cliques(&square);
//! // On the square lattice every maximal clique is an edge: 2V of them.
//! assert_eq!(cliques.len(), 32);
//! assert!(cliques.iter().all(|c| c.len() == 2));
//! // The Markov blanket of a site is its four nearest neighbours.
//! assert_eq!(square.neighbours(0), &[1, 4, 3, 12]);
//! ```
#![deny(missing_docs)]

mod cliques;
mod factorisation;
mod graph;
mod lattice;

pub use cliques::{CliqueCensus, is_clique, is_maximal_clique, maximal_cliques};
pub use factorisation::{CliqueFactorisation, PairwiseEnergy};
pub use graph::{Geometry, Graph};
pub use lattice::Lattice;

/// Errors from building graphs, lattices and factorisations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A periodic lattice is too small: wrap-around would merge neighbours or create
    /// cliques that the geometry does not have.
    #[error(
        "a periodic {geometry} lattice needs at least {min} sites in each direction, got {lx}x{ly}: \
         with fewer, wrap-around merges neighbours; use --lattice {min} or larger"
    )]
    LatticeTooSmall {
        /// Name of the geometry.
        geometry: &'static str,
        /// Smallest allowed extent.
        min: usize,
        /// Requested extent in x.
        lx: usize,
        /// Requested extent in y.
        ly: usize,
    },
    /// A periodic lattice with more sites than a site index (`u32`) can name.
    #[error(
        "a {lx}x{ly} lattice has {} sites, more than the {max} a site index can name; use a smaller --lattice",
        *lx as u128 * *ly as u128
    )]
    LatticeTooLarge {
        /// Requested extent in x.
        lx: usize,
        /// Requested extent in y.
        ly: usize,
        /// The largest number of sites.
        max: u64,
    },
    /// An edge refers to a site that does not exist.
    #[error("edge {edge} = ({i}, {j}) refers to a site >= n_sites = {n_sites}")]
    SiteOutOfRange {
        /// Index of the edge in the input list.
        edge: usize,
        /// First site.
        i: usize,
        /// Second site.
        j: usize,
        /// Number of sites of the graph.
        n_sites: usize,
    },
    /// An edge joins a site to itself.
    #[error("edge {edge} = ({i}, {i}) is a self-loop; a site cannot be its own neighbour")]
    SelfLoop {
        /// Index of the edge in the input list.
        edge: usize,
        /// The site.
        i: usize,
    },
    /// The same pair of sites appears twice.
    #[error("edges {first} and {second} join the same pair of sites ({i}, {j}); merge their couplings")]
    DuplicateEdge {
        /// Index of the first occurrence.
        first: usize,
        /// Index of the repeated occurrence.
        second: usize,
        /// First site.
        i: usize,
        /// Second site.
        j: usize,
    },
    /// A graph or bipartite layer with no sites.
    #[error("{what} must have at least one site")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A pair interaction of an energy is not an edge of the graph it is factorised over.
    #[error("the energy couples sites ({i}, {j}), which are not neighbours in the graph")]
    NotAnEdge {
        /// First site.
        i: usize,
        /// Second site.
        j: usize,
    },
    /// The energy and the graph disagree on the number of sites.
    #[error("the energy has {energy} sites but the graph has {graph}")]
    SizeMismatch {
        /// Sites of the energy.
        energy: usize,
        /// Sites of the graph.
        graph: usize,
    },
}

#[cfg(test)]
mod tests;
