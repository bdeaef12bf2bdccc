//! The variational trainer: persistent chains of the model, the gradient of the Bogoliubov
//! bound, an optimiser step per epoch, checkpoints.

use mc_sampler::checkpoint::ChainState;
use mc_sampler::{Algorithm, PersistentChains};
use phi4_action::{Couplings, PairSet, ParamBlock};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::data::{DATA_CHECKPOINT_KIND, DataTrainer, DataTrainerState, StepSummary};
use crate::estimate::{ChainSums, reduce};
use crate::free_energy::{Bound, IntegrationOptions, bound, check_target};
use crate::optimizer::{Moments, Optimizer, OptimizerState, Schedule};
use crate::share::{AllChains, ChainShare, checked_local, exchange};

/// The kind of the trainer's checkpoints (see [`mc_sampler::checkpoint`]).
pub const CHECKPOINT_KIND: &str = "kl-train-variational";

/// A coupling beyond this size in absolute value (or `b_i` above it) means the run has
/// diverged.
pub const MAX_COUPLING: f64 = 1e3;

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// The update rule.
    pub optimizer: Optimizer,
    /// The learning rate of each epoch.
    pub schedule: Schedule,
    /// Persistent chains.
    pub n_chains: usize,
    /// Measurements per chain and epoch (the gradient of an epoch averages
    /// `n_chains × samples_per_epoch` configurations).
    pub samples_per_epoch: usize,
    /// Sweeps before each measurement.
    pub sweeps_per_sample: u64,
    /// Thermalisation sweeps of the initial model.
    pub n_therm: u64,
    /// Schedule of the chains.
    pub algorithm: Algorithm,
    /// Seed of the chains (chain `c` uses `chain_rng(seed, c)`).
    pub seed: u64,
    /// Train the linear couplings `r_i` too (otherwise they stay 0).
    pub train_linear: bool,
    /// Pairs of the model (nearest neighbours, or also the diagonals).
    pub model_pairs: PairSet,
    /// Initial model: `w = 0`, `a_i = init_a`, `b_i = init_b`, `r = 0` (independent sites).
    pub init_a: f64,
    /// See [`TrainConfig::init_a`].
    pub init_b: f64,
}

impl TrainConfig {
    /// Settings that converge on the talk's problem without tuning: Adam with
    /// `η₀ = 0.02`, halved after 400 epochs; 32 heat-bath chains, 8 measurements per chain and
    /// epoch, one sweep apart; 200 thermalisation sweeps; nearest-neighbour model started at
    /// independent sites with `a = 1, b = 0.1`; no linear term.
    pub fn recommended(seed: u64) -> Self {
        Self {
            optimizer: Optimizer::ADAM,
            schedule: Schedule {
                initial: 0.02,
                half_life: 400.0,
            },
            n_chains: 32,
            samples_per_epoch: 8,
            sweeps_per_sample: 1,
            n_therm: 200,
            algorithm: Algorithm::HeatBath,
            seed,
            train_linear: false,
            model_pairs: PairSet::NearestNeighbour,
            init_a: 1.0,
            init_b: 0.1,
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::InvalidConfig(what));
        if self.n_chains == 0 || self.samples_per_epoch == 0 || self.sweeps_per_sample == 0 {
            return bad(format!(
                "chains ({}), samples per epoch ({}) and sweeps per sample ({}) must all be at least 1",
                self.n_chains, self.samples_per_epoch, self.sweeps_per_sample
            ));
        }
        if self.n_chains * self.samples_per_epoch < 2 {
            return bad("an epoch needs at least 2 measurements for a covariance; raise the chains or samples".into());
        }
        if !(self.schedule.initial.is_finite() && self.schedule.initial > 0.0) {
            return bad(format!("the learning rate {} must be positive", self.schedule.initial));
        }
        if self.schedule.half_life.is_nan() || self.schedule.half_life <= 0.0 {
            return bad(format!(
                "the half-life of the learning rate {} must be positive (infinite for a constant rate)",
                self.schedule.half_life
            ));
        }
        if !(self.init_b > 0.0 && self.init_b.is_finite() && self.init_a.is_finite()) {
            return bad(format!(
                "the initial couplings a = {}, b = {} must be finite with b > 0",
                self.init_a, self.init_b
            ));
        }
        Ok(())
    }
}

