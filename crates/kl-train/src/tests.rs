use mc_sampler::exact::ExactGaussian;
use mc_sampler::{Algorithm, PersistentChains, chain_rng};
use mrf_graph::Lattice;
use phi4_action::gaussian::GaussianMrf;
use phi4_action::{Couplings, Homogeneous, PairSet, ParamBlock, targets};

use super::*;
use crate::estimate::{ChainSums, reduce};

fn lattice(l: usize) -> Lattice {
    Lattice::new(l, l).unwrap()
}

/// A homogeneous Gaussian target (λ = 0) with a diagonal coupling.
fn gaussian_target(l: usize) -> Couplings {
    targets::homogeneous(
        &lattice(l),
        Homogeneous {
            kappa: 0.4,
            mu2: 0.8,
            lambda: 0.0,
        },
        0.1,
        0.0,
    )
    .unwrap()
}

/// An inhomogeneous Gaussian model near the target, nearest-neighbour pairs only.
fn gaussian_model(l: usize) -> Couplings {
    let v = l * l;
    let w = (0..2 * v)
        .map(|k| 0.45 + 0.1 * ((k * 7 % 5) as f64 / 4.0 - 0.5))
        .collect();
    let a = (0..v).map(|i| 1.25 + 0.15 * ((i * 3 % 4) as f64 / 3.0 - 0.5)).collect();
    let r = (0..v).map(|i| 0.05 * ((i % 3) as f64 - 1.0)).collect();
    Couplings::on_lattice(&lattice(l), PairSet::NearestNeighbour, w, a, vec![0.0; v], r).unwrap()
}

#[track_caller]
fn check_within(name: &str, got: Estimate, exact: f64, n_sigma: f64) {
    assert!(got.err.is_finite() && got.err > 0.0, "{name}: error {}", got.err);
    assert!(
        (got.mean - exact).abs() < n_sigma * got.err,
        "{name}: {} ± {} vs exact {exact} ({:.1}σ)",
        got.mean,
        got.err,
        (got.mean - exact).abs() / got.err
    );
}

#[test]
fn gauss_legendre_integrates_polynomials_of_degree_2n_minus_1() {
    for n in 1..=12 {
        let rule = gauss_legendre(n);
        assert_eq!(rule.len(), n);
        for degree in 0..2 * n {
            let integral: f64 = rule.iter().map(|(t, w)| w * t.powi(degree as i32)).sum();
            let exact = 1.0 / (degree as f64 + 1.0);
            assert!(
                (integral - exact).abs() < 1e-13,
                "n = {n}, degree {degree}: {integral} vs {exact}"
            );
        }
    }
}

/// `∂𝓕/∂θ` from exact Gaussian draws against the derivative of the exact KL between the
/// two Gaussians (`𝓕 = F_A + KL(p‖q)`), by central differences, for a pair, a site's `a`
/// and a site's `r`.
#[test]
fn gradient_matches_derivative_of_exact_gaussian_kl() {
    let (target, model) = (gaussian_target(4), gaussian_model(4));
    let q = GaussianMrf::from_couplings(&target).unwrap();
    let draws = ExactGaussian::new(&GaussianMrf::from_couplings(&model).unwrap());
    let n_params = model.n_params();
    let (n_batches, per_batch) = (40, 2000);
    let mut rng = chain_rng(11, 0);
    let mut batches = Vec::new();
    for _ in 0..n_batches {
        let mut sums = vec![ChainSums::new(n_params)];
        let mut g = vec![0.0; n_params];
        for _ in 0..per_batch {
            let phi = draws.sample(&mut rng);
            model.grad_action(&phi, &mut g);
            sums[0].add(target.action(&phi) - model.action(&phi), &g);
        }
        let mut grad = vec![0.0; n_params];
        reduce(&sums, 0.0, &mut grad);
        batches.push(grad);
    }
    let kl = |theta: &[f64]| {
        GaussianMrf::from_couplings(&model.with_params(theta).unwrap())
            .unwrap()
            .kl(&q)
    };
    let theta = model.params();
    for k in [
        0,
        5,
        model.block(ParamBlock::A).start + 3,
        model.block(ParamBlock::R).start + 2,
    ] {
        let h = 1e-5;
        let (mut up, mut down) = (theta.clone(), theta.clone());
        up[k] += h;
        down[k] -= h;
        let exact = (kl(&up) - kl(&down)) / (2.0 * h);
        let values: Vec<f64> = batches.iter().map(|g| g[k]).collect();
        let mean = values.iter().sum::<f64>() / n_batches as f64;
        let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n_batches - 1) as f64;
        let got = Estimate {
            mean,
            err: (var / n_batches as f64).sqrt(),
        };
        check_within(&format!("∂𝓕/∂θ_{k}"), got, exact, 4.0);
    }
}

