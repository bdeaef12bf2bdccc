use mrf_graph::{CliqueFactorisation, Graph, Lattice};
use proptest::prelude::*;

use super::gaussian::{FreeField, GaussianMrf};
use super::*;

fn lattice(l: usize) -> Lattice {
    Lattice::new(l, l).unwrap()
}

/// Random inhomogeneous couplings on `graph`, built from a vector of draws.
fn random_couplings(graph: Graph, draws: &[f64], with_r: bool) -> Couplings {
    let pick = |k: usize| draws[k % draws.len()];
    let (n, p) = (graph.n_sites(), graph.n_edges());
    Couplings::new(
        graph,
        (0..p).map(|k| pick(3 * k + 1)).collect(),
        (0..n).map(|i| pick(5 * i + 2)).collect(),
        (0..n).map(|i| 0.05 + pick(7 * i + 3).abs()).collect(),
        (0..n).map(|i| if with_r { pick(11 * i + 4) } else { 0.0 }).collect(),
    )
    .unwrap()
}

fn field(n: usize, draws: &[f64], salt: usize) -> Vec<f64> {
    (0..n).map(|i| 2.0 * draws[(13 * i + salt) % draws.len()]).collect()
}

#[test]
fn homogeneous_round_trip_and_target_a() {
    let h = Homogeneous {
        kappa: 1.0,
        mu2: -0.9515,
        lambda: 0.7,
    };
    assert_eq!((h.w(), h.b()), (1.0, 0.175));
    assert!((h.a() - 1.52425).abs() < 1e-15);
    let back = Homogeneous::from_wab(h.w(), h.a(), h.b());
    assert!((back.kappa - h.kappa).abs() + (back.mu2 - h.mu2).abs() + (back.lambda - h.lambda).abs() < 1e-14);
    let a = targets::a(&lattice(4)).unwrap();
    assert!(a.w().iter().all(|w| *w == 1.0) && a.a().iter().all(|x| *x == 1.52425));
    assert!(a.b().iter().all(|x| *x == 0.175));
    assert_eq!(a.n_pairs(), 32);
    let a4 = targets::a4(&lattice(4), 1.0).unwrap();
    assert_eq!(a4.n_pairs(), 64);
    assert_eq!(a4.as_homogeneous(), None);
    let (h4, g) = a4.as_homogeneous_with_diagonal().unwrap();
    assert_eq!((h4.kappa, h4.lambda, g), (1.0, 0.7, 1.0));
    let mut theta = a4.params();
    theta[a4.block(ParamBlock::R).start] = 0.1;
    assert_eq!(a4.with_params(&theta).unwrap().as_homogeneous_with_diagonal(), None);
}

#[track_caller]
fn check_rejected(result: Result<Couplings, ActionError>, needle: &str) {
    let err = result.unwrap_err().to_string();
    assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
}

#[test]
fn invalid_couplings_name_the_parameter() {
    let l = lattice(4);
    let (v, p) = (16, 32);
    let ok = |w: f64, a: f64, b: f64| (vec![w; p], vec![a; v], vec![b; v], vec![0.0; v]);
    let nn = PairSet::NearestNeighbour;
    let (w, a, mut b, r) = ok(1.0, 2.5, 0.1);
    b[3] = -0.1;
    check_rejected(Couplings::on_lattice(&l, nn, w, a, b, r), "b[3]");
    let (mut w, a, b, r) = ok(1.0, 2.5, 0.1);
    w[7] = f64::NAN;
    check_rejected(Couplings::on_lattice(&l, nn, w, a, b, r), "w[7]");
    let (w, a, b, _) = ok(1.0, 2.5, 0.1);
    check_rejected(Couplings::on_lattice(&l, nn, w, a, b, vec![0.0; 3]), "r has 3 entries");
    // Massless and tachyonic free fields are not normalisable; massive ones are.
    check_rejected(
        Couplings::homogeneous(
            &l,
            Homogeneous {
                kappa: 1.0,
                mu2: 0.0,
                lambda: 0.0,
            },
        ),
        "not positive definite",
    );
    check_rejected(
        Couplings::homogeneous(
            &l,
            Homogeneous {
                kappa: 1.0,
                mu2: -0.5,
                lambda: 0.0,
            },
        ),
        "b[0]",
    );
    assert!(
        Couplings::homogeneous(
            &l,
            Homogeneous {
                kappa: 1.0,
                mu2: 0.01,
                lambda: 0.0
            }
        )
        .is_ok()
    );
    // A free field with a diagonal coupling: lowest eigenvalue μ² − 4g′ at k = 0.
    let h = Homogeneous {
        kappa: 1.0,
        mu2: 1.0,
        lambda: 0.0,
    };
    assert!(Couplings::homogeneous_with_diagonal(&l, h, 0.2).is_ok());
    check_rejected(Couplings::homogeneous_with_diagonal(&l, h, 0.3), "lowest eigenvalue");
    // Inhomogeneous, not diagonally dominant: the dense check decides.
    let (w, mut a, _, r) = ok(1.0, 2.1, 0.0);
    assert!(Couplings::on_lattice(&l, nn, w.clone(), a.clone(), vec![0.0; v], r.clone()).is_ok());
    // Two softer sites break diagonal dominance; lowest eigenvalue 0.159 (numpy).
    a[0] = 1.95;
    a[1] = 1.95;
    assert!(Couplings::on_lattice(&l, nn, w.clone(), a.clone(), vec![0.0; v], r.clone()).is_ok());
    a.iter_mut().for_each(|x| *x = 1.9);
    a[5] = 1.95;
    check_rejected(Couplings::on_lattice(&l, nn, w, a, vec![0.0; v], r), "Cholesky");
}

