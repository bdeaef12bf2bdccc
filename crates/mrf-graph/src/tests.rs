use proptest::prelude::*;

use super::*;

/// A φ⁴-like pairwise energy on any graph: the toy implementation of [`PairwiseEnergy`].
struct ToyEnergy {
    pairs: Vec<[u32; 2]>,
    w: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl ToyEnergy {
    /// `w = 1` on every pair, `a = 1`, `b = 0` on every site.
    fn unit_gaussian(pairs: Vec<[u32; 2]>, n_sites: usize) -> Self {
        Self {
            w: vec![1.0; pairs.len()],
            pairs,
            a: vec![1.0; n_sites],
            b: vec![0.0; n_sites],
        }
    }
}

impl PairwiseEnergy for ToyEnergy {
    fn n_sites(&self) -> usize {
        self.a.len()
    }
    fn pairs(&self) -> &[[u32; 2]] {
        &self.pairs
    }
    fn site_energy(&self, i: usize, x: f64) -> f64 {
        self.a[i] * x * x + self.b[i] * x.powi(4)
    }
    fn pair_energy(&self, k: usize, xi: f64, xj: f64) -> f64 {
        -self.w[k] * xi * xj
    }
}

fn lattice(l: usize) -> Lattice {
    Lattice::new(l, l).unwrap()
}

#[track_caller]
fn check_census(graph: &Graph, n_cliques: usize, size: usize) {
    let cliques = maximal_cliques(graph);
    let census = CliqueCensus::of(&cliques);
    assert_eq!(census.n_maximal_cliques, n_cliques, "{cliques:?}");
    assert_eq!(census.clique_sizes.len(), 1, "{:?}", census.clique_sizes);
    assert_eq!(census.clique_sizes.get(&size), Some(&n_cliques));
    for c in &cliques {
        assert!(is_maximal_clique(graph, c), "{c:?}");
    }
}

#[test]
fn square_lattice_maximal_cliques_are_edges() {
    check_census(&Graph::square(&lattice(4)), 32, 2);
    check_census(&Graph::square(&Lattice::new(6, 4).unwrap()), 48, 2);
}

#[test]
fn triangular_lattice_maximal_cliques_are_triangles() {
    check_census(&Graph::triangular(&lattice(4)), 32, 3);
    check_census(&Graph::triangular(&lattice(5)), 50, 3);
}

#[test]
fn square_with_diagonals_maximal_cliques_are_squares() {
    check_census(&Graph::square_diagonals(&lattice(4)), 16, 4);
    check_census(&Graph::square_diagonals(&lattice(7)), 49, 4);
}

#[test]
fn bipartite_maximal_cliques_are_edges() {
    check_census(&Graph::complete_bipartite(3, 2).unwrap(), 6, 2);
    check_census(&Graph::complete_bipartite(16, 5).unwrap(), 80, 2);
}

/// The talk's four-point example: A–B, A–C, B–C, C–D.
#[test]
fn four_point_example() {
    let (a, b, c, d) = (0u32, 1u32, 2u32, 3u32);
    let g = Graph::from_edges(4, vec![[a, b], [a, c], [b, c], [c, d]]).unwrap();
    assert_eq!(maximal_cliques(&g), vec![vec![a, b, c], vec![c, d]]);
    assert!(is_clique(&g, &[a, b]));
    assert!(!is_maximal_clique(&g, &[a, b]));
    assert!(is_maximal_clique(&g, &[a, b, c]));
    assert!(!is_clique(&g, &[a, b, c, d]));
    assert!(!is_maximal_clique(&g, &[a, b, c, d]));
    assert_eq!(g.markov_blanket(c as usize), vec![a, b, d]);
}

#[test]
fn neighbour_lists_follow_edge_order() {
    let l = lattice(4);
    let g = Graph::square(&l);
    assert_eq!(g.neighbours(0), &[1, 4, 3, 12]);
    assert_eq!(g.neighbours(5), &[1, 4, 6, 9]);
    assert_eq!(g.edge_between(0, 4), Some(1));
    assert_eq!(Graph::square_diagonals(&l).max_degree(), 8);
    assert_eq!(Graph::triangular(&l).max_degree(), 6);
}

#[test]
fn too_small_and_malformed_graphs_are_refused() {
    for (lx, ly) in [(3, 4), (4, 2), (1, 1), (0, 8)] {
        let err = Lattice::new(lx, ly).unwrap_err();
        assert!(matches!(err, GraphError::LatticeTooSmall { .. }), "{err}");
        assert!(err.to_string().contains("at least 4"), "{err}");
    }
    for (lx, ly) in [(1 << 20, 1 << 20), (usize::MAX, 4)] {
        let err = Lattice::new(lx, ly).unwrap_err();
        assert!(matches!(err, GraphError::LatticeTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("use a smaller --lattice"), "{err}");
    }
    assert!(matches!(
        Graph::from_edges(2, vec![[0, 0]]),
        Err(GraphError::SelfLoop { .. })
    ));
    assert!(matches!(
        Graph::from_edges(2, vec![[0, 2]]),
        Err(GraphError::SiteOutOfRange { .. })
    ));
    assert!(matches!(
        Graph::from_edges(3, vec![[0, 1], [1, 2], [1, 0]]),
        Err(GraphError::DuplicateEdge {
            first: 0,
            second: 2,
            ..
        })
    ));
    assert!(matches!(Graph::complete_bipartite(0, 3), Err(GraphError::Empty { .. })));
}

#[test]
fn site_share_on_square_lattice_is_a_quarter() {
    let l = lattice(4);
    let g = Graph::square(&l);
    let energy = ToyEnergy::unit_gaussian(l.nearest_neighbour_pairs(), l.n_sites());
    let f = CliqueFactorisation::new(&g, &energy).unwrap();
    // One site at φ = 1, everything else 0: each of its four edges carries a/4.
    let mut phi = vec![0.0; l.n_sites()];
    phi[5] = 1.0;
    let logs = f.log_potentials(&energy, &phi);
    let touched: Vec<f64> = logs.into_iter().filter(|v| *v != 0.0).collect();
    assert_eq!(touched, vec![-0.25; 4]);
}

#[test]
fn energy_must_live_on_the_graph() {
    let l = lattice(4);
    let energy = ToyEnergy::unit_gaussian(l.diagonal_pairs(), l.n_sites());
    let err = CliqueFactorisation::new(&Graph::square(&l), &energy).unwrap_err();
    assert!(matches!(err, GraphError::NotAnEdge { .. }));
}

fn geometry_graph(kind: usize, l: usize) -> Graph {
    match kind {
        0 => Graph::square(&lattice(l)),
        1 => Graph::triangular(&lattice(l)),
        2 => Graph::square_diagonals(&lattice(l)),
        _ => Graph::complete_bipartite(l, l / 2).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// ∏_c ψ_c = exp(−S) and the local Markov property, on all four geometries with random
    /// inhomogeneous couplings and random fields.
    #[test]
    fn hammersley_clifford_on_all_geometries(
        kind in 0usize..4,
        l in 4usize..7,
        seed_values in proptest::collection::vec(-2.0f64..2.0, 256),
    ) {
        let g = geometry_graph(kind, l);
        let n = g.n_sites();
        let pairs = g.edges().to_vec();
        let pick = |k: usize| seed_values[k % seed_values.len()];
        let energy = ToyEnergy {
            w: (0..pairs.len()).map(|k| pick(3 * k + 1)).collect(),
            pairs,
            a: (0..n).map(|i| 1.0 + pick(5 * i + 2)).collect(),
            b: (0..n).map(|i| 0.5 + pick(7 * i + 3).abs()).collect(),
        };
        let f = CliqueFactorisation::new(&g, &energy).unwrap();
        let phi: Vec<f64> = (0..n).map(|i| pick(11 * i + 5)).collect();
        let other: Vec<f64> = (0..n).map(|i| pick(13 * i + 7) * 1.5).collect();
        prop_assert!(f.product_mismatch(&energy, &phi) < 1e-12);
        let site = (pick(17).abs() * 1000.0) as usize % n;
        let violation = f.blanket_violation(&g, &energy, &phi, &other, site, &[-1.0, -0.3, 0.2, 0.9, 1.7]);
        prop_assert!(violation < 1e-10, "violation {}", violation);
    }
}

/// The converse check: a non-local energy (a pair that is not an edge) cannot be factorised
/// over the graph, and its conditional does depend on a site outside the blanket.
#[test]
fn non_markov_energy_is_detected() {
    let l = lattice(4);
    let g = Graph::square(&l);
    let mut pairs = l.nearest_neighbour_pairs();
    pairs.push([0, 10]);
    let n = l.n_sites();
    let energy = ToyEnergy {
        w: vec![0.5; pairs.len()],
        pairs: pairs.clone(),
        a: vec![1.0; n],
        b: vec![0.1; n],
    };
    assert!(CliqueFactorisation::new(&g, &energy).is_err());
    let extended = Graph::from_edges(n, pairs).unwrap();
    let f = CliqueFactorisation::new(&extended, &energy).unwrap();
    let phi = vec![0.3; n];
    let mut other = phi.clone();
    other[10] = -1.0;
    // Site 10 is in the extended blanket of 0, so the square-lattice blanket misses it.
    assert!(f.blanket_violation(&g, &energy, &phi, &other, 0, &[-1.0, 0.0, 1.0]) > 1e-3);
}
