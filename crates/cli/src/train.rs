//! `qftml train variational`: fit inhomogeneous φ⁴ couplings to a target action by
//! minimising KL(p‖q), with checkpoints, resume and the Bogoliubov bound; `qftml train
//! data`: learn them from samples by minimising KL(data‖model).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use datasets::{Dataset, PixelMap};
use kl_train::{
    ActionDiffOverlap, Agreement, Bound, DataConfig, DataTrainer, EpochSummary, FieldMoments, IntegrationOptions,
    Optimizer, OverlapOptions, Schedule, Spread, StepSummary, TrainConfig, TrainError, Trainer, VariationalTrainer,
    gaussian_free_energy, overlap,
};
use mc_sampler::{Algorithm, checkpoint};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, PairSet, targets};
use records::{MeanErr, Provenance, Record};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::couplings_file::CouplingsFile;
use crate::geometry::LatticeSize;
use crate::mpi_share::{Alone, Placement, StepError};
use crate::output::{Output, progress_bar, provenance, write_atomic};
use crate::sample::HomogeneousArgs;

/// Train φ⁴ couplings.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub mode: TrainMode,
}

/// What to train against.
#[derive(Debug, Subcommand)]
pub enum TrainMode {
    /// Minimise KL(p‖q) of an inhomogeneous nearest-neighbour φ⁴ model p against a target
    /// action q (the Bogoliubov bound 𝓕 = ⟨A − S⟩_p + F_S ≥ F_A).
    Variational(VariationalArgs),
    /// Learn the couplings of a φ⁴ model from samples (IDX images, .npy, CSV) by minimising
    /// KL(data‖model), i.e. maximum likelihood.
    Data(DataTrainArgs),
}

/// Train every coupling (w_ij, a_i, b_i = e^β_i > 0, optionally r_i) of a φ⁴ model to the
/// target action A: homogeneous φ⁴ (--kappa --mu2 --lambda, optionally --g-nnn, which the
/// nearest-neighbour model cannot represent) or couplings from --target-couplings.  The
/// defaults converge on the talk's problem (--lattice 8 --kappa 1 --mu2 -0.9515
/// --lambda 0.7).  With --out DIR the run writes config.json, checkpoint.qftmlckp (every
/// --checkpoint-every epochs), couplings.json (a qftml-couplings file for `qftml sample
/// --couplings`), bounds.json and results.json; --resume DIR continues such a run
/// bit-identically (flags given with --resume must agree with the stored run, except
/// --epochs).  --overlap-samples N also samples A − S under the initial and the trained
/// model and under the target itself, for the overlap of the ensembles before and after
/// training.
#[derive(Debug, Args)]
#[command(
    mut_arg("epochs", |a| a.help("Total epochs of the run (a resumed run continues up to this many) [default: 1000]")),
    mut_arg("lr_half_life", |a| a.help("Epochs after which the rate is halved, η_t = η₀/(1 + t/t_half) [default: 400]")),
    mut_arg("samples", |a| a.help("Measurements per chain and epoch, one sweep apart [default: 8]"))
)]
pub struct VariationalArgs {
    /// Periodic lattice size, L or LxLy (at least 4 in each direction).
    #[arg(long)]
    pub lattice: Option<LatticeSize>,
    /// The target action A.
    #[command(flatten)]
    pub target: HomogeneousArgs,
    /// Target couplings file (qftml-couplings JSON) instead of --kappa/--mu2/--lambda.
    #[arg(long)]
    pub target_couplings: Option<PathBuf>,
    #[command(flatten)]
    pub optimiser: OptimiserArgs,
    /// Update schedule of the chains: metropolis, heatbath, cluster, hybrid or sw [default: heatbath].
    #[arg(long)]
    pub algorithm: Option<String>,
    /// Also train the linear couplings r_i (needed for targets with a linear term).
    #[arg(long)]
    pub train_linear: bool,
    /// Seed of the run; chain c uses stream c [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write a checkpoint every this many epochs (and at the end) [default: 100].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Evaluate the bound 𝓕 (with thermodynamic integration) every this many epochs; 0 only
    /// at the end [default: 0].
    #[arg(long)]
    pub bound_every: Option<u64>,
    /// Also evaluate the bound after these epochs (comma-separated, e.g. 10,30,100).
    #[arg(long, value_delimiter = ',')]
    pub bound_at: Option<Vec<u64>>,
    /// Measurements per chain for the bound and at each node of the integration [default: 400].
    #[arg(long)]
    pub bound_samples: Option<usize>,
    /// Gauss–Legendre nodes of the thermodynamic integration [default: 16].
    #[arg(long)]
    pub bound_nodes: Option<usize>,
    /// Measurements per chain (--chains chains, one sweep apart) of A − S under the initial
    /// model, the trained model and the target itself, for the overlap histograms; 0 skips
    /// them [default: 0].
    #[arg(long, allow_hyphen_values = true, value_parser = crate::limits::whole_usize)]
    pub overlap_samples: Option<usize>,
    #[command(flatten)]
    pub run: RunDirArgs,
}

/// The optimiser and the persistent chains: the flags variational and data training share.
/// What an iteration is (an epoch of the chains, or a step through the data) depends on the
/// command, so each command words the help of `--epochs`, `--lr-half-life` and `--samples`
/// with its own defaults.
#[derive(Debug, Args)]
pub struct OptimiserArgs {
    /// Total iterations of the run (a resumed run continues up to this many).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Initial learning rate η₀ [default: 0.02].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Iterations after which the rate is halved.
    #[arg(long)]
    pub lr_half_life: Option<f64>,
    /// Update rule [default: adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Persistent chains [default: 32].
    #[arg(long)]
    pub chains: Option<usize>,
    /// Measurements per chain and iteration, one sweep apart.
    #[arg(long)]
    pub samples: Option<usize>,
}

/// The run directory, the worker threads and the output: the flags variational and data
/// training share.
#[derive(Debug, Args)]
pub struct RunDirArgs {
    /// Worker threads [default: all cores]; results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory for the run's files.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run stored in this directory (its files are updated in place unless
    /// --out names another directory).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

impl RunDirArgs {
    /// The settings stored in the `--resume` directory (the default, nothing given, for a new
    /// run); `what` names the file in errors.
    fn stored_config<C: DeserializeOwned + Default>(&self, what: &str) -> Result<C> {
        match &self.resume {
            Some(dir) => Ok(read_json::<StoredConfig<C>>(&dir.join(CONFIG_FILE), what)?.config),
            None => Ok(C::default()),
        }
    }

