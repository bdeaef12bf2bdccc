//! `qftml sample`: Markov-chain Monte Carlo of lattice φ⁴ with Γ-method error bars.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mc_sampler::ensemble::{EnsembleHeader, StoredChain, StoredEnsemble};
use mc_sampler::stats::{GammaEstimate, chi_and_binder, gamma_method};
use mc_sampler::{Algorithm, RunConfig, RunOutput, run_chains};
use phi4_action::gaussian::FreeField;
use phi4_action::{Couplings, Homogeneous, Observables, targets};
use records::{
    ExactFreeField, GammaValue, MeanErr, ObservableSet, Record, SampleConfig, SampleObservables, SampleRecord, Timing,
};

use crate::couplings_file::CouplingsFile;
use crate::geometry::LatticeSize;
use crate::limits;
use crate::output::{Output, progress_bar, provenance, write_atomic};
use crate::rundir::Staging;

/// Sample p(φ) ∝ exp(−S) with Markov chains and report observables with Γ-method errors.
///
/// The action is homogeneous lattice φ⁴ (--kappa, --mu2, --lambda, optionally the diagonal
/// term −g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j via --g-nnn) or inhomogeneous couplings read from --couplings.
/// Settings can also come from a TOML run config (--config); flags override it.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// TOML run config with any of the keys below (e.g. `lattice = "64"`, `kappa = 1.0`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Periodic lattice size, L or LxLy (at least 4 in each direction, at most 2^26 sites).
    #[arg(long, allow_hyphen_values = true)]
    pub lattice: Option<LatticeSize>,
    #[command(flatten)]
    pub homogeneous: HomogeneousArgs,
    /// Inhomogeneous couplings (JSON: lattice, pair_set, w, a, b, r), e.g. from training.
    #[arg(long)]
    pub couplings: Option<PathBuf>,
    /// Update schedule: metropolis, heatbath, cluster, hybrid or sw (Swendsen–Wang) [default: hybrid].
    #[arg(long)]
    pub algorithm: Option<String>,
    /// Measured sweeps per chain [default: 10000, at most 10^12].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub sweeps: Option<u64>,
    /// Thermalisation sweeps per chain [default: 1000, at most 10^12].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub therm: Option<u64>,
    /// Independent chains [default: 2, at most 4096].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub chains: Option<usize>,
    /// Measure every this many sweeps [default: 1].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub measure_every: Option<u64>,
    /// Seed of the run, a whole number 0 ≤ seed < 2^64; chain c uses stream c [default: 1].
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub seed: Option<u64>,
    /// Worker threads [default: all cores]; results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub threads: Option<usize>,
    /// Write the ensemble (configurations, actions, observables), .npy exports, the
    /// resolved config, results.json and a manifest into this directory.  The directory is
    /// replaced as a whole when the run is complete (it must be new, empty or an earlier run);
    /// the memory a run needs, which grows with the stored configurations, is checked first.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ranks per chain under MPI [default: 1]: each chain's lattice split in row strips over
    /// this many ranks (Metropolis on homogeneous even lattices; cluster updates stay on one
    /// rank).
    #[cfg(feature = "mpi")]
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub ranks_per_chain: Option<usize>,
    #[command(flatten)]
    pub output: Output,
}

/// The homogeneous couplings of a command (the sampled action of `sample`, the target of
/// `reweight`): `S = −κ Σ_⟨ij⟩ φ_iφ_j − g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j + (μ² + 4κ)/2 Σφ² + λ/4 Σφ⁴`.
#[derive(Debug, Args)]
pub struct HomogeneousArgs {
    /// Hopping parameter κ.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub kappa: Option<f64>,
    /// Bare mass squared μ².
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub mu2: Option<f64>,
    /// Quartic coupling λ.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub lambda: Option<f64>,
    /// Diagonal next-nearest-neighbour coupling g′ of −g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub g_nnn: Option<f64>,
}

