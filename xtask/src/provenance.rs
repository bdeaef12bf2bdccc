//! Provenance records: one JSON file per figure saying exactly how it was made.

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::fsutil::{rfc3339, unix_seconds};
use crate::report::Check;

/// Format tag written into every record; bump it when fields change meaning.
pub const FORMAT: &str = "qftml-provenance/1";

/// The state of the source tree a run was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// `git rev-parse HEAD`, or `unknown` outside a repository.
    pub revision: String,
    /// Whether `git status --porcelain` reported changes.
    pub dirty: bool,
}

impl GitState {
    /// Reads the revision of the repository containing `root`.
    pub fn read(root: &Path) -> Self {
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        match git(&["rev-parse", "HEAD"]) {
            Some(revision) => Self {
                revision,
                dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
            },
            None => Self {
                revision: "unknown".to_owned(),
                dirty: false,
            },
        }
    }

    /// `revision` or `revision-dirty`.
    pub fn describe(&self) -> String {
        if self.dirty {
            format!("{}-dirty", self.revision)
        } else {
            self.revision.clone()
        }
    }
}

/// One external command run for a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// The command line, program first.
    pub argv: Vec<String>,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// Exit code (`None` if killed by a signal or not started).
    pub exit_code: Option<i32>,
}

/// Everything needed to say how a figure was made.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Registry name of the figure.
    pub figure: String,
    /// `quick` or `full`.
    pub mode: String,
    /// `qftml --version`.
    pub qftml_version: String,
    /// Path of the `qftml` binary used.
    pub qftml_path: String,
    /// Source tree state.
    pub git: GitState,
    /// Named seeds, in the order they were drawn.
    pub seeds: Map<String, Value>,
    /// Named parameters, in the order they were set.
    pub parameters: Map<String, Value>,
    /// Commands run, in order.
    pub commands: Vec<CommandRecord>,
    /// Files written, relative to the output directory.
    pub outputs: Vec<String>,
    /// Start of the figure.
    pub started: SystemTime,
    /// End of the figure.
    pub finished: SystemTime,
    /// Wall time in seconds.
    pub wall_seconds: f64,
    /// The figure's error, if it failed.
    pub error: Option<String>,
}

impl Provenance {
    /// The record as ordered JSON; `checks` are included with their verdicts.
    pub fn to_json(&self, checks: &[Check]) -> Value {
        let commands: Vec<Value> = self
            .commands
            .iter()
            .map(|c| json!({ "argv": c.argv, "wall_seconds": c.wall_seconds, "exit_code": c.exit_code }))
            .collect();
        let checks: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "quantity": c.quantity,
                    "measured": finite_or_string(c.measured),
                    "measured_err": c.measured_err.map(finite_or_string),
                    "reference": finite_or_string(c.reference),
                    "reference_err": c.reference_err.map(finite_or_string),
                    "source": c.source,
                    "tolerance": c.tolerance_text(),
                    "passed": c.passed(),
                })
            })
            .collect();
        json!({
            "format": FORMAT,
            "figure": self.figure,
            "mode": self.mode,
            "qftml_version": self.qftml_version,
            "qftml_path": self.qftml_path,
            "git_revision": self.git.revision,
            "git_dirty": self.git.dirty,
            "seeds": self.seeds,
            "parameters": self.parameters,
            "commands": commands,
            "outputs": self.outputs,
            "started": rfc3339(self.started),
            "finished": rfc3339(self.finished),
            "started_unix": unix_seconds(self.started),
            "wall_seconds": self.wall_seconds,
            "checks": checks,
            "error": self.error,
        })
    }
}

/// JSON has no NaN or infinity; write those as strings.
fn finite_or_string(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { json!(v.to_string()) }
}
