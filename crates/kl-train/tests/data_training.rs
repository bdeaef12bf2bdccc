//! Learning couplings from data against exact answers: exact free-field samples with known
//! couplings, and the 8×8 digits of one class.

use std::path::PathBuf;
use std::time::Instant;

use datasets::{Dataset, PixelMap};
use kl_train::{Agreement, DataConfig, DataTrainer, FieldMoments, Schedule};
use mc_sampler::chain_rng;
use mc_sampler::checkpoint;
use mc_sampler::exact::ExactGaussian;
use mrf_graph::Lattice;
use phi4_action::gaussian::GaussianMrf;
use phi4_action::{Couplings, Homogeneous, PairSet};

/// The free field of the Gaussian data.
const FREE: Homogeneous = Homogeneous {
    kappa: 0.2,
    mu2: 0.5,
    lambda: 0.0,
};

/// `n` exact samples of the free field with hopping κ, mass μ² and mean `mean` on `lattice`
/// (`r = −μ² · mean`, since the rows of `M` sum to μ²), with the generating couplings.
fn free_field_data(lattice: &Lattice, free: Homogeneous, mean: f64, n: usize, seed: u64) -> (Vec<f64>, Couplings) {
    let v = lattice.n_sites();
    let n_pairs = PairSet::NearestNeighbour.pairs(lattice).len();
    let truth = Couplings::on_lattice(
        lattice,
        PairSet::NearestNeighbour,
        vec![free.w(); n_pairs],
        vec![free.a(); v],
        vec![0.0; v],
        vec![-free.mu2 * mean; v],
    )
    .unwrap();
    let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&truth).unwrap());
    let mut rng = chain_rng(seed, 0);
    let data = (0..n).flat_map(|_| sampler.sample(&mut rng)).collect();
    (data, truth)
}

/// `A⁻¹` of a symmetric positive definite matrix (Gauss–Jordan without pivoting, which is
/// stable for such matrices).
fn inverse_spd(mut a: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for p in 0..n {
        let pivot = a[p][p];
        assert!(pivot > 0.0, "the Fisher information is not positive definite");
        for j in 0..n {
            a[p][j] /= pivot;
            inv[p][j] /= pivot;
        }
        for i in (0..n).filter(|&i| i != p) {
            let f = a[i][p];
            for j in 0..n {
                a[i][j] -= f * a[p][j];
                inv[i][j] -= f * inv[p][j];
            }
        }
    }
    inv
}

/// The standard error of the maximum-likelihood estimate of each coupling in `trained` from
/// `n` samples: `√((I⁻¹)_kk / n)` with the Fisher information `I = Cov(∂S/∂θ)` estimated on
/// the data.
fn mle_errors(model: &Couplings, data: &[f64], trained: &[usize]) -> Vec<f64> {
    let v = model.n_sites();
    let n = data.len() / v;
    let mut g = vec![0.0; model.n_params()];
    let stats: Vec<Vec<f64>> = data
        .chunks_exact(v)
        .map(|phi| {
            model.grad_action(phi, &mut g);
            trained.iter().map(|&k| g[k]).collect()
        })
        .collect();
    let m = trained.len();
    let mean: Vec<f64> = (0..m)
        .map(|k| stats.iter().map(|s| s[k]).sum::<f64>() / n as f64)
        .collect();
    let cov: Vec<Vec<f64>> = (0..m)
        .map(|k| {
            (0..m)
                .map(|l| stats.iter().map(|s| (s[k] - mean[k]) * (s[l] - mean[l])).sum::<f64>() / n as f64)
                .collect()
        })
        .collect();
    let inv = inverse_spd(cov);
    (0..m).map(|k| (inv[k][k] / n as f64).sqrt()).collect()
}

/// Trains `config` on `data` for `n_steps` steps and asserts that every coupling but `b`,
/// averaged over the last `window` steps, agrees with `truth` within 5 standard errors of the
/// maximum-likelihood estimate (inverse Fisher information over the sample size) combined
/// with the spread of the iterates over the averaging window.  Returns the averaged
/// couplings and the largest deviation in standard errors.
#[track_caller]
fn assert_recovered(
    lattice: &Lattice,
    truth: &Couplings,
    data: &[f64],
    config: DataConfig,
    (n_steps, window): (usize, usize),
) -> (Vec<f64>, f64, f64) {
    let mut trainer = DataTrainer::new(lattice, data, config).unwrap();
    let n_params = truth.n_params();
    let (mut sum, mut sum2) = (vec![0.0; n_params], vec![0.0; n_params]);
    for t in 0..n_steps {
        trainer.step().unwrap();
        if t >= n_steps - window {
            for (k, x) in trainer.params().iter().enumerate() {
                sum[k] += x;
                sum2[k] += x * x;
            }
        }
    }
    let b = truth.block(phi4_action::ParamBlock::B);
    let trained: Vec<usize> = (0..n_params).filter(|k| !b.contains(k)).collect();
    let errors = mle_errors(truth, data, &trained);
    let blocks = [
        ("w", phi4_action::ParamBlock::W),
        ("a", phi4_action::ParamBlock::A),
        ("r", phi4_action::ParamBlock::R),
    ];
    let mut worst = 0.0_f64;
    for (&k, se) in trained.iter().zip(&errors) {
        let mean = sum[k] / window as f64;
        let spread = (sum2[k] / window as f64 - mean * mean).max(0.0).sqrt();
        let sigma = (se * se + spread * spread).sqrt();
        let z = (mean - truth.params()[k]) / sigma;
        worst = worst.max(z.abs());
        let name = blocks
            .iter()
            .find(|(_, block)| truth.block(*block).contains(&k))
            .map_or("?", |(name, _)| name);
        assert!(
            z.abs() < 5.0,
            "{name} #{k}: learned {mean:.4} vs true {:.4} ({z:.2} σ, σ = {sigma:.4})",
            truth.params()[k]
        );
    }
    assert!(trainer.couplings().b().iter().all(|b| *b == 0.0));
    let averaged = sum.iter().map(|s| s / window as f64).collect();
    (averaged, worst, errors[0])
}

