//! `qftml._qftml`: the compiled core of the Python package `qftml`.
//!
//! Lattice φ⁴ field theory as a machine-learning model: a theory with couplings
//! θ = {w_ij, a_i, b_i, r_i} is the Markov random field `p(φ; θ) ∝ exp(−S(φ; θ))`.  This
//! extension calls the `qftml` commands in-process, through the same execution path as the
//! binary (the `cli` library): arguments are parsed by the command's own clap definition,
//! so every check and error message is the command's, and results are the records the
//! binary prints with `--json`, bit for bit.  The Python package (`python/qftml`) maps
//! keyword arguments onto flags and wraps the records in result objects.
//!
//! Long runs release the GIL and run on a thread of their own while the calling thread
//! polls for signals: on Ctrl-C `qftml sample` and the network's training stop at their next
//! progress report or epoch and raise `KeyboardInterrupt`; the other commands (which have
//! no cancellation hook) raise `KeyboardInterrupt` at once and finish in the background,
//! their result discarded (files they were asked to write are still written; the next
//! such command waits for them).
//!
//! ```python
//! import qftml
//! r = qftml.sample(lattice=8, kappa=0.2, mu2=1.0, lam=0.0, sweeps=2000, seed=1)
//! print(r.observables["phi2"].mean, r.to_dict()["exact_free_field"]["run"]["phi2"])
//! ```

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use clap::Parser;
use mc_sampler::chain_rng;
use mc_sampler::ensemble::{LatticeCouplings, StoredEnsemble};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray2, PyUntypedArrayMethods};
use phi4_rbm::eval::{self, PllMode};
use phi4_rbm::{Data, Network, NetworkInit, TrainConfig, Trainer, UnitKind};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// The unwinding payload that stops a cancelled run.
struct Cancelled;

/// Set when the caller was interrupted; the run stops at its next check.
#[derive(Clone)]
struct Cancel(Arc<AtomicBool>);

impl Cancel {
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// Unwinds out of the run (to the thread's `catch_unwind`) when cancelled.
    fn check(&self) {
        if self.is_set() {
            std::panic::resume_unwind(Box::new(Cancelled));
        }
    }
}

fn value_error(err: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{err:#}"))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `work` on a thread of its own with the GIL released, polling for signals every
/// 50 ms.  On a signal the cancel flag is set and the signal's exception is returned beside
/// the work's result: with `wait`, after the work has stopped (it must check the flag);
/// without, at once (the work finishes in the background and its result is dropped).
/// A panic in the work becomes a `RuntimeError`, never an abort.
fn interruptible<T: Send + 'static>(
    py: Python<'_>,
    wait: bool,
    work: impl FnOnce(Cancel) -> T + Send + 'static,
) -> PyResult<(Option<T>, Option<PyErr>)> {
    let cancel = Cancel(Arc::new(AtomicBool::new(false)));
    let (tx, rx) = channel();
    let flag = cancel.clone();
    std::thread::Builder::new()
        .name("qftml-run".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| work(flag)));
            let _ = tx.send(result);
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the run's thread: {e}")))?;
    let mut interrupted = None;
    let mut rx = rx;
    loop {
        let (back, received) = py.allow_threads(move || {
            let received = rx.recv_timeout(Duration::from_millis(50));
            (rx, received)
        });
        rx = back;
        match received {
            Ok(Ok(value)) => return Ok((Some(value), interrupted)),
            Ok(Err(payload)) => {
                if payload.is::<Cancelled>() {
                    return Ok((None, interrupted.or_else(|| Some(PyKeyboardInterrupt::new_err(())))));
                }
                return Err(PyRuntimeError::new_err(format!(
                    "internal error in qftml (please report): {}",
                    panic_message(payload.as_ref())
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                if interrupted.is_none()
                    && let Err(signal) = py.check_signals()
                {
                    cancel.0.store(true, Ordering::Relaxed);
                    if !wait {
                        return Ok((None, Some(signal)));
                    }
                    interrupted = Some(signal);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("the run's thread ended without a result"));
            }
        }
    }
}

/// The value of a run that may have been interrupted.
fn finished<T>(outcome: (Option<T>, Option<PyErr>)) -> PyResult<T> {
    match outcome {
        (_, Some(signal)) => Err(signal),
        (Some(value), None) => Ok(value),
        (None, None) => Err(PyKeyboardInterrupt::new_err(())),
    }
}

/// Parses a command line with the command's own clap definition; a clap error becomes a
/// `ValueError` with clap's message (its first line, without `error: `).
fn parse<T: Parser>(argv: &[String]) -> PyResult<T> {
    T::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        PyValueError::new_err(first.strip_prefix("error: ").unwrap_or(first).to_string())
    })
}

/// `qftml sample` as clap parses it.
#[derive(Parser)]
#[command(name = "qftml sample")]
struct SampleCommand {
    #[command(flatten)]
    args: cli::sample::SampleArgs,
}

/// Every `qftml` command, for the commands run through their `run` function.
#[derive(Parser)]
#[command(name = "qftml")]
struct AnyCommand {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    Reweight(cli::reweight::ReweightArgs),
    Train(cli::train::TrainArgs),
    Irg(cli::irg::IrgArgs),
    Rbm(cli::rbm::RbmArgs),
    Data(cli::data::DataArgs),
}

/// Runs `qftml sample` with the flags `argv` (without the program and command names).
///
/// Returns the record `qftml sample --json` prints (as JSON text; its provenance names the
/// equivalent command line `qftml sample ARGV`) and, with `keep_configs`, every measured
/// configuration as an `(n, Ly, Lx)` array, chain after chain.
#[pyfunction]
#[pyo3(signature = (argv, keep_configs))]
fn sample<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    keep_configs: bool,
) -> PyResult<(String, Option<Bound<'py, PyArray3<f64>>>)> {
    let mut line: Vec<String> = vec!["qftml".into(), "sample".into()];
    line.extend(argv);
    let command: SampleCommand = parse(&line[1..])?;
    let run = interruptible(py, true, move |cancel| {
        cli::output::with_command_line(line, || {
            cli::sample::execute(&command.args, keep_configs, |_| cancel.check())
        })
    })?;
    let outcome = finished(run)?.map_err(value_error)?;
    let json = records::to_json(&outcome.record);
    let configs = if keep_configs {
        let (lx, ly) = outcome
            .couplings
            .lattice()
            .map(|(l, _)| (l.lx(), l.ly()))
            .ok_or_else(|| PyRuntimeError::new_err("the sampled couplings have no lattice"))?;
        let values: Vec<f64> = outcome
            .output
            .chains
            .into_iter()
            .flat_map(|c| c.configs.unwrap_or_default())
            .collect();
        let n = values.len() / (lx * ly);
        let array = Array3::from_shape_vec((n, ly, lx), values).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Some(array.into_pyarray(py))
    } else {
        None
    };
    Ok((json, configs))
}

