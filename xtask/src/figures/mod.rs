//! The figure registry. Adding a figure: a module with
//! `pub fn run(fig: &mut FigureCtx<'_>) -> anyhow::Result<()>` and one line in
//! [`FIGURES`].

pub mod hammersley_clifford;
pub mod lattices_cliques;

use crate::figure::Figure;

/// Every figure `cargo xtask reproduce` makes, in report order.
pub const FIGURES: &[Figure] = &[
    Figure {
        name: "lattices-cliques",
        description: "The four graphs of the talk (periodic square, triangular and square-with-diagonals \
            lattices, and a complete bipartite graph) with one maximal clique of each highlighted. \
            The clique census from `qftml graph` is compared with the exact counts: \
            on a periodic L×L lattice with V = L² sites there are 2V edges, 2V triangles and V \
            squares; the complete bipartite graph N×M has NM edges. The listed cliques are also \
            verified to be complete and maximal in the listed edge set.",
        run: lattices_cliques::run,
    },
    Figure {
        name: "hammersley-clifford",
        description: "Hammersley–Clifford as a number: for random configurations and random \
            inhomogeneous couplings on all four graphs, the product of the clique potentials must \
            equal exp(−S), i.e. |ln ∏_c ψ_c + S| / max(1, |S|) = 0 up to rounding, and a site's \
            conditional must depend only on its Markov blanket (`qftml action --random-couplings`).",
        run: hammersley_clifford::run,
    },
];