/// On a Gaussian target and a Gaussian model, `F_A`, `𝓕` and the gap against the exact
/// `−ln Z_A`, `−ln Z_A + KL(p‖q)` and `KL(p‖q)` (model sampled by heat-bath chains).
#[test]
fn bound_on_gaussian_actions_matches_exact_values() {
    let (target, model) = (gaussian_target(4), gaussian_model(4));
    let q = GaussianMrf::from_couplings(&target).unwrap();
    let kl = GaussianMrf::from_couplings(&model).unwrap().kl(&q);
    let f_target = -q.ln_z();
    let mut chains = PersistentChains::new(&model, Algorithm::HeatBath, 5, 16).unwrap();
    chains.thermalise(100);
    let options = IntegrationOptions {
        n_measure: 2000,
        ..IntegrationOptions::recommended(3)
    };
    let b = bound(&chains, &target, &options).unwrap();
    assert!(b.f_model.exact);
    assert!(kl > 0.05, "the test needs a visible gap, KL = {kl}");
    check_within("gap", b.gap, kl, 4.0);
    check_within("F_A", b.f_target, f_target, 4.0);
    check_within("𝓕", b.bound, f_target + kl, 4.0);
}

/// `⟨S⟩` of a Gaussian action under the Gaussian density `mrf`, exactly: every term is a
/// second moment `⟨φ_iφ_j⟩ = C_ij + μ_iμ_j` or a mean.
fn exact_mean_action(action: &Couplings, mrf: &GaussianMrf) -> f64 {
    let (c, mu) = (mrf.covariance(), mrf.mean());
    let second = |i: usize, j: usize| c[(i, j)] + mu[i] * mu[j];
    let pairs: f64 = action
        .pairs()
        .iter()
        .zip(action.w())
        .map(|(&[i, j], w)| -w * second(i as usize, j as usize))
        .sum();
    let sites: f64 = (0..action.n_sites())
        .map(|i| action.a()[i] * second(i, i) + action.r()[i] * mu[i])
        .sum();
    pairs + sites
}