/// The TOML run config ([`SampleConfig`]: every key optional, flags override).  A relative
/// `couplings` path is relative to the config file.
fn read_config(path: &Path) -> Result<SampleConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --config {}", path.display()))?;
    let mut config: SampleConfig =
        toml::from_str(&text).with_context(|| format!("{} is not a valid sample config", path.display()))?;
    if let (Some(couplings), Some(dir)) = (&mut config.couplings, path.parent())
        && couplings.is_relative()
    {
        *couplings = dir.join(&*couplings);
    }
    Ok(config)
}

/// The config with the flags of `a` laid over it.
fn merged(mut config: SampleConfig, a: &SampleArgs) -> SampleConfig {
    macro_rules! take {
        ($from:expr; $($f:ident),*) => { $( if $from.$f.is_some() { config.$f = $from.$f.clone(); } )* };
    }
    take!(a.homogeneous; kappa, mu2, lambda, g_nnn);
    take!(a; couplings, algorithm, sweeps, therm, chains, measure_every, seed);
    if let Some(l) = a.lattice {
        config.lattice = Some(format!("{}x{}", l.lx, l.ly));
    }
    config
}

/// What a resolved run samples.
pub struct Resolved {
    /// The sampled action.
    pub couplings: Couplings,
    /// The chains' settings.
    pub run: RunConfig,
    /// The run config as recorded (flags over the TOML file, defaults filled in).
    pub config: SampleConfig,
}

/// The run of `args`: its couplings, run config and resolved config, every input checked.
/// Configurations are kept when `--out` is given.
pub fn resolve(args: &SampleArgs) -> Result<Resolved> {
    resolve_keeping(args, args.out.is_some())
}

/// [`resolve`], keeping the sampled configurations in memory when `keep_configs` (the
/// memory this needs is checked with the rest).
pub fn resolve_keeping(args: &SampleArgs, keep_configs: bool) -> Result<Resolved> {
    let file = match &args.config {
        Some(p) => read_config(p)?,
        None => SampleConfig::default(),
    };
    let mut config = merged(file, args);
    for (flag, value) in [
        ("--kappa", config.kappa),
        ("--mu2", config.mu2),
        ("--lambda", config.lambda),
        ("--g-nnn", config.g_nnn),
    ] {
        limits::check_finite(flag, value)?;
    }
    let couplings = match &config.couplings {
        Some(path) => {
            if config.kappa.is_some() || config.mu2.is_some() || config.lambda.is_some() || config.g_nnn.is_some() {
                bail!("give either --couplings or --kappa/--mu2/--lambda/--g-nnn, not both");
            }
            let c = CouplingsFile::read(path)?;
            if let Some(size) = &config.lattice {
                let l: LatticeSize = size.parse().map_err(anyhow::Error::msg)?;
                let (lattice, _) = c.lattice().context("couplings file has no lattice")?;
                if (l.lx, l.ly) != (lattice.lx(), lattice.ly()) {
                    bail!(
                        "--lattice {}x{} disagrees with the couplings file ({}x{}); drop --lattice",
                        l.lx,
                        l.ly,
                        lattice.lx(),
                        lattice.ly()
                    );
                }
            }
            c
        }
        None => {
            let size: LatticeSize = config
                .lattice
                .as_deref()
                .context("give --lattice L (or LxLy), or --couplings FILE")?
                .parse()
                .map_err(anyhow::Error::msg)?;
            let lattice = size.lattice()?;
            let (Some(kappa), Some(mu2), Some(lambda)) = (config.kappa, config.mu2, config.lambda) else {
                bail!("give all of --kappa, --mu2 and --lambda (or --couplings FILE)");
            };
            homogeneous(
                &lattice,
                Homogeneous { kappa, mu2, lambda },
                config.g_nnn.unwrap_or(0.0),
            )?
        }
    };
    let algorithm = Algorithm::from_name(config.algorithm.get_or_insert_with(|| "hybrid".into()))?;
    let run = RunConfig {
        algorithm,
        n_chains: *config.chains.get_or_insert(2),
        n_therm: *config.therm.get_or_insert(1000),
        n_sweeps: *config.sweeps.get_or_insert(10_000),
        measure_every: *config.measure_every.get_or_insert(1),
        seed: *config.seed.get_or_insert(1),
        save_configs: keep_configs,
        two_point: false,
        progress_every: 0,
    };
    limits::check_run(&limits::RunSize {
        n_sites: couplings.n_sites(),
        n_chains: run.n_chains,
        n_therm: run.n_therm,
        n_sweeps: run.n_sweeps,
        measure_every: run.measure_every,
        n_series: Observables::NAMES.len(),
        keep_configs: run.save_configs,
    })?;
    Ok(Resolved { couplings, run, config })
}

