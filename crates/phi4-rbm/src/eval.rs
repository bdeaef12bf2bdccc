//! How good a network is: reconstruction error, pseudo-log-likelihood, the partition
//! function by annealed importance sampling or by enumeration, and the log-likelihood.

use mc_sampler::{SimRng, chain_rng};
use nalgebra::DMatrix;
use rand::Rng;
use rayon::prelude::*;

use crate::units::{UnitKind, softplus};
use crate::{Data, Network, RbmError};

/// Most units on the enumerated side of [`exact_log_partition`].
pub const MAX_ENUMERATED: usize = 24;

/// Mean squared difference, per unit, between the data and their mean-field
/// reconstructions `E[φ | h = E[h | φ]]`.
pub fn reconstruction_error(network: &Network, data: &Data) -> Result<f64, RbmError> {
    data.check_fits(network)?;
    let mut sum = 0.0;
    for k in 0..data.n_samples() {
        let v = data.example(k);
        let recon = network.visible_means(&network.hidden_means(v));
        sum += v.iter().zip(&recon).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    }
    Ok(sum / (data.n_samples() * data.n_features()) as f64)
}

/// Which units the pseudo-log-likelihood flips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PllMode {
    /// Every unit: `Σ_i ln σ(F(φ⁽ⁱ⁾) − F(φ))`, the exact expectation over the choice of unit
    /// of scikit-learn's estimate (deterministic).
    AllUnits,
    /// scikit-learn's `BernoulliRBM.score_samples`: one unit `i` per example, drawn
    /// uniformly from the generator seeded with `seed`,
    /// `n_visible · ln σ(F(φ⁽ⁱ⁾) − F(φ))`.
    RandomUnit {
        /// Seed of the unit choice.
        seed: u64,
    },
}

/// The mean pseudo-log-likelihood per example of binary visible data; `φ⁽ⁱ⁾` is `φ` with
/// unit `i` flipped to its other value.
pub fn pseudo_log_likelihood(network: &Network, data: &Data, mode: PllMode) -> Result<f64, RbmError> {
    data.check_fits(network)?;
    let layer = network.visible();
    let Some([lo, hi]) = layer.kind().binary_values() else {
        return Err(RbmError::InvalidConfig(format!(
            "the pseudo-log-likelihood needs binary visible units, not {}; use the AIS log-likelihood",
            layer.kind().name()
        )));
    };
    let (nv, nh) = (network.n_visible(), network.n_hidden());
    let w = network.weights();
    // t = Wᵀ v of every example (columns), summed over the non-zero units in unit order:
    // per hidden unit the same sum as the dot product of its feature map with v.
    let n = data.n_samples();
    let mut fields = DMatrix::zeros(nh, n);
    crate::gibbs::sparse_product(network.weights_t(), data.matrix(), n, &mut fields);
    // The flipped unit of every example, drawn in example order (scikit-learn's estimate).
    let units: Option<Vec<usize>> = match mode {
        PllMode::RandomUnit { seed } => {
            let mut rng = chain_rng(seed, 0);
            Some((0..n).map(|_| rng.random_range(0..nv)).collect())
        }
        PllMode::AllUnits => None,
    };
    let log_sigmoid = |x: f64| -softplus(-x);
    let example_pll = |k: usize| {
        let v = data.example(k);
        let t = &fields.as_slice()[k * nh..(k + 1) * nh];
        let log_z: f64 = (0..nh).map(|j| network.hidden().log_z(j, t[j])).sum();
        let delta_f = |i: usize| {
            let flipped = if v[i] == lo { hi } else { lo };
            let dv = flipped - v[i];
            let dz: f64 = (0..nh)
                .map(|j| network.hidden().log_z(j, t[j] + dv * w[(i, j)]))
                .sum::<f64>()
                - log_z;
            layer.energy(i, flipped) - layer.energy(i, v[i]) - dz
        };
        match &units {
            Some(units) => nv as f64 * log_sigmoid(delta_f(units[k])),
            None => (0..nv).map(|i| log_sigmoid(delta_f(i))).sum::<f64>(),
        }
    };
    // Examples in parallel, summed in example order: the same result on any number of threads.
    let per_example: Vec<f64> = (0..n).into_par_iter().map(example_pll).collect();
    let total: f64 = per_example.iter().sum();
    Ok(total / n as f64)
}

/// Running `ln Σ exp(x)`.
#[derive(Debug, Clone, Copy)]
struct LogSumExp {
    max: f64,
    sum: f64,
}