/// The spread of one block of couplings over sites or pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (over sites or pairs, not an error).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN for none).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Self {
            mean,
            std: var.sqrt(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// The spread of each block of a model's couplings.  Stored in the checkpoints' histories
/// (bincode, fields in order, nothing around them: the same bytes as the four fields
/// written inline).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CouplingSpreads {
    /// Spread of `w` (pairs).
    pub w: Spread,
    /// Spread of `a`.
    pub a: Spread,
    /// Spread of `b`.
    pub b: Spread,
    /// Spread of `r`.
    pub r: Spread,
}

impl CouplingSpreads {
    /// The spreads of `model`'s blocks.
    pub fn of(model: &Couplings) -> Self {
        Self {
            w: Spread::of(model.w()),
            a: Spread::of(model.a()),
            b: Spread::of(model.b()),
            r: Spread::of(model.r()),
        }
    }
}

/// What one epoch measured, at the parameters it sampled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// The epoch (0 is the first).
    pub epoch: u64,
    /// Its learning rate.
    pub rate: f64,
    /// `⟨A − S⟩_p` over the epoch's measurements.
    pub mean_diff: f64,
    /// `⟨A − S⟩_p + ln⟨e^{−(A−S)}⟩_p` over the epoch's measurements: a noisy estimate of
    /// KL(p‖q) = 𝓕 − F_A.
    pub gap: f64,
    /// Euclidean norm of `∂𝓕/∂θ`.
    pub grad_norm: f64,
    /// Spread of each block of the couplings the epoch sampled at.
    pub spreads: CouplingSpreads,
}

/// Everything a trainer's future depends on, plus its history: the payload of its
/// checkpoints (kind [`CHECKPOINT_KIND`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// What run this is (target, lattice, settings); a resume must match it.
    pub identity: RunIdentity,
    /// Epochs done.
    pub epoch: u64,
    /// The free parameters and the optimiser's moments.
    pub optimizer: OptimizerState,
    /// The shift of `A − S` in the sums of the next epoch.
    pub shift: f64,
    /// One summary per epoch done.
    pub history: Vec<EpochSummary>,
    /// The chains, in chain order.
    pub chains: Vec<ChainState>,
}

/// What makes two training runs the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// Lattice extents, or 0 × V for a graph without lattice.
    pub lattice: [usize; 2],
    /// Pair set of the target.
    pub target_pairs: String,
    /// The target's `θ = [w | a | b | r]`.
    pub target: Vec<f64>,
    /// Pair set of the model.
    pub model_pairs: String,
    /// `optimizer`, `η₀`, `t_half`, chains, samples, sweeps, thermalisation, algorithm,
    /// seed, linear, initial `a` and `b`, in words.
    pub settings: String,
}

impl RunIdentity {
    fn new(target: &Couplings, config: &TrainConfig) -> Self {
        let (lattice, target_pairs) = match target.lattice() {
            Some((l, p)) => ([l.lx(), l.ly()], p.name().to_string()),
            None => ([0, target.n_sites()], "graph".to_string()),
        };
        Self {
            lattice,
            target_pairs,
            target: target.params(),
            model_pairs: config.model_pairs.name().to_string(),
            settings: format!(
                "optimizer {:?}, lr {:e}, half-life {:e}, chains {}, samples {}, sweeps {}, therm {}, algorithm {}, \
                 seed {}, linear {}, init a {:e} b {:e}",
                config.optimizer,
                config.schedule.initial,
                config.schedule.half_life,
                config.n_chains,
                config.samples_per_epoch,
                config.sweeps_per_sample,
                config.n_therm,
                config.algorithm.name(),
                config.seed,
                config.train_linear,
                config.init_a,
                config.init_b
            ),
        }
    }

    /// The first way `self` (a checkpoint's run) differs from `other` (the requested run).
    fn difference(&self, other: &RunIdentity) -> Option<String> {
        if self.lattice != other.lattice {
            return Some(format!("lattice {:?} vs {:?}", self.lattice, other.lattice));
        }
        if self.target_pairs != other.target_pairs || self.target != other.target {
            return Some("the target couplings differ".into());
        }
        if self.model_pairs != other.model_pairs {
            return Some(format!("model pairs {} vs {}", self.model_pairs, other.model_pairs));
        }
        if self.settings != other.settings {
            return Some(format!("settings [{}] vs [{}]", self.settings, other.settings));
        }
        None
    }
}