/// The homogeneous action of the flags, with errors in the flags' terms.
fn homogeneous(lattice: &mrf_graph::Lattice, params: Homogeneous, g_nnn: f64) -> Result<Couplings> {
    if params.lambda < 0.0 {
        bail!(
            "--lambda {} is negative, so exp(−S) is not normalisable; give --lambda ≥ 0",
            params.lambda
        );
    }
    targets::homogeneous(lattice, params, g_nnn, 0.0).map_err(|e| {
        if params.lambda == 0.0 {
            anyhow::anyhow!(
                "with --lambda 0 the action is Gaussian and its quadratic form must be positive definite, \
                 which --kappa {} --mu2 {} --g-nnn {g_nnn} is not ({e}); raise --mu2 or give --lambda > 0",
                params.kappa,
                params.mu2
            )
        } else {
            anyhow::Error::new(e).context("these couplings cannot be sampled")
        }
    })
}

fn index_of(name: &str) -> usize {
    Observables::NAMES
        .iter()
        .position(|n| *n == name)
        .expect("a known observable")
}

/// The observables of a run with Γ-method errors, and its warnings.
pub fn summarise(out: &RunOutput, n_sites: usize) -> (SampleObservables, Vec<String>) {
    let series: Vec<Vec<Vec<f64>>> = (0..Observables::NAMES.len())
        .map(|k| out.chains.iter().map(|c| c.series(k)).collect())
        .collect();
    let refs = |k: usize| -> Vec<&[f64]> { series[k].iter().map(Vec::as_slice).collect() };
    let mut warnings = Vec::new();
    let mut gamma = |name: &str| {
        let GammaEstimate {
            mean,
            err,
            tau_int,
            tau_int_err,
            warning,
            ..
        } = gamma_method(&refs(index_of(name)));
        if let Some(w) = warning {
            warnings.push(format!("{name}: {w}"));
        }
        GammaValue {
            mean,
            err,
            tau_int,
            tau_int_err,
        }
    };
    let (phi2, m_abs, m2, m4, nn, action_density) = (
        gamma("phi2"),
        gamma("m_abs"),
        gamma("m2"),
        gamma("m4"),
        gamma("nn"),
        gamma("action_density"),
    );
    let cumulants = chi_and_binder(
        &refs(index_of("m_abs")),
        &refs(index_of("m2")),
        &refs(index_of("m4")),
        n_sites,
    );
    if let Some(w) = &cumulants.warning {
        warnings.push(format!("chi/binder: {w}"));
    }
    let observables = SampleObservables {
        phi2,
        m_abs,
        m2,
        m4,
        nn,
        action_density,
        chi: MeanErr {
            mean: cumulants.chi.mean,
            err: cumulants.chi.err,
        },
        binder: MeanErr {
            mean: cumulants.binder.mean,
            err: cumulants.binder.err,
        },
    };
    (observables, warnings)
}

/// Exact free-field values, when the sampled action is a homogeneous free field.
fn exact_values(c: &Couplings) -> Option<ExactFreeField> {
    let f = FreeField::from_couplings(c)?;
    Some(ExactFreeField {
        run: ObservableSet {
            phi2: f.phi2().re,
            m_abs: f.m_abs(),
            m2: f.m2().re,
            m4: f.m4().re,
            nn: f.nn().re,
            action_density: f.action_density(),
            chi: f.chi(),
            binder: 0.0,
        },
        v_m2: f.v_m2().re,
    })
}