impl LogSumExp {
    fn new() -> Self {
        Self {
            max: f64::NEG_INFINITY,
            sum: 0.0,
        }
    }
    fn add(&mut self, x: f64) {
        if x > self.max {
            self.sum = self.sum * (self.max - x).exp() + 1.0;
            self.max = x;
        } else {
            self.sum += (x - self.max).exp();
        }
    }
    fn value(&self) -> f64 {
        self.max + self.sum.ln()
    }
}

/// `ln Z` exactly: by enumerating a binary layer of at most [`MAX_ENUMERATED`] units (the
/// visible one if it qualifies, else the hidden one; states in Gray-code order with
/// incremental fields), or in closed form for Gaussian–Gaussian networks.
pub fn exact_log_partition(network: &Network) -> Result<f64, RbmError> {
    let (nv, nh) = (network.n_visible(), network.n_hidden());
    let (vk, hk) = (network.visible().kind(), network.hidden().kind());
    if vk == UnitKind::Gaussian && hk == UnitKind::Gaussian {
        return gaussian_log_partition(network);
    }
    let w = network.weights();
    if vk.is_binary() && nv <= MAX_ENUMERATED {
        let [lo, hi] = vk.binary_values().expect("binary");
        let mut v = vec![lo; nv];
        let mut t = network.hidden_field(&v);
        let mut acc = LogSumExp::new();
        for k in 0u64..(1u64 << nv) {
            if k > 0 {
                let i = k.trailing_zeros() as usize;
                let next = if v[i] == lo { hi } else { lo };
                let dv = next - v[i];
                v[i] = next;
                for (j, tj) in t.iter_mut().enumerate() {
                    *tj += dv * w[(i, j)];
                }
            }
            acc.add(-network.free_energy_from_field(&v, &t));
        }
        return Ok(acc.value());
    }
    if hk.is_binary() && nh <= MAX_ENUMERATED {
        let [lo, hi] = hk.binary_values().expect("binary");
        let mut h = vec![lo; nh];
        let mut acc = LogSumExp::new();
        for k in 0u64..(1u64 << nh) {
            if k > 0 {
                let j = k.trailing_zeros() as usize;
                h[j] = if h[j] == lo { hi } else { lo };
            }
            acc.add(-network.hidden_free_energy(&h));
        }
        return Ok(acc.value());
    }
    Err(RbmError::TooLarge(format!(
        "exact ln Z needs a binary layer of at most {MAX_ENUMERATED} units or a Gaussian–Gaussian network, this one is {}({nv})–{}({nh}); use AIS",
        vk.name(),
        hk.name()
    )))
}

/// `ln Z` of a Gaussian–Gaussian network: `S = ½ xᵀ M x + ℓᵀ x`,
/// `ln Z = (n/2) ln 2π − ½ ln det M + ½ ℓᵀ M⁻¹ ℓ`.
fn gaussian_log_partition(network: &Network) -> Result<f64, RbmError> {
    let m = network.joint_precision();
    let n = m.nrows();
    let linear = DMatrix::from_iterator(
        n,
        1,
        network
            .visible()
            .linear()
            .iter()
            .chain(network.hidden().linear())
            .copied(),
    );
    let chol = m.cholesky().ok_or_else(|| {
        RbmError::InvalidConfig(
            "the Gaussian–Gaussian network is not normalisable (precision not positive definite)".into(),
        )
    })?;
    let log_det: f64 = chol.l().diagonal().iter().map(|d| 2.0 * d.ln()).sum();
    let solved = chol.solve(&linear);
    let quad = linear.dot(&solved);
    Ok(0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln() - 0.5 * log_det + 0.5 * quad)
}

/// How to run annealed importance sampling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AisConfig {
    /// Independent runs (importance weights).
    pub n_runs: usize,
    /// Intermediate distributions (`β_k = k / n_steps`).
    pub n_steps: usize,
    /// Seed: run `r` draws from stream `r`.
    pub seed: u64,
}

/// An AIS estimate of `ln Z`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AisEstimate {
    /// `ln Ẑ = ln Z₀ + ln mean(w)`.
    pub log_z: f64,
    /// Standard error of `ln Ẑ` (delta method: standard deviation of the normalised
    /// weights over `√n_runs`).
    pub err: f64,
    /// Kish effective number of runs, `(Σw)² / Σw²`.
    pub effective_runs: f64,
}