/// Variational training of inhomogeneous φ⁴ couplings `θ` by minimising the Bogoliubov
/// bound `𝓕(θ) = ⟨A − S⟩_p + F_S`, i.e. KL(p‖q).
///
/// The free parameters are `u = [w | a | β | r]` with `b_i = e^{β_i}`, so every `b_i > 0`
/// by construction and the model is always normalisable; `∂𝓕/∂β_i = b_i ∂𝓕/∂b_i`.
#[derive(Debug, Clone)]
pub struct VariationalTrainer {
    target: Couplings,
    config: TrainConfig,
    identity: RunIdentity,
    model: TrainedModel,
    epoch: u64,
    shift: f64,
    history: Vec<EpochSummary>,
    sums: Vec<ChainSums>,
    grad: Vec<f64>,
}

impl VariationalTrainer {
    /// A trainer of a model on the lattice of `target` (pairs `config.model_pairs`) against
    /// the real action `target`, at the initial couplings of `config`, chains thermalised.
    pub fn new(target: &Couplings, config: TrainConfig) -> Result<Self, TrainError> {
        config.validate()?;
        let model = initial_model(target, &config)?;
        let mut chains = PersistentChains::new(&model, config.algorithm, config.seed, config.n_chains)?;
        chains.thermalise(config.n_therm);
        let free = free_params(&model);
        Self::assemble(
            target,
            config,
            chains,
            free,
            Moments::new(model.n_params()),
            0,
            0.0,
            Vec::new(),
        )
    }

