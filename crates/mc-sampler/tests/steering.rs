//! Persistent chains under changing couplings, measurement hooks, the model interface and
//! checkpoints, through the public API.

use mc_sampler::stats::gamma_method;
use mc_sampler::{
    Algorithm, Chain, Model, ModelSampler, PersistentChains, RunConfig, SamplerError, Series, chain_rng, checkpoint,
    run_chains, run_chains_with,
};
use mrf_graph::Lattice;
use phi4_action::gaussian::{FreeField, GaussianMrf};
use phi4_action::{Couplings, Homogeneous, PairSet, ParamBlock};

fn free(lattice: &Lattice, kappa: f64, mu2: f64) -> Couplings {
    Couplings::homogeneous(
        lattice,
        Homogeneous {
            kappa,
            mu2,
            lambda: 0.0,
        },
    )
    .unwrap()
}

/// Inhomogeneous lattice couplings with a linear term: `w` varies by pair, `a`, `r` by site.
fn inhomogeneous(lattice: &Lattice, b: f64, shift: f64) -> Couplings {
    let v = lattice.n_sites();
    let w = (0..2 * v)
        .map(|k| 0.3 + 0.1 * ((k * 7 % 5) as f64) / 4.0 + shift)
        .collect();
    let a = (0..v).map(|i| 1.2 + 0.2 * ((i * 3 % 7) as f64) / 6.0).collect();
    let r = (0..v).map(|i| 0.1 * ((i % 3) as f64 - 1.0)).collect();
    Couplings::on_lattice(lattice, PairSet::NearestNeighbour, w, a, vec![b; v], r).unwrap()
}

/// Asserts `|estimate − exact| < 4σ` with σ from the Γ-method over the chains.
#[track_caller]
fn check_mean(what: &str, series: &[Vec<f64>], exact: f64) {
    let replicas: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
    let est = gamma_method(&replicas);
    let pull = (est.mean - exact) / est.err;
    eprintln!("{what}: pull {pull:.2} err {:.2e} tau {:.1}", est.err, est.tau_int);
    assert!(
        pull.abs() < 4.0,
        "{what}: {} ± {} (τ_int {}) against exact {exact}: {pull:.1}σ",
        est.mean,
        est.err,
        est.tau_int
    );
}

/// Two chains (seeds `seed`, `seed + 1`) of each of `algorithms` along `path`, then
/// [`check_mean`] of their `φ²` series at the end point against `exact`.
#[track_caller]
fn check_path_end(algorithms: &[Algorithm], path: &[Couplings], n_measure: usize, seed: u64, exact: f64) {
    for &algorithm in algorithms {
        let series: Vec<Vec<f64>> = (0..2)
            .map(|s| along_path(algorithm, path, n_measure, seed + s))
            .collect();
        check_mean(algorithm.name(), &series, exact);
    }
}

/// Runs a chain along a path of couplings (changed before every sweep), then samples the
/// end point and returns the per-sweep `φ²` series.
fn along_path(algorithm: Algorithm, path: &[Couplings], n_measure: usize, seed: u64) -> Vec<f64> {
    let mut chain = Chain::new(&path[0], algorithm, chain_rng(seed, 0)).unwrap();
    chain.thermalise(50);
    for c in path {
        chain.set_couplings(c).unwrap();
        chain.sweep();
    }
    (0..n_measure)
        .map(|_| {
            chain.sweep();
            chain.measure().phi2
        })
        .collect()
}

#[test]
fn changing_couplings_every_sweep_samples_the_end_point_exactly() {
    // A homogeneous path (μ² from 3 to 0.5 at κ = 0.5 on 16², the vectorised lattice
    // kernels), then the exact free-field ⟨φ²⟩ at the end point.
    let lattice = Lattice::new(16, 16).unwrap();
    let path: Vec<Couplings> = (0..=100)
        .map(|k| free(&lattice, 0.5, 3.0 - 2.5 * k as f64 / 100.0))
        .collect();
    let exact = FreeField::from_couplings(path.last().unwrap()).unwrap().phi2().re;
    let algorithms = [
        Algorithm::Metropolis,
        Algorithm::HeatBath,
        Algorithm::Hybrid,
        Algorithm::SwendsenWang,
    ];
    check_path_end(&algorithms, &path, 1500, 11, exact);
}

