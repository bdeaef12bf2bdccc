//! φ⁴ networks on the real 8×8 digits of `data/`: agreement with the textbook RBM free
//! energy, a pseudo-log-likelihood in the band of scikit-learn's `BernoulliRBM`, AIS against
//! exact enumeration, stacking, and the other unit types.

use datasets::{Dataset, PixelMap};
use mc_sampler::chain_rng;
use phi4_rbm::eval::{self, AisConfig, PllMode};
use phi4_rbm::{Data, Network, NetworkInit, TrainConfig, Trainer, UnitKind};

fn digits(map: PixelMap) -> (Dataset, Data) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits8x8-images-idx3-ubyte.gz");
    let set = Dataset::load_images(path, None).unwrap().mapped(map);
    let data = Data::from_rows(set.values(), set.n_features()).unwrap();
    (set, data)
}

/// The binarised digits: pixel / 16 ≥ 0.5.
fn binary_digits() -> Data {
    digits(PixelMap::unit()).1.binarized(0.5)
}

/// A Bernoulli–Bernoulli network of the 64 digit pixels and `n_hidden` hidden units, its
/// weights drawn by the generator of seed `seed` (stream 0).
fn binary_network(n_hidden: usize, seed: u64) -> Network {
    Network::initial(
        &init(UnitKind::Bernoulli, UnitKind::Bernoulli, 64, n_hidden),
        &mut chain_rng(seed, 0),
    )
    .unwrap()
}

fn init(visible: UnitKind, hidden: UnitKind, nv: usize, nh: usize) -> NetworkInit {
    let coefficients = |k: UnitKind| match k {
        UnitKind::Phi4 => [0.0, -0.5, 0.5],
        UnitKind::Gaussian => [0.0, 0.5, 0.0],
        _ => [0.0; 3],
    };
    NetworkInit {
        visible,
        hidden,
        n_visible: nv,
        n_hidden: nh,
        weight_sd: 0.01,
        visible_coefficients: coefficients(visible),
        hidden_coefficients: coefficients(hidden),
    }
}

/// scikit-learn's `BernoulliRBM` settings: persistent CD-1, no momentum, no decay, the
/// examples in the order of the data.
fn sklearn_config(batch_size: usize, learning_rate: f64, seed: u64) -> TrainConfig {
    TrainConfig {
        batch_size,
        learning_rate,
        cd_k: 1,
        persistent: true,
        momentum: 0.0,
        weight_decay: 0.0,
        train_shape: false,
        seed,
        shuffle: false,
    }
}

fn train(network: Network, config: TrainConfig, data: &Data, epochs: usize) -> Trainer {
    let mut trainer = Trainer::new(network, config).unwrap();
    for _ in 0..epochs {
        trainer.train_epoch(data).unwrap();
    }
    trainer
}

#[test]
fn free_energy_is_the_textbook_rbm_formula() {
    // scikit-learn's `_free_energy`: F(v) = −v·b_v − Σ_j ln(1 + exp(v·W_j + b_h,j)), with
    // b_v = −r and b_h = −s in the sign convention of the action.
    let data = binary_digits();
    let net = binary_network(16, 3);
    let mut net = net;
    let mut theta = net.params();
    let mut rng = chain_rng(4, 0);
    for x in theta.iter_mut().take(64 * 16 + 64) {
        *x += rand::Rng::random_range(&mut rng, -0.5..0.5);
    }
    let s_at = 64 * 16 + 3 * 64;
    for x in &mut theta[s_at..s_at + 16] {
        *x = rand::Rng::random_range(&mut rng, -1.0..1.0);
    }
    net.set_params(&theta).unwrap();
    let (w, r, s) = (net.weights(), net.visible().linear(), net.hidden().linear());
    for k in 0..data.n_samples() {
        let v = data.example(k);
        let mut f: f64 = v.iter().zip(r).map(|(x, ri)| -x * -ri).sum();
        for j in 0..16 {
            let x: f64 = (0..64).map(|i| v[i] * w[(i, j)]).sum::<f64>() - s[j];
            f -= (1.0 + x.exp()).ln();
        }
        assert!((net.free_energy(v) - f).abs() < 1e-10 * f.abs().max(1.0), "example {k}");
    }
}

#[test]
fn pseudo_log_likelihood_is_in_the_band_of_scikit_learn() {
    // scikit-learn 1.9.1, BernoulliRBM(n_components=64, learning_rate=0.05, batch_size=10,
    // n_iter=20) on the same binarised digits, random_state 0, 1, 2: mean PLL over all
    // units −15.58, −15.62, −16.10 (score_samples, one random unit: −16.89, −16.37, −16.53).
    // The band allows for the different data order and generator.
    let data = binary_digits();
    let net = binary_network(64, 0);
    let untrained = eval::pseudo_log_likelihood(&net, &data, PllMode::AllUnits).unwrap();
    let trainer = train(net, sklearn_config(10, 0.05, 0), &data, 20);
    let pll = eval::pseudo_log_likelihood(trainer.network(), &data, PllMode::AllUnits).unwrap();
    let random_unit = eval::pseudo_log_likelihood(trainer.network(), &data, PllMode::RandomUnit { seed: 1 }).unwrap();
    println!("PLL all units {pll:.3}, one random unit {random_unit:.3}, untrained {untrained:.3}");
    assert!(untrained < -40.0, "untrained {untrained}");
    assert!(
        (-17.5..=-14.0).contains(&pll),
        "PLL {pll} outside the scikit-learn band [-17.5, -14]"
    );
    assert!((random_unit - pll).abs() < 2.0, "{random_unit} vs {pll}");
}