    /// A trainer restored from `state` (e.g. a checkpoint) for the same `target` and
    /// `config`; anything else is refused, naming the first difference.
    pub fn from_state(target: &Couplings, config: TrainConfig, state: TrainerState) -> Result<Self, TrainError> {
        config.validate()?;
        let identity = RunIdentity::new(target, &config);
        if let Some(diff) = state.identity.difference(&identity) {
            return Err(TrainError::DifferentRun(diff));
        }
        let model = initial_model(target, &config)?;
        let n = model.n_params();
        if !state.optimizer.fits(n)
            || state.chains.len() != config.n_chains
            || state.history.len() as u64 != state.epoch
        {
            return Err(TrainError::DifferentRun(
                "the stored parameters, moments, chains or history do not fit the model".into(),
            ));
        }
        let (free, moments) = state.optimizer.into_parts();
        let model = model.with_params(&theta_of(model.block(ParamBlock::B), &free))?;
        let chains = PersistentChains::from_states(&model, state.chains)?;
        Self::assemble(
            target,
            config,
            chains,
            free,
            moments,
            state.epoch,
            state.shift,
            state.history,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        target: &Couplings,
        config: TrainConfig,
        chains: PersistentChains,
        free: Vec<f64>,
        moments: Moments,
        epoch: u64,
        shift: f64,
        history: Vec<EpochSummary>,
    ) -> Result<Self, TrainError> {
        let model = chains.couplings();
        check_target(model, target)?;
        let n = model.n_params();
        let mut trained = vec![true; n];
        if !config.train_linear {
            trained[model.block(ParamBlock::R)].fill(false);
        }
        Ok(Self {
            target: target.clone(),
            identity: RunIdentity::new(target, &config),
            sums: vec![ChainSums::new(n); config.n_chains],
            grad: vec![0.0; n],
            config,
            model: TrainedModel::new(chains, free, moments, trained),
            epoch,
            shift,
            history,
        })
    }

    /// One epoch: `samples_per_epoch` measurements of every chain (each after
    /// `sweeps_per_sample` sweeps), the gradient `∂𝓕/∂θ = −Cov(A − S, ∂S/∂θ)` from them, one
    /// optimiser step.  A step that produces non-finite or runaway couplings is refused with
    /// [`TrainError::Diverged`] and the parameters stay those of the epoch.
    pub fn step(&mut self) -> Result<EpochSummary, TrainError> {
        self.step_shared(&mut AllChains(self.config.n_chains))
    }

    /// [`VariationalTrainer::step`] with the chains shared among processes: this one sweeps
    /// and measures `share.local()` only, and the per-chain sums come from
    /// [`ChainShare::all_chains`] in chain order, so every process takes exactly the step of
    /// one process.  The other chains of this trainer are left as they were; install their
    /// states ([`VariationalTrainer::set_chain_states`]) before a checkpoint or a bound.
    pub fn step_shared(&mut self, share: &mut dyn ChainShare) -> Result<EpochSummary, TrainError> {
        let n_chains = self.config.n_chains;
        let local = checked_local(share, n_chains)?;
        let target = &self.target;
        let shift = self.shift;
        self.sums.iter_mut().for_each(ChainSums::clear);
        let n_params = self.grad.len();
        let chains = &mut self.model.chains;
        for _ in 0..self.config.samples_per_epoch {
            chains.sweep_range(local.clone(), self.config.sweeps_per_sample);
            let measured = chains.measure_range_with(local.clone(), |s, phi| {
                let mut g = vec![0.0; n_params];
                s.grad_action(phi, &mut g);
                (target.action(phi) - s.action(phi) - shift, g)
            });
            self.sums[local.clone()]
                .par_iter_mut()
                .zip(measured)
                .for_each(|(sums, (d, g))| sums.add(d, &g));
        }
        let len = self.config.samples_per_epoch + 2 * n_params;
        let mine: Vec<f64> = self.sums[local.clone()].iter().flat_map(ChainSums::record).collect();
        let all = exchange(share, local, mine, n_chains, len)?;
        for (sums, record) in self.sums.iter_mut().zip(all.chunks_exact(len)) {
            sums.set_record(record);
        }
        let estimate = reduce(&self.sums, shift, &mut self.grad);
        let epoch = self.epoch;
        let summary = EpochSummary {
            epoch,
            rate: self.config.schedule.rate(epoch),
            mean_diff: estimate.mean_diff,
            gap: estimate.gap,
            grad_norm: self.grad.iter().map(|g| g * g).sum::<f64>().sqrt(),
            spreads: CouplingSpreads::of(self.couplings()),
        };
        if !estimate.mean_diff.is_finite() {
            return Err(TrainError::diverged(epoch, summary.rate)(
                "the action difference A - S or the gradient is not finite".into(),
            ));
        }
        self.model.step(
            (self.config.optimizer, summary.rate, epoch),
            &mut self.grad,
            false,
            "the action difference A - S or the gradient is not finite",
        )?;
        self.shift = estimate.mean_diff;
        self.epoch += 1;
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

    /// The target action.
    pub fn target(&self) -> &Couplings {
        &self.target
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs done.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// One summary per epoch done.
    pub fn history(&self) -> &[EpochSummary] {
        &self.history
    }

    /// The persistent chains.
    pub fn chains(&self) -> &PersistentChains {
        &self.model.chains
    }

    /// Replaces chains `first..` by chains restored from `states` (moved by another process,
    /// see [`VariationalTrainer::step_shared`]).
    pub fn set_chain_states(&mut self, first: usize, states: Vec<ChainState>) -> Result<(), TrainError> {
        Ok(self.model.chains.set_states(first, states)?)
    }

    /// The state to checkpoint (kind [`CHECKPOINT_KIND`]).
    pub fn state(&self) -> TrainerState {
        TrainerState {
            identity: self.identity.clone(),
            epoch: self.epoch,
            optimizer: self.model.optimizer_state(),
            shift: self.shift,
            history: self.history.clone(),
            chains: self.model.chains.states(),
        }
    }

    /// The Bogoliubov bound of the current model ([`crate::bound`]); the trainer's chains
    /// do not move.
    pub fn bound(&self, options: &IntegrationOptions) -> Result<Bound, TrainError> {
        bound(&self.model.chains, &self.target, options)
    }
}

/// What both trainers do, for code that runs either: steps of the persistent chains (alone
/// or shared among processes), the model they train, and checkpoints.  Each method is the
/// trainer's own method of the same name.
pub trait Trainer {
    /// What one step measured ([`EpochSummary`], [`crate::StepSummary`]).
    type Summary: Copy + PartialEq + std::fmt::Debug;
    /// The payload of the checkpoints ([`TrainerState`], [`crate::DataTrainerState`]).
    type State: Serialize + DeserializeOwned;
    /// The kind of the checkpoints ([`CHECKPOINT_KIND`], [`crate::DATA_CHECKPOINT_KIND`]).
    const CHECKPOINT_KIND: &'static str;

    /// One step: measurements of every chain, then one optimiser step.
    fn step(&mut self) -> Result<Self::Summary, TrainError>;

    /// [`Trainer::step`] with the chains shared among processes.
    fn step_shared(&mut self, share: &mut dyn ChainShare) -> Result<Self::Summary, TrainError>;

    /// Steps (epochs or mini-batches) done.
    fn steps_done(&self) -> u64;

    /// One summary per step done.
    fn history(&self) -> &[Self::Summary];

    /// The current model couplings.
    fn couplings(&self) -> &Couplings;

    /// The current `θ = [w | a | b | r]`.
    fn params(&self) -> &[f64];

    /// The persistent chains.
    fn chains(&self) -> &PersistentChains;

    /// Replaces chains `first..` by chains restored from `states` (moved by another process).
    fn set_chain_states(&mut self, first: usize, states: Vec<ChainState>) -> Result<(), TrainError>;

    /// The state to checkpoint.
    fn state(&self) -> Self::State;
}

/// [`Trainer`] for each `trainer: summary, state, checkpoint kind, steps done`, by the
/// trainer's own methods.
macro_rules! impl_trainer {
    ($($trainer:ty: $summary:ty, $state:ty, $kind:expr, $steps_done:ident;)*) => { $(
        impl Trainer for $trainer {
            type Summary = $summary;
            type State = $state;
            const CHECKPOINT_KIND: &'static str = $kind;

            fn step(&mut self) -> Result<$summary, TrainError> {
                <$trainer>::step(self)
            }

            fn step_shared(&mut self, share: &mut dyn ChainShare) -> Result<$summary, TrainError> {
                <$trainer>::step_shared(self, share)
            }

            fn steps_done(&self) -> u64 {
                <$trainer>::$steps_done(self)
            }

            fn history(&self) -> &[$summary] {
                <$trainer>::history(self)
            }

            fn couplings(&self) -> &Couplings {
                <$trainer>::couplings(self)
            }

            fn params(&self) -> &[f64] {
                <$trainer>::params(self)
            }

            fn chains(&self) -> &PersistentChains {
                <$trainer>::chains(self)
            }

            fn set_chain_states(&mut self, first: usize, states: Vec<ChainState>) -> Result<(), TrainError> {
                <$trainer>::set_chain_states(self, first, states)
            }

            fn state(&self) -> $state {
                <$trainer>::state(self)
            }
        }
    )* };
}

impl_trainer! {
    VariationalTrainer: EpochSummary, TrainerState, CHECKPOINT_KIND, epoch;
    DataTrainer: StepSummary, DataTrainerState, DATA_CHECKPOINT_KIND, steps_done;
}

/// What a trainer moves: the persistent chains at the couplings `θ`, the free parameters `u`
/// with the optimiser's moments, and which entries of `θ` are trained.
#[derive(Debug, Clone)]
pub(crate) struct TrainedModel {
    pub(crate) chains: PersistentChains,
    free: Vec<f64>,
    theta: Vec<f64>,
    trained: Vec<bool>,
    moments: Moments,
}

impl TrainedModel {
    /// The model of `chains` (at `θ` of the free parameters `free`), the optimiser at
    /// `moments`, the entries with `trained[k] == false` held.
    pub(crate) fn new(chains: PersistentChains, free: Vec<f64>, moments: Moments, trained: Vec<bool>) -> Self {
        Self {
            theta: chains.couplings().params(),
            chains,
            free,
            trained,
            moments,
        }
    }

    /// The current `θ`.
    pub(crate) fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// The free parameters and the optimiser's moments, to checkpoint.
    pub(crate) fn optimizer_state(&self) -> OptimizerState {
        OptimizerState::new(&self.free, &self.moments)
    }

    /// One step of `optimizer` at `rate` (the step numbered `step`) along `grad`
    /// ([`optimiser_step`]; with `b_zero` every `b_i` stays 0).  A gradient that is not
    /// finite (`not_finite` says what), or a step the optimiser refuses, is
    /// [`TrainError::Diverged`], and nothing changes.
    pub(crate) fn step(
        &mut self,
        (optimizer, rate, step): (Optimizer, f64, u64),
        grad: &mut [f64],
        b_zero: bool,
        not_finite: &str,
    ) -> Result<(), TrainError> {
        let diverged = TrainError::diverged(step, rate);
        if !grad.iter().all(|g| g.is_finite()) {
            return Err(diverged(not_finite.into()));
        }
        let (free, moments, theta) = optimiser_step(
            &mut self.chains,
            optimizer,
            rate,
            (&self.free, &self.moments),
            grad,
            &self.trained,
            b_zero,
        )
        .map_err(diverged)?;
        self.free = free;
        self.moments = moments;
        self.theta = theta;
        Ok(())
    }
}

/// One step of `optimizer` at `rate` from the free parameters and moments `from` along
/// `grad = ∂L/∂θ` (rescaled in place to `∂L/∂u`, `∂L/∂β = b ∂L/∂b`), entries with
/// `trained[k] == false` held; with `b_zero` every `b_i` stays 0 (a Gaussian model).  The
/// chains take the new couplings.  Non-finite or runaway couplings (beyond [`MAX_COUPLING`]),
/// or couplings the chains refuse, are an `Err` with the reason, and nothing changes.
pub(crate) fn optimiser_step(
    chains: &mut PersistentChains,
    optimizer: Optimizer,
    rate: f64,
    from: (&[f64], &Moments),
    grad: &mut [f64],
    trained: &[bool],
    b_zero: bool,
) -> Result<(Vec<f64>, Moments, Vec<f64>), String> {
    let model = chains.couplings();
    let b_block = model.block(ParamBlock::B);
    for (g, &b) in grad[b_block.clone()].iter_mut().zip(model.b()) {
        *g *= b;
    }
    let mut free = from.0.to_vec();
    let mut moments = from.1.clone();
    moments.step(optimizer, rate, &mut free, grad, trained);
    let mut theta = theta_of(b_block.clone(), &free);
    if b_zero {
        theta[b_block].fill(0.0);
    }
    if let Some(k) = theta.iter().position(|x| !x.is_finite() || x.abs() > MAX_COUPLING) {
        let (name, index) = [ParamBlock::W, ParamBlock::A, ParamBlock::B, ParamBlock::R]
            .into_iter()
            .zip(["w", "a", "b", "r"])
            .find_map(|(block, name)| {
                let range = model.block(block);
                range.contains(&k).then(|| (name, k - range.start))
            })
            .expect("the blocks cover θ");
        return Err(format!("{name}[{index}] became {:e}", theta[k]));
    }
    if let Err(e) = chains.set_params(&theta) {
        return Err(format!("the new couplings are invalid: {e}"));
    }
    Ok((free, moments, theta))
}

/// Independent sites with `a = init_a`, `b = init_b`, on the model's pairs with `w = 0`.
fn initial_model(target: &Couplings, config: &TrainConfig) -> Result<Couplings, TrainError> {
    let Some((lattice, _)) = target.lattice() else {
        return Err(TrainError::InvalidConfig(
            "the target lives on a graph without a lattice; give lattice couplings".into(),
        ));
    };
    let v = lattice.n_sites();
    let n_pairs = config.model_pairs.pairs(&lattice).len();
    Ok(Couplings::on_lattice(
        &lattice,
        config.model_pairs,
        vec![0.0; n_pairs],
        vec![config.init_a; v],
        vec![config.init_b; v],
        vec![0.0; v],
    )?)
}

/// `u = [w | a | ln b | r]`.
pub(crate) fn free_params(model: &Couplings) -> Vec<f64> {
    let mut u = model.params();
    u[model.block(ParamBlock::B)].iter_mut().for_each(|b| *b = b.ln());
    u
}

/// `θ = [w | a | e^β | r]` (`b_block` the range of `b`).
pub(crate) fn theta_of(b_block: std::ops::Range<usize>, free: &[f64]) -> Vec<f64> {
    let mut theta = free.to_vec();
    theta[b_block].iter_mut().for_each(|b| *b = b.exp());
    theta
}