/// `ln Z` by annealed importance sampling (Neal 2001; Salakhutdinov and Murray 2008).
///
/// The path scales the weights, `S_β = S` with `w → β w`: at `β = 0` the units are
/// independent, so `Z₀ = Π_i Z_i(0) · Π_j Z_j(0)` is exact and `φ` is drawn exactly; each
/// `β_k` adds `F_{β_{k−1}}(φ) − F_{β_k}(φ)` to the log weight, then one block Gibbs step at
/// `β_k` moves the run.  Works for every unit type (φ⁴ hidden units through quadrature).
pub fn ais_log_partition(network: &Network, config: &AisConfig) -> Result<AisEstimate, RbmError> {
    if config.n_runs < 2 || config.n_steps == 0 {
        return Err(RbmError::InvalidConfig(format!(
            "AIS needs at least 2 runs and 1 step, got {} runs and {} steps",
            config.n_runs, config.n_steps
        )));
    }
    let (nv, nh, runs) = (network.n_visible(), network.n_hidden(), config.n_runs);
    let (vis, hid, w) = (network.visible(), network.hidden(), network.weights());
    let log_z0: f64 = (0..nv).map(|i| vis.log_z(i, 0.0)).sum::<f64>() + (0..nh).map(|j| hid.log_z(j, 0.0)).sum::<f64>();
    let mut rngs: Vec<SimRng> = (0..runs as u64).map(|r| chain_rng(config.seed, r)).collect();
    let mut v = DMatrix::zeros(nv, runs);
    let mut h = DMatrix::zeros(nh, runs);
    for (r, rng) in rngs.iter_mut().enumerate() {
        for i in 0..nv {
            v[(i, r)] = vis.sample(i, 0.0, rng);
        }
    }
    let mut log_w = vec![0.0; runs];
    let mut t_h = DMatrix::zeros(nh, runs);
    let mut t_v = DMatrix::zeros(nv, runs);
    // −F_β(φ) up to the visible energies, which cancel in the weight.
    let hidden_term =
        |t: &DMatrix<f64>, r: usize, beta: f64| (0..nh).map(|j| hid.log_z(j, beta * t[(j, r)])).sum::<f64>();
    for k in 1..=config.n_steps {
        let (beta_prev, beta) = ((k - 1) as f64 / config.n_steps as f64, k as f64 / config.n_steps as f64);
        t_h.gemm(1.0, network.weights_t(), &v, 0.0);
        for (r, rng) in rngs.iter_mut().enumerate() {
            log_w[r] += hidden_term(&t_h, r, beta) - hidden_term(&t_h, r, beta_prev);
            for j in 0..nh {
                h[(j, r)] = hid.sample(j, beta * t_h[(j, r)], rng);
            }
        }
        t_v.gemm(1.0, w, &h, 0.0);
        for (r, rng) in rngs.iter_mut().enumerate() {
            for i in 0..nv {
                v[(i, r)] = vis.sample(i, beta * t_v[(i, r)], rng);
            }
        }
    }
    if log_w.iter().any(|x| !x.is_finite()) {
        return Err(RbmError::InvalidConfig(
            "an AIS weight is not finite; the network's states diverge".into(),
        ));
    }
    let max = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = log_w.iter().map(|x| (x - max).exp()).collect();
    let mean = weights.iter().sum::<f64>() / runs as f64;
    let var = weights.iter().map(|x| (x / mean - 1.0).powi(2)).sum::<f64>() / (runs - 1) as f64;
    let sum_sq: f64 = weights.iter().map(|x| x * x).sum();
    Ok(AisEstimate {
        log_z: log_z0 + max + mean.ln(),
        err: (var / runs as f64).sqrt(),
        effective_runs: (mean * runs as f64).powi(2) / sum_sq,
    })
}

/// The mean log-likelihood per example, `mean(−F(φ)) − ln Z`, for a given `ln Z`.
pub fn log_likelihood(network: &Network, data: &Data, log_z: f64) -> Result<f64, RbmError> {
    data.check_fits(network)?;
    let sum: f64 = (0..data.n_samples())
        .map(|k| -network.free_energy(data.example(k)))
        .sum();
    Ok(sum / data.n_samples() as f64 - log_z)
}

/// The data of the next network of a stack: each example's hidden means `E[h | φ]`, or a
/// draw `h ~ p(h | φ)` when `rng` is given (binary visible units of the next network need
/// draws).
pub fn hidden_data(network: &Network, data: &Data, rng: Option<&mut SimRng>) -> Result<Data, RbmError> {
    data.check_fits(network)?;
    let nh = network.n_hidden();
    let mut out = Vec::with_capacity(nh * data.n_samples());
    match rng {
        None => (0..data.n_samples()).for_each(|k| out.extend(network.hidden_means(data.example(k)))),
        Some(rng) => {
            for k in 0..data.n_samples() {
                let t = network.hidden_field(data.example(k));
                out.extend(t.iter().enumerate().map(|(j, &tj)| network.hidden().sample(j, tj, rng)));
            }
        }
    }
    Data::from_rows(&out, nh)
}