#[test]
fn changing_inhomogeneous_couplings_samples_the_exact_gaussian_mrf() {
    // Homogeneous start, inhomogeneous path with linear terms (general kernels), exact
    // Gaussian MRF at the end point (⟨φ_0²⟩ and the mean of Σφ²/V).
    let lattice = Lattice::new(6, 6).unwrap();
    let mut path = vec![free(&lattice, 0.3, 1.0)];
    path.extend((0..40).map(|k| inhomogeneous(&lattice, 0.0, 0.05 * (1.0 - k as f64 / 39.0))));
    let end = GaussianMrf::from_couplings(path.last().unwrap()).unwrap();
    let (cov, mean) = (end.covariance(), end.mean());
    let v = lattice.n_sites();
    let exact_phi2 = (0..v).map(|i| cov[(i, i)] + mean[i] * mean[i]).sum::<f64>() / v as f64;
    let algorithms = [
        Algorithm::Metropolis,
        Algorithm::HeatBath,
        Algorithm::Cluster,
        Algorithm::Hybrid,
    ];
    check_path_end(&algorithms, &path, 4000, 21, exact_phi2);
}

/// The same bits from a chain whose couplings changed in place as from a chain rebuilt for
/// the new couplings with the old field, generator and steps.
#[track_caller]
fn check_in_place_equals_rebuilt(algorithm: Algorithm, before: &Couplings, after: &Couplings) {
    let mut chain = Chain::new(before, algorithm, chain_rng(5, 3)).unwrap();
    chain.thermalise(20);
    (0..5).for_each(|_| chain.sweep());
    let mut rebuilt = Chain::from_state(after, chain.state()).unwrap();
    chain.set_couplings(after).unwrap();
    for _ in 0..10 {
        chain.sweep();
        rebuilt.sweep();
    }
    assert_eq!(chain.field(), rebuilt.field(), "{}", algorithm.name());
    assert_eq!(chain.rng(), rebuilt.rng(), "{}", algorithm.name());
}

#[test]
fn couplings_changed_in_place_give_the_bits_of_a_rebuilt_chain() {
    let lattice = Lattice::new(16, 8).unwrap();
    let point = |kappa, mu2, lambda| Couplings::homogeneous(&lattice, Homogeneous { kappa, mu2, lambda }).unwrap();
    let (a, b) = (point(1.0, -0.9515, 0.7), point(0.9, -0.5, 0.5));
    let c = inhomogeneous(&lattice, 0.2, 0.0);
    for algorithm in Algorithm::ALL {
        check_in_place_equals_rebuilt(algorithm, &a, &b);
        check_in_place_equals_rebuilt(algorithm, &a, &c);
        check_in_place_equals_rebuilt(algorithm, &c, &a);
    }
}

#[test]
fn set_params_validates_and_leaves_the_chain_unchanged_on_error() {
    let lattice = Lattice::new(4, 4).unwrap();
    let a = free(&lattice, 1.0, 1.0);
    let mut chain = Chain::new(&a, Algorithm::HeatBath, chain_rng(1, 0)).unwrap();
    let mut theta = a.params();
    theta[a.block(ParamBlock::B).start] = -0.1;
    let err = chain.set_params(&theta).unwrap_err();
    assert!(err.to_string().contains("b[0] = -0.1"), "{err}");
    // b = 0 with a quadratic form that is not positive definite: refused, chain unchanged.
    let mut theta = a.params();
    theta[a.block(ParamBlock::A)].iter_mut().for_each(|x| *x = 0.5);
    let err = chain.set_params(&theta).unwrap_err();
    assert!(err.to_string().contains("not positive definite"), "{err}");
    assert_eq!(chain.couplings(), &a);
    // A different graph is refused.
    let other = free(&Lattice::new(6, 4).unwrap(), 1.0, 1.0);
    assert!(chain.set_couplings(&other).is_err());
    assert!(chain.set_params(&[1.0; 3]).is_err());
}

