//! Unit tests against exact answers: quadrature, enumeration, closed Gaussian forms.

use mc_sampler::{Model, chain_rng};
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::Rng;

use crate::eval::{PllMode, exact_log_partition, pseudo_log_likelihood};
use crate::quadrature::quartic_integral;
use crate::units::{Layer, UnitKind};
use crate::{Data, GibbsChains, Network, TrainConfig, Trainer};

/// `ln ∫ exp(−a x² − b x⁴ + h x)` and its moments by a plain Riemann sum on a fine grid
/// over `[−lim, lim]`.
fn brute_quartic(a: f64, b: f64, h: f64, lim: f64) -> [f64; 4] {
    let n = 400_000;
    let dx = 2.0 * lim / n as f64;
    let g = |x: f64| -a * x * x - b * x.powi(4) + h * x;
    let g_max = (0..=n)
        .map(|k| g(-lim + k as f64 * dx))
        .fold(f64::NEG_INFINITY, f64::max);
    let mut s = [0.0; 4];
    for k in 0..=n {
        let x = -lim + k as f64 * dx;
        let e = (g(x) - g_max).exp();
        s[0] += e;
        s[1] += e * x;
        s[2] += e * x * x;
        s[3] += e * x.powi(4);
    }
    [g_max + (s[0] * dx).ln(), s[1] / s[0], s[2] / s[0], s[3] / s[0]]
}

#[track_caller]
fn check_quadrature(a: f64, b: f64, h: f64, lim: f64) {
    let q = quartic_integral(a, b, h);
    let [log_z, m1, m2, m4] = brute_quartic(a, b, h, lim);
    let scale = m2.sqrt();
    assert!(
        (q.log_z - log_z).abs() < 1e-10 * log_z.abs().max(1.0),
        "ln Z {} vs {log_z} at ({a}, {b}, {h})",
        q.log_z
    );
    assert!(
        (q.mean - m1).abs() < 1e-9 * scale,
        "E x {} vs {m1} at ({a}, {b}, {h})",
        q.mean
    );
    assert!((q.second - m2).abs() < 1e-9 * m2, "E x² {} vs {m2}", q.second);
    assert!((q.fourth - m4).abs() < 1e-9 * m4, "E x⁴ {} vs {m4}", q.fourth);
}

#[test]
fn quartic_integral_matches_brute_force() {
    check_quadrature(0.5, 0.0, 0.3, 30.0);
    check_quadrature(1.0, 0.5, 0.0, 8.0);
    check_quadrature(1.52425, 0.175, 2.0, 10.0);
    check_quadrature(-1.0, 0.25, 0.0, 8.0); // symmetric double well
    check_quadrature(-1.0, 0.25, 0.3, 8.0); // tilted double well
    check_quadrature(-4.0, 0.5, -0.7, 8.0); // deep wells
    check_quadrature(0.0, 1.0, 0.0, 6.0); // pure quartic
    check_quadrature(0.01, 0.001, 0.2, 40.0); // wide, nearly flat
    check_quadrature(-20.0, 10.0, 0.1, 4.0); // near the Ising limit
    check_quadrature(1.0, 0.2, -15.0, 12.0); // strong field
}

#[test]
fn spin_units_are_the_ising_limit_of_phi4_units() {
    // b → ∞ with a = −2b: ln Z(t) − ln Z(0) → ln cosh t.
    for t in [0.0, 0.3, -1.2, 2.5] {
        let b = 1e4;
        let phi4 = Layer::phi4("visible", vec![0.0], vec![-2.0 * b], vec![b]).unwrap();
        let spin = Layer::spin("visible", vec![0.0]).unwrap();
        let limit = phi4.log_z(0, t) - phi4.log_z(0, 0.0);
        let exact = spin.log_z(0, t) - spin.log_z(0, 0.0);
        assert!((limit - exact).abs() < 1e-3, "t = {t}: {limit} vs {exact}");
        assert!((exact - t.cosh().ln()).abs() < 1e-12);
        assert!((phi4.mean(0, t) - t.tanh()).abs() < 1e-3);
    }
}

