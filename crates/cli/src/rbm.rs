//! `qftml rbm`: train, evaluate and sample φ⁴ neural networks (generalised RBMs).
//!
//! `train` writes a run directory: `trainer.ckpt` (the exact training state, a
//! `mc_sampler::checkpoint` of kind `phi4-rbm-trainer`: parameters, momentum, chains,
//! generators) and `results.json` (the [`RbmTrainRecord`]).  `--resume DIR` continues such a
//! run to `--epochs` in total and ends bit-identical to a run that never stopped.
//! `eval` and `sample` read a run directory with `--model DIR`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use datasets::{Dataset, PixelMap};
use mc_sampler::checkpoint;
use phi4_rbm::eval::{self, AisConfig, PllMode};
use phi4_rbm::{Data, Network, NetworkChains, NetworkInit, TrainConfig, Trainer, TrainerState, UnitKind};
use records::{Provenance, Record};
use serde::{Deserialize, Serialize};

use crate::limits;
use crate::output::{Output, progress_bar, provenance, write_atomic};
use crate::rundir::{self, Staging};

/// The 8×8 digits shipped with the repository: the default data.
const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits8x8-images-idx3-ubyte.gz");
const CHECKPOINT_FILE: &str = "trainer.ckpt";
const RESULTS_FILE: &str = "results.json";

/// Train, evaluate or sample φ⁴ neural networks.
#[derive(Debug, Args)]
pub struct RbmArgs {
    #[command(subcommand)]
    command: RbmCommand,
}

#[derive(Debug, Subcommand)]
enum RbmCommand {
    /// Train a network on data by CD-k or persistent CD.
    Train(TrainArgs),
    /// Reconstruction error, pseudo-log-likelihood, AIS and exact log-likelihood of a trained network.
    Eval(EvalArgs),
    /// Draw new data from a trained network by block Gibbs sampling.
    Sample(SampleArgs),
    /// Write a trained network's parameters, and optionally its hidden activations of the
    /// training data (the data of the next network of a stack), as `.npy` files.
    Export(ExportArgs),
}

/// Unit types on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UnitArg {
    Phi4,
    Gaussian,
    Bernoulli,
    Spin,
}

impl From<UnitArg> for UnitKind {
    fn from(u: UnitArg) -> Self {
        match u {
            UnitArg::Phi4 => UnitKind::Phi4,
            UnitArg::Gaussian => UnitKind::Gaussian,
            UnitArg::Bernoulli => UnitKind::Bernoulli,
            UnitArg::Spin => UnitKind::Spin,
        }
    }
}

/// The order in which an epoch visits the examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DataOrderArg {
    /// A new random order every epoch.
    Shuffled,
    /// The order of the data file (scikit-learn's `BernoulliRBM`).
    Given,
}

/// Pixel maps on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PixelMapArg {
    /// x / max, into [0, 1].
    Unit,
    /// 2x / max − 1, into [−1, 1].
    Symmetric,
    /// The values as stored.
    Identity,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Data file: IDX (gzipped or not), .npy or CSV [default: the shipped 8×8 digits].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep only these classes (labels from the IDX labels file), e.g. --class 0,3.
    #[arg(long = "class", alias = "classes", value_delimiter = ',')]
    classes: Vec<u8>,
    /// Use only the first N examples.
    #[arg(long, value_parser = limits::whole_usize)]
    n_samples: Option<usize>,
    /// Pixel map [default: unit for binary visible units, symmetric for real ones].
    #[arg(long, value_enum)]
    pixel_map: Option<PixelMapArg>,
    /// Binarize at THRESHOLD after the pixel map (binary visible units; default 0.5).
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    binarize: Option<f64>,
}

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Visible unit type [default: bernoulli].
    #[arg(long, value_enum)]
    visible: Option<UnitArg>,
    /// Hidden unit type [default: bernoulli].
    #[arg(long, value_enum)]
    hidden: Option<UnitArg>,
    /// Number of hidden units [default: 64].
    #[arg(long, value_parser = limits::whole_usize)]
    n_hidden: Option<usize>,
    /// Epochs in total (a resumed run continues up to this number).
    #[arg(long, value_parser = limits::whole_number)]
    epochs: u64,
    /// Mini-batch size, also the number of chains [default: 10].
    #[arg(long, alias = "batch-size", value_parser = limits::whole_usize)]
    batch: Option<usize>,
    /// Learning rate [default: 0.05].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    lr: Option<f64>,
    /// Gibbs steps per update [default: 1].
    #[arg(long, alias = "k", value_parser = limits::whole_usize)]
    cd_k: Option<usize>,
    /// Persistent chains (PCD) instead of CD from the data.
    #[arg(long)]
    persistent: bool,
    /// The order in which each epoch visits the examples [default: shuffled].
    #[arg(long, value_enum)]
    data_order: Option<DataOrderArg>,
    /// Momentum in [0, 1) [default: 0].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    momentum: Option<f64>,
    /// L2 weight decay [default: 0].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    weight_decay: Option<f64>,
    /// Also train the quadratic and quartic coefficients of real units.
    #[arg(long)]
    train_shape: bool,
    /// Seed [default: 1].
    #[arg(long, value_parser = limits::whole_number)]
    seed: Option<u64>,
    /// Run directory to write (trainer.ckpt, results.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this directory (its settings and data are reused).
    #[arg(long)]
    resume: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