    /// Where the run's files go: `--out`, else the `--resume` directory.
    fn out_dir(&self) -> Option<&Path> {
        self.out.as_deref().or(self.resume.as_deref())
    }
}

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerArg {
    /// Plain stochastic gradient descent (as in the talk).
    Sgd,
    /// Adam.
    Adam,
}

/// The resolved settings of a training run, as stored in `config.json` (every key optional
/// when read; flags override it on `--resume`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRunConfig {
    pub lattice: Option<String>,
    pub kappa: Option<f64>,
    pub mu2: Option<f64>,
    pub lambda: Option<f64>,
    pub g_nnn: Option<f64>,
    pub target_couplings: Option<PathBuf>,
    pub epochs: Option<u64>,
    pub lr: Option<f64>,
    pub lr_half_life: Option<f64>,
    pub optimizer: Option<OptimizerArg>,
    pub chains: Option<usize>,
    pub samples: Option<usize>,
    pub algorithm: Option<String>,
    pub train_linear: Option<bool>,
    pub seed: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub bound_every: Option<u64>,
    pub bound_at: Option<Vec<u64>>,
    pub bound_samples: Option<usize>,
    pub bound_nodes: Option<usize>,
    pub overlap_samples: Option<usize>,
}

/// `config.json` of a run: the resolved settings ([`TrainRunConfig`], [`DataRunConfig`]) and
/// where they come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredConfig<C> {
    config: C,
    provenance: Provenance,
}

/// The summary of one block of couplings over sites or pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpreadRecord {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl From<Spread> for SpreadRecord {
    fn from(s: Spread) -> Self {
        Self {
            mean: s.mean,
            std: s.std,
            min: s.min,
            max: s.max,
        }
    }
}

/// The trained couplings, block by block (`r` only when trained; `w` over the
/// nearest-neighbour pairs, `w_diagonal` over the diagonal pairs when the model has them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CouplingSummaries {
    pub w: SpreadRecord,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub w_diagonal: Option<SpreadRecord>,
    pub a: SpreadRecord,
    pub b: SpreadRecord,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub r: Option<SpreadRecord>,
}

impl CouplingSummaries {
    /// The summaries of `c`'s blocks: `w` split at `diagonal_from` where the model has
    /// diagonal pairs, `r` only `with_r`.
    fn of(c: &Couplings, diagonal_from: Option<usize>, with_r: bool) -> Self {
        let n_nn = diagonal_from.unwrap_or(c.w().len());
        Self {
            w: Spread::of(&c.w()[..n_nn]).into(),
            w_diagonal: diagonal_from.map(|n_nn| Spread::of(&c.w()[n_nn..]).into()),
            a: Spread::of(c.a()).into(),
            b: Spread::of(c.b()).into(),
            r: with_r.then(|| Spread::of(c.r()).into()),
        }
    }

    /// Prints the blocks, a line each.
    fn print(&self) {
        for (name, s) in [
            ("w", Some(self.w)),
            ("w (diagonal)", self.w_diagonal),
            ("a", Some(self.a)),
            ("b", Some(self.b)),
            ("r", self.r),
        ] {
            if let Some(s) = s {
                println!(
                    "{name}: mean {:.6}  std {:.6}  min {:.6}  max {:.6}",
                    s.mean, s.std, s.min, s.max
                );
            }
        }
    }
}

/// The Bogoliubov bound at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FreeEnergyRecord {
    /// `𝓕 = ⟨A − S⟩_p + F_S`.
    pub bound: MeanErr,
    /// `F_A = F_S − ln⟨e^{−(A−S)}⟩_p`.
    pub f_target: MeanErr,
    /// `𝓕 − F_A = KL(p‖q)`.
    pub gap: MeanErr,
    /// `F_S`.
    pub f_model: MeanErr,
    /// Whether `F_S` is exact (Gaussian model).
    pub f_model_exact: bool,
    /// The quadrature part of the error of `F_S`.
    pub quadrature_err: f64,
    /// `⟨A − S⟩_p`.
    pub mean_action_diff: MeanErr,
    /// Kish effective sample size of the weights `e^{−(A−S)}`.
    pub ess: f64,
    /// Samples of `A − S`.
    pub n_samples: usize,
    /// `τ_int` of `A − S`.
    pub tau_int: f64,
    /// Exact `F_A = −ln Z_A` when the target is Gaussian.
    pub f_target_exact: Option<f64>,
}

/// The bound at one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundPoint {
    pub epoch: u64,
    pub free_energy: FreeEnergyRecord,
}

/// One epoch of training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: u64,
    pub rate: f64,
    /// `⟨A − S⟩_p` over the epoch's samples.
    pub mean_action_diff: f64,
    /// The epoch's noisy estimate of KL(p‖q).
    pub gap: f64,
    pub w: SpreadRecord,
    pub a: SpreadRecord,
    pub b: SpreadRecord,
}

/// `A − S` under the model `p` and under the target `q` (sampled directly), on common bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionDiffRecord {
    /// `⟨A − S⟩_p`.
    pub mean_under_model: MeanErr,
    /// `⟨A − S⟩_q`.
    pub mean_under_target: MeanErr,
    /// `Σ_k min(p_k, q_k)` over the bins (1: identical histograms, 0: disjoint).
    pub overlap_coefficient: f64,
    /// Kish effective sample size of the weights `e^{−(A−S)}` over the samples of `p`.
    pub ess: f64,
    /// Samples under each of `p` and `q`.
    pub n_samples: usize,
    /// Bin edges.
    pub edges: Vec<f64>,
    /// Fraction of the samples of `p` in each bin.
    pub under_model: Vec<f64>,
    /// Fraction of the samples of `q` in each bin.
    pub under_target: Vec<f64>,
}

impl From<&ActionDiffOverlap> for ActionDiffRecord {
    fn from(o: &ActionDiffOverlap) -> Self {
        Self {
            mean_under_model: MeanErr {
                mean: o.model.mean_diff.mean,
                err: o.model.mean_diff.err,
            },
            mean_under_target: MeanErr {
                mean: o.mean_under_target.mean,
                err: o.mean_under_target.err,
            },
            overlap_coefficient: o.overlap_coefficient,
            ess: o.model.ess,
            n_samples: o.model.n_samples,
            edges: o.histograms.edges.clone(),
            under_model: o.histograms.under_model.clone(),
            under_target: o.histograms.under_target.clone(),
        }
    }
}

/// The overlap of model and target before (initial couplings) and after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverlapStages {
    pub initial: ActionDiffRecord,
    pub trained: ActionDiffRecord,
}

/// Wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainTiming {
    /// Seconds of this invocation.
    pub wall_s: f64,
    /// Seconds of the epochs of this invocation (without the bound).
    pub train_s: f64,
}

impl TrainTiming {
    /// The times of an invocation that began at `start` and trained for `train_s` seconds.
    fn since(start: Instant, train_s: f64) -> Self {
        Self {
            wall_s: start.elapsed().as_secs_f64(),
            train_s,
        }
    }

    /// Prints the times, a line.
    fn print(&self) {
        println!("timing: {:.2} s wall ({:.2} s training)", self.wall_s, self.train_s);
    }
}

