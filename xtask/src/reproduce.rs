//! `cargo xtask reproduce`: builds the release CLI, runs the selected figures (reusing
//! the cached results of unchanged ones, see [`crate::cache`]; figures side by side up to
//! the core count, except those that measure single-core cost), writes their images and
//! provenance, then `REPORT.md`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};

use crate::cache::{self, RunInputs};
use crate::figure::{Figure, FigureCtx, RunEnv};
use crate::figures::FIGURES;
use crate::fsutil::{rfc3339, write_atomic};
use crate::progress::{self, Progress, duration_text};
use crate::provenance::GitState;
use crate::qftml::{Qftml, build_release};
use crate::report::{FigureSection, RunSummary, render_report};

/// Options of `cargo xtask reproduce`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Small statistics.
    pub quick: bool,
    /// Run only the figures with these names.
    pub only: Vec<String>,
    /// Output directory (default `target/reproduce` in the workspace).
    pub out: Option<PathBuf>,
    /// Use this `qftml` binary instead of building the release one.
    pub qftml: Option<PathBuf>,
    /// Recompute every selected figure, even if its cached results are current.
    pub force: bool,
    /// Figures run side by side (default: the number of cores).
    pub jobs: Option<usize>,
}

/// The workspace root (the parent of the xtask package).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The registered figures selected by `--only` (all if none given), in registry order.
pub fn select<'f>(registry: &'f [Figure], only: &[String]) -> Result<Vec<&'f Figure>> {
    for name in only {
        if !registry.iter().any(|f| f.name == name) {
            let known: Vec<&str> = registry.iter().map(|f| f.name).collect();
            bail!("no figure named `{name}`; known figures: {}", known.join(", "));
        }
    }
    Ok(registry
        .iter()
        .filter(|f| only.is_empty() || only.iter().any(|n| n == f.name))
        .collect())
}

/// Runs the reproduction; returns whether every figure was produced and every check passed.
pub fn reproduce(opts: &Options) -> Result<bool> {
    let run_started = SystemTime::now();
    let root = workspace_root();
    let figures = select(FIGURES, &opts.only)?;
    let out_dir = match &opts.out {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => std::env::current_dir()?.join(dir),
        None => root.join("target").join("reproduce"),
    };
    let qftml_path = match &opts.qftml {
        Some(p) => p.clone(),
        None => {
            eprintln!("reproduce: building the release qftml binary (cargo build --release -p cli)");
            build_release(&root)?
        }
    };
    let qftml = Qftml::new(qftml_path);
    let qftml_version = qftml.version()?;
    let inputs = RunInputs::read(Some(qftml.path()), &root.join("data"))?;
    let env = RunEnv {
        quick: opts.quick,
        out_dir,
        qftml: Some(qftml),
        qftml_version,
        git: GitState::read(&root),
    };
    let jobs = opts
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let run = RunFigures {
        env: &env,
        inputs: &inputs,
        force: opts.force,
        jobs,
    };
    run.run(&figures, run_started)
}

/// One run over a set of figures: the environment, the cache's inputs, and how.
#[derive(Debug, Clone, Copy)]
pub struct RunFigures<'a> {
    /// Settings shared by every figure.
    pub env: &'a RunEnv,
    /// The run-wide inputs of the cache keys.
    pub inputs: &'a RunInputs,
    /// Recompute even what the cache holds.
    pub force: bool,
    /// Figures run side by side.
    pub jobs: usize,
}