/// A Gaussian model (b = 0 held, plain maximum likelihood) with mini-batches of 200 and
/// `η₀ = 0.01` halved after 300 steps.
fn gaussian_config(seed: u64) -> DataConfig {
    DataConfig {
        quartic: false,
        smoothing: 0.0,
        batch: 200,
        schedule: Schedule {
            initial: 0.01,
            half_life: 300.0,
        },
        ..DataConfig::recommended(seed)
    }
}

/// Gaussian data of a 4×4 free field (κ = 0.2, μ² = 0.5, mean 0.5, 20 000 exact samples)
/// and a Gaussian model (b = 0 held): the learned w, a, r agree with the generating
/// couplings ([`assert_recovered`], 2000 steps, the last 500 averaged).
#[test]
fn gaussian_data_recover_the_generating_couplings() {
    let start = Instant::now();
    let lattice = Lattice::new(4, 4).unwrap();
    let free = FREE;
    let (data, truth) = free_field_data(&lattice, free, 0.5, 20_000, 11);
    let config = gaussian_config(5);
    let (learned, worst, sigma_w) = assert_recovered(&lattice, &truth, &data, config, (2000, 500));
    let block_mean = |block| {
        let r = truth.block(block);
        learned[r.clone()].iter().sum::<f64>() / r.len() as f64
    };
    println!(
        "gaussian: learned w {:.4} (true {}), a {:.4} (true {}), r {:.4} (true {}); worst {worst:.2} σ; typical σ(w) \
         {sigma_w:.4}; {:.1} s",
        block_mean(phi4_action::ParamBlock::W),
        free.w(),
        block_mean(phi4_action::ParamBlock::A),
        free.a(),
        block_mean(phi4_action::ParamBlock::R),
        -free.mu2 * 0.5,
        start.elapsed().as_secs_f64()
    );
}

/// A model with the diagonal next-nearest pairs as well, on exact samples of a 4×4 free field
/// that has them (κ = 0.2, g′ = 0.05, μ² = 0.5, mean 0.5): the nearest-neighbour couplings,
/// the diagonal ones, a and r all agree with the generating couplings ([`assert_recovered`]).
#[test]
fn diagonal_pairs_are_learned_from_data_that_have_them() {
    let lattice = Lattice::new(4, 4).unwrap();
    let (v, g_nnn, mean) = (lattice.n_sites(), 0.05, 0.5);
    let n_nn = PairSet::NearestNeighbour.pairs(&lattice).len();
    let mut w = vec![FREE.w(); n_nn];
    w.extend(vec![g_nnn; PairSet::Diagonal.pairs(&lattice).len()]);
    // The rows of M sum to μ² − 4g′, so r = −(μ² − 4g′)·mean gives the mean `mean`.
    let r = -(FREE.mu2 - 4.0 * g_nnn) * mean;
    let truth = Couplings::on_lattice(&lattice, PairSet::Both, w, vec![FREE.a(); v], vec![0.0; v], vec![r; v]).unwrap();
    let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&truth).unwrap());
    let mut rng = chain_rng(12, 0);
    let data: Vec<f64> = (0..20_000).flat_map(|_| sampler.sample(&mut rng)).collect();
    let config = DataConfig {
        model_pairs: PairSet::Both,
        ..gaussian_config(6)
    };
    let (learned, worst, _) = assert_recovered(&lattice, &truth, &data, config, (2000, 500));
    let diagonal = &learned[n_nn..2 * n_nn];
    println!(
        "diagonal pairs: learned g′ {:.4} (true {g_nnn}), worst {worst:.2} σ",
        diagonal.iter().sum::<f64>() / diagonal.len() as f64
    );
}