/// The result of `qftml train variational` (`--json`, and `results.json` with `--out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainRecord {
    pub schema: u32,
    /// `variational`.
    pub mode: String,
    pub n_sites: usize,
    pub couplings: CouplingSummaries,
    pub free_energy: FreeEnergyRecord,
    /// Epochs done in total.
    pub epochs: u64,
    pub timing: TrainTiming,
    /// At most about 200 epochs, spaced logarithmically, and the last.
    pub history: Vec<EpochRecord>,
    /// The bound at the epochs of --bound-every (and at the end).
    pub bounds: Vec<BoundPoint>,
    /// With --overlap-samples: `A − S` under the model and the target, before and after.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub overlap: Option<OverlapStages>,
    pub config: TrainRunConfig,
    pub provenance: Provenance,
}

records::record!(TrainRecord, "train", schema 1);

const CONFIG_FILE: &str = "config.json";
const CHECKPOINT_FILE: &str = "checkpoint.qftmlckp";
const COUPLINGS_FILE: &str = "couplings.json";
const BOUNDS_FILE: &str = "bounds.json";
const RESULTS_FILE: &str = "results.json";

/// Lays each named field of `$flags` that is given over the same field of `$config`.
macro_rules! lay_flags {
    ($config:expr, $flags:expr; $($field:ident),* $(,)?) => {
        $( lay(&mut $config.$field, &$flags.$field); )*
    };
}

/// Lays `flag` over `setting` when it is given.
fn lay<T: Clone>(setting: &mut Option<T>, flag: &Option<T>) {
    if flag.is_some() {
        setting.clone_from(flag);
    }
}

/// Lays the `--lattice` flag, when given, over `setting` as stored in `config.json`: `LxLy`.
fn lay_lattice(setting: &mut Option<String>, flag: Option<LatticeSize>) {
    if let Some(l) = flag {
        *setting = Some(format!("{}x{}", l.lx, l.ly));
    }
}

/// Lays a switch over `setting`: given, it stores `true`.
fn lay_switch(setting: &mut Option<bool>, flag: bool) {
    if flag {
        *setting = Some(true);
    }
}

/// The stored `--lattice` `size`, which must have the extents `[lx, ly]` of `what` (e.g. "the
/// images").
fn lattice_agreeing(size: &str, [lx, ly]: [usize; 2], what: &str) -> Result<LatticeSize> {
    let l: LatticeSize = size.parse().map_err(anyhow::Error::msg)?;
    if (l.lx, l.ly) != (lx, ly) {
        bail!(
            "--lattice {}x{} disagrees with {what} ({lx}x{ly}); drop --lattice",
            l.lx,
            l.ly
        );
    }
    Ok(l)
}

/// The optimiser settings of a run's `config.json`, borrowed: to lay the flags of
/// [`OptimiserArgs`] over, and to fill in where they are open.
struct OptimiserSettings<'a> {
    epochs: &'a mut Option<u64>,
    lr: &'a mut Option<f64>,
    lr_half_life: &'a mut Option<f64>,
    optimizer: &'a mut Option<OptimizerArg>,
    chains: &'a mut Option<usize>,
    samples: &'a mut Option<usize>,
}

impl OptimiserSettings<'_> {
    /// Lays the given flags of `flags` over these settings.
    fn lay(self, flags: &OptimiserArgs) {
        lay(self.epochs, &flags.epochs);
        lay(self.lr, &flags.lr);
        lay(self.lr_half_life, &flags.lr_half_life);
        lay(self.optimizer, &flags.optimizer);
        lay(self.chains, &flags.chains);
        lay(self.samples, &flags.samples);
    }

    /// Resolves the update rule, the learning-rate schedule, the chains and the samples per
    /// iteration into the given fields of a trainer's configuration: the settings where
    /// given, else Adam and the values the fields hold (those of the recommended
    /// configuration), which then are stored in the settings.  The epochs are left to the
    /// caller: their default depends on the command.
    fn resolve_into(
        self,
        optimizer: &mut Optimizer,
        schedule: &mut Schedule,
        n_chains: &mut usize,
        samples: &mut usize,
    ) {
        *optimizer = match self.optimizer.get_or_insert(OptimizerArg::Adam) {
            OptimizerArg::Sgd => Optimizer::Sgd,
            OptimizerArg::Adam => Optimizer::ADAM,
        };
        *schedule = Schedule {
            initial: *self.lr.get_or_insert(schedule.initial),
            half_life: *self.lr_half_life.get_or_insert(schedule.half_life),
        };
        *n_chains = *self.chains.get_or_insert(*n_chains);
        *samples = *self.samples.get_or_insert(*samples);
    }
}

/// `optimiser()`, the [`OptimiserSettings`] of each run config (they store them under the
/// same names).
macro_rules! borrow_optimiser_settings {
    ($($config:ty),*) => { $(
        impl $config {
            /// The optimiser settings, borrowed.
            fn optimiser(&mut self) -> OptimiserSettings<'_> {
                OptimiserSettings {
                    epochs: &mut self.epochs,
                    lr: &mut self.lr,
                    lr_half_life: &mut self.lr_half_life,
                    optimizer: &mut self.optimizer,
                    chains: &mut self.chains,
                    samples: &mut self.samples,
                }
            }
        }
    )* };
}
borrow_optimiser_settings!(TrainRunConfig, DataRunConfig);

/// The checkpoint interval `setting` holds, `default` where it is open (and then stored in
/// it); an error for 0.
fn checkpoint_interval(setting: &mut Option<u64>, default: u64) -> Result<u64> {
    let every = *setting.get_or_insert(default);
    if every == 0 {
        bail!("--checkpoint-every must be at least 1");
    }
    Ok(every)
}

/// The flags of `a` laid over `config`.
fn merged(mut config: TrainRunConfig, a: &VariationalArgs) -> TrainRunConfig {
    lay_flags!(config, a.target; kappa, mu2, lambda, g_nnn);
    lay_flags!(
        config, a;
        target_couplings,
        algorithm,
        seed,
        checkpoint_every,
        bound_every,
        bound_at,
        bound_samples,
        bound_nodes,
        overlap_samples
    );
    config.optimiser().lay(&a.optimiser);
    lay_lattice(&mut config.lattice, a.lattice);
    lay_switch(&mut config.train_linear, a.train_linear);
    config
}

/// Everything a run needs, resolved.
struct Plan {
    target: Couplings,
    train: TrainConfig,
    epochs: u64,
    checkpoint_every: u64,
    bound_every: u64,
    bound_at: Vec<u64>,
    bound: IntegrationOptions,
    overlap: Option<OverlapOptions>,
    config: TrainRunConfig,
}

