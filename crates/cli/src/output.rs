//! Output helpers: JSON on stdout, provenance records, atomic files.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

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
    /// Inside [`capture_records`] the record's JSON is kept instead of printed.
    pub fn emit<T: Record>(&self, record: &T, print_text: fn(&T)) -> Result<()> {
        let mut captured = CAPTURED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(records) = captured.as_mut() {
            records.push(records::to_json(record));
            return Ok(());
        }
        drop(captured);
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", records::to_json(record))?;
        } else {
            print_text(record);
        }
        Ok(())
    }
}

/// The records [`Output::emit`] keeps inside [`capture_records`] (none outside it).
static CAPTURED: Mutex<Option<Vec<String>>> = Mutex::new(None);
/// Held by the one [`capture_records`] running at a time.
static CAPTURING: Mutex<()> = Mutex::new(());

/// Runs `command` (e.g. a command's `run`) with every record it emits kept, as the exact
/// text `--json` prints, instead of printed; returns the command's result and the records.
/// Records are emitted from whatever thread a command uses, so captures run one at a time:
/// a second call waits for the first.
pub fn capture_records<T>(command: impl FnOnce() -> T) -> (T, Vec<String>) {
    let _one_at_a_time = CAPTURING.lock().unwrap_or_else(|e| e.into_inner());
    *CAPTURED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    // Cleared again even if `command` unwinds.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
    let clear = Clear;
    let result = command();
    let records = CAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    drop(clear);
    (result, records)
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
