//! Learning couplings from samples: maximum likelihood, i.e. minimal KL(q‖p) with `q` the
//! data distribution, by the gradient `⟨∂S/∂θ⟩_data − ⟨∂S/∂θ⟩_model`.

use mc_sampler::checkpoint::ChainState;
use mc_sampler::{Algorithm, PersistentChains, chain_rng};
use mrf_graph::Lattice;
use phi4_action::{Couplings, PairSet, ParamBlock};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::optimizer::{Moments, Optimizer, OptimizerState, Schedule};
use crate::share::{AllChains, ChainShare, checked_local, exchange};
use crate::trainer::{CouplingSpreads, TrainedModel, free_params, theta_of};

/// The kind of the data trainer's checkpoints (see [`mc_sampler::checkpoint`]).
pub const DATA_CHECKPOINT_KIND: &str = "kl-train-data";

/// Stream of the generator that shuffles the data (chains use streams `0..n_chains`).
const SHUFFLE_STREAM: u64 = u64::MAX;

/// The largest initial `a_i`, well below [`crate::MAX_COUPLING`].
const INITIAL_A_MAX: f64 = 0.25 * crate::MAX_COUPLING;

/// How to learn from data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataConfig {
    /// The update rule.
    pub optimizer: Optimizer,
    /// The learning rate of each step (one step per mini-batch).
    pub schedule: Schedule,
    /// Persistent chains of the model.
    pub n_chains: usize,
    /// Measurements per chain and step (the model expectation of a step averages
    /// `n_chains × samples_per_step` configurations).
    pub samples_per_step: usize,
    /// Sweeps before each measurement.
    pub sweeps_per_sample: u64,
    /// Thermalisation sweeps of the initial model.
    pub n_therm: u64,
    /// Schedule of the chains.
    pub algorithm: Algorithm,
    /// Seed of the chains (chain `c` uses `chain_rng(seed, c)`) and of the shuffling.
    pub seed: u64,
    /// Data samples per step; each pass visits every sample once, in a new order.
    pub batch: usize,
    /// Train `b_i = e^{β_i} > 0`; otherwise every `b_i = 0` (a Gaussian model, kept positive
    /// definite: a step that would break that is refused as a divergence).
    pub quartic: bool,
    /// Initial `b_i` when `quartic`.
    pub init_b: f64,
    /// Smoothing of the data: every value is taken with independent Gaussian noise of
    /// variance `smoothing × (average site variance of the data)` added, exactly in
    /// expectation (`⟨φ²⟩ + s²`, `⟨φ⁴⟩ + 6s²⟨φ²⟩ + 3s⁴`, means and pair products unchanged).
    /// A site that is constant in the data (a blank pixel) then has a finite maximum-
    /// likelihood `a_i ≈ 1/(2s²)` instead of running away; 0 is plain maximum likelihood.
    pub smoothing: f64,
    /// Pairs of the model.
    pub model_pairs: PairSet,
}

impl DataConfig {
    /// Settings that converge on Gaussian data and on the 8×8 digits: Adam with `η₀ = 0.02`
    /// halved after 500 steps, 32 heat-bath chains with 2 measurements per step one sweep
    /// apart, 200 thermalisation sweeps, mini-batches of 100, a quartic nearest-neighbour
    /// model started at `b = 0.01`.
    pub fn recommended(seed: u64) -> Self {
        Self {
            optimizer: Optimizer::ADAM,
            schedule: Schedule {
                initial: 0.02,
                half_life: 500.0,
            },
            n_chains: 32,
            samples_per_step: 2,
            sweeps_per_sample: 1,
            n_therm: 200,
            algorithm: Algorithm::HeatBath,
            seed,
            batch: 100,
            quartic: true,
            init_b: 0.01,
            smoothing: 0.05,
            model_pairs: PairSet::NearestNeighbour,
        }
    }