#[test]
fn with_params_validates() {
    let a = targets::a(&lattice(4)).unwrap();
    let mut theta = a.params();
    assert_eq!(a.with_params(&theta).unwrap(), a);
    theta[a.block(ParamBlock::B).start + 2] = -1.0;
    assert!(matches!(
        a.with_params(&theta),
        Err(ActionError::NegativeQuartic { index: 2, .. })
    ));
    assert!(a.with_params(&theta[1..]).is_err());
}

#[test]
fn gradient_is_exact_because_the_action_is_linear_in_theta() {
    let l = lattice(4);
    let draws: Vec<f64> = (0..97).map(|k| ((k * 37 % 97) as f64 / 97.0) - 0.5).collect();
    let c = random_couplings(Graph::square_diagonals(&l), &draws, true);
    let phi = field(16, &draws, 3);
    let mut grad = vec![0.0; c.n_params()];
    c.grad_action(&phi, &mut grad);
    let theta = c.params();
    for k in [
        0,
        17,
        63,
        c.block(ParamBlock::A).start + 4,
        c.block(ParamBlock::B).start,
        c.block(ParamBlock::R).end - 1,
    ] {
        let mut t = theta.clone();
        t[k] += 0.25;
        let fd = (c.with_params(&t).unwrap().action(&phi) - c.action(&phi)) / 0.25;
        assert!((fd - grad[k]).abs() < 1e-12, "param {k}: {fd} vs {}", grad[k]);
    }
}

#[test]
fn observables_nn_matches_pair_sum() {
    let l = Lattice::new(6, 4).unwrap();
    let c = Couplings::homogeneous(&l, targets::POINT_A).unwrap();
    let phi: Vec<f64> = (0..24).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
    let obs = Observables::measure(&c, &phi);
    let pair_sum: f64 = c.pairs().iter().map(|&[i, j]| phi[i as usize] * phi[j as usize]).sum();
    assert!((obs.nn - pair_sum / 48.0).abs() < 1e-14);
    assert!((obs.action_density * 24.0 - c.action(&phi)).abs() < 1e-12);
    assert_eq!(obs.m2, obs.m * obs.m);
}

/// The lane-summed action and observables (lattice row path and general pair path) equal
/// the plain serial sums of their definitions, for inhomogeneous couplings on lattices
/// whose rows are shorter than, equal to and longer than the eight lanes.
#[test]
fn lane_sums_equal_the_definitions() {
    let draws: Vec<f64> = (0..97).map(|k| ((k * 37 % 97) as f64 / 97.0) - 0.5).collect();
    for (lx, ly) in [(4, 4), (6, 4), (9, 8), (16, 5), (33, 7)] {
        let l = Lattice::new(lx, ly).unwrap();
        let n = lx * ly;
        let homogeneous = Couplings::homogeneous(&l, targets::POINT_A).unwrap();
        let theta: Vec<f64> = homogeneous
            .params()
            .iter()
            .enumerate()
            .map(|(k, t)| t * (1.0 + 0.3 * draws[k % 97]) + 0.1 * draws[(k + 5) % 97])
            .collect();
        let lattice_path = homogeneous.with_params(&theta).unwrap();
        let general_path = random_couplings(Graph::square(&l), &draws, true);
        let phi = field(n, &draws, 1);
        for c in [&homogeneous, &lattice_path, &general_path] {
            let pairs: f64 = c
                .pairs()
                .iter()
                .zip(c.w())
                .map(|(&[i, j], &w)| w * phi[i as usize] * phi[j as usize])
                .sum();
            let sites: f64 = (0..n)
                .map(|i| {
                    let x2 = phi[i] * phi[i];
                    x2 * (c.a()[i] + c.b()[i] * x2) + c.r()[i] * phi[i]
                })
                .sum();
            let serial = sites - pairs;
            let scale = sites.abs() + pairs.abs();
            assert!((c.action(&phi) - serial).abs() < 1e-13 * scale, "{lx}×{ly}");
            let obs = Observables::measure(c, &phi);
            let nn: f64 = c.pairs().iter().map(|&[i, j]| phi[i as usize] * phi[j as usize]).sum();
            let nn_scale: f64 = c
                .pairs()
                .iter()
                .map(|&[i, j]| (phi[i as usize] * phi[j as usize]).abs())
                .sum();
            assert!(
                (obs.nn * c.pairs().len() as f64 - nn).abs() < 1e-13 * nn_scale,
                "{lx}×{ly}"
            );
            let sum4: f64 = phi.iter().map(|x| x.powi(4)).sum();
            assert!((obs.phi4 * n as f64 - sum4).abs() < 1e-13 * sum4);
            let sum: f64 = phi.iter().sum();
            let sum_abs: f64 = phi.iter().map(|x| x.abs()).sum();
            assert!((obs.m * n as f64 - sum).abs() < 1e-13 * sum_abs);
        }
    }
}

