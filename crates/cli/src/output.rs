//! Output helpers: JSON on stdout, provenance records, atomic files.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use records::{Provenance, Record};

/// How a command prints its result record.
#[derive(Debug, Args)]
pub struct Output {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Output {
    /// Print `record` on stdout: as JSON with `--json`, else with its text printer.
    pub fn emit<T: Record>(&self, record: &T, print_text: fn(&T)) -> Result<()> {
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", records::to_json(record))?;
        } else {
            print_text(record);
        }
        Ok(())
    }
}

/// Provenance of a result: program version, source revision, command line.
pub fn provenance() -> Provenance {
    Provenance {
        program: "qftml".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: env!("QFTML_GIT_REVISION").into(),
        command_line: std::env::args().collect(),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

/// Write `bytes` to `path` atomically ([`records::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    records::write_atomic(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// A progress bar on stderr; drawn only when stderr is a terminal.
pub fn progress_bar(total: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    let template = format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit} (eta {{eta}})");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