#[test]
fn measurement_hook_sees_every_measured_configuration_in_chain_order() {
    let lattice = Lattice::new(8, 8).unwrap();
    let a = phi4_action::targets::a(&lattice).unwrap();
    let config = RunConfig {
        algorithm: Algorithm::Hybrid,
        n_chains: 3,
        n_therm: 20,
        n_sweeps: 30,
        measure_every: 3,
        seed: 9,
        save_configs: true,
        two_point: false,
        progress_every: 0,
    };
    let hook = |_| Series::new(|c: &Couplings, phi: &[f64]| (c.action(phi), phi.to_vec()));
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| run_chains_with(&a, &config, hook, |_| {}).unwrap())
    };
    let (out, series) = run(1);
    let (out2, series2) = run(2);
    assert_eq!(series.len(), 3);
    for (chain, s) in out.chains.iter().zip(&series) {
        assert_eq!(s.values.len(), 10);
        let configs = chain.configs.as_ref().unwrap();
        for (k, (action, phi)) in s.values.iter().enumerate() {
            assert_eq!(phi.as_slice(), &configs[k * 64..(k + 1) * 64]);
            assert_eq!(*action, chain.observables[k].action_density * 64.0);
        }
    }
    for (s, t) in series.iter().zip(&series2) {
        assert_eq!(s.values, t.values);
    }
    assert_eq!(out.chains[2].last_field, out2.chains[2].last_field);
    // The runner without a hook gives the same chains.
    let plain = run_chains(&a, &config, |_| {}).unwrap();
    assert_eq!(plain.chains[1].observables, out.chains[1].observables);
}

/// A toy [`ModelSampler`]: independent Gaussian units `E(x) = Σ ½ x_i² / σ_i² − μ_i x_i / σ_i²`
/// (parameters `θ = [1/σ² | μ/σ²]`), sampled exactly by fresh draws.
struct ToyGaussian {
    theta: Vec<f64>,
    draws: Vec<Vec<f64>>,
    rng: mc_sampler::SimRng,
}

impl Model for ToyGaussian {
    fn n_units(&self) -> usize {
        self.theta.len() / 2
    }
    fn n_params(&self) -> usize {
        self.theta.len()
    }
    fn params(&self) -> Vec<f64> {
        self.theta.clone()
    }
    fn energy(&self, x: &[f64]) -> f64 {
        let n = x.len();
        x.iter()
            .enumerate()
            .map(|(i, &x)| 0.5 * self.theta[i] * x * x - self.theta[n + i] * x)
            .sum()
    }
    fn grad_energy(&self, x: &[f64], out: &mut [f64]) {
        let n = x.len();
        for (i, &x) in x.iter().enumerate() {
            out[i] = 0.5 * x * x;
            out[n + i] = -x;
        }
    }
}

impl ModelSampler for ToyGaussian {
    type Model = ToyGaussian;
    fn model(&self) -> &ToyGaussian {
        self
    }
    fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError> {
        self.theta.copy_from_slice(theta);
        Ok(())
    }
    fn sweep(&mut self, _: u64) {
        use rand_distr::{Distribution, StandardNormal};
        let n = self.n_units();
        for d in &mut self.draws {
            for (i, x) in d.iter_mut().enumerate() {
                let z: f64 = StandardNormal.sample(&mut self.rng);
                let var = 1.0 / self.theta[i];
                *x = self.theta[n + i] * var + var.sqrt() * z;
            }
        }
    }
    fn measure<M: Send>(&mut self, f: impl Fn(&ToyGaussian, &[f64]) -> M + Sync) -> Vec<M> {
        self.draws.iter().map(|d| f(self, d)).collect()
    }
}

/// The model average of `∂E/∂θ`, written once against the interface.
fn model_average<S: ModelSampler>(sampler: &mut S, n_sweeps: u64) -> Vec<f64> {
    let p = sampler.model().n_params();
    let mut sum = vec![0.0; p];
    let mut count = 0.0;
    for _ in 0..n_sweeps {
        sampler.sweep(1);
        for g in sampler.measure(|m, x| {
            let mut g = vec![0.0; m.n_params()];
            m.grad_energy(x, &mut g);
            g
        }) {
            sum.iter_mut().zip(&g).for_each(|(s, g)| *s += g);
            count += 1.0;
        }
    }
    sum.iter().map(|s| s / count).collect()
}

