//! Unit tests: sums and actions against direct evaluation, parsing, validation and
//! log-space robustness.  The physics checks against exact Gaussian answers are in
//! `tests/exact.rs`.

use mrf_graph::Lattice;
use phi4_action::Homogeneous;

use crate::{
    ChainSums, Coupling, Flag, MbarOptions, ReducedPotentials, ReweightEnsemble, ReweightError, ReweightOptions,
    SampledAction, Scan, SufficientStats, Target, Thresholds, k_hat_threshold, pareto_k_hat, reweight, solve_mbar,
    tail_length,
};

/// A deterministic, irregular configuration.
fn config(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| (i as f64 * 0.7 + seed as f64 * 1.3).sin() * 1.7 + 0.1 * (i % 3) as f64)
        .collect()
}

fn point() -> Target {
    Target::new(Homogeneous {
        kappa: 0.9,
        mu2: -0.5,
        lambda: 0.7,
    })
}

/// Sums on a non-square lattice (catches x/y mix-ups) against the pair lists of mrf-graph,
/// and the action from the sums against `Couplings::action` / `ComplexAction::action`.
#[test]
fn sums_and_actions_match_direct_evaluation() {
    let lattice = Lattice::new(5, 4).unwrap();
    let phi = config(20, 1);
    let s = SufficientStats::measure(&lattice, &phi);
    let pair_sum = |pairs: Vec<[u32; 2]>| {
        pairs
            .iter()
            .map(|&[i, j]| phi[i as usize] * phi[j as usize])
            .sum::<f64>()
    };
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    close(s.nn, pair_sum(lattice.nearest_neighbour_pairs()));
    close(s.nnn, pair_sum(lattice.diagonal_pairs()));
    close(s.phi1, phi.iter().sum());
    close(s.phi2, phi.iter().map(|x| x * x).sum());
    close(s.phi4, phi.iter().map(|x| x.powi(4)).sum());
    let t = point().with_g_nnn(0.3).with_linear(0.2).with_imag_mass(0.15);
    let action = t.complex_action(&lattice).unwrap().action(&phi);
    close(t.real_action(&s), action.re);
    close(t.imag_action(&s), action.im);
}

#[test]
fn scans_parse_and_refuse_nonsense() {
    let s: Scan = "g-nnn=0:1:11".parse().unwrap();
    assert_eq!((s.coupling, s.n), (Coupling::GNnn, 11));
    assert_eq!(s.values()[10], 1.0);
    assert_eq!("imag_mass=0.1:0.2:1".parse::<Scan>().unwrap().values(), vec![0.1]);
    for bad in ["foo=0:1:3", "kappa=0:1", "kappa=0:1:0", "mu2=a:1:3", "lambda"] {
        assert!(
            matches!(bad.parse::<Scan>(), Err(ReweightError::BadScan { .. })),
            "{bad}"
        );
    }
    for c in Coupling::ALL {
        assert_eq!(c.name().parse::<Coupling>().unwrap(), c);
        assert_eq!(c.get(&point().with(c, 0.25)), 0.25);
    }
}

fn chain_of(lattice: &Lattice, t: &Target, n: usize, shift: f64) -> ChainSums {
    let stats: Vec<SufficientStats> = (0..n)
        .map(|k| SufficientStats::measure(lattice, &config(lattice.n_sites(), k as u64)))
        .collect();
    ChainSums::new(stats.iter().map(|s| t.real_action(s) + shift).collect(), stats).unwrap()
}

#[test]
fn inconsistent_input_is_refused() {
    let lattice = Lattice::new(4, 4).unwrap();
    let t = point();
    assert!(matches!(
        ChainSums::new(vec![0.0; 3], vec![]),
        Err(ReweightError::ChainLength { .. })
    ));
    // Recorded actions that do not belong to the declared couplings.
    let wrong = chain_of(&lattice, &t.with_g_nnn(0.1), 10, 0.0);
    assert!(matches!(
        ReweightEnsemble::new(lattice, SampledAction::Homogeneous(t), vec![wrong.clone()]),
        Err(ReweightError::ActionMismatch { .. })
    ));
    assert!(matches!(
        ReweightEnsemble::new(
            lattice,
            SampledAction::Homogeneous(t.with_imag_mass(0.1)),
            vec![wrong.clone()]
        ),
        Err(ReweightError::ComplexSampled { .. })
    ));
    assert!(matches!(
        ReweightEnsemble::new(lattice, SampledAction::Recorded, vec![]),
        Err(ReweightError::Empty)
    ));
    // λ < 0 is not a valid target.
    let ok = ReweightEnsemble::new(lattice, SampledAction::Recorded, vec![wrong]).unwrap();
    let negative = Target::new(Homogeneous {
        kappa: 1.0,
        mu2: 1.0,
        lambda: -0.1,
    });
    assert!(matches!(
        reweight(&ok, &negative, &ReweightOptions::recommended()),
        Err(ReweightError::Target { .. })
    ));
}