    fn validate(&self, n_samples: usize) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::InvalidConfig(what));
        if self.n_chains == 0 || self.samples_per_step == 0 || self.sweeps_per_sample == 0 || self.batch == 0 {
            return bad(format!(
                "chains ({}), samples per step ({}), sweeps per sample ({}) and the batch ({}) must all be at least 1",
                self.n_chains, self.samples_per_step, self.sweeps_per_sample, self.batch
            ));
        }
        if self.batch > n_samples {
            return bad(format!(
                "the batch ({}) is larger than the data ({n_samples} samples); lower the batch",
                self.batch
            ));
        }
        if !(self.schedule.initial.is_finite() && self.schedule.initial > 0.0) || self.schedule.half_life.is_nan() {
            return bad(format!(
                "the learning rate {} must be positive and its half-life a number",
                self.schedule.initial
            ));
        }
        if self.schedule.half_life <= 0.0 {
            return bad(format!("the half-life {} must be positive", self.schedule.half_life));
        }
        if !(self.smoothing >= 0.0 && self.smoothing.is_finite()) {
            return bad(format!(
                "the smoothing {} must be finite and at least 0",
                self.smoothing
            ));
        }
        if self.quartic && !(self.init_b > 0.0 && self.init_b.is_finite()) {
            return bad(format!("the initial b = {} must be finite and positive", self.init_b));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "optimizer {:?}, lr {:e}, half-life {:e}, chains {}, samples {}, sweeps {}, therm {}, algorithm {}, seed \
             {}, batch {}, quartic {}, init b {:e}, smoothing {:e}, pairs {}",
            self.optimizer,
            self.schedule.initial,
            self.schedule.half_life,
            self.n_chains,
            self.samples_per_step,
            self.sweeps_per_sample,
            self.n_therm,
            self.algorithm.name(),
            self.seed,
            self.batch,
            self.quartic,
            self.init_b,
            self.smoothing,
            self.model_pairs.name()
        )
    }
}

/// What one step measured, at the parameters it sampled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// The step (0 is the first).
    pub step: u64,
    /// Its learning rate.
    pub rate: f64,
    /// Euclidean norm of `∂KL/∂θ`.
    pub grad_norm: f64,
    /// Spread of each block of the couplings the step sampled at.
    pub spreads: CouplingSpreads,
}

/// Everything a data trainer's future depends on, plus its history: the payload of its
/// checkpoints (kind [`DATA_CHECKPOINT_KIND`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataTrainerState {
    /// Lattice, data fingerprint and settings in words; a resume must match it.
    pub identity: String,
    /// Steps done.
    pub step: u64,
    /// The free parameters and the optimiser's moments.
    pub optimizer: OptimizerState,
    /// One summary per step done.
    pub history: Vec<StepSummary>,
    /// The chains, in chain order.
    pub chains: Vec<ChainState>,
}

/// Per-site and per-pair moments of a set of configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMoments {
    /// `⟨φ_i⟩`.
    pub mean: Vec<f64>,
    /// `⟨φ_i²⟩ − ⟨φ_i⟩²`.
    pub variance: Vec<f64>,
    /// Connected correlation `⟨φ_iφ_j⟩ − ⟨φ_i⟩⟨φ_j⟩` of each pair of the model, in pair order.
    pub pair_cov: Vec<f64>,
}

impl FieldMoments {
    /// The moments of `samples` (each of length `n_sites`) on `pairs`, summed in order.
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a [f64]>, n_sites: usize, pairs: &[[u32; 2]]) -> Self {
        let (mut s1, mut s2, mut sp, mut n) = (vec![0.0; n_sites], vec![0.0; n_sites], vec![0.0; pairs.len()], 0.0);
        for phi in samples {
            for i in 0..n_sites {
                s1[i] += phi[i];
                s2[i] += phi[i] * phi[i];
            }
            for (acc, &[i, j]) in sp.iter_mut().zip(pairs) {
                *acc += phi[i as usize] * phi[j as usize];
            }
            n += 1.0;
        }
        let mean: Vec<f64> = s1.iter().map(|x| x / n).collect();
        let variance = s2.iter().zip(&mean).map(|(x, m)| x / n - m * m).collect();
        let pair_cov = sp
            .iter()
            .zip(pairs)
            .map(|(x, &[i, j])| x / n - mean[i as usize] * mean[j as usize])
            .collect();
        Self {
            mean,
            variance,
            pair_cov,
        }
    }
}