#[test]
fn ais_agrees_with_exact_enumeration() {
    // 64 visible × 12 hidden binary units: ln Z exactly by enumerating the 2¹² hidden states.
    let data = binary_digits();
    let net = binary_network(12, 1);
    let trainer = train(net, sklearn_config(10, 0.05, 1), &data, 5);
    let net = trainer.network();
    let exact = eval::exact_log_partition(net).unwrap();
    let ais = eval::ais_log_partition(
        net,
        &AisConfig {
            n_runs: 100,
            n_steps: 2000,
            seed: 7,
        },
    )
    .unwrap();
    println!(
        "ln Z exact {exact:.4}, AIS {:.4} ± {:.4} (ESS {:.1})",
        ais.log_z, ais.err, ais.effective_runs
    );
    assert!((ais.log_z - exact).abs() < 0.5, "AIS {} vs exact {exact}", ais.log_z);
    assert!((ais.log_z - exact).abs() < 5.0 * ais.err + 0.05);
    let ll = eval::log_likelihood(net, &data, exact).unwrap();
    assert!(ll < 0.0 && ll > -64.0 * std::f64::consts::LN_2, "log-likelihood {ll}");
}

#[test]
fn a_stack_learns_and_samples_top_down() {
    let data = binary_digits();
    let mut rng = chain_rng(2, 0);
    let first = Network::initial(&init(UnitKind::Bernoulli, UnitKind::Bernoulli, 64, 16), &mut rng).unwrap();
    let first = train(first, sklearn_config(10, 0.05, 2), &data, 5).network().clone();
    // The hidden layer's draws are the data of the next network (16 binary units: its
    // likelihood is exact).
    let hidden = eval::hidden_data(&first, &data, Some(&mut chain_rng(2, 1))).unwrap();
    assert_eq!(hidden.n_features(), 16);
    let second = Network::initial(&init(UnitKind::Bernoulli, UnitKind::Bernoulli, 16, 8), &mut rng).unwrap();
    let before = eval::log_likelihood(&second, &hidden, eval::exact_log_partition(&second).unwrap()).unwrap();
    let second = train(second, sklearn_config(10, 0.05, 3), &hidden, 10)
        .network()
        .clone();
    let after = eval::log_likelihood(&second, &hidden, eval::exact_log_partition(&second).unwrap()).unwrap();
    assert!(after > before + 1.0, "second layer log-likelihood {before} -> {after}");
    // Top-down: the top network's chains, then the first network's visible means.  Their
    // average image resembles the digits' average image.
    let stack = [first, second];
    let images = phi4_rbm::sample_stack(&stack, 200, 200, 9, true).unwrap();
    assert_eq!(images.len(), 200);
    assert!(
        images
            .iter()
            .all(|image| image.len() == 64 && image.iter().all(|p| (0.0..=1.0).contains(p)))
    );
    let mean_image = |rows: &mut dyn Iterator<Item = Vec<f64>>| {
        let mut sum = vec![0.0; 64];
        let mut n = 0.0;
        for row in rows {
            sum.iter_mut().zip(&row).for_each(|(s, x)| *s += x);
            n += 1.0;
        }
        sum.into_iter().map(|s| s / n).collect::<Vec<f64>>()
    };
    let sampled = mean_image(&mut images.into_iter());
    let digits = mean_image(&mut data.matrix().column_iter().map(|c| c.iter().copied().collect()));
    let r = correlation(&sampled, &digits);
    assert!(
        r > 0.6,
        "top-down mean image against the digits' mean image: correlation {r}"
    );
    // Listed top first, the layers do not fit.
    let [first, second] = stack;
    assert!(phi4_rbm::sample_stack(&[second, first], 2, 1, 9, true).is_err());
}

/// Pearson correlation of two equally long vectors.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn real_unit_networks_learn_the_digits() {
    // φ⁴–Bernoulli and Gaussian–Bernoulli on pixels mapped to [−1, 1]: the reconstruction
    // error falls well below that of the untrained network.
    let (_, data) = digits(PixelMap::symmetric());
    for visible in [UnitKind::Phi4, UnitKind::Gaussian] {
        let net = Network::initial(&init(visible, UnitKind::Bernoulli, 64, 32), &mut chain_rng(5, 0)).unwrap();
        let before = eval::reconstruction_error(&net, &data).unwrap();
        let mut config = sklearn_config(10, 0.01, 5);
        config.momentum = 0.5;
        config.train_shape = true;
        let trainer = train(net, config, &data, 10);
        let after = eval::reconstruction_error(trainer.network(), &data).unwrap();
        println!("{visible:?}: reconstruction error {before:.4} -> {after:.4}");
        assert!(after < 0.6 * before, "{visible:?}: {before} -> {after}");
    }
}

#[test]
fn trained_parameters_are_stable() {
    // Zeros of the digits, 64 × 4 Bernoulli–Bernoulli, two epochs: the parameters rounded to
    // four decimals pin the generator, the data order and the update arithmetic.
    let (set, _) = digits(PixelMap::unit());
    let zeros = set.with_classes(&[0]).unwrap();
    let data = Data::from_rows(zeros.values(), 64).unwrap().binarized(0.5);
    let net = binary_network(4, 8);
    let trainer = train(net, sklearn_config(10, 0.05, 8), &data, 2);
    let net = trainer.network();
    let round = |xs: &[f64]| xs.iter().map(|x| (x * 1e4).round() / 1e4).collect::<Vec<f64>>();
    let snapshot = serde_json::json!({
        "hidden_s": round(net.hidden().linear()),
        "visible_r_first_row": round(&net.visible().linear()[..8]),
        "feature_map_0_first_rows": round(&net.feature_map(0)[..16]),
    });
    insta::assert_json_snapshot!(snapshot);
}