/// Recorded actions shifted by 5000 make every weight `e^{5000}` larger: in log space nothing
/// overflows, the expectations are unchanged and only `ln Z_T/Z_S` moves by 5000.
#[test]
fn weights_are_formed_in_log_space() {
    let lattice = Lattice::new(4, 4).unwrap();
    let s = point();
    let target = s.with_g_nnn(0.05).with_imag_mass(0.1);
    let opts = ReweightOptions::recommended();
    let plain =
        ReweightEnsemble::new(lattice, SampledAction::Recorded, vec![chain_of(&lattice, &s, 200, 0.0)]).unwrap();
    let shifted = ReweightEnsemble::new(
        lattice,
        SampledAction::Recorded,
        vec![chain_of(&lattice, &s, 200, 5000.0)],
    )
    .unwrap();
    let (a, b) = (
        reweight(&plain, &target, &opts).unwrap(),
        reweight(&shifted, &target, &opts).unwrap(),
    );
    let (ao, bo) = (a.observables.unwrap(), b.observables.unwrap());
    for ((name, x), (_, y)) in ao.named().iter().zip(bo.named()) {
        assert!(
            x.re.is_finite() && (x.re - y.re).abs() <= 1e-9 * (1.0 + x.re.abs()),
            "{name}: {x:?} vs {y:?}"
        );
        assert!(
            (x.im - y.im).abs() <= 1e-9 * (1.0 + x.im.abs()),
            "{name}: {x:?} vs {y:?}"
        );
    }
    assert!((b.ln_z_ratio.mean - a.ln_z_ratio.mean - 5000.0).abs() < 1e-9);
    assert!((a.overlap.ess - b.overlap.ess).abs() < 1e-9 * a.overlap.ess);
}

/// Adding a constant `c_k` to the reduced potential of state k shifts `f_k` by `c_k`: the
/// solver works in log space even when the states differ by thousands.
#[test]
fn mbar_free_energies_shift_with_constant_potentials() {
    let n = 300;
    let xs: Vec<f64> = (0..3 * n)
        .map(|i| (i as f64 * 0.37).sin() * 2.0 + (i / n) as f64 * 0.3)
        .collect();
    let centres = [0.0, 0.3, 0.6];
    let u_kn = |shift: [f64; 3]| -> Vec<Vec<f64>> {
        centres
            .iter()
            .zip(shift)
            .map(|(c, s)| xs.iter().map(|x| 0.5 * (x - c) * (x - c) + s).collect())
            .collect()
    };
    let opts = MbarOptions::recommended();
    let base = solve_mbar(
        &ReducedPotentials::new(&u_kn([0.0; 3]), vec![n; 3]).unwrap(),
        &opts,
        None,
    )
    .unwrap();
    let shift = [0.0, 4000.0, -2500.0];
    let moved = solve_mbar(&ReducedPotentials::new(&u_kn(shift), vec![n; 3]).unwrap(), &opts, None).unwrap();
    for (k, shift) in shift.iter().enumerate() {
        let moved_by = moved.f[k] - base.f[k];
        assert!(
            (moved_by - shift).abs() < 1e-8,
            "f_{k} moved by {moved_by}, not {shift}"
        );
    }
    assert!(ReducedPotentials::new(&u_kn([0.0; 3]), vec![n, n, 0]).is_err());
}

/// A recorded-action ensemble whose log-weights towards `target` are `log_weights`.
fn with_log_weights(target: &Target, log_weights: &[f64]) -> ReweightEnsemble {
    let lattice = Lattice::new(4, 4).unwrap();
    let stats: Vec<SufficientStats> = (0..log_weights.len())
        .map(|k| SufficientStats::measure(&lattice, &config(16, k as u64)))
        .collect();
    // −(T − S) = S − T = log-weight.
    let actions = stats
        .iter()
        .zip(log_weights)
        .map(|(s, lw)| target.real_action(s) + lw)
        .collect();
    ReweightEnsemble::new(
        lattice,
        SampledAction::Recorded,
        vec![ChainSums::new(actions, stats).unwrap()],
    )
    .unwrap()
}