fn target_of(config: &TrainRunConfig) -> Result<Couplings> {
    if let Some(path) = &config.target_couplings {
        if config.kappa.is_some() || config.mu2.is_some() || config.lambda.is_some() || config.g_nnn.is_some() {
            bail!("give either --target-couplings or --kappa/--mu2/--lambda/--g-nnn, not both");
        }
        let c = CouplingsFile::read(path)?;
        let (lattice, _) = c.lattice().context("the target couplings have no lattice")?;
        if let Some(size) = &config.lattice {
            lattice_agreeing(size, [lattice.lx(), lattice.ly()], "the target couplings")?;
        }
        return Ok(c);
    }
    let size: LatticeSize = config
        .lattice
        .as_deref()
        .context("give --lattice L (or LxLy) and the target: --kappa, --mu2, --lambda, or --target-couplings FILE")?
        .parse()
        .map_err(anyhow::Error::msg)?;
    let lattice = size.lattice()?;
    let (Some(kappa), Some(mu2), Some(lambda)) = (config.kappa, config.mu2, config.lambda) else {
        bail!("give all of --kappa, --mu2 and --lambda (or --target-couplings FILE)");
    };
    targets::homogeneous(
        &lattice,
        Homogeneous { kappa, mu2, lambda },
        config.g_nnn.unwrap_or(0.0),
        0.0,
    )
    .context("the target action is not normalisable, so there is nothing to train against")
}

fn plan(mut config: TrainRunConfig) -> Result<Plan> {
    let target = target_of(&config)?;
    let mut train = TrainConfig::recommended(*config.seed.get_or_insert(1));
    config.optimiser().resolve_into(
        &mut train.optimizer,
        &mut train.schedule,
        &mut train.n_chains,
        &mut train.samples_per_epoch,
    );
    train.algorithm = Algorithm::from_name(config.algorithm.get_or_insert_with(|| train.algorithm.name().into()))?;
    train.train_linear = *config.train_linear.get_or_insert(false);
    let bound_samples = *config.bound_samples.get_or_insert(400);
    let bound_nodes = *config.bound_nodes.get_or_insert(16);
    let bound = IntegrationOptions {
        algorithm: train.algorithm,
        n_chains: train.n_chains,
        n_measure: bound_samples,
        n_nodes: bound_nodes,
        ..IntegrationOptions::recommended(train.seed ^ 0x5eed_b00d)
    };
    let checkpoint_every = checkpoint_interval(&mut config.checkpoint_every, 100)?;
    let overlap = match *config.overlap_samples.get_or_insert(0) {
        0 => None,
        1 => bail!("--overlap-samples must be 0 (none) or at least 2"),
        n => Some(OverlapOptions {
            algorithm: train.algorithm,
            n_chains: train.n_chains,
            n_measure: n,
            ..OverlapOptions::recommended(train.seed ^ 0x0be7_1a95)
        }),
    };
    Ok(Plan {
        target,
        train,
        epochs: *config.epochs.get_or_insert(1000),
        checkpoint_every,
        bound_every: *config.bound_every.get_or_insert(0),
        bound_at: config.bound_at.get_or_insert_with(Vec::new).clone(),
        bound,
        overlap,
        config,
    })
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid {what}", path.display()))
}

fn free_energy_record(b: &Bound, target: &Couplings) -> FreeEnergyRecord {
    let me = |e: kl_train::Estimate| MeanErr {
        mean: e.mean,
        err: e.err,
    };
    FreeEnergyRecord {
        bound: me(b.bound),
        f_target: me(b.f_target),
        gap: me(b.gap),
        f_model: me(b.f_model.value),
        f_model_exact: b.f_model.exact,
        quadrature_err: b.f_model.quadrature_err,
        mean_action_diff: me(b.diff.mean_diff),
        ess: b.diff.ess,
        n_samples: b.diff.n_samples,
        tau_int: b.diff.tau_int,
        f_target_exact: gaussian_free_energy(target),
    }
}

fn epoch_record(s: &EpochSummary) -> EpochRecord {
    EpochRecord {
        epoch: s.epoch,
        rate: s.rate,
        mean_action_diff: s.mean_diff,
        gap: s.gap,
        w: s.spreads.w.into(),
        a: s.spreads.a.into(),
        b: s.spreads.b.into(),
    }
}

/// About 200 epochs spaced logarithmically, and the last.
fn thinned(history: &[EpochSummary]) -> Vec<EpochRecord> {
    log_spaced(history.len()).map(|i| epoch_record(&history[i])).collect()
}

/// About 200 indices of `0..n` spaced logarithmically, and the last.
fn log_spaced(n: usize) -> impl Iterator<Item = usize> {
    let mut keep: Vec<usize> = (0..200)
        .map(|k| ((n as f64).powf(k as f64 / 199.0) - 1.0).round() as usize)
        .filter(|&i| i < n)
        .collect();
    keep.push(n.saturating_sub(1));
    keep.dedup();
    keep.into_iter().filter(move |&i| i < n)
}

/// The trainer a run starts from: restored by `restore` from the checkpoint in the `resume`
/// directory, or, where `out_dir` holds no run, new from `start`.  A resume of a different
/// run is refused with what to resume it with (`started_with`, e.g. "the flags").
fn begin_run<T: Trainer>(
    (resume, out_dir): (Option<&Path>, Option<&Path>),
    started_with: &str,
    restore: impl FnOnce(T::State) -> Result<T, TrainError>,
    start: impl FnOnce() -> Result<T, TrainError>,
) -> Result<T> {
    Ok(match resume {
        Some(dir) => {
            let state = checkpoint::load(dir.join(CHECKPOINT_FILE), T::CHECKPOINT_KIND)
                .context("cannot resume from this directory")?;
            restore(state).map_err(|e| resume_error(dir, started_with, e))?
        }
        None => {
            if let Some(dir) = out_dir
                && dir.join(CHECKPOINT_FILE).exists()
            {
                bail!(
                    "{} already holds a training run; continue it with --resume {0} or choose another --out",
                    dir.display()
                );
            }
            start()?
        }
    })
}

/// The progress bar and the checkpoints of a training loop, from `first` to `last` steps
/// (epochs or mini-batches) done.
struct TrainingLoop<'a> {
    bar: indicatif::ProgressBar,
    out_dir: Option<&'a Path>,
    first: u64,
    last: u64,
    checkpoint_every: u64,
}