/// `A − S` sampled under the model and, by its own chains, under the target: both means
/// against their exact Gaussian values, which bracket `F_A − F_S`; the histograms are
/// probabilities and the overlap coefficient lies in `[0, 1]`.
#[test]
fn action_difference_under_model_and_target_matches_exact_gaussian_means() {
    let (target, model) = (gaussian_target(4), gaussian_model(4));
    let (p, q) = (
        GaussianMrf::from_couplings(&model).unwrap(),
        GaussianMrf::from_couplings(&target).unwrap(),
    );
    let exact_p = exact_mean_action(&target, &p) - exact_mean_action(&model, &p);
    let exact_q = exact_mean_action(&target, &q) - exact_mean_action(&model, &q);
    let delta_f = -q.ln_z() + p.ln_z();
    assert!(
        exact_q < delta_f && delta_f < exact_p,
        "{exact_q} < {delta_f} < {exact_p}"
    );
    let options = OverlapOptions {
        n_measure: 1000,
        ..OverlapOptions::recommended(9)
    };
    let o = overlap(&model, &target, &options).unwrap();
    check_within("⟨A − S⟩_p", o.model.mean_diff, exact_p, 4.0);
    check_within("⟨A − S⟩_q", o.mean_under_target, exact_q, 4.0);
    check_within("KL(p‖q)", o.model.kl, p.kl(&q), 4.0);
    let h = &o.histograms;
    assert_eq!(h.edges.len(), options.n_bins + 1);
    for probabilities in [&h.under_model, &h.under_target] {
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert!(
        o.overlap_coefficient > 0.0 && o.overlap_coefficient < 1.0,
        "{}",
        o.overlap_coefficient
    );
    assert!(o.model.ess > 1.0 && o.model.ess < o.model.n_samples as f64);
    // A model compared with itself overlaps completely.
    let same = overlap(&model, &model, &options).unwrap();
    assert!(
        (same.overlap_coefficient - 1.0).abs() < 1e-9,
        "{}",
        same.overlap_coefficient
    );
    let bad = OverlapOptions {
        n_measure: 1,
        ..options
    };
    assert!(matches!(
        overlap(&model, &target, &bad),
        Err(TrainError::InvalidConfig(_))
    ));
}

/// Thermodynamic integration from either reference reproduces the exact free energy of a
/// Gaussian action whose quadratic form is far from the reference's.
#[test]
fn thermodynamic_integration_matches_exact_gaussian_free_energy() {
    let model = gaussian_model(4);
    let exact = gaussian_free_energy(&model).unwrap();
    let reference = gaussian_reference(&model).unwrap();
    assert!(reference.a().iter().zip(model.a()).any(|(r, a)| r > a));
    for reference in [Reference::IndependentSites, Reference::Gaussian] {
        let options = IntegrationOptions {
            reference,
            ..IntegrationOptions::recommended(9)
        };
        let f = thermodynamic_integration(&model, &options).unwrap();
        assert!(!f.exact && f.quadrature_err < f.stat_err.max(1e-3) * 10.0);
        check_within(&format!("F_S from {reference:?}"), f.value, exact, 4.0);
    }
}

/// One-site free energies against closed forms: the Gaussian `√(π/a) e^{r²/4a}` and the pure
/// quartic `Γ(1/4)/(2 b^{1/4})`.
#[test]
fn site_free_energy_matches_closed_forms() {
    let pi = std::f64::consts::PI;
    for (a, r) in [(0.5, 0.0), (2.0, 0.3), (40.0, -1.0)] {
        let exact = -((pi / a).sqrt().ln() + r * r / (4.0 * a));
        assert!((site_free_energy(a, 0.0, r) - exact).abs() < 1e-10, "a = {a}, r = {r}");
    }
    let gamma_quarter = 3.625_609_908_221_908_f64;
    for b in [0.01_f64, 0.175, 30.0] {
        let exact = -(gamma_quarter / (2.0 * b.powf(0.25))).ln();
        assert!((site_free_energy(0.0, b, 0.0) - exact).abs() < 1e-10, "b = {b}");
    }
    // A deep double well: the two wells add.
    let (a, b) = (-6.0, 0.1);
    let f = site_free_energy(a, b, 0.0);
    let depth = a * a / (4.0 * b);
    let harmonic = -(2.0 * (pi / (-2.0 * a)).sqrt()).ln() - depth;
    assert!((f - harmonic).abs() < 0.01, "{f} vs {harmonic}");
}

#[test]
fn training_is_bit_identical_on_any_number_of_threads() {
    let target = targets::a(&lattice(4)).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut trainer = VariationalTrainer::new(&target, TrainConfig::recommended(3)).unwrap();
            (0..30).for_each(|_| {
                trainer.step().unwrap();
            });
            trainer.params().to_vec()
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
}

#[test]
fn a_restored_trainer_continues_bit_identically() {
    let target = targets::a(&lattice(4)).unwrap();
    let config = TrainConfig::recommended(5);
    let mut straight = VariationalTrainer::new(&target, config).unwrap();
    let mut first = VariationalTrainer::new(&target, config).unwrap();
    (0..20).for_each(|_| {
        straight.step().unwrap();
    });
    (0..10).for_each(|_| {
        first.step().unwrap();
    });
    let bytes = mc_sampler::checkpoint::to_bytes(CHECKPOINT_KIND, &first.state());
    let state: TrainerState = mc_sampler::checkpoint::from_bytes(CHECKPOINT_KIND, &bytes).unwrap();
    let mut resumed = VariationalTrainer::from_state(&target, config, state).unwrap();
    (0..10).for_each(|_| {
        resumed.step().unwrap();
    });
    assert_eq!(straight.params(), resumed.params());
    assert_eq!(straight.history(), resumed.history());
    // Everything but the chains' wall-clock counters.
    let (a, b) = (straight.state(), resumed.state());
    assert_eq!((&a.optimizer, a.shift), (&b.optimizer, b.shift));
    for (x, y) in a.chains.iter().zip(&b.chains) {
        assert_eq!((&x.field, &x.rng, x.stats.sweeps), (&y.field, &y.rng, y.stats.sweeps));
    }
}

#[test]
fn a_state_of_another_run_is_refused() {
    let target = targets::a(&lattice(4)).unwrap();
    let trainer = VariationalTrainer::new(&target, TrainConfig::recommended(5)).unwrap();
    let other_seed = TrainConfig::recommended(6);
    let err = VariationalTrainer::from_state(&target, other_seed, trainer.state()).unwrap_err();
    assert!(matches!(err, TrainError::DifferentRun(_)), "{err}");
    let other_target = targets::a4(&lattice(4), 1.0).unwrap();
    let err = VariationalTrainer::from_state(&other_target, TrainConfig::recommended(5), trainer.state()).unwrap_err();
    assert!(err.to_string().contains("target"), "{err}");
}

#[test]
fn runaway_couplings_stop_training_with_advice() {
    let target = targets::a(&lattice(4)).unwrap();
    let config = TrainConfig {
        optimizer: Optimizer::Sgd,
        schedule: Schedule {
            initial: 1e3,
            half_life: f64::INFINITY,
        },
        ..TrainConfig::recommended(1)
    };
    let mut trainer = VariationalTrainer::new(&target, config).unwrap();
    let err = (0..50)
        .find_map(|_| trainer.step().err())
        .expect("SGD at rate 1000 must diverge");
    let message = err.to_string();
    assert!(
        matches!(err, TrainError::Diverged { .. }) && message.contains("lower the learning rate"),
        "{message}"
    );
    // The refused step left the last good parameters in place.
    assert!(
        trainer
            .params()
            .iter()
            .all(|x| x.is_finite() && x.abs() <= MAX_COUPLING)
    );
}

#[test]
fn bad_settings_are_refused() {
    let target = targets::a(&lattice(4)).unwrap();
    for config in [
        TrainConfig {
            n_chains: 0,
            ..TrainConfig::recommended(1)
        },
        TrainConfig {
            schedule: Schedule {
                initial: -0.1,
                half_life: 10.0,
            },
            ..TrainConfig::recommended(1)
        },
        TrainConfig {
            init_b: 0.0,
            ..TrainConfig::recommended(1)
        },
    ] {
        let err = VariationalTrainer::new(&target, config).unwrap_err();
        assert!(matches!(err, TrainError::InvalidConfig(_)), "{err}");
    }
}

/// The talk's problem on 6×6 with the recommended settings: every coupling within 10 % of
/// `w = 1, a = 1.52425, b = 0.175` and the averages within 2 %; the bound then sits above
/// the reweighted `F_A` by a gap consistent with zero.
#[test]
fn training_against_a_converges_to_its_couplings() {
    let target = targets::a(&lattice(6)).unwrap();
    let mut trainer = VariationalTrainer::new(&target, TrainConfig::recommended(2)).unwrap();
    (0..600).for_each(|_| {
        trainer.step().unwrap();
    });
    let c = trainer.couplings();
    let (w, a, b) = targets::WAB_A;
    for (name, values, exact) in [("w", c.w(), w), ("a", c.a(), a), ("b", c.b(), b)] {
        let spread = Spread::of(values);
        assert!(
            ((spread.mean - exact) / exact).abs() < 0.02,
            "{name}: mean {} vs {exact}",
            spread.mean
        );
        for (k, x) in values.iter().enumerate() {
            assert!(((x - exact) / exact).abs() < 0.1, "{name}[{k}] = {x} vs {exact}");
        }
    }
    assert!(c.r().iter().all(|r| *r == 0.0));
    let history = trainer.history();
    assert!(history.last().unwrap().mean_diff.abs() < history[0].mean_diff.abs() / 10.0);
}

/// Shares chains among threads that stand for processes: each posts its records on a board,
/// waits for the others and reads every record in chain order.
struct ThreadShare {
    rank: usize,
    local: std::ops::Range<usize>,
    board: std::sync::Arc<(std::sync::Mutex<Vec<Vec<f64>>>, std::sync::Barrier)>,
}

impl ChainShare for ThreadShare {
    fn local(&self) -> std::ops::Range<usize> {
        self.local.clone()
    }

    fn all_chains(&mut self, mine: &[f64]) -> Vec<f64> {
        let (slots, barrier) = &*self.board;
        slots.lock().unwrap()[self.rank] = mine.to_vec();
        barrier.wait();
        let all = slots.lock().unwrap().concat();
        barrier.wait();
        all
    }
}

/// Runs `n_steps` steps of `n_ranks` trainers made by `make`, each sweeping its consecutive
/// share of `n_chains` chains (on its own thread), then installs every rank's chain states
/// in rank 0's trainer; returns rank 0's parameters and chain states, and checks that every
/// rank has the same parameters.
fn shared_run<T: Trainer + Send>(
    n_ranks: usize,
    n_chains: usize,
    make: impl Fn() -> T + Sync,
    n_steps: usize,
) -> (Vec<f64>, Vec<mc_sampler::checkpoint::ChainState>) {
    let board = std::sync::Arc::new((
        std::sync::Mutex::new(vec![Vec::new(); n_ranks]),
        std::sync::Barrier::new(n_ranks),
    ));
    let ranges: Vec<_> = (0..n_ranks)
        .map(|r| {
            let (base, extra) = (n_chains / n_ranks, n_chains % n_ranks);
            let start = r * base + r.min(extra);
            start..start + base + usize::from(r < extra)
        })
        .collect();
    let mut trainers: Vec<T> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .iter()
            .enumerate()
            .map(|(rank, local)| {
                let mut share = ThreadShare {
                    rank,
                    local: local.clone(),
                    board: board.clone(),
                };
                let make = &make;
                scope.spawn(move || {
                    let mut trainer = make();
                    for _ in 0..n_steps {
                        trainer.step_shared(&mut share).unwrap();
                    }
                    trainer
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = trainers[0].params().to_vec();
    assert!(trainers.iter().all(|t| t.params() == first), "ranks disagree");
    for (rank, local) in ranges.iter().enumerate().skip(1) {
        let moved = trainers[rank].chains().states()[local.clone()].to_vec();
        trainers[0].set_chain_states(local.start, moved).unwrap();
    }
    (first, trainers[0].chains().states())
}

/// `n_steps` steps of the trainers `make` makes, with their `n_chains` chains shared among
/// 1, 2 and 3 processes, give the parameters and chain states of one process (`what` names
/// the trainer in the messages).
fn assert_shared_runs_match_one_process<T: Trainer + Send>(
    what: &str,
    n_chains: usize,
    make: impl Fn() -> T + Sync,
    n_steps: usize,
) {
    let mut alone = make();
    (0..n_steps).for_each(|_| {
        alone.step().unwrap();
    });
    for n_ranks in 1..=3 {
        let (params, states) = shared_run(n_ranks, n_chains, &make, n_steps);
        assert_eq!(params, alone.params(), "{what}, {n_ranks} ranks");
        assert!(
            same_chains(&states, &alone.chains().states()),
            "{what}, {n_ranks} ranks: chains"
        );
    }
}

fn same_chains(a: &[mc_sampler::checkpoint::ChainState], b: &[mc_sampler::checkpoint::ChainState]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (&x.field, &x.rng, x.stats.sweeps) == (&y.field, &y.rng, y.stats.sweeps))
}

/// Chains shared among 1, 2 and 3 processes (7 chains: shares of unequal length) give the
/// parameters and chain states of one process, for both trainers.
#[test]
fn shared_chains_train_bit_identically() {
    let target = targets::a(&lattice(4)).unwrap();
    let config = TrainConfig {
        n_chains: 7,
        n_therm: 20,
        ..TrainConfig::recommended(4)
    };
    assert_shared_runs_match_one_process(
        "variational",
        7,
        || VariationalTrainer::new(&target, config).unwrap(),
        8,
    );

    let lattice = lattice(4);
    let data: Vec<f64> = (0..64 * 16)
        .map(|k| if (k / 16 + k % 16) % 2 == 0 { 0.5 } else { 1.5 })
        .collect();
    let config = DataConfig {
        batch: 16,
        n_chains: 5,
        ..DataConfig::recommended(2)
    };
    assert_shared_runs_match_one_process("data", 5, || DataTrainer::new(&lattice, &data, config).unwrap(), 6);
}