/// How closely one set of values follows another.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Largest `|x_k − y_k|`.
    pub max_abs_diff: f64,
    /// Pearson correlation of `x` and `y` (NaN when either is constant).
    pub correlation: f64,
}

impl Agreement {
    /// The agreement of `x` with `y` (same length).
    pub fn of(x: &[f64], y: &[f64]) -> Self {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (a, b) in x.iter().zip(y) {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        Self {
            max_abs_diff: x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max),
            correlation: sxy / (sxx * syy).sqrt(),
        }
    }
}

/// Maximum-likelihood training of inhomogeneous φ⁴ couplings on data: minimises
/// `KL(q‖p) = −⟨ln p⟩_q + const` with `q` the data, whose gradient
/// `∂_kKL = ⟨∂_kS⟩_data − ⟨∂_kS⟩_model` takes the data term from a mini-batch and the
/// model term from persistent chains.
///
/// The model starts at independent sites fitted to the (smoothed) data's per-site mean and
/// variance (`a_i = 1/(2σ_i²)`, `r_i = −μ_i/σ_i²`, `w = 0`; `σ_i² = var_i + s²`, floored at
/// 5% of the average variance and `a_i` capped at 250, so constant pixels start finite), with `b_i = init_b` or 0.  Updates,
/// the reparametrisation `b_i = e^{β_i}`, divergence rules and checkpoints are those of
/// [`crate::VariationalTrainer`].
#[derive(Debug, Clone)]
pub struct DataTrainer {
    data: Vec<f64>,
    n_sites: usize,
    config: DataConfig,
    identity: String,
    model: TrainedModel,
    step: u64,
    history: Vec<StepSummary>,
    order: (u64, Vec<usize>),
    grad: Vec<f64>,
    /// `s²` of [`DataConfig::smoothing`].
    noise_var: f64,
}

impl DataTrainer {
    /// A trainer of a model on `lattice` (pairs `config.model_pairs`) for `data`, samples of
    /// `lattice.n_sites()` values each, back to back, site index `x + lx·y`.
    pub fn new(lattice: &Lattice, data: &[f64], config: DataConfig) -> Result<Self, TrainError> {
        let n_samples = check_data(lattice, data)?;
        config.validate(n_samples)?;
        let model = initial_model(lattice, data, &config)?;
        let mut chains = PersistentChains::new(&model, config.algorithm, config.seed, config.n_chains)?;
        chains.thermalise(config.n_therm);
        let mut free = free_params(&model);
        if !config.quartic {
            free[model.block(ParamBlock::B)].fill(0.0);
        }
        Self::assemble(
            lattice,
            data,
            config,
            chains,
            free,
            Moments::new(model.n_params()),
            0,
            Vec::new(),
        )
    }