/// Draws of one unit against its exact moments (5 standard errors).
#[track_caller]
fn check_unit_draws(layer: &Layer, t: f64, seed: u64) {
    let m = layer.moments(0, t);
    let n = 100_000;
    let mut rng = chain_rng(seed, 0);
    let (mut s1, mut s2) = (0.0, 0.0);
    for _ in 0..n {
        let x = layer.sample(0, t, &mut rng);
        assert!(layer.admits(x));
        s1 += x;
        s2 += x * x;
    }
    let (e1, e2) = (s1 / n as f64, s2 / n as f64);
    let sd1 = ((m.second - m.mean * m.mean) / n as f64).sqrt();
    let sd2 = ((m.fourth - m.second * m.second) / n as f64).sqrt();
    assert!(
        (e1 - m.mean).abs() < 5.0 * sd1 + 1e-12,
        "{:?} t={t}: E x {e1} vs {}",
        layer.kind(),
        m.mean
    );
    assert!(
        (e2 - m.second).abs() < 5.0 * sd2 + 1e-12,
        "{:?} t={t}: E x² {e2} vs {}",
        layer.kind(),
        m.second
    );
}

#[test]
fn every_conditional_draw_matches_its_exact_moments() {
    let phi4 = Layer::phi4("hidden", vec![0.3], vec![-1.0], vec![0.25]).unwrap();
    let gauss = Layer::gaussian("hidden", vec![0.3], vec![0.7]).unwrap();
    let bern = Layer::bernoulli("hidden", vec![0.3]).unwrap();
    let spin = Layer::spin("hidden", vec![0.3]).unwrap();
    for (k, t) in [-2.0, 0.0, 0.4, 3.0].into_iter().enumerate() {
        for layer in [&phi4, &gauss, &bern, &spin] {
            check_unit_draws(layer, t, 10 + k as u64);
        }
    }
    // Closed-form moments agree with quadrature where both exist.
    let q = quartic_integral(0.7, 0.0, 1.0 - 0.3);
    assert!((gauss.moments(0, 1.0).fourth - q.fourth).abs() < 1e-12);
}

/// A random network of the given kinds and sizes (coefficients valid for the kinds).
fn random_network(visible: UnitKind, hidden: UnitKind, nv: usize, nh: usize, seed: u64) -> Network {
    let mut rng = chain_rng(seed, 0);
    let layer = |name, kind: UnitKind, n: usize, rng: &mut mc_sampler::SimRng| {
        let linear = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (quad, quart): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|_| match kind {
                UnitKind::Phi4 => (rng.random_range(-1.0..1.0), rng.random_range(0.3..2.0)),
                UnitKind::Gaussian => (rng.random_range(1.0..2.0), 0.0),
                _ => (0.0, 0.0),
            })
            .unzip();
        Layer::new(name, kind, linear, quad, quart).unwrap()
    };
    let v = layer("visible", visible, nv, &mut rng);
    let h = layer("hidden", hidden, nh, &mut rng);
    let w = DMatrix::from_fn(nv, nh, |_, _| rng.random_range(-1.0..1.0));
    Network::new(v, h, w).unwrap()
}