/// The settings of a training run, as recorded (and reused by `--resume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmTrainConfig {
    /// Visible unit type.
    pub visible: String,
    /// Hidden unit type.
    pub hidden: String,
    /// Visible units.
    pub n_visible: usize,
    /// Hidden units.
    pub n_hidden: usize,
    /// Epochs in total.
    pub epochs: u64,
    /// Mini-batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Gibbs steps per update.
    pub cd_k: usize,
    /// Persistent CD.
    pub persistent: bool,
    /// A new random order of the examples every epoch (false: the data's order).
    #[serde(default = "shuffled_by_default")]
    pub shuffle: bool,
    /// Momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Quadratic and quartic terms trained.
    pub train_shape: bool,
    /// Seed.
    pub seed: u64,
    /// Initial `(r, a, b)` of every visible unit.
    pub visible_coefficients: [f64; 3],
    /// Initial `(s, m, n)` of every hidden unit.
    pub hidden_coefficients: [f64; 3],
    /// The data file.
    pub data: String,
    /// Classes kept (empty: all).
    pub classes: Vec<u8>,
    /// First N examples only.
    pub n_samples_limit: Option<usize>,
    /// Pixel map.
    pub pixel_map: String,
    /// Binarization threshold.
    pub binarize: Option<f64>,
    /// Examples used.
    pub n_samples: usize,
    /// Image shape, if the data are images.
    pub shape: Option<[usize; 2]>,
}

/// Runs recorded before the data order was a setting shuffled every epoch.
fn shuffled_by_default() -> bool {
    true
}

/// One epoch of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmEpoch {
    /// Epoch, from 1.
    pub epoch: u64,
    /// Mean squared reconstruction error per unit during the epoch.
    pub reconstruction_error: f64,
    /// Pseudo-log-likelihood per example after the epoch (binary visible units; one random
    /// unit per example, scikit-learn's estimate), else null.
    pub pseudo_loglik: Option<f64>,
}

/// Wall-clock times of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmTiming {
    /// Seconds of the whole command.
    pub wall_s: f64,
    /// Training seconds of each epoch run by this command (evaluation excluded).
    pub sec_per_epoch: Vec<f64>,
    /// CPU seconds of the training thread in each epoch (Linux's per-thread scheduler
    /// statistics; empty where they are not available): on a shared machine this is the
    /// cost of the epoch, while the wall time also counts the time other processes ran.
    #[serde(default)]
    pub cpu_s_per_epoch: Vec<f64>,
}

/// CPU seconds the calling thread has run, from `/proc/thread-self/schedstat` (Linux); None
/// elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

/// The `--json` result of `qftml rbm train`, also `results.json` of its run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmTrainRecord {
    /// Schema version.
    pub schema: u32,
    /// Settings.
    pub config: RbmTrainConfig,
    /// Every epoch so far (including those of a resumed run).
    pub epochs: Vec<RbmEpoch>,
    /// Timing of this command.
    pub timing: RbmTiming,
    /// Provenance.
    pub provenance: Provenance,
}

records::record!(RbmTrainRecord, "rbm-train", schema 1);