/// Runs a `qftml` command (`reweight`, `train`, `irg`, `rbm`, `data`) with the command line
/// `argv` (without the program name) through the command's own `run`, and returns the
/// records it emits as the JSON text `--json` prints (their provenance names the
/// equivalent command line `qftml ARGV`).
#[pyfunction]
fn run_command(py: Python<'_>, argv: Vec<String>) -> PyResult<Vec<String>> {
    let mut line: Vec<String> = vec!["qftml".into()];
    line.extend(argv);
    let command: AnyCommand = parse(&line)?;
    let run = interruptible(py, false, move |_| {
        cli::output::capture_records(line, || match &command.command {
            Command::Reweight(args) => cli::reweight::run(args),
            Command::Train(args) => cli::train::run(args),
            Command::Irg(args) => cli::irg::run(args),
            Command::Rbm(args) => cli::rbm::run(args),
            Command::Data(args) => cli::data::run(args),
        })
    })?;
    let (result, records) = finished(run)?;
    result.map_err(value_error)?;
    Ok(records)
}

/// Reads a couplings file (`qftml-couplings` JSON) and returns it validated, as
/// `(lattice (Lx, Ly), pair_set, w, a, b, r)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn read_couplings<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
) -> PyResult<(
    (usize, usize),
    String,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let couplings = cli::couplings_file::CouplingsFile::read(&path).map_err(value_error)?;
    let c = LatticeCouplings::of(&couplings)
        .ok_or_else(|| PyValueError::new_err("the couplings do not live on a lattice"))?;
    Ok((
        (c.lattice[0], c.lattice[1]),
        c.pair_set,
        c.w.into_pyarray(py),
        c.a.into_pyarray(py),
        c.b.into_pyarray(py),
        c.r.into_pyarray(py),
    ))
}

/// Validates couplings (sizes, finiteness, normalisability) and writes them atomically as a
/// couplings file that `qftml sample --couplings` reads.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn write_couplings(
    path: std::path::PathBuf,
    lattice: (usize, usize),
    pair_set: String,
    w: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    r: Vec<f64>,
) -> PyResult<()> {
    let stored = LatticeCouplings {
        lattice: [lattice.0, lattice.1],
        pair_set,
        w,
        a,
        b,
        r,
    };
    let couplings = stored.couplings().map_err(|e| value_error(e.into()))?;
    let text = cli::couplings_file::CouplingsFile::to_json(&couplings).map_err(value_error)?;
    cli::output::write_atomic(&path, text.as_bytes()).map_err(value_error)
}