/// Two independent routes to the free field: momentum space and the dense matrix.
#[track_caller]
fn check_free_field(l: Lattice, kappa: f64, mu2: f64, g_nnn: f64) {
    let h = Homogeneous {
        kappa,
        mu2,
        lambda: 0.0,
    };
    let c = if g_nnn == 0.0 {
        Couplings::homogeneous(&l, h).unwrap()
    } else {
        Couplings::homogeneous_with_diagonal(&l, h, g_nnn).unwrap()
    };
    let ff = FreeField::from_couplings(&c).unwrap();
    assert_eq!((ff.kappa, ff.g_nnn), (kappa, g_nnn));
    assert!((ff.mu2 - mu2).abs() < 1e-14);
    let dense = GaussianMrf::from_couplings(&c).unwrap();
    let cov = dense.covariance();
    let v = l.n_sites();
    assert!((ff.ln_z().re - dense.ln_z()).abs() < 1e-9 * dense.ln_z().abs().max(1.0));
    assert!((ff.phi2().re - cov[(0, 0)]).abs() < 1e-12);
    assert!((ff.two_point(2, 1).re - cov[(0, l.site(2, 1))]).abs() < 1e-12);
    assert!((ff.nn().re - 0.5 * (cov[(0, 1)] + cov[(0, l.lx())])).abs() < 1e-12);
    assert!((ff.v_m2().re - cov.sum() / v as f64).abs() < 1e-10);
}

#[test]
fn free_field_momentum_space_equals_dense_matrix() {
    check_free_field(lattice(4), 1.0, 1.0, 0.0);
    check_free_field(Lattice::new(6, 4).unwrap(), 0.7, 0.3, 0.0);
    check_free_field(lattice(5), 1.0, 1.0, 0.2);
    check_free_field(lattice(4), 0.5, 2.0, -0.3);
}

#[test]
fn gaussian_kl_is_zero_on_itself_and_positive_otherwise() {
    let l = lattice(4);
    let p = GaussianMrf::from_couplings(
        &Couplings::homogeneous(
            &l,
            Homogeneous {
                kappa: 1.0,
                mu2: 1.0,
                lambda: 0.0,
            },
        )
        .unwrap(),
    )
    .unwrap();
    let q = GaussianMrf::from_couplings(
        &Couplings::homogeneous(
            &l,
            Homogeneous {
                kappa: 0.8,
                mu2: 1.5,
                lambda: 0.0,
            },
        )
        .unwrap(),
    )
    .unwrap();
    assert!(p.kl(&p).abs() < 1e-10);
    assert!(p.kl(&q) > 0.01 && q.kl(&p) > 0.01);
    // KL(p‖q) = ⟨S_q − S_p⟩_p + ln Z_q − ln Z_p; for these zero-mean Gaussians
    // ⟨S_q − S_p⟩_p = ½ tr((M_q − M_p) Σ_p).
    let direct = 0.5 * ((q.precision() - p.precision()) * p.covariance()).trace() + q.ln_z() - p.ln_z();
    assert!((p.kl(&q) - direct).abs() < 1e-9);
}

#[test]
fn complex_action_adds_a_phase() {
    let l = lattice(4);
    let a5 = targets::a5(&l, 1.0, 0.15).unwrap();
    let phi = vec![0.5; 16];
    let s = a5.action(&phi);
    assert_eq!(s.re, a5.real().action(&phi));
    assert!((s.im - 0.15 * 16.0 * 0.25).abs() < 1e-14);
    assert!(ComplexAction::new(a5.real().clone(), f64::INFINITY).is_err());
}