/// Reads the data of a run: load, class filter, first N, pixel map, binarization (spin
/// units: 0/1 becomes ∓1).
fn load_data(config: &RbmTrainConfig) -> Result<(Data, Option<[usize; 2]>)> {
    let path = Path::new(&config.data);
    let mut set = Dataset::load(path).with_context(|| format!("cannot read --data {}", path.display()))?;
    if !config.classes.is_empty() {
        set = set.with_classes(&config.classes)?;
    }
    if let Some(n) = config.n_samples_limit {
        set = set.first(n);
    }
    let map = match config.pixel_map.as_str() {
        "unit" => PixelMap::unit(),
        "symmetric" => PixelMap::symmetric(),
        _ => PixelMap::Identity,
    };
    let set = set.mapped(map);
    let mut data = Data::from_rows(set.values(), set.n_features())?;
    if let Some(t) = config.binarize {
        data = data.binarized(t);
        if config.visible == "spin" {
            let spins: Vec<f64> = data.matrix().iter().map(|x| 2.0 * x - 1.0).collect();
            data = Data::from_rows(&spins, data.n_features())?;
        }
    }
    Ok((data, set.shape()))
}

/// Default initial coefficients of a unit type: φ⁴ units a double well with minima at ±1
/// (`x⁴/2 − x²`), Gaussian units unit variance (`x²/2`), binary units none.
pub fn default_coefficients(kind: UnitKind) -> [f64; 3] {
    match kind {
        UnitKind::Phi4 => [0.0, -1.0, 0.5],
        UnitKind::Gaussian => [0.0, 0.5, 0.0],
        UnitKind::Bernoulli | UnitKind::Spin => [0.0; 3],
    }
}

fn train_config(c: &RbmTrainConfig) -> TrainConfig {
    TrainConfig {
        batch_size: c.batch,
        learning_rate: c.lr,
        cd_k: c.cd_k,
        persistent: c.persistent,
        momentum: c.momentum,
        weight_decay: c.weight_decay,
        train_shape: c.train_shape,
        seed: c.seed,
        shuffle: c.shuffle,
    }
}

/// The settings of a new run from the flags (defaults filled in).
fn new_config(args: &TrainArgs) -> Result<RbmTrainConfig> {
    let visible: UnitKind = args.visible.unwrap_or(UnitArg::Bernoulli).into();
    let hidden: UnitKind = args.hidden.unwrap_or(UnitArg::Bernoulli).into();
    let binary = visible.is_binary();
    let pixel_map = args.data.pixel_map.unwrap_or(if binary {
        PixelMapArg::Unit
    } else {
        PixelMapArg::Symmetric
    });
    let binarize = match (args.data.binarize, binary) {
        (Some(t), _) => Some(t),
        (None, true) => Some(0.5),
        (None, false) => None,
    };
    let data = args.data.data.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    Ok(RbmTrainConfig {
        visible: visible.name().into(),
        hidden: hidden.name().into(),
        n_visible: 0,
        n_hidden: args.n_hidden.unwrap_or(64),
        epochs: args.epochs,
        batch: args.batch.unwrap_or(10),
        lr: args.lr.unwrap_or(0.05),
        cd_k: args.cd_k.unwrap_or(1),
        persistent: args.persistent,
        shuffle: args.data_order != Some(DataOrderArg::Given),
        momentum: args.momentum.unwrap_or(0.0),
        weight_decay: args.weight_decay.unwrap_or(0.0),
        train_shape: args.train_shape,
        seed: args.seed.unwrap_or(1),
        visible_coefficients: default_coefficients(visible),
        hidden_coefficients: default_coefficients(hidden),
        data: data.to_string_lossy().into_owned(),
        classes: args.data.classes.clone(),
        n_samples_limit: args.data.n_samples,
        pixel_map: serde_json::to_value(pixel_map)?.as_str().unwrap_or("unit").to_owned(),
        binarize,
        n_samples: 0,
        shape: None,
    })
}