/// Reads an ensemble file (`ensemble.qfe` of `qftml sample --out`), checked as `qftml
/// reweight` checks it.  Returns `(configs (n, Ly, Lx) or None, actions (n,), chain of each
/// configuration (n,), algorithm, seed)`.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn read_ensemble<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
) -> PyResult<(
    Option<Bound<'py, PyArray3<f64>>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    String,
    u64,
)> {
    let ensemble = StoredEnsemble::read(&path)
        .map_err(|e| PyValueError::new_err(format!("cannot read ensemble {}: {e}", path.display())))?;
    let lattice = ensemble.lattice();
    let (lx, ly) = (lattice.lx(), lattice.ly());
    let configs = if ensemble.has_configs() {
        let values: Vec<f64> = ensemble.configs().flat_map(|c| c.iter().copied()).collect();
        let n = values.len() / (lx * ly);
        let array = Array3::from_shape_vec((n, ly, lx), values).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Some(array.into_pyarray(py))
    } else {
        None
    };
    let n_sites = (lx * ly) as f64;
    let densities = ensemble
        .observable("action_density")
        .ok_or_else(|| PyRuntimeError::new_err("the ensemble has no actions"))?;
    let chain_of: Vec<u64> = densities
        .iter()
        .enumerate()
        .flat_map(|(c, s)| std::iter::repeat_n(c as u64, s.len()))
        .collect();
    let actions: Vec<f64> = densities.into_iter().flatten().map(|d| d * n_sites).collect();
    let header = ensemble.header();
    Ok((
        configs,
        Array1::from(actions).into_pyarray(py),
        Array1::from(chain_of).into_pyarray(py),
        header.algorithm.clone(),
        header.seed,
    ))
}

/// Rows of a 2-D float64 array as the networks' data.
fn data_of(x: &PyReadonlyArray2<'_, f64>) -> PyResult<Data> {
    let [n, n_features] = [x.shape()[0], x.shape()[1]];
    let values: Vec<f64> = match x.as_slice() {
        Ok(slice) => slice.to_vec(),
        Err(_) => x.as_array().iter().copied().collect(),
    };
    if n == 0 {
        return Err(PyValueError::new_err("X has no rows; give at least one example"));
    }
    Data::from_rows(&values, n_features).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn unit_kind(name: &str) -> PyResult<UnitKind> {
    UnitKind::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown unit type {name:?}; give bernoulli, gaussian, phi4 or spin"
        ))
    })
}

/// A φ⁴ network with its trainer (`phi4_rbm::Trainer`): the core of `qftml.RBM`.
#[pyclass(module = "qftml._qftml")]
struct RbmCore {
    trainer: Option<Trainer>,
    /// Seed of the Gibbs draws of `gibbs` (stream `k` for its `k`-th call).
    seed: u64,
    gibbs_calls: u64,
}

impl RbmCore {
    fn trainer(&self) -> PyResult<&Trainer> {
        self.trainer
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("the network was lost by an interrupted epoch"))
    }
    fn network(&self) -> PyResult<&Network> {
        Ok(self.trainer()?.network())
    }
}