    /// A trainer restored from `state` (e.g. a checkpoint) for the same lattice, data and
    /// `config`; anything else is refused.
    pub fn from_state(
        lattice: &Lattice,
        data: &[f64],
        config: DataConfig,
        state: DataTrainerState,
    ) -> Result<Self, TrainError> {
        let n_samples = check_data(lattice, data)?;
        config.validate(n_samples)?;
        let identity = run_identity(lattice, data, &config);
        if state.identity != identity {
            return Err(TrainError::DifferentRun(format!(
                "stored [{}] vs requested [{identity}]",
                state.identity
            )));
        }
        let model = initial_model(lattice, data, &config)?;
        let n = model.n_params();
        if !state.optimizer.fits(n) || state.chains.len() != config.n_chains || state.history.len() as u64 != state.step
        {
            return Err(TrainError::DifferentRun(
                "the stored parameters, moments, chains or history do not fit the model".into(),
            ));
        }
        let (free, moments) = state.optimizer.into_parts();
        let b_block = model.block(ParamBlock::B);
        let mut theta = theta_of(b_block.clone(), &free);
        if !config.quartic {
            theta[b_block].fill(0.0);
        }
        let chains = PersistentChains::from_states(&model.with_params(&theta)?, state.chains)?;
        Self::assemble(lattice, data, config, chains, free, moments, state.step, state.history)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        lattice: &Lattice,
        data: &[f64],
        config: DataConfig,
        chains: PersistentChains,
        free: Vec<f64>,
        moments: Moments,
        step: u64,
        history: Vec<StepSummary>,
    ) -> Result<Self, TrainError> {
        let model = chains.couplings();
        let n = model.n_params();
        let mut trained = vec![true; n];
        if !config.quartic {
            trained[model.block(ParamBlock::B)].fill(false);
        }
        let v = lattice.n_sites();
        let variance = FieldMoments::of(data.chunks_exact(v), v, &[]).variance;
        let noise_var = config.smoothing * variance.iter().sum::<f64>() / v as f64;
        Ok(Self {
            noise_var,
            data: data.to_vec(),
            n_sites: lattice.n_sites(),
            identity: run_identity(lattice, data, &config),
            grad: vec![0.0; n],
            order: (u64::MAX, Vec::new()),
            config,
            model: TrainedModel::new(chains, free, moments, trained),
            step,
            history,
        })
    }

    /// Number of data samples.
    pub fn n_samples(&self) -> usize {
        self.data.len() / self.n_sites
    }

    /// The data samples of step `step`: positions `step·batch ..` of the concatenated
    /// passes, each pass a fresh permutation from the seeded generator (stream
    /// `u64::MAX`, advanced once per pass), so the order depends only on the seed.
    fn batch_indices(&mut self, step: u64) -> Vec<usize> {
        let n = self.n_samples() as u64;
        let start = step * self.config.batch as u64;
        (start..start + self.config.batch as u64)
            .map(|position| {
                let pass = position / n;
                if self.order.0 != pass {
                    self.order = (pass, pass_order(self.config.seed, pass, n as usize));
                }
                self.order.1[(position % n) as usize]
            })
            .collect()
    }

    /// One step: `⟨∂S/∂θ⟩` over the next mini-batch minus `⟨∂S/∂θ⟩` over
    /// `samples_per_step` measurements of every chain (each after `sweeps_per_sample`
    /// sweeps), then one optimiser step.  A step to non-finite, runaway or (Gaussian model)
    /// non-positive-definite couplings is refused with [`TrainError::Diverged`] and the
    /// parameters stay those of the step.
    pub fn step(&mut self) -> Result<StepSummary, TrainError> {
        self.step_shared(&mut AllChains(self.config.n_chains))
    }