/// `F(φ) = −ln ∫ exp(−S(φ, h)) dh` by brute force over the hidden layer: enumeration for
/// binary units, a product grid for two real units.
fn brute_free_energy(net: &Network, phi: &[f64]) -> f64 {
    let nh = net.n_hidden();
    let mut terms = Vec::new();
    if let Some([lo, hi]) = net.hidden().kind().binary_values() {
        for k in 0..1u32 << nh {
            let h: Vec<f64> = (0..nh).map(|j| if k >> j & 1 == 1 { hi } else { lo }).collect();
            terms.push(-net.action(phi, &h));
        }
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return -(max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln());
    }
    assert_eq!(nh, 2);
    let (lim, n) = (7.0, 1400);
    let dx = 2.0 * lim / n as f64;
    let grid: Vec<f64> = (0..=n).map(|k| -lim + k as f64 * dx).collect();
    let mut acc = Vec::with_capacity(grid.len() * grid.len());
    for &h0 in &grid {
        for &h1 in &grid {
            acc.push(-net.action(phi, &[h0, h1]));
        }
    }
    let max = acc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -(max + (acc.iter().map(|t| (t - max).exp()).sum::<f64>() * dx * dx).ln())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn free_energy_is_the_brute_force_marginal(seed in 0u64..1000, kinds in 0usize..4) {
        let (visible, hidden) = [
            (UnitKind::Bernoulli, UnitKind::Bernoulli),
            (UnitKind::Phi4, UnitKind::Bernoulli),
            (UnitKind::Gaussian, UnitKind::Phi4),
            (UnitKind::Phi4, UnitKind::Gaussian),
        ][kinds];
        let nh = if hidden.is_binary() { 4 } else { 2 };
        let net = random_network(visible, hidden, 3, nh, seed);
        let mut rng = chain_rng(seed, 1);
        let phi: Vec<f64> = (0..3).map(|i| net.visible().sample(i, rng.random_range(-1.0..1.0), &mut rng)).collect();
        let exact = brute_free_energy(&net, &phi);
        let f = net.free_energy(&phi);
        prop_assert!((f - exact).abs() < 1e-8 * exact.abs().max(1.0), "{f} vs {exact}");
    }
}

/// Exact `p(v)` of a network with binary visible units by enumeration.
fn exact_visible_distribution(net: &Network) -> Vec<f64> {
    let nv = net.n_visible();
    let [lo, hi] = net.visible().kind().binary_values().unwrap();
    let log_z = exact_log_partition(net).unwrap();
    (0..1u32 << nv)
        .map(|k| {
            let v: Vec<f64> = (0..nv).map(|i| if k >> i & 1 == 1 { hi } else { lo }).collect();
            (-net.free_energy(&v) - log_z).exp()
        })
        .collect()
}

#[test]
fn enumeration_over_either_layer_gives_the_same_partition_function() {
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 5, 4, 3);
    let by_visible = exact_log_partition(&net).unwrap();
    let transposed = Network::new(net.hidden().clone(), net.visible().clone(), net.weights().transpose()).unwrap();
    let by_hidden = exact_log_partition(&transposed).unwrap();
    assert!((by_visible - by_hidden).abs() < 1e-12, "{by_visible} vs {by_hidden}");
    let total: f64 = exact_visible_distribution(&net).iter().sum();
    assert!((total - 1.0).abs() < 1e-12);
}

#[test]
fn binary_conditionals_are_exact() {
    // p(h_j = 1 | v) from the joint by enumeration equals the sigmoid of the field.
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 3, 3, 5);
    let v = [1.0, 0.0, 1.0];
    let means = net.hidden_means(&v);
    for (j, &mean) in means.iter().enumerate() {
        let (mut on, mut all) = (0.0, 0.0);
        for k in 0..8u32 {
            let h: Vec<f64> = (0..3).map(|l| f64::from(k >> l & 1)).collect();
            let p = (-net.action(&v, &h)).exp();
            all += p;
            if h[j] == 1.0 {
                on += p;
            }
        }
        assert!((on / all - mean).abs() < 1e-14, "unit {j}: {} vs {mean}", on / all);
    }
}