#[test]
fn trainers_can_be_written_once_against_the_model_interface() {
    // Toy: ⟨½x²⟩ = ½(σ² + μ²), ⟨−x⟩ = −μ for σ² = 1/2, μ = 0.5 (θ = [2, 1]).
    let mut toy = ToyGaussian {
        theta: vec![2.0, 1.0],
        draws: vec![vec![0.0]; 4],
        rng: chain_rng(3, 0),
    };
    let g = model_average(&mut toy, 5000);
    assert!((g[0] - 0.375).abs() < 0.01 && (g[1] + 0.5).abs() < 0.01, "{g:?}");
    // φ⁴ couplings through the same function: ⟨φ_i²⟩ of a free field on 8².
    let lattice = Lattice::new(8, 8).unwrap();
    let c = free(&lattice, 0.5, 1.0);
    let mut chains = PersistentChains::new(&c, Algorithm::HeatBath, 4, 4).unwrap();
    chains.thermalise(50);
    let g = model_average(&mut chains, 500);
    let a_block = &g[c.block(ParamBlock::A)];
    let mean_phi2 = a_block.iter().sum::<f64>() / a_block.len() as f64;
    let exact = FreeField::from_couplings(&c).unwrap().phi2().re;
    assert!((mean_phi2 - exact).abs() < 0.02 * exact, "{mean_phi2} vs {exact}");
    assert_eq!(Model::energy(&c, &vec![0.5; 64]), c.action(&vec![0.5; 64]));
}

#[test]
fn persistent_chains_are_bit_identical_on_one_and_two_threads() {
    let lattice = Lattice::new(8, 8).unwrap();
    let a = phi4_action::targets::a(&lattice).unwrap();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut chains = PersistentChains::new(&a, Algorithm::Hybrid, 2, 3).unwrap();
            chains.thermalise(10);
            let mut theta = a.params();
            for step in 0..5 {
                theta.iter_mut().for_each(|t| *t *= 1.0 + 0.001 * step as f64);
                chains.set_params(&theta).unwrap();
                chains.sweep(2);
            }
            chains.measure_with(|c, phi| c.action(phi))
        })
    };
    assert_eq!(run(1), run(2));
}

/// Sweeps of the uninterrupted reference and the two halves of the interrupted run.
const HALF: u64 = 40;

fn checkpoint_chains(lattice: &Lattice) -> (Couplings, PersistentChains) {
    let a = phi4_action::targets::a(lattice).unwrap();
    let mut chains = PersistentChains::new(&a, Algorithm::Hybrid, 17, 2).unwrap();
    chains.thermalise(10);
    (a, chains)
}

