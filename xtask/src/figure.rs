//! The figure registry's types: what a figure is, and the context its run
//! function gets (parameters, seeds, `qftml` commands, plots, tables, checks),
//! which also records everything for the provenance file and the report.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use anyhow::{Result, anyhow};
use serde_json::{Map, Value};

use crate::plot::{Plot, save_png_svg};
use crate::provenance::{CommandRecord, GitState, Provenance};
use crate::qftml::Qftml;
use crate::report::{Check, FigureSection, Table};

/// One entry of the registry: a figure, its description and the function making it.
#[derive(Debug)]
pub struct Figure {
    /// Name used by `--only` and for output files (`figures/NAME.png`).
    pub name: &'static str,
    /// One paragraph for the report: what is shown and what it is checked against.
    pub description: &'static str,
    /// Produces the figure; uses `fig.param(name, quick, full)` for everything
    /// that differs between `--quick` and the full run.
    pub run: fn(&mut FigureCtx<'_>) -> Result<()>,
    /// Measured wall time on two cores, for the run's ETA and the report.
    pub budget: Budget,
    /// Whether the figure measures single-core cost (ns per update, seconds per epoch):
    /// it then runs alone, never beside another figure.
    pub runs_alone: bool,
}

/// A figure's time budget: its measured wall time on two cores, in seconds, in each mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// `--quick`.
    pub quick_s: f64,
    /// The full run.
    pub full_s: f64,
}

impl Budget {
    /// The budget of the mode `quick` or full.
    pub fn seconds(self, quick: bool) -> f64 {
        if quick { self.quick_s } else { self.full_s }
    }
}

/// Settings shared by every figure of one run.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// `--quick`: small statistics.
    pub quick: bool,
    /// Output directory (holds `figures/`, `provenance/`, `data/`, `REPORT.md`).
    pub out_dir: PathBuf,
    /// The release `qftml` binary (`None` when only formatting is exercised).
    pub qftml: Option<Qftml>,
    /// `qftml --version`.
    pub qftml_version: String,
    /// Source tree state.
    pub git: GitState,
}

impl RunEnv {
    /// `quick` or `full`.
    pub fn mode(&self) -> &'static str {
        if self.quick { "quick" } else { "full" }
    }
}

/// What a figure's run function works with.
pub struct FigureCtx<'a> {
    env: &'a RunEnv,
    name: &'static str,
    seeds: Map<String, Value>,
    parameters: Map<String, Value>,
    commands: Vec<CommandRecord>,
    outputs: Vec<String>,
    section: FigureSection,
}

impl<'a> FigureCtx<'a> {
    /// A fresh context for `figure`.
    pub fn new(env: &'a RunEnv, figure: &Figure) -> Self {
        Self {
            env,
            name: figure.name,
            seeds: Map::new(),
            parameters: Map::new(),
            commands: Vec::new(),
            outputs: Vec::new(),
            section: FigureSection {
                name: figure.name.to_owned(),
                description: figure.description.to_owned(),
                provenance: format!("provenance/{}.json", figure.name),
                budget_seconds: figure.budget.seconds(env.quick),
                ran_alone: figure.runs_alone,
                ..FigureSection::default()
            },
        }
    }

    /// The figure's registry name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether this is a `--quick` run.
    pub fn quick(&self) -> bool {
        self.env.quick
    }

    /// A parameter that differs between quick and full runs; recorded in the provenance.
    pub fn param<T: Into<Value> + Clone>(&mut self, key: &str, quick: T, full: T) -> T {
        let v = if self.env.quick { quick } else { full };
        self.parameters.insert(key.to_owned(), v.clone().into());
        v
    }

    /// A parameter that is the same in both modes; recorded in the provenance.
    pub fn fixed<T: Into<Value> + Clone>(&mut self, key: &str, value: T) -> T {
        self.parameters.insert(key.to_owned(), value.clone().into());
        value
    }

    /// A named seed; recorded in the provenance.
    pub fn seed(&mut self, key: &str, value: u64) -> u64 {
        self.seeds.insert(key.to_owned(), value.into());
        value
    }

    /// Runs `qftml ARGS --json` (release build) and returns its output as the typed record
    /// `T` of that command.  The command line and its wall time are recorded.
    pub fn qftml<T: records::Record>(&mut self, args: &[impl AsRef<str>]) -> Result<T> {
        let bin = self
            .env
            .qftml
            .as_ref()
            .ok_or_else(|| anyhow!("figure `{}` needs the qftml binary", self.name))?;
        let (result, record) = bin.run_json_labelled(self.name, args);
        self.commands.push(record);
        result
    }

    /// Draws `plot` into `figures/NAME.png` and `figures/NAME.svg` (NAME = figure name).
    pub fn plot(&mut self, plot: &impl Plot, size: (u32, u32)) -> Result<()> {
        self.plot_named(self.name, plot, size)
    }

    /// Like [`FigureCtx::plot`] with another file name, for figures with several panels files.
    pub fn plot_named(&mut self, file: &str, plot: &impl Plot, size: (u32, u32)) -> Result<()> {
        save_png_svg(plot, &self.env.out_dir.join("figures"), file, size)?;
        let png = format!("figures/{file}.png");
        self.outputs.push(png.clone());
        self.outputs.push(format!("figures/{file}.svg"));
        self.section.images.push(png);
        Ok(())
    }

    /// Adds a captioned table to the report.
    pub fn table(&mut self, caption: impl Into<String>, table: Table) {
        self.section.tables.push((caption.into(), table));
    }

    /// Adds a measured number beside its reference.
    pub fn check(&mut self, check: Check) {
        self.section.checks.push(check);
    }

    /// Adds a paragraph to the figure's report section.
    pub fn note(&mut self, text: impl Into<String>) {
        self.section.notes.push(text.into());
    }

    /// A directory for this figure's intermediate files (`data/NAME/`), created on demand.
    pub fn data_dir(&mut self) -> Result<PathBuf> {
        let dir = self.env.out_dir.join("data").join(self.name);
        // Emptied first: the figure's runs are made afresh, never mixed with earlier ones.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| anyhow!("cannot empty {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }

    /// The repository's root (where `data/` holds the shipped images).
    pub fn repo_root(&self) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the repository root")
            .to_path_buf()
    }

    /// Records an extra output file (relative to the output directory).
    pub fn output(&mut self, relative: impl Into<String>) {
        self.outputs.push(relative.into());
    }

    /// A progress line on stderr.
    pub fn progress(&self, msg: impl AsRef<str>) {
        crate::progress::line(format!("    [{}] {}", self.name, msg.as_ref()));
    }

    /// Closes the figure: its report section and its provenance record.
    pub fn finish(mut self, started: SystemTime, timer: Instant, result: Result<()>) -> (FigureSection, Provenance) {
        let wall_seconds = timer.elapsed().as_secs_f64();
        let error = result.err().map(|e| format!("{e:#}"));
        self.section.wall_seconds = wall_seconds;
        self.section.error = error.clone();
        self.outputs.push(self.section.provenance.clone());
        let provenance = Provenance {
            figure: self.name.to_owned(),
            mode: self.env.mode().to_owned(),
            qftml_version: self.env.qftml_version.clone(),
            qftml_path: self
                .env
                .qftml
                .as_ref()
                .map(|q| q.path().display().to_string())
                .unwrap_or_default(),
            git: self.env.git.clone(),
            seeds: self.seeds,
            parameters: self.parameters,
            commands: self.commands,
            outputs: self.outputs,
            started,
            finished: SystemTime::now(),
            wall_seconds,
            error,
        };
        (self.section, provenance)
    }
}