/// Pearson's χ² of observed counts against exact probabilities; fails above the 1e-4 upper
/// quantile (Wilson–Hilferty approximation).
#[track_caller]
fn check_chi_square(counts: &[u64], probs: &[f64]) {
    let n: u64 = counts.iter().sum();
    let chi2: f64 = counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| (c as f64 - n as f64 * p).powi(2) / (n as f64 * p))
        .sum();
    let dof = (counts.len() - 1) as f64;
    let z = 3.719; // one-sided 1e-4
    let limit = dof * (1.0 - 2.0 / (9.0 * dof) + z * (2.0 / (9.0 * dof)).sqrt()).powi(3);
    assert!(
        chi2 < limit,
        "χ² = {chi2} over {dof} degrees of freedom (limit {limit})"
    );
}

/// Counts of the binary states of one layer over 20,000 independent chains after 30 Gibbs
/// steps (one sample per chain, so the counts are multinomial).
fn equilibrium_counts(net: &Network, hidden: bool, seed: u64) -> Vec<u64> {
    let n_chains = 20_000;
    let mut chains = GibbsChains::new(net, n_chains, seed).unwrap();
    for _ in 0..30 {
        chains.step(net, n_chains);
    }
    let states = if hidden { chains.hidden() } else { chains.visible() };
    let mut counts = vec![0u64; 1 << states.nrows()];
    for c in states.column_iter() {
        let k: usize = c.iter().enumerate().map(|(i, &x)| (x as usize) << i).sum();
        counts[k] += 1;
    }
    counts
}

#[test]
fn gibbs_frequencies_match_exact_probabilities() {
    // Bernoulli–Bernoulli, 4 visible × 3 hidden.
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 4, 3, 11);
    check_chi_square(&equilibrium_counts(&net, false, 17), &exact_visible_distribution(&net));
}

#[test]
fn gibbs_with_phi4_units_matches_the_exact_hidden_marginal() {
    // φ⁴ visible units (drawn by the quartic sampler) and 3 binary hidden units: the hidden
    // marginal p(h) ∝ exp(−F(h)) with F(h) from quadrature.
    let net = random_network(UnitKind::Phi4, UnitKind::Bernoulli, 3, 3, 23);
    let f: Vec<f64> = (0..8u32)
        .map(|k| net.hidden_free_energy(&(0..3).map(|j| f64::from(k >> j & 1)).collect::<Vec<_>>()))
        .collect();
    let z: f64 = f.iter().map(|x| (-x).exp()).sum();
    let probs: Vec<f64> = f.iter().map(|x| (-x).exp() / z).collect();
    check_chi_square(&equilibrium_counts(&net, true, 29), &probs);
}