/// Flags that a resumed run takes from its directory instead.
fn check_no_settings(args: &TrainArgs) -> Result<()> {
    let given = [
        ("--data", args.data.data.is_some()),
        ("--class", !args.data.classes.is_empty()),
        ("--n-samples", args.data.n_samples.is_some()),
        ("--pixel-map", args.data.pixel_map.is_some()),
        ("--binarize", args.data.binarize.is_some()),
        ("--visible", args.visible.is_some()),
        ("--hidden", args.hidden.is_some()),
        ("--n-hidden", args.n_hidden.is_some()),
        ("--batch", args.batch.is_some()),
        ("--lr", args.lr.is_some()),
        ("--cd-k", args.cd_k.is_some()),
        ("--persistent", args.persistent),
        ("--data-order", args.data_order.is_some()),
        ("--momentum", args.momentum.is_some()),
        ("--weight-decay", args.weight_decay.is_some()),
        ("--train-shape", args.train_shape),
        ("--seed", args.seed.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
        bail!("{flag} cannot be changed when resuming: the run's settings are read from --resume; drop {flag}");
    }
    Ok(())
}

/// A run directory's record and training state.
fn read_run(dir: &Path) -> Result<(RbmTrainRecord, TrainerState)> {
    rundir::verify(dir).with_context(|| format!("{} is not a complete run directory", dir.display()))?;
    let text = std::fs::read_to_string(dir.join(RESULTS_FILE))
        .with_context(|| format!("cannot read {}", dir.join(RESULTS_FILE).display()))?;
    let record: RbmTrainRecord = records::parse(&text).with_context(|| {
        format!(
            "{} is not the results of `qftml rbm train`",
            dir.join(RESULTS_FILE).display()
        )
    })?;
    let state: TrainerState = checkpoint::load(dir.join(CHECKPOINT_FILE), TrainerState::KIND)?;
    Ok((record, state))
}

fn run_train(args: &TrainArgs) -> Result<()> {
    let start = Instant::now();
    let (mut config, mut epochs, mut trainer, data) = match &args.resume {
        Some(dir) => {
            check_no_settings(args)?;
            let (record, state) = read_run(dir)?;
            let mut config = record.config;
            if args.epochs < state.epoch {
                bail!(
                    "--epochs {} is fewer than the {} epochs the run in {} has done; give the total number of epochs",
                    args.epochs,
                    state.epoch,
                    dir.display()
                );
            }
            config.epochs = args.epochs;
            let (data, _) = load_data(&config)?;
            let trainer = Trainer::from_state(state, train_config(&config))?;
            (config, record.epochs, trainer, data)
        }
        None => {
            let mut config = new_config(args)?;
            let (data, shape) = load_data(&config)?;
            config.n_visible = data.n_features();
            config.n_samples = data.n_samples();
            config.shape = shape;
            let init = NetworkInit {
                visible: UnitKind::from_name(&config.visible).context("unit type")?,
                hidden: UnitKind::from_name(&config.hidden).context("unit type")?,
                n_visible: config.n_visible,
                n_hidden: config.n_hidden,
                weight_sd: 0.01,
                visible_coefficients: config.visible_coefficients,
                hidden_coefficients: config.hidden_coefficients,
            };
            limits::check_bipartite(config.n_visible, config.n_hidden)?;
            let network = Network::initial(&init, &mut mc_sampler::chain_rng(config.seed, u64::MAX))?;
            data.check_fits(&network)?;
            let trainer = Trainer::new(network, train_config(&config))?;
            (config, Vec::new(), trainer, data)
        }
    };
    data.check_fits(trainer.network())?;
    let staging = args.out.as_deref().map(Staging::begin).transpose()?;
    let binary = trainer.network().visible().kind().is_binary();
    let todo = config.epochs - trainer.epoch();
    let bar = progress_bar(todo, "epochs");
    let mut sec_per_epoch = Vec::new();
    let mut cpu_s_per_epoch = Vec::new();
    for _ in 0..todo {
        let t = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let summary = trainer.train_epoch(&data)?;
        sec_per_epoch.push(t.elapsed().as_secs_f64());
        if let (Some(begin), Some(end)) = (cpu_start, thread_cpu_seconds()) {
            cpu_s_per_epoch.push(end - begin);
        }
        let pseudo_loglik = if binary {
            Some(eval::pseudo_log_likelihood(
                trainer.network(),
                &data,
                PllMode::RandomUnit { seed: config.seed },
            )?)
        } else {
            None
        };
        epochs.push(RbmEpoch {
            epoch: summary.epoch,
            reconstruction_error: summary.reconstruction_error,
            pseudo_loglik,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    config.n_samples = data.n_samples();
    let record = RbmTrainRecord {
        schema: RbmTrainRecord::SCHEMA,
        config,
        epochs,
        timing: RbmTiming {
            wall_s: start.elapsed().as_secs_f64(),
            sec_per_epoch,
            cpu_s_per_epoch,
        },
        provenance: provenance(),
    };
    args.output.emit(&record, print_train)?;
    if let Some(staging) = staging {
        let state = trainer.state();
        staging
            .write(|dir| {
                checkpoint::save(dir.join(CHECKPOINT_FILE), TrainerState::KIND, &state)?;
                write_atomic(&dir.join(RESULTS_FILE), records::to_json(&record).as_bytes())
            })
            .and_then(|()| staging.commit("rbm train", record.provenance.clone()))
            .context("the run's results are printed above, but --out was not written (it is as it was before)")?;
    }
    Ok(())
}

fn print_train(r: &RbmTrainRecord) {
    let c = &r.config;
    println!(
        "{}–{} network, {} × {} units, {} examples from {}",
        c.visible, c.hidden, c.n_visible, c.n_hidden, c.n_samples, c.data
    );
    println!(
        "{} epochs ({} order), batch {}, lr {}, CD-{}{}, momentum {}, weight decay {}",
        c.epochs,
        if c.shuffle { "shuffled" } else { "given" },
        c.batch,
        c.lr,
        c.cd_k,
        if c.persistent { " (persistent)" } else { "" },
        c.momentum,
        c.weight_decay
    );
    for e in &r.epochs {
        match e.pseudo_loglik {
            Some(p) => println!(
                "epoch {:>4}: reconstruction error {:.5}, pseudo-log-likelihood {p:.3}",
                e.epoch, e.reconstruction_error
            ),
            None => println!(
                "epoch {:>4}: reconstruction error {:.5}",
                e.epoch, e.reconstruction_error
            ),
        }
    }
    let n = r.timing.sec_per_epoch.len().max(1) as f64;
    println!(
        "{:.2} s in total, {:.4} s per epoch",
        r.timing.wall_s,
        r.timing.sec_per_epoch.iter().sum::<f64>() / n
    );
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A run directory written by `qftml rbm train --out`.
    #[arg(long)]
    model: PathBuf,
    /// Evaluate on another data file (same preparation as the training data).
    #[arg(long)]
    data: Option<PathBuf>,
    /// AIS runs (0: no AIS).
    #[arg(long, default_value_t = 100, value_parser = limits::whole_usize)]
    ais_runs: usize,
    /// AIS intermediate distributions.
    #[arg(long, default_value_t = 1000, value_parser = limits::whole_usize)]
    ais_steps: usize,
    /// Seed of AIS and of the random-unit pseudo-log-likelihood.
    #[arg(long, default_value_t = 1, value_parser = limits::whole_number)]
    seed: u64,
    /// Pseudo-log-likelihood over every unit (default) or one random unit per example.
    #[arg(long, value_enum, default_value_t = PllArg::AllUnits)]
    pll: PllArg,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PllArg {
    AllUnits,
    RandomUnit,
}

/// An AIS log-likelihood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AisRecord {
    /// Mean log-likelihood per example, `mean(−F) − ln Ẑ`.
    pub loglik: f64,
    /// Its standard error (that of `ln Ẑ`).
    pub err: f64,
    /// `ln Ẑ`.
    pub log_z: f64,
    /// Runs and steps.
    pub runs: usize,
    /// Intermediate distributions.
    pub steps: usize,
    /// Kish effective number of runs.
    pub effective_runs: f64,
}

/// The `--json` result of `qftml rbm eval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmEvalRecord {
    /// Schema version.
    pub schema: u32,
    /// The run directory.
    pub model: String,
    /// Examples evaluated.
    pub n_samples: usize,
    /// Mean squared reconstruction error per unit.
    pub reconstruction_error: f64,
    /// Mean pseudo-log-likelihood per example (binary visible units), else null.
    pub pseudo_loglik: Option<f64>,
    /// `all-units` or `random-unit`.
    pub pll_mode: String,
    /// AIS log-likelihood, null with `--ais-runs 0`.
    pub ais: Option<AisRecord>,
    /// Exact mean log-likelihood where a layer can be enumerated (or Gaussian–Gaussian), else null.
    pub exact_loglik: Option<f64>,
    /// Seconds of the whole command.
    pub wall_s: f64,
    /// Provenance.
    pub provenance: Provenance,
}

records::record!(RbmEvalRecord, "rbm-eval", schema 1);

fn run_eval(args: &EvalArgs) -> Result<()> {
    let start = Instant::now();
    let (record, state) = read_run(&args.model)?;
    let network = state.network()?;
    let mut config = record.config;
    if let Some(path) = &args.data {
        config.data = path.to_string_lossy().into_owned();
    }
    let (data, _) = load_data(&config)?;
    data.check_fits(&network)?;
    let mode = match args.pll {
        PllArg::AllUnits => PllMode::AllUnits,
        PllArg::RandomUnit => PllMode::RandomUnit { seed: args.seed },
    };
    let pseudo_loglik = if network.visible().kind().is_binary() {
        Some(eval::pseudo_log_likelihood(&network, &data, mode)?)
    } else {
        None
    };
    let ais = if args.ais_runs > 0 {
        let config = AisConfig {
            n_runs: args.ais_runs,
            n_steps: args.ais_steps,
            seed: args.seed,
        };
        let est = eval::ais_log_partition(&network, &config)?;
        Some(AisRecord {
            loglik: eval::log_likelihood(&network, &data, est.log_z)?,
            err: est.err,
            log_z: est.log_z,
            runs: args.ais_runs,
            steps: args.ais_steps,
            effective_runs: est.effective_runs,
        })
    } else {
        None
    };
    let exact_loglik = match eval::exact_log_partition(&network) {
        Ok(log_z) => Some(eval::log_likelihood(&network, &data, log_z)?),
        Err(phi4_rbm::RbmError::TooLarge(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let out = RbmEvalRecord {
        schema: RbmEvalRecord::SCHEMA,
        model: args.model.to_string_lossy().into_owned(),
        n_samples: data.n_samples(),
        reconstruction_error: eval::reconstruction_error(&network, &data)?,
        pseudo_loglik,
        pll_mode: match args.pll {
            PllArg::AllUnits => "all-units",
            PllArg::RandomUnit => "random-unit",
        }
        .into(),
        ais,
        exact_loglik,
        wall_s: start.elapsed().as_secs_f64(),
        provenance: provenance(),
    };
    args.output.emit(&out, print_eval)
}

fn print_eval(r: &RbmEvalRecord) {
    println!("{} examples, model {}", r.n_samples, r.model);
    println!("reconstruction error  {:.5}", r.reconstruction_error);
    if let Some(p) = r.pseudo_loglik {
        println!("pseudo-log-likelihood {p:.4} ({})", r.pll_mode);
    }
    if let Some(a) = &r.ais {
        println!(
            "AIS log-likelihood    {:.4} ± {:.4} (ln Z {:.4}, {} runs × {} steps, ESS {:.1})",
            a.loglik, a.err, a.log_z, a.runs, a.steps, a.effective_runs
        );
    }
    if let Some(e) = r.exact_loglik {
        println!("exact log-likelihood  {e:.4}");
    }
}

#[derive(Debug, Args)]
struct SampleArgs {
    /// A run directory written by `qftml rbm train --out`.  Repeat it for a stack, from the
    /// bottom network (trained on the data) up, each trained on the hidden layer of the one
    /// before (`qftml rbm export --activations`): the top network is Gibbs-sampled and its
    /// samples are passed down, a draw `φ ~ p(φ | h)` per network.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// With a stack: the bottom network's visible means `E[φ | h]` instead of a draw.
    #[arg(long)]
    means: bool,
    /// Number of samples (independent chains).
    #[arg(long, default_value_t = 16, value_parser = limits::whole_usize)]
    n: usize,
    /// Gibbs steps per chain.
    #[arg(long, default_value_t = 1000, value_parser = limits::whole_number)]
    sweeps: u64,
    /// Seed (chain c on stream c).
    #[arg(long, default_value_t = 1, value_parser = limits::whole_number)]
    seed: u64,
    /// Feature maps to report (the first N hidden units).
    #[arg(long, default_value_t = 16, value_parser = limits::whole_usize)]
    features: usize,
    /// CSV file for the samples (one per line); printed as JSON rows otherwise.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: Output,
}

/// The `--json` result of `qftml rbm sample`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmSampleRecord {
    /// Schema version.
    pub schema: u32,
    /// The run directory (the bottom network of a stack).
    pub model: String,
    /// Every run directory of a stack, from the bottom up (empty for one network).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
    /// Gibbs steps per chain (of the top network of a stack).
    pub sweeps: u64,
    /// Image shape of a sample, if the training data were images.
    pub shape: Option<[usize; 2]>,
    /// The visible samples, one per chain.
    pub samples: Vec<Vec<f64>>,
    /// The feature maps `w_ij` (fixed `j`) of the first `--features` hidden units.
    pub feature_maps: Vec<Vec<f64>>,
    /// Wall-clock seconds per block Gibbs step of all chains.
    pub sec_per_sweep: f64,
    /// Provenance.
    pub provenance: Provenance,
}

records::record!(RbmSampleRecord, "rbm-sample", schema 1);

fn run_sample(args: &SampleArgs) -> Result<()> {
    use mc_sampler::ModelSampler;
    if args.means && args.model.len() < 2 {
        bail!("--means applies to a stack: give two or more --model directories, or drop --means");
    }
    // The bottom network's record gives the image shape.
    let (record, state) = read_run(&args.model[0])?;
    let mut networks = vec![state.network()?];
    for dir in &args.model[1..] {
        networks.push(read_run(dir)?.1.network()?);
    }
    let feature_maps = (0..args.features.min(networks[0].n_hidden()))
        .map(|j| networks[0].feature_map(j).to_vec())
        .collect();
    let start = Instant::now();
    let samples = if networks.len() == 1 {
        let network = networks.pop().expect("one network");
        let mut chains = NetworkChains::new(network, args.n, args.seed)?;
        let bar = progress_bar(args.sweeps, "sweeps");
        for _ in 0..args.sweeps {
            chains.sweep(1);
            bar.inc(1);
        }
        bar.finish_and_clear();
        chains.visible_rows()
    } else {
        phi4_rbm::sample_stack(&networks, args.n, args.sweeps, args.seed, args.means)
            .context("the --model directories do not form a stack")?
    };
    let sec_per_sweep = start.elapsed().as_secs_f64() / args.sweeps.max(1) as f64;
    if let Some(path) = &args.out {
        let text: String = samples
            .iter()
            .map(|row| row.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        write_atomic(path, text.as_bytes())?;
    }
    let out = RbmSampleRecord {
        schema: RbmSampleRecord::SCHEMA,
        model: args.model[0].to_string_lossy().into_owned(),
        stack: if args.model.len() > 1 {
            args.model.iter().map(|d| d.to_string_lossy().into_owned()).collect()
        } else {
            Vec::new()
        },
        sweeps: args.sweeps,
        shape: record.config.shape,
        samples,
        feature_maps,
        sec_per_sweep,
        provenance: provenance(),
    };
    args.output.emit(&out, print_sample)
}

fn print_sample(r: &RbmSampleRecord) {
    println!(
        "{} samples after {} Gibbs steps ({:.2} µs per step of all chains)",
        r.samples.len(),
        r.sweeps,
        r.sec_per_sweep * 1e6
    );
    if let Some([h, w]) = r.shape {
        for s in r.samples.iter().take(4) {
            let (lo, hi) = s.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            for y in 0..h {
                let line: String = (0..w)
                    .map(|x| {
                        let v = (s[y * w + x] - lo) / (hi - lo).max(1e-12);
                        [' ', '.', ':', '#'][((v * 3.999) as usize).min(3)]
                    })
                    .collect();
                println!("  {line}");
            }
            println!();
        }
    }
}

/// Hidden activations on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ActivationArg {
    /// `E[h | φ]` of every example (real values: the next network needs real visible units,
    /// or `--binarize`).
    Means,
    /// One draw `h ~ p(h | φ)` per example (binary for binary hidden units).
    Samples,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// A run directory written by `qftml rbm train --out`.
    #[arg(long)]
    model: PathBuf,
    /// Directory to write: `weights.npy` (n_visible × n_hidden, column j is the feature map of
    /// hidden unit j) and `{visible,hidden}_{linear,quadratic,quartic}.npy`, in the action's
    /// signs (scikit-learn's `intercept_visible_` is −`visible_linear`).
    #[arg(long)]
    out: PathBuf,
    /// Also write `hidden_activations.npy` (n_samples × n_hidden) from the run's training data:
    /// train the next network of a stack on it with `qftml rbm train --data
    /// DIR/hidden_activations.npy --pixel-map identity`.
    #[arg(long, value_enum)]
    activations: Option<ActivationArg>,
    /// Seed of `--activations samples`.
    #[arg(long, default_value_t = 1, value_parser = limits::whole_number)]
    seed: u64,
    #[command(flatten)]
    output: Output,
}

/// The `--json` result of `qftml rbm export`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RbmExportRecord {
    /// Schema version.
    pub schema: u32,
    /// The run directory.
    pub model: String,
    /// The directory written.
    pub out: String,
    /// The files written, relative to `out`.
    pub files: Vec<String>,
    /// Visible units.
    pub n_visible: usize,
    /// Hidden units.
    pub n_hidden: usize,
    /// `means`, `samples`, or null when no activations were written.
    pub activations: Option<String>,
    /// Examples in `hidden_activations.npy` (0 without `--activations`).
    pub n_samples: usize,
    /// Provenance.
    pub provenance: Provenance,
}

records::record!(RbmExportRecord, "rbm-export", schema 1);

fn run_export(args: &ExportArgs) -> Result<()> {
    let (record, state) = read_run(&args.model)?;
    let network = state.network()?;
    let (nv, nh) = (network.n_visible(), network.n_hidden());
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create --out {}", args.out.display()))?;
    let mut files = Vec::new();
    let mut write = |name: &str, shape: &[usize], values: &[f64]| -> Result<()> {
        write_atomic(&args.out.join(name), &datasets::npy::encode_f64(shape, values))?;
        files.push(name.to_owned());
        Ok(())
    };
    // nalgebra stores W column by column; the file is C order, row i = visible unit i.
    let w = network.weights().transpose();
    write("weights.npy", &[nv, nh], w.as_slice())?;
    for (side, layer) in [("visible", network.visible()), ("hidden", network.hidden())] {
        for (term, values) in [
            ("linear", layer.linear()),
            ("quadratic", layer.quadratic()),
            ("quartic", layer.quartic()),
        ] {
            write(&format!("{side}_{term}.npy"), &[values.len()], values)?;
        }
    }
    let mut n_samples = 0;
    if let Some(kind) = args.activations {
        let (data, _) = load_data(&record.config)?;
        let mut rng = mc_sampler::chain_rng(args.seed, 0);
        let next = eval::hidden_data(&network, &data, (kind == ActivationArg::Samples).then_some(&mut rng))?;
        n_samples = next.n_samples();
        // One example per column is one example per row of the C-ordered file.
        write("hidden_activations.npy", &[n_samples, nh], next.matrix().as_slice())?;
    }
    let out = RbmExportRecord {
        schema: RbmExportRecord::SCHEMA,
        model: args.model.to_string_lossy().into_owned(),
        out: args.out.to_string_lossy().into_owned(),
        files,
        n_visible: nv,
        n_hidden: nh,
        activations: args.activations.map(|a| match a {
            ActivationArg::Means => "means".into(),
            ActivationArg::Samples => "samples".into(),
        }),
        n_samples,
        provenance: provenance(),
    };
    args.output.emit(&out, print_export)
}

fn print_export(r: &RbmExportRecord) {
    println!(
        "{} ({}×{} network) → {}: {}",
        r.model,
        r.n_visible,
        r.n_hidden,
        r.out,
        r.files.join(", ")
    );
}

/// Runs `qftml rbm …`.
pub fn run(args: &RbmArgs) -> Result<()> {
    match &args.command {
        RbmCommand::Train(a) => run_train(a),
        RbmCommand::Eval(a) => run_eval(a),
        RbmCommand::Sample(a) => run_sample(a),
        RbmCommand::Export(a) => run_export(a),
    }
}