impl TrainingLoop<'_> {
    /// The summary of a step, or (the bar abandoned) its error and where the last good
    /// checkpoint is.
    fn stepped<T>(&self, step: Result<T, StepError>) -> Result<T> {
        step.map_err(|e| {
            self.bar.abandon();
            anyhow::anyhow!("{e}{}", kept_checkpoint(self.out_dir))
        })
    }

    /// Counts the step that brought `trainer` to its steps done: every ten steps and at the
    /// last the bar shows `message`, every `checkpoint_every` and at the last the run
    /// directory takes the checkpoint of `trainer`.
    fn counted(&self, trainer: &impl Trainer, message: impl FnOnce() -> String) -> Result<()> {
        let done = trainer.steps_done();
        self.bar.inc(1);
        if !self.bar.is_hidden() && (done.is_multiple_of(10) || done == self.last) {
            self.bar.set_message(message());
        }
        if let Some(dir) = self.out_dir
            && (done.is_multiple_of(self.checkpoint_every) || done == self.last)
        {
            save_run(dir, trainer)?;
        }
        Ok(())
    }

    /// Clears the bar; a loop that took no step (the run was done) still leaves the
    /// checkpoint of `trainer` in the run directory.
    fn finish(self, trainer: &impl Trainer) -> Result<()> {
        self.bar.finish_and_clear();
        if let Some(dir) = self.out_dir
            && self.first == trainer.steps_done()
        {
            save_run(dir, trainer)?;
        }
        Ok(())
    }
}

/// Ends a run: `record` becomes `results.json` of `out_dir` and, where `place` is the root,
/// the output.
fn conclude<R: Record>(
    record: &R,
    out_dir: Option<&Path>,
    place: &dyn Placement,
    output: &Output,
    print_text: fn(&R),
) -> Result<()> {
    if let Some(dir) = out_dir {
        write_atomic(&dir.join(RESULTS_FILE), records::to_json(record).as_bytes())?;
    }
    if !place.is_root() {
        return Ok(());
    }
    output.emit(record, print_text)
}

/// Where the last good checkpoint of a failed run is, in words (empty without one).
fn kept_checkpoint(out_dir: Option<&Path>) -> String {
    match out_dir {
        Some(dir) if dir.join(CHECKPOINT_FILE).exists() => {
            format!("; the last good checkpoint is kept in {}", dir.display())
        }
        _ => String::new(),
    }
}

/// A failed resume from `dir` in words: for a different run, that it must be resumed with
/// `started_with` (e.g. "the flags") it was started with.
fn resume_error(dir: &Path, started_with: &str, e: TrainError) -> anyhow::Error {
    match e {
        TrainError::DifferentRun(d) => anyhow::anyhow!(
            "{} holds a different run ({d}); resume with {started_with} it was started with (only --epochs may \
             change), or train into a new --out directory",
            dir.display()
        ),
        e => e.into(),
    }
}

/// Creates the run directory `dir` and writes its `config.json`.
fn write_config<C: Serialize>(dir: &Path, config: &C) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    let stored = StoredConfig {
        config,
        provenance: provenance(),
    };
    write_atomic(
        &dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(&stored)?.as_bytes(),
    )
}

/// Writes the checkpoint of `trainer` and its couplings, as a qftml-couplings file, into
/// `dir`.
fn save_run<T: Trainer>(dir: &Path, trainer: &T) -> Result<()> {
    checkpoint::save(dir.join(CHECKPOINT_FILE), T::CHECKPOINT_KIND, &trainer.state())
        .context("cannot write the checkpoint")?;
    write_atomic(
        &dir.join(COUPLINGS_FILE),
        CouplingsFile::to_json(trainer.couplings())?.as_bytes(),
    )
}

/// Runs `f` on a pool of `threads` workers (all cores for `None`).
fn on_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")?
        .install(f)
}

fn spread_text(s: &Spread) -> String {
    format!("{:.4}±{:.4}", s.mean, s.std)
}

/// Writes `bounds.json` of the run directory `dir`.
fn write_bounds(dir: &Path, bounds: &[BoundPoint]) -> Result<()> {
    write_atomic(&dir.join(BOUNDS_FILE), serde_json::to_string_pretty(bounds)?.as_bytes())
}

pub fn run(args: &TrainArgs) -> Result<()> {
    run_placed(args, &mut Alone)
}

/// [`run`] with the chains where `place` puts them (e.g. shared among MPI ranks).
pub fn run_placed(args: &TrainArgs, place: &mut dyn Placement) -> Result<()> {
    match &args.mode {
        TrainMode::Variational(v) => run_command(
            &v.run,
            "training config (is this a `qftml train --out` directory?)",
            |stored| plan(merged(stored, v)),
            |plan, start| train(v, plan, start, place),
        ),
        TrainMode::Data(d) => run_command(
            &d.run,
            "training config (is this a `qftml train data --out` directory?)",
            |stored| data_plan(merged_data(stored, d)),
            |plan, start| train_on_data(d, plan, start, place),
        ),
    }
}

/// Runs a training command: `plan` resolves its settings (those stored in the `--resume`
/// directory, `what` naming the file in errors, under the flags), then `train` runs on the
/// worker threads, given the time the command began.
fn run_command<C: DeserializeOwned + Default, P: Sync>(
    run: &RunDirArgs,
    what: &str,
    plan: impl FnOnce(C) -> Result<P>,
    train: impl FnOnce(&P, Instant) -> Result<()> + Send,
) -> Result<()> {
    let start = Instant::now();
    let plan = plan(run.stored_config(what)?)?;
    on_threads(run.threads, || train(&plan, start))
}