#[test]
fn gaussian_gaussian_marginal_has_the_exact_covariance() {
    let (nv, nh) = (3, 2);
    let w = DMatrix::from_row_slice(nv, nh, &[0.5, -0.3, 0.2, 0.4, -0.6, 0.1]);
    let net = Network::gaussian_gaussian(
        w,
        vec![0.1, -0.2, 0.3],
        vec![1.0, 0.8, 1.2],
        vec![0.2, -0.1],
        vec![0.9, 1.1],
    )
    .unwrap();
    let cov = net.joint_precision().try_inverse().unwrap();
    // F is quadratic: its Hessian (exact central differences) is the marginal precision.
    let mut hess = DMatrix::zeros(nv, nv);
    let e = 0.5;
    let base = [0.3, -0.2, 0.1];
    for i in 0..nv {
        for j in 0..nv {
            let f = |di: f64, dj: f64| {
                let mut x = base;
                x[i] += di;
                x[j] += dj;
                net.free_energy(&x)
            };
            hess[(i, j)] = (f(e, e) - f(e, -e) - f(-e, e) + f(-e, -e)) / (4.0 * e * e);
        }
    }
    let marginal_cov = hess.try_inverse().unwrap();
    for i in 0..nv {
        for j in 0..nv {
            assert!((marginal_cov[(i, j)] - cov[(i, j)]).abs() < 1e-9, "({i},{j})");
        }
    }
    // Gibbs chains reproduce it (independent chains, 5 standard errors).
    let n = 40_000;
    let mut chains = GibbsChains::new(&net, n, 3).unwrap();
    for _ in 0..50 {
        chains.step(&net, n);
    }
    let mean = -cov.view((0, 0), (nv, nv + nh)) * DMatrix::from_column_slice(nv + nh, 1, &[0.1, -0.2, 0.3, 0.2, -0.1]);
    for i in 0..nv {
        let xs: Vec<f64> = chains.visible().row(i).iter().copied().collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let sd = (cov[(i, i)] / n as f64).sqrt();
        assert!((m - mean[i]).abs() < 5.0 * sd, "mean {i}: {m} vs {}", mean[i]);
        let v = xs.iter().map(|x| (x - mean[i]).powi(2)).sum::<f64>() / n as f64;
        let sd_v = cov[(i, i)] * (2.0 / n as f64).sqrt();
        assert!(
            (v - cov[(i, i)]).abs() < 5.0 * sd_v,
            "variance {i}: {v} vs {}",
            cov[(i, i)]
        );
    }
    // The closed-form ln Z equals the integral of the marginal: ln Z = ln ∫ e^{−F}.
    let p = marginal_cov.clone().try_inverse().unwrap();
    let mode = -&marginal_cov
        * (DMatrix::from_fn(nv, 1, |i, _| {
            // gradient of F at 0
            let mut x = [0.0; 3];
            x[i] = e;
            let fp = net.free_energy(&x);
            x[i] = -e;
            (fp - net.free_energy(&x)) / (2.0 * e)
        }));
    let f_min = net.free_energy(&[mode[0], mode[1], mode[2]]);
    let log_z = -f_min + 0.5 * nv as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * p.determinant().ln();
    assert!((log_z - exact_log_partition(&net).unwrap()).abs() < 1e-9);
}

#[test]
fn grad_energy_is_the_derivative_of_the_action() {
    let net = random_network(UnitKind::Phi4, UnitKind::Phi4, 3, 2, 7);
    let x = [0.3, -0.5, 1.1, 0.7, -0.2];
    let mut grad = vec![0.0; net.n_params()];
    net.grad_energy(&x, &mut grad);
    let theta = net.params();
    for k in 0..theta.len() {
        let at = |d: f64| {
            let mut t = theta.clone();
            t[k] += d;
            let mut n = net.clone();
            n.set_params(&t).unwrap();
            n.energy(&x)
        };
        let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
        assert!((fd - grad[k]).abs() < 1e-6, "θ_{k}: {fd} vs {}", grad[k]);
    }
    assert!((net.energy(&x) - net.action(&x[..3], &x[3..])).abs() < 1e-15);
}

/// `⟨∂F/∂θ⟩` under `p(v)` and its covariance diagonal, by enumeration (binary visible).
fn exact_model_average(net: &Network) -> (Vec<f64>, Vec<f64>) {
    let probs = exact_visible_distribution(net);
    let nv = net.n_visible();
    let n = net.n_params();
    let (mut m1, mut m2) = (vec![0.0; n], vec![0.0; n]);
    for (k, p) in probs.iter().enumerate() {
        let v: Vec<f64> = (0..nv).map(|i| f64::from((k >> i & 1) as u8)).collect();
        let g = free_energy_gradient(net, &v);
        for q in 0..n {
            m1[q] += p * g[q];
            m2[q] += p * g[q] * g[q];
        }
    }
    let var = m1.iter().zip(&m2).map(|(a, b)| b - a * a).collect();
    (m1, var)
}

/// `∂F/∂θ` of Bernoulli–Bernoulli networks: `−v_i σ_j`, `v_i`, 0, 0, `σ_j`, 0, 0.
fn free_energy_gradient(net: &Network, v: &[f64]) -> Vec<f64> {
    let (nv, nh) = (net.n_visible(), net.n_hidden());
    let means = net.hidden_means(v);
    let mut g = vec![0.0; net.n_params()];
    for j in 0..nh {
        for i in 0..nv {
            g[j * nv + i] = -v[i] * means[j];
        }
    }
    g[nv * nh..nv * nh + nv].copy_from_slice(v);
    g[nv * nh + 3 * nv..nv * nh + 3 * nv + nh].copy_from_slice(&means);
    g
}