fn graph_of(kind: usize, l: usize) -> Graph {
    let lat = lattice(l);
    match kind {
        0 => Graph::square(&lat),
        1 => Graph::triangular(&lat),
        2 => Graph::square_diagonals(&lat),
        _ => Graph::complete_bipartite(l, l - 2).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn action_is_even_without_linear_term(kind in 0usize..4, l in 4usize..7, draws in proptest::collection::vec(-1.0f64..1.0, 64)) {
        let c = random_couplings(graph_of(kind, l), &draws, false);
        let phi = field(c.n_sites(), &draws, 5);
        let flipped: Vec<f64> = phi.iter().map(|x| -x).collect();
        prop_assert!((c.action(&phi) - c.action(&flipped)).abs() <= 1e-12 * c.action(&phi).abs().max(1.0));
    }

    #[test]
    fn homogeneous_action_is_translation_invariant(
        l in 4usize..8, dx in 0isize..8, dy in 0isize..8, g in -0.5f64..0.5,
        draws in proptest::collection::vec(-1.0f64..1.0, 64),
    ) {
        let lat = lattice(l);
        let c = Couplings::homogeneous_with_diagonal(&lat, targets::POINT_A, g).unwrap();
        let phi = field(lat.n_sites(), &draws, 1);
        let shifted: Vec<f64> = (0..lat.n_sites()).map(|i| phi[lat.shift(i, dx, dy)]).collect();
        prop_assert!((c.action(&phi) - c.action(&shifted)).abs() <= 1e-12 * c.action(&phi).abs().max(1.0));
    }

    #[test]
    fn local_change_equals_difference_of_actions(
        kind in 0usize..4, l in 4usize..7, site in 0usize..1000, new in -3.0f64..3.0,
        draws in proptest::collection::vec(-1.0f64..1.0, 64),
    ) {
        let c = random_couplings(graph_of(kind, l), &draws, true);
        let phi = field(c.n_sites(), &draws, 2);
        let i = site % c.n_sites();
        let mut moved = phi.clone();
        moved[i] = new;
        let direct = c.action(&moved) - c.action(&phi);
        prop_assert!((c.delta_action(&phi, i, new) - direct).abs() < 1e-10 * c.action(&phi).abs().max(1.0));
        let q = c.conditional(&phi, i);
        prop_assert!((q.log_density(new) - q.log_density(phi[i]) + direct).abs() < 1e-10 * c.action(&phi).abs().max(1.0));
    }

    /// ∏_c ψ_c = exp(−S) for φ⁴ couplings on all four lattices, and the local Markov property.
    #[test]
    fn hammersley_clifford_for_phi4(kind in 0usize..4, l in 4usize..7, draws in proptest::collection::vec(-1.0f64..1.0, 64)) {
        let c = random_couplings(graph_of(kind, l), &draws, true);
        let f = CliqueFactorisation::new(c.graph(), &c).unwrap();
        let phi = field(c.n_sites(), &draws, 7);
        prop_assert!(f.product_mismatch(&c, &phi) < 1e-12);
        let other = field(c.n_sites(), &draws, 11);
        prop_assert!(f.blanket_violation(c.graph(), &c, &phi, &other, 1, &[-1.0, 0.4, 1.1]) < 1e-10);
    }
}

proptest! {
    /// Parameters set in place give exactly the couplings `with_params` builds (caches
    /// included), and a refused update leaves the couplings unchanged.
    #[test]
    fn set_params_in_place_equals_a_rebuild(
        kind in 0usize..4, l in 4usize..7, draws in proptest::collection::vec(-1.0f64..1.0, 64),
    ) {
        let mut c = random_couplings(graph_of(kind, l), &draws, true);
        let target = random_couplings(graph_of(kind, l), &draws[7..], true);
        let theta = target.params();
        c.set_params(&theta).unwrap();
        prop_assert_eq!(&c, &c.with_params(&theta).unwrap());
        prop_assert_eq!(&c, &target);
        let before = c.clone();
        let mut bad = theta.clone();
        bad[c.block(ParamBlock::B).start] = -1.0;
        prop_assert!(c.set_params(&bad).is_err());
        bad[c.block(ParamBlock::B).start] = f64::NAN;
        prop_assert!(c.set_params(&bad).is_err());
        prop_assert_eq!(&c, &before);
        let mut other = before.clone();
        other.assign(&random_couplings(graph_of(kind, l), &draws[3..], false)).unwrap();
        prop_assert_eq!(&other, &random_couplings(graph_of(kind, l), &draws[3..], false));
    }
}