fn train(args: &VariationalArgs, plan: &Plan, start: Instant, place: &mut dyn Placement) -> Result<()> {
    let out_dir = args.run.out_dir().filter(|_| place.is_root());
    let mut trainer = begin_run(
        (args.run.resume.as_deref(), out_dir),
        "the flags",
        |state| VariationalTrainer::from_state(&plan.target, plan.train, state),
        || VariationalTrainer::new(&plan.target, plan.train),
    )?;
    let mut bounds: Vec<BoundPoint> = match &args.run.resume {
        Some(dir) if dir.join(BOUNDS_FILE).exists() => read_json(&dir.join(BOUNDS_FILE), "bounds file")?,
        _ => Vec::new(),
    };
    bounds.retain(|b| b.epoch <= trainer.epoch());
    if let Some(dir) = out_dir {
        write_config(dir, &plan.config)?;
    }
    let first = trainer.epoch();
    let bar = progress_bar(plan.epochs.saturating_sub(first), "epochs");
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} epochs (eta {eta})\n{msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    let progress = TrainingLoop {
        bar,
        out_dir,
        first,
        last: plan.epochs,
        checkpoint_every: plan.checkpoint_every,
    };
    let mut last_bound = bounds.last().map(|b| b.free_energy.bound.mean);
    let train_start = Instant::now();
    let mut train_s = 0.0;
    while trainer.epoch() < plan.epochs {
        let summary = progress.stepped(place.step_variational(&mut trainer))?;
        let epoch = trainer.epoch();
        progress.counted(&trainer, || {
            let bound_text = last_bound.map_or(String::new(), |f| format!("𝓕 {f:.4} "));
            format!(
                "{bound_text}KL≈{:.4} w {} a {} b {}",
                summary.gap.max(0.0),
                spread_text(&summary.spreads.w),
                spread_text(&summary.spreads.a),
                spread_text(&summary.spreads.b)
            )
        })?;
        let due = (plan.bound_every > 0 && epoch % plan.bound_every == 0) || plan.bound_at.contains(&epoch);
        if due && epoch < plan.epochs {
            let t = Instant::now();
            let b = trainer.bound(&plan.bound)?;
            bounds.push(BoundPoint {
                epoch,
                free_energy: free_energy_record(&b, &plan.target),
            });
            last_bound = Some(b.bound.mean);
            if let Some(dir) = out_dir {
                write_bounds(dir, &bounds)?;
            }
            train_s -= t.elapsed().as_secs_f64();
        }
    }
    train_s += train_start.elapsed().as_secs_f64();
    progress.finish(&trainer)?;
    let final_bound = trainer.bound(&plan.bound)?;
    let free_energy = free_energy_record(&final_bound, &plan.target);
    if bounds.last().is_none_or(|b| b.epoch != trainer.epoch()) {
        bounds.push(BoundPoint {
            epoch: trainer.epoch(),
            free_energy,
        });
    }
    let overlap = match &plan.overlap {
        Some(options) => {
            let initial = VariationalTrainer::new(&plan.target, plan.train)?;
            Some(OverlapStages {
                initial: (&overlap(initial.couplings(), &plan.target, options)?).into(),
                trained: (&overlap(trainer.couplings(), &plan.target, options)?).into(),
            })
        }
        None => None,
    };
    let c = trainer.couplings();
    let record = TrainRecord {
        schema: TrainRecord::SCHEMA,
        mode: "variational".into(),
        n_sites: c.n_sites(),
        couplings: CouplingSummaries::of(c, None, plan.train.train_linear),
        free_energy,
        epochs: trainer.epoch(),
        timing: TrainTiming::since(start, train_s),
        history: thinned(trainer.history()),
        bounds,
        overlap,
        config: plan.config.clone(),
        provenance: provenance(),
    };
    if let Some(dir) = out_dir {
        write_bounds(dir, &record.bounds)?;
    }
    conclude(&record, out_dir, place, &args.run.output, print_text)
}

fn print_text(r: &TrainRecord) {
    println!("variational training on {} sites, {} epochs", r.n_sites, r.epochs);
    r.couplings.print();
    let f = &r.free_energy;
    println!("bound 𝓕 = ⟨A − S⟩ + F_S   {:.6} ± {:.6}", f.bound.mean, f.bound.err);
    println!(
        "F_A (reweighted)           {:.6} ± {:.6}",
        f.f_target.mean, f.f_target.err
    );
    if let Some(exact) = f.f_target_exact {
        println!("F_A (exact, Gaussian)      {exact:.6}");
    }
    println!("gap 𝓕 − F_A = KL(p‖q)      {:.6} ± {:.6}", f.gap.mean, f.gap.err);
    if let Some(o) = &r.overlap {
        for (stage, d) in [("initial", &o.initial), ("trained", &o.trained)] {
            println!(
                "overlap, {stage} model: ⟨A − S⟩_p {:.4} ± {:.4}, ⟨A − S⟩_q {:.4} ± {:.4}, overlap coefficient {:.4}, \
                 ESS {:.1} of {}",
                d.mean_under_model.mean,
                d.mean_under_model.err,
                d.mean_under_target.mean,
                d.mean_under_target.err,
                d.overlap_coefficient,
                d.ess,
                d.n_samples
            );
        }
    }
    println!(
        "F_S {} ({:.6} ± {:.6}, quadrature {:.1e}); ESS {:.0} of {}",
        if f.f_model_exact {
            "exact"
        } else {
            "by thermodynamic integration"
        },
        f.f_model.mean,
        f.f_model.err,
        f.quadrature_err,
        f.ess,
        f.n_samples
    );
    r.timing.print();
}

/// `--pixel-map`: how stored values become field values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelMapArg {
    /// `x / max`: values in [0, 1].
    Unit,
    /// `2x / max − 1`: values in [−1, 1].
    Symmetric,
    /// The values as stored.
    Identity,
}

impl PixelMapArg {
    fn map(self) -> PixelMap {
        match self {
            PixelMapArg::Unit => PixelMap::unit(),
            PixelMapArg::Symmetric => PixelMap::symmetric(),
            PixelMapArg::Identity => PixelMap::Identity,
        }
    }
}

/// Learn every coupling (w_ij, a_i, b_i = e^β_i > 0, r_i) of a nearest-neighbour φ⁴ model
/// from samples by maximum likelihood, i.e. minimal KL(data‖model): the gradient
/// ⟨∂S/∂θ⟩_data − ⟨∂S/∂θ⟩_model from mini-batches and persistent chains.  --data is an IDX
/// image file (gzipped or not; labels from --labels or the sibling *-labels-idx1-ubyte*
/// file), a .npy array of shape (N, Ly, Lx), or (N, L·L) / CSV rows with --lattice.  With
/// --out DIR the run writes config.json, checkpoint.qftmlckp, couplings.json (a
/// qftml-couplings file for `qftml sample --couplings`), moments.json (the per-site moments
/// of the data and of the trained model, and a few configurations of each) and results.json;
/// --resume DIR continues it bit-identically (only --epochs may change).
#[derive(Debug, Args)]
#[command(
    mut_arg("epochs", |a| a.help("Total passes over the data (a resumed run continues up to this many) [default: enough for 2000 steps]")),
    mut_arg("lr_half_life", |a| a.help("Steps (mini-batches) after which the rate is halved [default: 500]")),
    mut_arg("samples", |a| a.help("Measurements per chain and step, one sweep apart [default: 2]")),
    mut_arg("resume", |a| a.help("Continue the run stored in this directory"))
)]
pub struct DataTrainArgs {
    /// The samples: IDX images, .npy or CSV.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Labels of IDX images [default: the sibling *-labels-idx1-ubyte* file].
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Keep only these classes (comma-separated labels, e.g. 3 or 1,7).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<u8>>,
    /// Map from stored values to field values [default: unit for IDX images, identity otherwise].
    #[arg(long, value_enum)]
    pub pixel_map: Option<PixelMapArg>,
    /// Lattice L or LxLy of rows without an image shape (.npy (N, L·L), CSV).
    #[arg(long)]
    pub lattice: Option<LatticeSize>,
    #[command(flatten)]
    pub optimiser: OptimiserArgs,
    /// Data samples per step [default: 100, or all when fewer].
    #[arg(long)]
    pub batch: Option<usize>,
    /// A Gaussian model: every b_i = 0 (kept positive definite) instead of b_i = e^β_i > 0.
    #[arg(long)]
    pub gaussian: bool,
    /// Also couple the diagonal next-nearest pairs ⟨⟨ij⟩⟩ (a coupling per pair, learned like
    /// the nearest-neighbour ones).
    #[arg(long)]
    pub diagonal: bool,
    /// Gaussian smoothing of the data, as a fraction of the average site variance (keeps
    /// constant pixels finite; 0 is plain maximum likelihood) [default: 0.05, 0 with --gaussian].
    #[arg(long)]
    pub smoothing: Option<f64>,
    /// Seed of the chains and of the shuffling [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write a checkpoint every this many steps (and at the end) [default: 500].
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Measurements per chain of the trained model for the moments, two sweeps apart [default: 200].
    #[arg(long)]
    pub moment_samples: Option<usize>,
    #[command(flatten)]
    pub run: RunDirArgs,
}