/// Each weight rule flags on its own, with its own reason: bounded weights that a few
/// configurations dominate fail only the ESS fraction (4.9 % of 4000 carry the weight, the
/// largest 190 weights are uniform: k̂ < 0), and only the ESS with fewer samples.
#[test]
fn each_weight_rule_flags_on_its_own() {
    let t = point();
    let opts = ReweightOptions::recommended();
    let weights = |n: usize, heavy: usize| -> Vec<f64> {
        (0..n)
            .map(|k| {
                let jitter = 0.1 * ((k * 7919) % 1000) as f64 / 1000.0;
                if k % (n / heavy) == 0 && k / (n / heavy) < heavy {
                    20.0 + jitter
                } else {
                    jitter
                }
            })
            .collect()
    };
    let r = reweight(&with_log_weights(&t, &weights(4000, 196)), &t, &opts).unwrap();
    assert!(r.overlap.k_hat < 0.5 && r.overlap.ess > 50.0, "{:?}", r.overlap.k_hat);
    assert_eq!(r.flags.iter().map(Flag::code).collect::<Vec<_>>(), ["ess-fraction"]);
    assert!(r.reason.unwrap().contains("effective sample fraction 0.04"));
    let r = reweight(&with_log_weights(&t, &weights(200, 45)), &t, &opts).unwrap();
    assert!(
        r.overlap.k_hat < 0.5 && r.overlap.ess_fraction > 0.05,
        "{:?}",
        r.overlap
    );
    assert_eq!(r.flags.iter().map(Flag::code).collect::<Vec<_>>(), ["few-effective"]);
    assert!(r.reason.unwrap().contains("effective sample size 4"));
}

/// The Pareto k̂ recovers the shape of exact Pareto weights `w = u^{−k}` (quantiles
/// `u = (i + ½)/N`, so no randomness), is negative for bounded weights and NaN without a tail.
#[test]
fn pareto_k_hat_recovers_known_tails() {
    let n = 20_000;
    for k in [0.2, 0.5, 0.7, 1.0] {
        let lw: Vec<f64> = (0..n).map(|i| -k * ((i as f64 + 0.5) / n as f64).ln()).collect();
        let k_hat = pareto_k_hat(&lw);
        assert!((k_hat - k).abs() < 0.05, "k = {k}: k̂ = {k_hat}");
    }
    // Uniform weights on (0, 1): a bounded tail, k = −1 (pulled towards 0.5 by the prior).
    let uniform: Vec<f64> = (0..n).map(|i| ((i as f64 + 0.5) / n as f64).ln()).collect();
    assert!(pareto_k_hat(&uniform) < -0.5);
    assert!(pareto_k_hat(&[0.0; 100]).is_nan());
    assert!(pareto_k_hat(&[1.0, 2.0, 3.0]).is_nan());
    assert_eq!((tail_length(100), tail_length(4000)), (20, 190));
    assert!((k_hat_threshold(100) - 0.5).abs() < 1e-12 && k_hat_threshold(100_000) == 0.7);
}

/// The phase threshold is Šidák's: a family of n points at α has per-point 1 − (1 − α)^{1/n};
/// Hotelling's p-value tends to e^{−T²/2} with many bins.
#[test]
fn phase_threshold_accounts_for_the_scan_length() {
    let t = Thresholds::RECOMMENDED;
    assert!((t.phase_alpha_per_point(1) - 1e-3).abs() < 1e-15);
    let per = t.phase_alpha_per_point(500);
    assert!(((1.0 - per).powi(500) - (1.0 - 1e-3)).abs() < 1e-12);
    let p = crate::flags::hotelling_p_value([3.0, 4.0], [[1.0, 0.0], [0.0, 1.0]], 1_000_000);
    assert!((p - (-12.5_f64).exp()).abs() < 1e-8, "{p}");
    // Few bins: heavier tails than χ²₂.
    assert!(crate::flags::hotelling_p_value([3.0, 4.0], [[1.0, 0.0], [0.0, 1.0]], 20) > 10.0 * p);
}
