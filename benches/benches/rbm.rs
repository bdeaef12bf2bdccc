//! Cost of training φ⁴ networks: one epoch of persistent CD-1 over `N_EXAMPLES` examples in
//! mini-batches of 10, per example.
//!
//! `Throughput::Elements(N_EXAMPLES)`, so `1000 / Kelem/s` is microseconds per example (one
//! tenth of a mini-batch update: positive phase, one block Gibbs step of 10 chains,
//! gradient and update).  The data are fixed random binary images of 784 pixels (density
//! 0.13, about that of binarised MNIST) or their ±1 map for φ⁴ visible units, built outside
//! the timed closure.
//!
//! - `rbm_epoch/bernoulli_bernoulli`: 784 × 256, learning rate 0.05 (the scikit-learn
//!   comparison of `scripts/compare_sklearn.py`, whose full epoch has 10,000 examples);
//! - `rbm_epoch/phi4_bernoulli`: the same sizes with φ⁴ visible units (`x⁴/2 − x²`), so the
//!   cost of the quartic draws of a mini-batch shows;
//!
//! Run: `cargo bench -p qftml-benches --bench rbm`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mc_sampler::chain_rng;
use phi4_rbm::{Data, Network, NetworkInit, TrainConfig, Trainer, UnitKind};
use rand::Rng;

const N_VISIBLE: usize = 784;
const N_HIDDEN: usize = 256;
const N_EXAMPLES: usize = 200;

fn data(kind: UnitKind) -> Data {
    let mut rng = chain_rng(5, 0);
    let (lo, hi) = if kind == UnitKind::Bernoulli {
        (0.0, 1.0)
    } else {
        (-1.0, 1.0)
    };
    let values: Vec<f64> = (0..N_EXAMPLES * N_VISIBLE)
        .map(|_| if rng.random::<f64>() < 0.13 { hi } else { lo })
        .collect();
    Data::from_rows(&values, N_VISIBLE).unwrap()
}

fn coefficients(kind: UnitKind) -> [f64; 3] {
    match kind {
        UnitKind::Phi4 => [0.0, -1.0, 0.5],
        _ => [0.0; 3],
    }
}

fn trainer(visible: UnitKind, hidden: UnitKind) -> Trainer {
    let init = NetworkInit {
        visible,
        hidden,
        n_visible: N_VISIBLE,
        n_hidden: N_HIDDEN,
        weight_sd: 0.01,
        visible_coefficients: coefficients(visible),
        hidden_coefficients: coefficients(hidden),
    };
    let network = Network::initial(&init, &mut chain_rng(1, 1)).unwrap();
    let config = TrainConfig {
        batch_size: 10,
        learning_rate: 0.05,
        cd_k: 1,
        persistent: true,
        momentum: 0.0,
        weight_decay: 0.0,
        train_shape: false,
        seed: 1,
        shuffle: true,
    };
    Trainer::new(network, config).unwrap()
}

fn rbm_epoch(c: &mut Criterion) {
    let mut g = c.benchmark_group("rbm_epoch");
    g.throughput(Throughput::Elements(N_EXAMPLES as u64));
    g.sample_size(10);
    for (name, visible, hidden) in [
        ("bernoulli_bernoulli", UnitKind::Bernoulli, UnitKind::Bernoulli),
        ("phi4_bernoulli", UnitKind::Phi4, UnitKind::Bernoulli),
    ] {
        let data = data(visible);
        let mut run = trainer(visible, hidden);
        g.bench_with_input(BenchmarkId::from_parameter(name), &name, |b, _| {
            b.iter(|| run.train_epoch(&data).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, rbm_epoch);
criterion_main!(benches);