#[test]
fn persistent_cd_gradient_is_the_exact_likelihood_gradient() {
    // One update with momentum 0 and no decay moves θ by −η g; g's data term is exact, its
    // model term is an average over independent equilibrated chains.
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 5, 3, 31);
    let pattern = [
        [1.0, 0.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, 1.0, 0.0, 0.0],
        [1.0, 1.0, 0.0, 0.0, 1.0],
    ];
    let n_chains = 30_000;
    let rows: Vec<f64> = (0..n_chains).flat_map(|k| pattern[k % 3]).collect();
    let data = Data::from_rows(&rows, 5).unwrap();
    let lr = 1e-3;
    let config = TrainConfig {
        batch_size: n_chains,
        learning_rate: lr,
        cd_k: 100,
        persistent: true,
        momentum: 0.0,
        weight_decay: 0.0,
        train_shape: false,
        seed: 5,
        shuffle: true,
    };
    let mut trainer = Trainer::new(net.clone(), config).unwrap();
    trainer.train_epoch(&data).unwrap();
    let theta0 = net.params();
    let theta1 = trainer.network().params();
    let estimate: Vec<f64> = theta0.iter().zip(&theta1).map(|(a, b)| (a - b) / lr).collect();
    let data_term: Vec<f64> = {
        let gs: Vec<Vec<f64>> = pattern.iter().map(|v| free_energy_gradient(&net, v)).collect();
        (0..net.n_params())
            .map(|q| gs.iter().map(|g| g[q]).sum::<f64>() / 3.0)
            .collect()
    };
    let (model, var) = exact_model_average(&net);
    for q in 0..net.n_params() {
        let exact = data_term[q] - model[q];
        let sd = (var[q] / n_chains as f64).sqrt();
        assert!(
            (estimate[q] - exact).abs() < 5.0 * sd + 1e-9,
            "θ_{q}: {} vs exact {exact} (σ = {sd})",
            estimate[q]
        );
    }
}

#[test]
fn trainer_state_round_trips_and_resumes_bit_identically() {
    let net = random_network(UnitKind::Phi4, UnitKind::Bernoulli, 4, 3, 41);
    let rows: Vec<f64> = (0..40).map(|k| ((k * 7 % 11) as f64 / 5.0) - 1.0).collect();
    let data = Data::from_rows(&rows, 4).unwrap();
    let config = TrainConfig {
        batch_size: 3,
        learning_rate: 0.01,
        cd_k: 2,
        persistent: true,
        momentum: 0.5,
        weight_decay: 1e-3,
        train_shape: true,
        seed: 9,
        shuffle: true,
    };
    let mut straight = Trainer::new(net, config).unwrap();
    straight.train_epoch(&data).unwrap();
    let bytes = mc_sampler::checkpoint::to_bytes(crate::TrainerState::KIND, &straight.state());
    straight.train_epoch(&data).unwrap();
    let state = mc_sampler::checkpoint::from_bytes(crate::TrainerState::KIND, &bytes).unwrap();
    let mut resumed = Trainer::from_state(state, config).unwrap();
    resumed.train_epoch(&data).unwrap();
    assert_eq!(straight.state(), resumed.state());
}