/// The resolved settings of a data run, as stored in `config.json`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRunConfig {
    pub data: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub classes: Option<Vec<u8>>,
    pub pixel_map: Option<PixelMapArg>,
    pub lattice: Option<String>,
    pub epochs: Option<u64>,
    pub lr: Option<f64>,
    pub lr_half_life: Option<f64>,
    pub optimizer: Option<OptimizerArg>,
    pub chains: Option<usize>,
    pub samples: Option<usize>,
    pub batch: Option<usize>,
    pub gaussian: Option<bool>,
    pub diagonal: Option<bool>,
    pub smoothing: Option<f64>,
    pub seed: Option<u64>,
    pub checkpoint_every: Option<u64>,
    pub moment_samples: Option<usize>,
}

/// How the model's equilibrium samples follow the data, per site (pairs for `nn_corr`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MomentComparison {
    pub mean: Agreement,
    pub variance: Agreement,
    /// The connected nearest-neighbour correlation `⟨φ_iφ_j⟩ − ⟨φ_i⟩⟨φ_j⟩`, per pair.
    pub nn_corr: Agreement,
}

/// Per-site moments of one set of configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteMoments {
    /// `⟨φ_i⟩`, site `i = y·Lx + x`.
    pub mean: Vec<f64>,
    /// `⟨φ_i²⟩ − ⟨φ_i⟩²`.
    pub variance: Vec<f64>,
    /// `⟨φ_iφ_j⟩ − ⟨φ_i⟩⟨φ_j⟩` of every nearest-neighbour pair, in pair order.
    pub nn_corr: Vec<f64>,
}

impl SiteMoments {
    /// The moments of `m` on the first `n_nn` (nearest-neighbour) pairs.
    fn of(m: &FieldMoments, n_nn: usize) -> Self {
        Self {
            mean: m.mean.clone(),
            variance: m.variance.clone(),
            nn_corr: m.pair_cov[..n_nn].to_vec(),
        }
    }
}

/// `moments.json` of a data run (with --out): the data's and the trained model's per-site
/// moments, and a few configurations of each (the data's first rows; the last measurement of
/// the first chains of the model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MomentsFile {
    pub schema: u32,
    /// Lattice extents `[lx, ly]`.
    pub lattice: [usize; 2],
    pub data: SiteMoments,
    pub model: SiteMoments,
    pub data_samples: Vec<Vec<f64>>,
    pub model_samples: Vec<Vec<f64>>,
}

records::record!(MomentsFile, "train-data-moments", schema 1);

const MOMENTS_FILE: &str = "moments.json";

/// Configurations of each kind kept in `moments.json`.
const KEPT_SAMPLES: usize = 16;

/// One step of a data run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: u64,
    pub rate: f64,
    pub grad_norm: f64,
    pub w: SpreadRecord,
    pub a: SpreadRecord,
    pub b: SpreadRecord,
    pub r: SpreadRecord,
}

/// The result of `qftml train data` (`--json`, and `results.json` with `--out`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataTrainRecord {
    pub schema: u32,
    /// `data`.
    pub mode: String,
    /// Lattice extents `[lx, ly]`.
    pub lattice: [usize; 2],
    /// Samples used (after the class filter).
    pub n_samples: usize,
    pub couplings: CouplingSummaries,
    /// Data against `--moment-samples` measurements per chain of the trained model.
    pub moments: MomentComparison,
    /// Steps (mini-batches) done in total.
    pub steps: u64,
    /// Passes over the data done in total.
    pub epochs: f64,
    pub timing: TrainTiming,
    /// At most about 200 steps, spaced logarithmically, and the last.
    pub history: Vec<StepRecord>,
    pub config: DataRunConfig,
    pub provenance: Provenance,
}

records::record!(DataTrainRecord, "train-data", schema 1);

/// The flags of `a` laid over `config`.
fn merged_data(mut config: DataRunConfig, a: &DataTrainArgs) -> DataRunConfig {
    lay_flags!(
        config, a;
        data,
        labels,
        classes,
        pixel_map,
        batch,
        smoothing,
        seed,
        checkpoint_every,
        moment_samples
    );
    config.optimiser().lay(&a.optimiser);
    lay_lattice(&mut config.lattice, a.lattice);
    lay_switch(&mut config.gaussian, a.gaussian);
    lay_switch(&mut config.diagonal, a.diagonal);
    config
}

/// The data as field values on their lattice.
fn load_data(config: &mut DataRunConfig) -> Result<(Lattice, Dataset)> {
    let path = config
        .data
        .clone()
        .context("give the samples with --data FILE (IDX images, .npy or CSV)")?;
    if !path.exists() {
        bail!("--data {} does not exist", path.display());
    }
    let set = match &config.labels {
        Some(labels) => Dataset::load_images(&path, Some(labels)),
        None => Dataset::load(&path),
    }
    .with_context(|| format!("cannot read --data {}", path.display()))?;
    let is_idx = set.labels().is_some() || config.labels.is_some() || path.to_string_lossy().contains("idx");
    let set = match &config.classes {
        Some(classes) => {
            let labels = set
                .labels()
                .context("--classes needs labels: give --labels FILE (IDX labels of the images)")?;
            if let Some(c) = classes.iter().find(|c| !labels.contains(c)) {
                bail!(
                    "no sample of class {c} in {}; choose classes that occur in the labels",
                    path.display()
                );
            }
            set.with_classes(classes)?
        }
        None => set,
    };
    let map = *config.pixel_map.get_or_insert(if is_idx {
        PixelMapArg::Unit
    } else {
        PixelMapArg::Identity
    });
    let set = set.mapped(map.map());
    let lattice = match (set.shape(), &config.lattice) {
        (Some([h, w]), None) => Lattice::new(w, h)
            .with_context(|| format!("the images are {h}x{w}; the lattice must be at least 4 in each direction"))?,
        (Some([h, w]), Some(size)) => lattice_agreeing(size, [w, h], "the images")?.lattice()?,
        (None, Some(size)) => {
            let l: LatticeSize = size.parse().map_err(anyhow::Error::msg)?;
            l.lattice()?
        }
        (None, None) => bail!(
            "{} has rows of {} values without an image shape; give --lattice L (or LxLy)",
            path.display(),
            set.n_features()
        ),
    };
    if lattice.n_sites() != set.n_features() {
        bail!(
            "{} has {} values per sample, but the {}x{} lattice has {} sites; give the matching --lattice",
            path.display(),
            set.n_features(),
            lattice.lx(),
            lattice.ly(),
            lattice.n_sites()
        );
    }
    Ok((lattice, set))
}