#[pymethods]
impl RbmCore {
    /// A new network (weights `N(0, weight_sd²)` from stream `u64::MAX` of `seed`, as
    /// `qftml rbm train` draws them) and its trainer.
    #[new]
    #[pyo3(signature = (visible, hidden, n_visible, n_hidden, learning_rate, batch_size, seed, weight_sd, cd_k, persistent, momentum, weight_decay, shuffle))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        visible: &str,
        hidden: &str,
        n_visible: usize,
        n_hidden: usize,
        learning_rate: f64,
        batch_size: usize,
        seed: u64,
        weight_sd: f64,
        cd_k: usize,
        persistent: bool,
        momentum: f64,
        weight_decay: f64,
        shuffle: bool,
    ) -> PyResult<Self> {
        let (visible, hidden) = (unit_kind(visible)?, unit_kind(hidden)?);
        cli::limits::check_bipartite(n_visible, n_hidden).map_err(value_error)?;
        let init = NetworkInit {
            visible,
            hidden,
            n_visible,
            n_hidden,
            weight_sd,
            visible_coefficients: cli::rbm::default_coefficients(visible),
            hidden_coefficients: cli::rbm::default_coefficients(hidden),
        };
        let network = Network::initial(&init, &mut chain_rng(seed, u64::MAX))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let config = TrainConfig {
            batch_size,
            learning_rate,
            cd_k,
            persistent,
            momentum,
            weight_decay,
            train_shape: false,
            seed,
            shuffle,
        };
        let trainer = Trainer::new(network, config).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self {
            trainer: Some(trainer),
            seed,
            gibbs_calls: 0,
        })
    }

    /// `n_epochs` passes over the rows of `x` (mini-batches in a fresh random order each
    /// pass); returns each epoch's reconstruction error.  Stops after the current epoch on
    /// Ctrl-C (the epochs done are kept) and raises `KeyboardInterrupt`.
    fn fit_epochs(&mut self, py: Python<'_>, x: PyReadonlyArray2<'_, f64>, n_epochs: usize) -> PyResult<Vec<f64>> {
        let data = data_of(&x)?;
        data.check_fits(self.network()?)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut trainer = self.trainer.take().ok_or_else(|| self.trainer().unwrap_err())?;
        let run = interruptible(py, true, move |cancel| {
            let mut errors = Vec::with_capacity(n_epochs);
            let mut result = Ok(());
            for _ in 0..n_epochs {
                if cancel.is_set() {
                    break;
                }
                match trainer.train_epoch(&data) {
                    Ok(summary) => errors.push(summary.reconstruction_error),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            (trainer, result.map(|()| errors))
        })?;
        match run {
            (Some((trainer, result)), signal) => {
                self.trainer = Some(trainer);
                if let Some(signal) = signal {
                    return Err(signal);
                }
                result.map_err(|e| PyValueError::new_err(e.to_string()))
            }
            (None, signal) => Err(signal.unwrap_or_else(|| PyKeyboardInterrupt::new_err(()))),
        }
    }

    /// `E[h | φ]` of every row of `x`, `(n, n_hidden)`.
    fn transform<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'_, f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let network = self.network()?;
        let data = data_of(&x)?;
        data.check_fits(network)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let n = data.n_samples();
        let values: Vec<f64> = (0..n).flat_map(|k| network.hidden_means(data.example(k))).collect();
        let array = Array2::from_shape_vec((n, network.n_hidden()), values)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    /// scikit-learn's `score_samples`: per row, `n_visible · ln σ(F(φ⁽ⁱ⁾) − F(φ))` with one
    /// unit `i` flipped, drawn for row `k` from stream 0 of seed `seed + k`.
    fn score_samples<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'_, f64>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let network = self.network()?;
        let data = data_of(&x)?;
        let nf = data.n_features();
        let scores = (0..data.n_samples())
            .map(|k| {
                let row = Data::from_rows(data.example(k), nf)?;
                eval::pseudo_log_likelihood(
                    network,
                    &row,
                    PllMode::RandomUnit {
                        seed: seed.wrapping_add(k as u64),
                    },
                )
            })
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Array1::from(scores).into_pyarray(py))
    }

    /// The mean pseudo-log-likelihood over every unit (the expectation of
    /// `score_samples` over the flipped unit; deterministic).
    fn pseudo_log_likelihood(&self, x: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
        let data = data_of(&x)?;
        eval::pseudo_log_likelihood(self.network()?, &data, PllMode::AllUnits)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// One block Gibbs step from every row of `x`: `h ~ p(h | φ)`, then `φ ~ p(φ | h)`.
    fn gibbs<'py>(&mut self, py: Python<'py>, x: PyReadonlyArray2<'_, f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let data = data_of(&x)?;
        let network = self.network()?;
        data.check_fits(network)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let n = data.n_samples();
        let stream = self.seed.wrapping_add(self.gibbs_calls).wrapping_add(1 << 62);
        let mut chains =
            phi4_rbm::GibbsChains::new(network, n, stream).map_err(|e| PyValueError::new_err(e.to_string()))?;
        chains.clamp_visible(network, data.matrix(), n);
        chains.sample_visible(network, n);
        let values = chains.visible().as_slice().to_vec();
        let array = Array2::from_shape_vec((n, network.n_visible()), values)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        self.gibbs_calls += 1;
        Ok(array.into_pyarray(py))
    }

    /// The weights as scikit-learn's `components_`: `(n_hidden, n_visible)`, row `j` the
    /// feature map of hidden unit `j`.
    fn components<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let network = self.network()?;
        let values = network.weights().as_slice().to_vec();
        let array = Array2::from_shape_vec((network.n_hidden(), network.n_visible()), values)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    /// The flat parameters `θ = [w (column by column) | r | a | b | s | m | n]`.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(self.network()?.params().into_pyarray(py))
    }

    /// Epochs trained.
    fn epochs_done(&self) -> PyResult<u64> {
        Ok(self.trainer()?.epoch())
    }
}

/// The compiled core of `qftml`.
#[pymodule]
fn _qftml(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(run_command, m)?)?;
    m.add_function(wrap_pyfunction!(read_couplings, m)?)?;
    m.add_function(wrap_pyfunction!(write_couplings, m)?)?;
    m.add_function(wrap_pyfunction!(read_ensemble, m)?)?;
    m.add_class::<RbmCore>()?;
    Ok(())
}