    /// [`DataTrainer::step`] with the chains shared among processes: this one sweeps and
    /// measures `share.local()` only, and the chains' `∂S/∂θ` come from
    /// [`ChainShare::all_chains`] in chain order and are summed in the order of one process.
    /// The other chains of this trainer are left as they were; install their states
    /// ([`DataTrainer::set_chain_states`]) before a checkpoint or [`DataTrainer::model_moments`].
    pub fn step_shared(&mut self, share: &mut dyn ChainShare) -> Result<StepSummary, TrainError> {
        let n_chains = self.config.n_chains;
        let local = checked_local(share, n_chains)?;
        let n_params = self.grad.len();
        let mut g = vec![0.0; n_params];
        let mut data_sum = vec![0.0; n_params];
        let indices = self.batch_indices(self.step);
        let model = self.model.chains.couplings();
        for &k in &indices {
            model.grad_action(&self.data[k * self.n_sites..(k + 1) * self.n_sites], &mut g);
            data_sum.iter_mut().zip(&g).for_each(|(s, x)| *s += x);
        }
        let n_batch = indices.len() as f64;
        let s2 = self.noise_var;
        if s2 > 0.0 {
            let (a, b) = (model.block(ParamBlock::A), model.block(ParamBlock::B));
            for (ia, ib) in a.zip(b) {
                let phi2 = data_sum[ia];
                data_sum[ib] += n_batch * 3.0 * s2 * s2 + 6.0 * s2 * phi2;
                data_sum[ia] += n_batch * s2;
            }
        }
        let n_model = (self.config.n_chains * self.config.samples_per_step) as f64;
        // Per local chain, the gradients of its samples back to back.
        let samples = self.config.samples_per_step;
        let mut mine = vec![0.0; local.len() * samples * n_params];
        let chains = &mut self.model.chains;
        for k in 0..samples {
            chains.sweep_range(local.clone(), self.config.sweeps_per_sample);
            let measured = chains.measure_range_with(local.clone(), |s, phi| {
                let mut g = vec![0.0; n_params];
                s.grad_action(phi, &mut g);
                g
            });
            for (c, g) in measured.into_iter().enumerate() {
                mine[(c * samples + k) * n_params..][..n_params].copy_from_slice(&g);
            }
        }
        let all = exchange(share, local, mine, n_chains, samples * n_params)?;
        let mut model_sum = vec![0.0; n_params];
        for k in 0..samples {
            for c in 0..n_chains {
                let g = &all[(c * samples + k) * n_params..][..n_params];
                model_sum.iter_mut().zip(g).for_each(|(s, x)| *s += x);
            }
        }
        for ((g, d), m) in self.grad.iter_mut().zip(&data_sum).zip(&model_sum) {
            *g = d / n_batch - m / n_model;
        }
        let step = self.step;
        let summary = StepSummary {
            step,
            rate: self.config.schedule.rate(step),
            grad_norm: self.grad.iter().map(|g| g * g).sum::<f64>().sqrt(),
            spreads: CouplingSpreads::of(self.couplings()),
        };
        self.model.step(
            (self.config.optimizer, summary.rate, step),
            &mut self.grad,
            !self.config.quartic,
            "the gradient is not finite",
        )?;
        self.step += 1;
        self.history.push(summary);
        Ok(summary)
    }

    /// The current model couplings.
    pub fn couplings(&self) -> &Couplings {
        self.model.chains.couplings()
    }

    /// The current `θ = [w | a | b | r]`.
    pub fn params(&self) -> &[f64] {
        self.model.theta()
    }

    /// The settings.
    pub fn config(&self) -> &DataConfig {
        &self.config
    }

    /// Steps done.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// One summary per step done.
    pub fn history(&self) -> &[StepSummary] {
        &self.history
    }

    /// The moments of the data on the model's pairs.
    pub fn data_moments(&self) -> FieldMoments {
        self.moments_of(&self.data)
    }

    /// The moments of the current model from `n_therm` sweeps and then `n_samples`
    /// measurements per chain, `sweeps` sweeps apart, on copies of the trainer's chains
    /// (which do not move); summed in chain order.
    pub fn model_moments(&self, n_therm: u64, n_samples: usize, sweeps: u64) -> FieldMoments {
        self.moments_of(&self.model_samples(n_therm, n_samples, sweeps))
    }

    /// Equilibrium configurations of the current model, back to back: `n_therm` sweeps, then
    /// `n_samples` measurements per chain `sweeps` sweeps apart, each measurement in chain
    /// order, on copies of the trainer's chains (which do not move).  The last
    /// `n_chains × n_sites` values are one configuration of every chain.
    pub fn model_samples(&self, n_therm: u64, n_samples: usize, sweeps: u64) -> Vec<f64> {
        let mut chains = self.model.chains.clone();
        chains.sweep(n_therm);
        let mut configurations = Vec::with_capacity(n_samples * chains.n_chains() * self.n_sites);
        for _ in 0..n_samples {
            chains.sweep(sweeps.max(1));
            for phi in chains.measure_with(|_, phi| phi.to_vec()) {
                configurations.extend_from_slice(&phi);
            }
        }
        configurations
    }

