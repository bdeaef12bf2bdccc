//! `cargo xtask reproduce`: builds the release CLI, runs the selected figures,
//! writes their images and provenance, then `REPORT.md`.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::figure::{Figure, FigureCtx, RunEnv};
use crate::figures::FIGURES;
use crate::fsutil::{rfc3339, write_atomic};
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
    let run_timer = Instant::now();
    let run_started = SystemTime::now();
    let root = workspace_root();
    let figures = select(FIGURES, &opts.only)?;
    let out_dir = match &opts.out {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => std::env::current_dir()?.join(dir),
        None => root.join("target").join("reproduce"),
    };
    for sub in ["figures", "provenance"] {
        let d = out_dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    }

    let qftml_path = match &opts.qftml {
        Some(p) => p.clone(),
        None => {
            eprintln!("reproduce: building the release qftml binary (cargo build --release -p cli)");
            build_release(&root)?
        }
    };
    let qftml = Qftml::new(qftml_path);
    let qftml_version = qftml.version()?;
    let git = GitState::read(&root);
    let env = RunEnv {
        quick: opts.quick,
        out_dir: out_dir.clone(),
        qftml: Some(qftml),
        qftml_version,
        git,
    };
    eprintln!(
        "reproduce: {} figure(s), {} mode, {} at {}, output in {}",
        figures.len(),
        env.mode(),
        env.qftml_version,
        env.git.describe(),
        out_dir.display()
    );

    let mut sections = Vec::with_capacity(figures.len());
    for (i, figure) in figures.iter().enumerate() {
        eprintln!("reproduce: [{}/{}] {} ...", i + 1, figures.len(), figure.name);
        let section = run_figure(&env, figure)?;
        let status = match (&section.error, section.failed()) {
            (Some(e), _) => format!("ERROR: {e}"),
            (None, 0) => format!("{} checks pass", section.checks.len()),
            (None, n) => format!("{n} of {} checks FAIL", section.checks.len()),
        };
        eprintln!(
            "reproduce: [{}/{}] {} done in {:.1} s: {status}",
            i + 1,
            figures.len(),
            figure.name,
            section.wall_seconds
        );
        sections.push(section);
    }

    let summary = RunSummary {
        mode: env.mode().to_owned(),
        revision: env.git.describe(),
        qftml_version: env.qftml_version.clone(),
        started: rfc3339(run_started),
        wall_seconds: run_timer.elapsed().as_secs_f64(),
    };
    let report = out_dir.join("REPORT.md");
    write_atomic(&report, render_report(&summary, &sections))?;

    let failed: usize = sections.iter().map(FigureSection::failed).sum();
    let errors = sections.iter().filter(|s| s.error.is_some()).count();
    eprintln!(
        "reproduce: wrote {} in {:.1} s; {failed} failed check(s), {errors} figure error(s)",
        report.display(),
        summary.wall_seconds
    );
    Ok(failed == 0 && errors == 0)
}

/// Runs one figure and writes its provenance record; a figure's own error is
/// reported in its section, only an IO failure of the record aborts the run.
pub fn run_figure(env: &RunEnv, figure: &Figure) -> Result<FigureSection> {
    let started = SystemTime::now();
    let timer = Instant::now();
    let mut ctx = FigureCtx::new(env, figure);
    let result = (figure.run)(&mut ctx);
    let (section, provenance) = ctx.finish(started, timer, result);
    let json = serde_json::to_string_pretty(&provenance.to_json(&section.checks))?;
    write_atomic(&env.out_dir.join(&section.provenance), json + "\n")?;
    Ok(section)
}