#[test]
fn a_checkpoint_resumed_in_a_new_process_continues_bit_identically() {
    let lattice = Lattice::new(16, 16).unwrap();
    let (_, mut reference) = checkpoint_chains(&lattice);
    reference.sweep(2 * HALF);
    let expected = reference.states();

    let dir = std::env::temp_dir().join(format!("qftml-checkpoint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, mut first) = checkpoint_chains(&lattice);
    first.sweep(HALF);
    checkpoint::save(dir.join("chains.ckpt"), "chains", &first.states()).unwrap();
    drop(first);
    // The second half runs in a new process: this test binary, running only the child test.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "checkpoint_child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("QFTML_CHECKPOINT_DIR", &dir)
        .status()
        .unwrap();
    assert!(status.success());
    let resumed: Vec<mc_sampler::checkpoint::ChainState> =
        checkpoint::load(dir.join("resumed.ckpt"), "chains").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(resumed.len(), expected.len());
    for (r, e) in resumed.iter().zip(&expected) {
        assert_eq!(r.field, e.field);
        assert_eq!(r.rng, e.rng);
        assert_eq!((r.step, r.global_steps), (e.step, e.global_steps));
        assert_eq!(r.stats.sweeps, e.stats.sweeps);
    }
}

/// The second half of [`a_checkpoint_resumed_in_a_new_process_continues_bit_identically`];
/// it runs only in the child process that test starts, and returns at once otherwise.
#[test]
fn checkpoint_child_process() {
    let Some(dir) = std::env::var_os("QFTML_CHECKPOINT_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let lattice = Lattice::new(16, 16).unwrap();
    let a = phi4_action::targets::a(&lattice).unwrap();
    let states = checkpoint::load(dir.join("chains.ckpt"), "chains").unwrap();
    let mut chains = PersistentChains::from_states(&a, states).unwrap();
    chains.sweep(HALF);
    checkpoint::save(dir.join("resumed.ckpt"), "chains", &chains.states()).unwrap();
}

#[test]
fn corrupted_checkpoints_are_refused_with_a_reason() {
    let lattice = Lattice::new(4, 4).unwrap();
    let (_, chains) = checkpoint_chains(&lattice);
    let bytes = checkpoint::to_bytes("chains", &chains.states());
    let decode = |b: &[u8]| checkpoint::from_bytes::<Vec<mc_sampler::checkpoint::ChainState>>("chains", b);
    assert_eq!(decode(&bytes).unwrap(), chains.states());
    let check = |b: &[u8], fragment: &str| {
        let err = decode(b).unwrap_err().to_string();
        assert!(err.contains(fragment), "{err} should mention {fragment}");
    };
    check(&bytes[..bytes.len() - 1], "truncated");
    check(&bytes[..10], "shorter");
    let mut flipped = bytes.clone();
    flipped[40] ^= 0x10;
    check(&flipped, "checksum");
    let mut magic = bytes.clone();
    magic[0] = b'X';
    check(&magic, "magic");
    let mut version = bytes.clone();
    version[8] = 9;
    check(&version, "version 9");
    let err = checkpoint::from_bytes::<Vec<mc_sampler::checkpoint::ChainState>>("trainer", &bytes).unwrap_err();
    assert!(err.to_string().contains("not of \"trainer\""), "{err}");
    // A state that does not fit the couplings is refused.
    let mut states = chains.states();
    states[0].field.pop();
    let a = phi4_action::targets::a(&lattice).unwrap();
    assert!(PersistentChains::from_states(&a, states).is_err());
}

#[test]
fn clamped_sites_give_the_exact_conditional_distribution() {
    // Free field on 6²: clamp a column and two sites; the free sites are then Gaussian with
    // precision M_FF and mean −M_FF⁻¹ M_FC x_C.
    let lattice = Lattice::new(6, 6).unwrap();
    let c = free(&lattice, 0.4, 0.5);
    let v = lattice.n_sites();
    let clamped: Vec<usize> = (0..6).map(|y| 6 * y + 2).chain([13, 35]).collect();
    let mut field = vec![0.0; v];
    for (k, &i) in clamped.iter().enumerate() {
        field[i] = 1.5 - 0.4 * k as f64;
    }
    let precision = GaussianMrf::from_couplings(&c).unwrap().precision().clone();
    let free_sites: Vec<usize> = (0..v).filter(|i| !clamped.contains(i)).collect();
    let m_ff = precision.select_rows(&free_sites).select_columns(&free_sites);
    let m_fc = precision.select_rows(&free_sites).select_columns(&clamped);
    let x_c = nalgebra::DVector::from_iterator(clamped.len(), clamped.iter().map(|&i| field[i]));
    let cov = m_ff.clone().try_inverse().unwrap();
    let mean = -(&cov * (m_fc * x_c));
    let probe = free_sites.iter().position(|&i| i == 15).unwrap();
    let exact_mean = mean[probe];
    let exact_sq = cov[(probe, probe)] + exact_mean * exact_mean;

    let series: Vec<(Vec<f64>, Vec<f64>)> = (0..2)
        .map(|s| {
            let mut chain = Chain::new(&c, Algorithm::HeatBath, chain_rng(31, s)).unwrap();
            chain.set_field(&field).unwrap();
            chain.set_clamped(&clamped).unwrap();
            assert_eq!(chain.clamped(), {
                let mut sorted = clamped.clone();
                sorted.sort();
                sorted
            });
            chain.thermalise(50);
            let draws: Vec<f64> = (0..6000)
                .map(|_| {
                    chain.sweep();
                    chain.measure_with(|_, phi| phi[15])
                })
                .collect();
            let after = chain.field();
            assert!(clamped.iter().all(|&i| after[i] == field[i]), "a clamped site moved");
            (draws.clone(), draws.iter().map(|x| x * x).collect())
        })
        .collect();
    let means: Vec<Vec<f64>> = series.iter().map(|s| s.0.clone()).collect();
    let squares: Vec<Vec<f64>> = series.iter().map(|s| s.1.clone()).collect();
    check_mean("conditional mean", &means, exact_mean);
    check_mean("conditional second moment", &squares, exact_sq);

    // Schedules that move clamped sites are refused; out-of-range sites too.
    let mut hybrid = Chain::new(&c, Algorithm::Hybrid, chain_rng(1, 0)).unwrap();
    assert!(hybrid.set_clamped(&[3]).unwrap_err().to_string().contains("heatbath"));
    let mut hb = Chain::new(&c, Algorithm::HeatBath, chain_rng(1, 0)).unwrap();
    assert!(hb.set_clamped(&[36]).unwrap_err().to_string().contains("36 sites"));
}