    /// The moments of `configurations` (back to back) on the model's pairs.
    pub fn moments_of(&self, configurations: &[f64]) -> FieldMoments {
        FieldMoments::of(
            configurations.chunks_exact(self.n_sites),
            self.n_sites,
            self.couplings().pairs(),
        )
    }

    /// The persistent chains.
    pub fn chains(&self) -> &PersistentChains {
        &self.model.chains
    }

    /// Replaces chains `first..` by chains restored from `states` (moved by another process,
    /// see [`DataTrainer::step_shared`]).
    pub fn set_chain_states(&mut self, first: usize, states: Vec<ChainState>) -> Result<(), TrainError> {
        Ok(self.model.chains.set_states(first, states)?)
    }

    /// The state to checkpoint (kind [`DATA_CHECKPOINT_KIND`]).
    pub fn state(&self) -> DataTrainerState {
        DataTrainerState {
            identity: self.identity.clone(),
            step: self.step,
            optimizer: self.model.optimizer_state(),
            history: self.history.clone(),
            chains: self.model.chains.states(),
        }
    }
}

/// The number of samples in `data`, or why it does not fit `lattice`.
fn check_data(lattice: &Lattice, data: &[f64]) -> Result<usize, TrainError> {
    let v = lattice.n_sites();
    if data.is_empty() || !data.len().is_multiple_of(v) {
        return Err(TrainError::InvalidConfig(format!(
            "{} data values are not whole samples of the {}x{} lattice ({v} values each)",
            data.len(),
            lattice.lx(),
            lattice.ly()
        )));
    }
    if let Some(k) = data.iter().position(|x| !x.is_finite()) {
        return Err(TrainError::InvalidConfig(format!(
            "data value {k} (sample {}, site {}) is not finite",
            k / v,
            k % v
        )));
    }
    Ok(data.len() / v)
}

/// The shuffled order of pass `pass` over `n` samples.
fn pass_order(seed: u64, pass: u64, n: usize) -> Vec<usize> {
    let mut rng = chain_rng(seed ^ pass.wrapping_mul(0x9E37_79B9_7F4A_7C15), SHUFFLE_STREAM);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    order
}

/// Lattice, a fingerprint of the data (FNV-1a of the bits) and the settings.
fn run_identity(lattice: &Lattice, data: &[f64], config: &DataConfig) -> String {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, x| {
        x.to_bits()
            .to_le_bytes()
            .iter()
            .fold(h, |h, &byte| (h ^ byte as u64).wrapping_mul(0x0100_0000_01b3))
    });
    format!(
        "lattice {}x{}, {} values with fingerprint {hash:016x}, {}",
        lattice.lx(),
        lattice.ly(),
        data.len(),
        config.describe()
    )
}

/// Independent sites fitted to the data's per-site mean and variance.
fn initial_model(lattice: &Lattice, data: &[f64], config: &DataConfig) -> Result<Couplings, TrainError> {
    let v = lattice.n_sites();
    let FieldMoments { mean, variance, .. } = FieldMoments::of(data.chunks_exact(v), v, &[]);
    let average = variance.iter().sum::<f64>() / v as f64;
    if average <= 0.0 {
        return Err(TrainError::InvalidConfig(
            "every site of the data is constant; there is nothing to learn".into(),
        ));
    }
    let (noise_var, floor) = (config.smoothing * average, 0.05 * average);
    let a: Vec<f64> = variance
        .iter()
        .map(|s2| (0.5 / (s2 + noise_var).max(floor)).min(INITIAL_A_MAX))
        .collect();
    let r = mean.iter().zip(&a).map(|(m, a)| -2.0 * a * m).collect();
    let n_pairs = config.model_pairs.pairs(lattice).len();
    let b = if config.quartic { config.init_b } else { 0.0 };
    Ok(Couplings::on_lattice(
        lattice,
        config.model_pairs,
        vec![0.0; n_pairs],
        a,
        vec![b; v],
        r,
    )?)
}