impl RunFigures<'_> {
    /// Reuses what the cache holds, runs the rest (figures that measure single-core
    /// cost alone, the others up to `jobs` at a time, longest budget first), writes
    /// `REPORT.md` with the sections in registry order; returns whether all passed.
    pub fn run(&self, figures: &[&Figure], run_started: SystemTime) -> Result<bool> {
        let env = self.env;
        let run_timer = Instant::now();
        for sub in ["figures", "provenance", "cache"] {
            let d = env.out_dir.join(sub);
            std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        progress::line(format!(
            "reproduce: {} figure(s), {} mode, {} at {}, output in {}, up to {} side by side",
            figures.len(),
            env.mode(),
            env.qftml_version,
            env.git.describe(),
            env.out_dir.display(),
            self.jobs
        ));

        let mut sections: Vec<Option<FigureSection>> = vec![None; figures.len()];
        let mut to_run = Vec::new();
        for (i, figure) in figures.iter().enumerate() {
            let key = self.inputs.key(figure.name, env.mode());
            match cache::load(&env.out_dir, figure.name, &key).filter(|_| !self.force) {
                Some(entry) => {
                    let mut section = entry.section;
                    section.description = figure.description.to_owned();
                    section.budget_seconds = figure.budget.seconds(env.quick);
                    section.reused_from = Some(entry.finished);
                    progress::line(format!(
                        "reproduce: {} reused (made {}, unchanged since)",
                        figure.name,
                        section.reused_from.as_deref().unwrap_or("")
                    ));
                    sections[i] = Some(section);
                }
                None => to_run.push((i, key)),
            }
        }
        let budget = |i: usize| figures[i].budget.seconds(env.quick);
        let total: f64 = to_run.iter().map(|&(i, _)| budget(i)).sum();
        let bar = Progress::new(to_run.len(), total);
        progress::line(format!(
            "reproduce: {} to make, budget {} on two cores",
            to_run.len(),
            duration_text(total)
        ));

        let (alone, mut shared): (Vec<_>, Vec<_>) = to_run.into_iter().partition(|&(i, _)| figures[i].runs_alone);
        shared.sort_by(|a, b| budget(b.0).total_cmp(&budget(a.0)));
        let results = Mutex::new(Vec::new());
        let one = |(i, key): &(usize, String)| -> Result<()> {
            let figure = figures[*i];
            bar.started(figure.name, budget(*i));
            let section = self.make(figure, key)?;
            bar.finished(figure.name, budget(*i));
            progress::line(format!(
                "reproduce: {} done in {:.1} s (budget {:.0} s): {}; {}",
                figure.name,
                section.wall_seconds,
                budget(*i),
                status_text(&section),
                bar.status()
            ));
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((*i, section));
            Ok(())
        };
        let done = AtomicBool::new(false);
        let next = AtomicUsize::new(0);
        let outcome: Result<()> = std::thread::scope(|scope| {
            scope.spawn(|| bar.tick_until(|| done.load(Ordering::Relaxed)));
            let result = (|| {
                for job in &alone {
                    one(job)?;
                }
                let workers: Vec<_> = (0..self.jobs.max(1).min(shared.len()))
                    .map(|_| {
                        scope.spawn(|| -> Result<()> {
                            loop {
                                let k = next.fetch_add(1, Ordering::Relaxed);
                                let Some(job) = shared.get(k) else { return Ok(()) };
                                one(job)?;
                            }
                        })
                    })
                    .collect();
                // The scope joins every worker; the first error is reported.
                workers
                    .into_iter()
                    .try_for_each(|w| w.join().unwrap_or_else(|_| Err(anyhow!("a figure thread panicked"))))
            })();
            done.store(true, Ordering::Relaxed);
            result
        });
        bar.finish();
        outcome?;
        for (i, section) in results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
            sections[i] = Some(section);
        }
        let sections: Vec<FigureSection> = sections.into_iter().flatten().collect();

        let summary = RunSummary {
            mode: env.mode().to_owned(),
            revision: env.git.describe(),
            qftml_version: env.qftml_version.clone(),
            started: rfc3339(run_started),
            wall_seconds: run_timer.elapsed().as_secs_f64(),
        };
        let report = env.out_dir.join("REPORT.md");
        write_atomic(&report, render_report(&summary, &sections))?;

        let failed: usize = sections.iter().map(FigureSection::failed).sum();
        let errors = sections.iter().filter(|s| s.error.is_some()).count();
        let reused = sections.iter().filter(|s| s.reused_from.is_some()).count();
        progress::line(format!(
            "reproduce: wrote {} in {:.1} s ({reused} figure(s) reused); {failed} failed check(s), {errors} figure error(s)",
            report.display(),
            summary.wall_seconds
        ));
        Ok(failed == 0 && errors == 0)
    }

    /// Makes one figure afresh: drops its cache entry first, runs it, and caches the
    /// result if the figure was produced.
    fn make(&self, figure: &Figure, key: &str) -> Result<FigureSection> {
        let env = self.env;
        cache::invalidate(&env.out_dir, figure.name)?;
        let (section, outputs) = run_figure_outputs(env, figure)?;
        if section.error.is_none() {
            cache::store(
                &env.out_dir,
                key,
                rfc3339(SystemTime::now()),
                env.git.describe(),
                &outputs,
                &section,
            )?;
        }
        Ok(section)
    }
}

/// A figure's result in a few words.
fn status_text(section: &FigureSection) -> String {
    match (&section.error, section.failed()) {
        (Some(e), _) => format!("ERROR: {e}"),
        (None, 0) => format!("{} checks pass", section.checks.len()),
        (None, n) => format!("{n} of {} checks FAIL", section.checks.len()),
    }
}

/// Runs one figure and writes its provenance record; a figure's own error is
/// reported in its section, only an IO failure of the record aborts the run.
pub fn run_figure(env: &RunEnv, figure: &Figure) -> Result<FigureSection> {
    run_figure_outputs(env, figure).map(|(section, _)| section)
}

/// [`run_figure`], also returning the files written (relative to the output directory).
fn run_figure_outputs(env: &RunEnv, figure: &Figure) -> Result<(FigureSection, Vec<String>)> {
    let started = SystemTime::now();
    let timer = Instant::now();
    let mut ctx = FigureCtx::new(env, figure);
    let result = (figure.run)(&mut ctx);
    let (section, provenance) = ctx.finish(started, timer, result);
    let json = serde_json::to_string_pretty(&provenance.to_json(&section.checks))?;
    write_atomic(&env.out_dir.join(&section.provenance), json + "\n")?;
    Ok((section, provenance.outputs))
}