#[test]
fn pseudo_log_likelihood_modes_agree_on_average() {
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 6, 4, 51);
    let rows: Vec<f64> = (0..6 * 200).map(|k| f64::from(u8::from(k * 13 % 7 < 3))).collect();
    let data = Data::from_rows(&rows, 6).unwrap();
    let all = pseudo_log_likelihood(&net, &data, PllMode::AllUnits).unwrap();
    // The random-unit estimate averages to the all-units value: mean over seeds.
    let seeds = 200;
    let mean = (0..seeds)
        .map(|s| pseudo_log_likelihood(&net, &data, PllMode::RandomUnit { seed: s }).unwrap())
        .sum::<f64>()
        / seeds as f64;
    assert!((mean - all).abs() < 0.02 * all.abs(), "{mean} vs {all}");
    // Exact pseudo-likelihood by enumeration of the conditionals p(v_i | v_−i).
    let probs = exact_visible_distribution(&net);
    let index = |v: &[f64]| v.iter().enumerate().map(|(i, &x)| (x as usize) << i).sum::<usize>();
    let mut exact = 0.0;
    for k in 0..data.n_samples() {
        let v = data.example(k);
        for i in 0..6 {
            let mut f = v.to_vec();
            f[i] = 1.0 - f[i];
            exact += (probs[index(v)] / (probs[index(v)] + probs[index(&f)])).ln();
        }
    }
    exact /= data.n_samples() as f64;
    assert!((all - exact).abs() < 1e-10, "{all} vs {exact}");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(Layer::phi4("visible", vec![0.0], vec![1.0], vec![0.0]).is_err());
    assert!(Layer::gaussian("visible", vec![0.0], vec![-1.0]).is_err());
    assert!(Layer::new("visible", UnitKind::Bernoulli, vec![0.0], vec![1.0], vec![0.0]).is_err());
    assert!(Layer::bernoulli("visible", vec![f64::NAN]).is_err());
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 3, 2, 1);
    let data = Data::from_rows(&[0.0, 0.5, 1.0], 3).unwrap();
    assert!(data.check_fits(&net).is_err());
    assert!(Data::from_rows(&[0.0, 1.0], 3).is_err());
    assert!(
        Network::gaussian_gaussian(
            DMatrix::from_element(1, 1, 5.0),
            vec![0.0],
            vec![1.0],
            vec![0.0],
            vec![1.0]
        )
        .is_err()
    );
    let wide = random_network(UnitKind::Phi4, UnitKind::Phi4, 2, 2, 1);
    assert!(exact_log_partition(&wide).is_err());
}

/// The products over non-zero inputs agree with nalgebra's dense product (zeros, ones and
/// other values), and the sparse weight step of a Bernoulli–Bernoulli epoch keeps `Wᵀ` the
/// exact transpose of `W`.
#[test]
fn sparse_products_and_steps_match_dense_ones() {
    let mut rng = chain_rng(77, 0);
    let columns = DMatrix::from_fn(37, 23, |_, _| rng.random_range(-1.0..1.0));
    let x = DMatrix::from_fn(23, 6, |_, _| match rng.random_range(0..4) {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => rng.random_range(-2.0..2.0),
    });
    let mut sparse = DMatrix::from_element(37, 6, f64::NAN);
    crate::gibbs::sparse_product(&columns, &x, 5, &mut sparse);
    let dense = &columns * &x;
    for c in 0..5 {
        for r in 0..37 {
            assert!((sparse[(r, c)] - dense[(r, c)]).abs() < 1e-12, "({r}, {c})");
        }
    }
    let net = random_network(UnitKind::Bernoulli, UnitKind::Bernoulli, 30, 7, 8);
    let rows: Vec<f64> = (0..30 * 45).map(|k| f64::from(u8::from(k * 7 % 5 < 2))).collect();
    let data = Data::from_rows(&rows, 30).unwrap();
    let config = TrainConfig {
        batch_size: 4,
        learning_rate: 0.1,
        cd_k: 1,
        persistent: true,
        momentum: 0.0,
        weight_decay: 0.0,
        train_shape: false,
        seed: 3,
        shuffle: true,
    };
    let mut trainer = Trainer::new(net.clone(), config).unwrap();
    trainer.train_epoch(&data).unwrap();
    let trained = trainer.network();
    assert_ne!(trained.weights(), net.weights());
    assert_eq!(&trained.weights().transpose(), trained.weights_t());
}
