//! `qftml graph --json` and `qftml action --json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The graph geometries `qftml graph` and `qftml action` build, by the name they take on the
/// command line and carry in [`GraphRecord::geometry`]: the periodic lattices of
/// `mrf_graph::Geometry`, then the complete bipartite graph.
pub const GEOMETRIES: [&str; 4] = ["square", "triangular", "square-diagonals", "bipartite"];

/// `qftml graph --json`: a graph and its maximal cliques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphRecord {
    /// [`GraphRecord::SCHEMA`].
    pub schema: u32,
    /// One of [`GEOMETRIES`].
    pub geometry: String,
    /// `[lx, ly]` of a periodic lattice; `None` for the bipartite graph.
    pub lattice: Option<[usize; 2]>,
    /// Number of sites.
    pub n_sites: usize,
    /// Number of edges.
    pub n_edges: usize,
    /// Number of maximal cliques.
    pub n_maximal_cliques: usize,
    /// Clique size → number of maximal cliques of that size.
    pub clique_sizes: BTreeMap<usize, usize>,
    /// The edges as site pairs, in edge order.
    pub edges: Vec<[usize; 2]>,
    /// The maximal cliques as site lists.
    pub cliques: Vec<Vec<usize>>,
}

crate::record!(GraphRecord, "graph", schema 1);

/// `∂S/∂θ` by parameter block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gradient {
    /// `∂S/∂w`, one per pair.
    pub w: Vec<f64>,
    /// `∂S/∂a`, one per site.
    pub a: Vec<f64>,
    /// `∂S/∂b`, one per site.
    pub b: Vec<f64>,
    /// `∂S/∂r`, one per site.
    pub r: Vec<f64>,
}

/// `qftml action --json`: the action of one configuration, its clique factorisation and
/// `∂S/∂θ`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// [`ActionRecord::SCHEMA`].
    pub schema: u32,
    /// The graph geometry.
    pub geometry: String,
    /// Number of sites.
    pub n_sites: usize,
    /// Number of coupled pairs.
    pub n_pairs: usize,
    /// Number of maximal cliques.
    pub n_maximal_cliques: usize,
    /// Whether the couplings were drawn at random.
    pub random_couplings: bool,
    /// Seed of the random couplings and configuration.
    pub seed: u64,
    /// `S(φ; θ)`.
    #[serde(with = "crate::nullable")]
    pub action: f64,
    /// `ln ∏_c ψ_c(φ)`.
    #[serde(with = "crate::nullable")]
    pub log_product_potentials: f64,
    /// `|ln ∏ψ_c + S| / max(1, |S|)`.
    #[serde(with = "crate::nullable")]
    pub factorisation_mismatch: f64,
    /// Largest change of a site's conditional when sites outside its blanket change.
    #[serde(with = "crate::nullable")]
    pub blanket_violation: f64,
    /// `|∂S/∂θ|`.
    #[serde(with = "crate::nullable")]
    pub gradient_norm: f64,
    /// `∂S/∂θ`.
    pub gradient: Gradient,
}

crate::record!(ActionRecord, "action", schema 1);