/// A quartic model (b = e^β > 0) on Gaussian data: b falls towards 0 and the moments match.
#[test]
fn quartic_model_on_gaussian_data_drives_b_down() {
    let lattice = Lattice::new(4, 4).unwrap();
    let free = FREE;
    let (data, _) = free_field_data(&lattice, free, 0.5, 20_000, 12);
    let config = DataConfig {
        batch: 200,
        init_b: 0.05,
        smoothing: 0.0,
        ..DataConfig::recommended(6)
    };
    let mut trainer = DataTrainer::new(&lattice, &data, config).unwrap();
    for _ in 0..1500 {
        trainer.step().unwrap();
    }
    let b_max = trainer.couplings().b().iter().copied().fold(0.0, f64::max);
    println!("quartic on gaussian data: largest b {b_max:.2e} (started at 0.05)");
    assert!(
        b_max < 0.01,
        "b should fall towards 0 on Gaussian data, largest is {b_max}"
    );
}

/// A run interrupted by a checkpoint (serialised and restored) ends bit-identical to an
/// uninterrupted one, and the thread count does not change the bits.
#[test]
fn resume_and_threads_give_the_same_bits() {
    let lattice = Lattice::new(4, 4).unwrap();
    let free = Homogeneous {
        kappa: 0.1,
        mu2: 1.0,
        lambda: 0.0,
    };
    let (data, _) = free_field_data(&lattice, free, -0.3, 500, 3);
    let config = DataConfig {
        batch: 64,
        n_chains: 8,
        ..DataConfig::recommended(9)
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let mut trainer = DataTrainer::new(&lattice, &data, config).unwrap();
                for _ in 0..20 {
                    trainer.step().unwrap();
                }
                trainer
            })
    };
    let straight = run(2);
    let single = run(1);
    same_run(&straight, &single);
    let mut first = DataTrainer::new(&lattice, &data, config).unwrap();
    for _ in 0..9 {
        first.step().unwrap();
    }
    let bytes = checkpoint::to_bytes(kl_train::DATA_CHECKPOINT_KIND, &first.state());
    drop(first);
    let state = checkpoint::from_bytes(kl_train::DATA_CHECKPOINT_KIND, &bytes).unwrap();
    let mut resumed = DataTrainer::from_state(&lattice, &data, config, state).unwrap();
    for _ in 9..20 {
        resumed.step().unwrap();
    }
    same_run(&resumed, &straight);
    let other = DataConfig { seed: 10, ..config };
    let state = straight.state();
    assert!(DataTrainer::from_state(&lattice, &data, other, state).is_err());
}

/// Everything but the chains' wall-clock counters is the same, bit for bit.
fn same_run(x: &DataTrainer, y: &DataTrainer) {
    let bits = |t: &DataTrainer| t.params().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(x), bits(y));
    assert_eq!(x.history(), y.history());
    let (a, b) = (x.state(), y.state());
    assert_eq!((&a.optimizer, a.step), (&b.optimizer, b.step));
    for (p, q) in a.chains.iter().zip(&b.chains) {
        assert!(p.field == q.field && p.rng == q.rng && p.stats.sweeps == q.stats.sweeps);
    }
}

fn digits() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/digits8x8-images-idx3-ubyte.gz")
}

/// The 8×8 digits of class 3 mapped to [0, 1]: equilibrium samples of the trained quartic
/// MRF reproduce the data's per-site means, variances and nearest-neighbour covariances.
/// Maximum likelihood matches exactly these sufficient statistics, so what remains is the
/// optimiser's noise and the Monte Carlo error of the model samples (32 chains × 300
/// measurements, two sweeps apart: below 0.01 in a mean) and the data's own error (about
/// 180 images: ≈ 0.03 in a mean): the bounds are 0.08 on each mean and 0.05 on each
/// variance and covariance, and correlations ≥ 0.95.
#[test]
fn digits_class_moments_are_reproduced() {
    let start = Instant::now();
    let set = Dataset::load_images(digits(), None)
        .unwrap()
        .with_classes(&[3])
        .unwrap()
        .mapped(PixelMap::unit());
    let lattice = Lattice::new(8, 8).unwrap();
    let config = DataConfig {
        batch: 60,
        ..DataConfig::recommended(21)
    };
    let mut trainer = DataTrainer::new(&lattice, set.values(), config).unwrap();
    for _ in 0..2000 {
        trainer.step().unwrap();
    }
    let data: FieldMoments = trainer.data_moments();
    let model = trainer.model_moments(200, 300, 2);
    let mean = Agreement::of(&model.mean, &data.mean);
    let variance = Agreement::of(&model.variance, &data.variance);
    let pair = Agreement::of(&model.pair_cov, &data.pair_cov);
    println!(
        "digits class 3 ({} images): mean {mean:?}, variance {variance:?}, nn covariance {pair:?}; {:.1} s",
        set.n_samples(),
        start.elapsed().as_secs_f64()
    );
    assert!(mean.correlation >= 0.95 && mean.max_abs_diff < 0.08, "{mean:?}");
    assert!(
        variance.correlation >= 0.95 && variance.max_abs_diff < 0.05,
        "{variance:?}"
    );
    assert!(pair.correlation >= 0.9 && pair.max_abs_diff < 0.05, "{pair:?}");
}