/// Everything a data run needs, resolved.
struct DataPlan {
    lattice: Lattice,
    set: Dataset,
    train: DataConfig,
    epochs: u64,
    checkpoint_every: u64,
    moment_samples: usize,
    config: DataRunConfig,
}

fn data_plan(mut config: DataRunConfig) -> Result<DataPlan> {
    let (lattice, set) = load_data(&mut config)?;
    let mut train = DataConfig::recommended(*config.seed.get_or_insert(1));
    config.optimiser().resolve_into(
        &mut train.optimizer,
        &mut train.schedule,
        &mut train.n_chains,
        &mut train.samples_per_step,
    );
    train.batch = *config.batch.get_or_insert(train.batch.min(set.n_samples()));
    train.quartic = !*config.gaussian.get_or_insert(false);
    if *config.diagonal.get_or_insert(false) {
        train.model_pairs = PairSet::Both;
    }
    let default_smoothing = if train.quartic { train.smoothing } else { 0.0 };
    train.smoothing = *config.smoothing.get_or_insert(default_smoothing);
    let checkpoint_every = checkpoint_interval(&mut config.checkpoint_every, 500)?;
    let epochs = *config
        .epochs
        .get_or_insert((2000 * train.batch as u64).div_ceil(set.n_samples() as u64));
    let moment_samples = *config.moment_samples.get_or_insert(200);
    if moment_samples == 0 {
        bail!("--moment-samples must be at least 1");
    }
    Ok(DataPlan {
        lattice,
        set,
        train,
        epochs,
        checkpoint_every,
        moment_samples,
        config,
    })
}

fn step_record(s: &StepSummary) -> StepRecord {
    StepRecord {
        step: s.step,
        rate: s.rate,
        grad_norm: s.grad_norm,
        w: s.spreads.w.into(),
        a: s.spreads.a.into(),
        b: s.spreads.b.into(),
        r: s.spreads.r.into(),
    }
}

fn train_on_data(args: &DataTrainArgs, plan: &DataPlan, start: Instant, place: &mut dyn Placement) -> Result<()> {
    let out_dir = args.run.out_dir().filter(|_| place.is_root());
    let data = plan.set.values();
    let mut trainer = begin_run(
        (args.run.resume.as_deref(), out_dir),
        "the flags and data",
        |state| DataTrainer::from_state(&plan.lattice, data, plan.train, state),
        || DataTrainer::new(&plan.lattice, data, plan.train),
    )?;
    if let Some(dir) = out_dir {
        write_config(dir, &plan.config)?;
    }
    let n_samples = plan.set.n_samples() as u64;
    let total_steps = (plan.epochs * n_samples).div_ceil(plan.train.batch as u64);
    let first = trainer.steps_done();
    let progress = TrainingLoop {
        bar: progress_bar(total_steps.saturating_sub(first), "steps"),
        out_dir,
        first,
        last: total_steps,
        checkpoint_every: plan.checkpoint_every,
    };
    let train_start = Instant::now();
    while trainer.steps_done() < total_steps {
        let summary = progress.stepped(place.step_data(&mut trainer))?;
        progress.counted(&trainer, || {
            format!(
                "w {} a {} b {} r {}",
                spread_text(&summary.spreads.w),
                spread_text(&summary.spreads.a),
                spread_text(&summary.spreads.b),
                spread_text(&summary.spreads.r)
            )
        })?;
    }
    let train_s = train_start.elapsed().as_secs_f64();
    progress.finish(&trainer)?;
    let model_samples = trainer.model_samples(200, plan.moment_samples, 2);
    let model = trainer.moments_of(&model_samples);
    let data_moments = trainer.data_moments();
    let c = trainer.couplings();
    let n_sites = plan.lattice.n_sites();
    let n_nn = PairSet::NearestNeighbour.pairs(&plan.lattice).len();
    let diagonal = plan.train.model_pairs == PairSet::Both;
    let record = DataTrainRecord {
        schema: DataTrainRecord::SCHEMA,
        mode: "data".into(),
        lattice: [plan.lattice.lx(), plan.lattice.ly()],
        n_samples: plan.set.n_samples(),
        couplings: CouplingSummaries::of(c, diagonal.then_some(n_nn), true),
        moments: MomentComparison {
            mean: Agreement::of(&model.mean, &data_moments.mean),
            variance: Agreement::of(&model.variance, &data_moments.variance),
            nn_corr: Agreement::of(&model.pair_cov[..n_nn], &data_moments.pair_cov[..n_nn]),
        },
        steps: trainer.steps_done(),
        epochs: (trainer.steps_done() * plan.train.batch as u64) as f64 / n_samples as f64,
        timing: TrainTiming::since(start, train_s),
        history: log_spaced(trainer.history().len())
            .map(|i| step_record(&trainer.history()[i]))
            .collect(),
        config: plan.config.clone(),
        provenance: provenance(),
    };
    if let Some(dir) = out_dir {
        let rows = |values: &[f64], take_last: bool| -> Vec<Vec<f64>> {
            let rows: Vec<&[f64]> = values.chunks_exact(n_sites).collect();
            let first = if take_last {
                rows.len().saturating_sub(plan.train.n_chains)
            } else {
                0
            };
            rows[first..].iter().take(KEPT_SAMPLES).map(|r| r.to_vec()).collect()
        };
        let moments = MomentsFile {
            schema: MomentsFile::SCHEMA,
            lattice: record.lattice,
            data: SiteMoments::of(&data_moments, n_nn),
            model: SiteMoments::of(&model, n_nn),
            data_samples: rows(plan.set.values(), false),
            model_samples: rows(&model_samples, true),
        };
        write_atomic(&dir.join(MOMENTS_FILE), records::to_json(&moments).as_bytes())?;
    }
    conclude(&record, out_dir, place, &args.run.output, print_data_text)
}

fn print_data_text(r: &DataTrainRecord) {
    println!(
        "learning from {} samples on {}x{}: {} steps ({:.1} passes)",
        r.n_samples, r.lattice[0], r.lattice[1], r.steps, r.epochs
    );
    r.couplings.print();
    let m = &r.moments;
    for (name, a) in [("mean", m.mean), ("variance", m.variance), ("nn_corr", m.nn_corr)] {
        println!(
            "model vs data {name}: max |diff| {:.4}, correlation {:.4}",
            a.max_abs_diff, a.correlation
        );
    }
    r.timing.print();
}