/// `qftml sample`: resolve, sample, print the record and write `--out`.
pub fn run(args: &SampleArgs) -> Result<()> {
    let resolved = resolve(args)?;
    // Before any work: a bad --out fails now, not after the run.
    let staging = args.out.as_deref().map(Staging::begin).transpose()?;
    let run_config = &resolved.run;
    let total = run_config.n_chains as u64 * (run_config.n_therm + run_config.n_sweeps);
    let bar = progress_bar(total, "sweeps");
    let out = sample_chains(args, &resolved, u64::MAX, |n| bar.inc(n))?;
    bar.finish_and_clear();
    report(args, resolved, staging, out)
}

/// A finished `qftml sample` run as data: the record `--json` prints and the chains'
/// output (with their configurations when they were kept).
pub struct SampleOutcome {
    /// The record `qftml sample --json` prints.
    pub record: SampleRecord,
    /// The sampled action.
    pub couplings: Couplings,
    /// The chains' settings.
    pub run: RunConfig,
    /// Per chain: measurements and, when kept, configurations (`configs`).
    pub output: RunOutput,
}

/// The execution path of `qftml sample` without printing: resolve `args` exactly as the
/// command does, run the chains on `--threads` workers (`progress(n)` reports sweeps done,
/// as the progress bar sees them), build the record and, with `--out`, write the run
/// directory as the command does.  With `keep_configs` every measured configuration is kept
/// in [`SampleOutcome::output`] (chain by chain, configuration by configuration).
/// `progress` is called about every 2^20 site updates of a chain (and at least 200 times
/// per chain); it may unwind to stop the run.
pub fn execute(args: &SampleArgs, keep_configs: bool, progress: impl Fn(u64) + Sync) -> Result<SampleOutcome> {
    let resolved = resolve_keeping(args, keep_configs || args.out.is_some())?;
    let staging = args.out.as_deref().map(Staging::begin).transpose()?;
    // Progress about every 2^20 site updates, so that a caller can stop a long run soon.
    let max_progress_every = ((1 << 20) / resolved.couplings.n_sites() as u64).max(1);
    let mut output = sample_chains(args, &resolved, max_progress_every, progress)?;
    let (record, couplings, run) = record_of(resolved, &output);
    if let Some(staging) = staging {
        // The written ensemble takes the configurations; the outcome keeps a copy only when
        // they were asked for.
        let configs: Vec<Option<Vec<f64>>> = if keep_configs {
            output.chains.iter().map(|c| c.configs.clone()).collect()
        } else {
            output.chains.iter_mut().map(|c| c.configs.take()).collect()
        };
        let mut kept = output.clone();
        for (chain, configs) in kept.chains.iter_mut().zip(configs) {
            chain.configs = configs;
        }
        staging
            .write(|dir| write_outputs(dir, staging.run_id(), &couplings, &run, kept, &record))
            .and_then(|()| staging.commit("sample", record.provenance.clone()))?;
    }
    Ok(SampleOutcome {
        record,
        couplings,
        run,
        output,
    })
}

/// Runs the chains of `resolved` on the worker threads of `args`, reporting progress about
/// 200 times per chain and at least every `max_progress_every` sweeps (progress reports do
/// not change the chains).
fn sample_chains(
    args: &SampleArgs,
    resolved: &Resolved,
    max_progress_every: u64,
    progress: impl Fn(u64) + Sync,
) -> Result<RunOutput> {
    let mut rc = with_progress(&resolved.run);
    rc.progress_every = rc.progress_every.min(max_progress_every).max(1);
    let progress = &progress;
    Ok(worker_pool(args)?.install(|| run_chains(&resolved.couplings, &rc, progress))?)
}

/// `run` with a progress report about 200 times per chain.
pub fn with_progress(run: &RunConfig) -> RunConfig {
    let mut rc = run.clone();
    rc.progress_every = (run.n_therm + run.n_sweeps).div_ceil(200).max(1);
    rc
}

/// The worker threads of `--threads`.
pub fn worker_pool(args: &SampleArgs) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")
}

/// Summarises the chains of a run, prints the record and writes `--out`.
pub fn report(args: &SampleArgs, resolved: Resolved, staging: Option<Staging>, out: RunOutput) -> Result<()> {
    let (result, couplings, run_config) = record_of(resolved, &out);
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    // The results are printed even if writing --out fails below.
    args.output.emit(&result, print_text)?;
    if let Some(staging) = staging {
        staging
            .write(|dir| write_outputs(dir, staging.run_id(), &couplings, &run_config, out, &result))
            .and_then(|()| staging.commit("sample", result.provenance.clone()))
            .context("the run's results are printed above, but --out was not written (it is as it was before)")?;
    }
    Ok(())
}

/// The record of a finished run (observables with Γ-method errors, warnings, timing,
/// provenance), with the couplings and run config it was made from.
fn record_of(resolved: Resolved, out: &RunOutput) -> (SampleRecord, Couplings, RunConfig) {
    let Resolved {
        couplings,
        run: run_config,
        config,
    } = resolved;
    let n_sites = couplings.n_sites();
    let (observables, mut warnings) = summarise(out, n_sites);
    if observables.averages().iter().any(|(_, v)| !v.mean.is_finite()) {
        warnings.push(
            "an observable is not finite (NaN or infinite): the field ran away; check that every b > 0, \
             or that the quadratic form is positive definite where b = 0"
                .into(),
        );
    }
    let timing = out.timing();
    let n_configs = out.n_measurements() * out.chains.len();
    let result = SampleRecord {
        schema: SampleRecord::SCHEMA,
        observables,
        acceptance: out.acceptance(),
        n_configs,
        n_chains: out.chains.len(),
        n_sites,
        algorithm: run_config.algorithm.name().into(),
        step_size: out.chains.first().and_then(|c| c.step_size),
        mean_cluster_size: out.chains.first().and_then(|c| c.mean_cluster_size),
        timing: Timing {
            wall_s: out.wall_seconds,
            update_cpu_s: timing.update_seconds,
            ns_per_site_update: timing.ns_per_site_update(),
        },
        exact_free_field: exact_values(&couplings),
        warnings,
        config,
        provenance: provenance(),
    };
    (result, couplings, run_config)
}

fn write_outputs(
    dir: &Path,
    run_id: &str,
    couplings: &Couplings,
    run: &RunConfig,
    out: RunOutput,
    result: &SampleRecord,
) -> Result<()> {
    let mut header = EnsembleHeader::new(
        couplings,
        run.algorithm.name(),
        run.seed,
        run.n_chains,
        run.n_therm as usize,
        run.n_sweeps as usize,
        run.measure_every as usize,
    )?;
    for (k, v) in result.provenance.entries() {
        header = header.with_provenance(k, v);
    }
    header = header.with_provenance("run_id", run_id);
    let chains = out
        .chains
        .into_iter()
        .map(|c| StoredChain::measure(couplings, c.configs.unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    let ensemble = StoredEnsemble::from_parts(header, chains)?;
    ensemble.write(dir.join("ensemble.qfe"))?;
    ensemble.export_npy(dir)?;
    write_atomic(&dir.join("config.toml"), toml::to_string(&result.config)?.as_bytes())?;
    write_atomic(&dir.join("results.json"), records::to_json(result).as_bytes())?;
    Ok(())
}

/// Prints the record as text (what `qftml sample` prints without `--json`).
pub fn print_text(r: &SampleRecord) {
    println!(
        "{} on {} sites: {} configurations from {} chains, acceptance {:.3}",
        r.algorithm, r.n_sites, r.n_configs, r.n_chains, r.acceptance
    );
    println!("{:<16} {:>14} {:>12} {:>10}", "observable", "mean", "error", "tau_int");
    for (name, v) in r.observables.averages() {
        println!("{name:<16} {:>14.8} {:>12.2e} {:>10.2}", v.mean, v.err, v.tau_int);
    }
    for (name, v) in r.observables.cumulants() {
        println!("{name:<16} {:>14.8} {:>12.2e} {:>10}", v.mean, v.err, "-");
    }
    if let Some(exact) = &r.exact_free_field {
        let list: Vec<String> = exact.named().iter().map(|(k, v)| format!("{k} = {v:.8}")).collect();
        println!("exact free field: {}", list.join(", "));
    }
    println!(
        "timing: {:.2} s wall, {:.2} ns per site update",
        r.timing.wall_s, r.timing.ns_per_site_update
    );
}
