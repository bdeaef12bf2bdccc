//! Output helpers: JSON on stdout, provenance records, atomic files.

use std::cell::RefCell;
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
/// The command line of the command [`capture_records`] runs.
static CAPTURED_COMMAND_LINE: Mutex<Option<Vec<String>>> = Mutex::new(None);

thread_local! {
    /// The command line [`with_command_line`] gives this thread's provenance records.
    static COMMAND_LINE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Runs `f` with the provenance records made on this thread naming `command_line` as the
/// command that made them (e.g. the `qftml` command equivalent to a call from Python),
/// instead of the process's own arguments.
pub fn with_command_line<T>(command_line: Vec<String>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Vec<String>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            COMMAND_LINE.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(COMMAND_LINE.with(|c| c.borrow_mut().replace(command_line)));
    f()
}

/// The command line of a provenance record: [`with_command_line`]'s, else that of the
/// command [`capture_records`] runs, else the process's arguments.
fn command_line() -> Vec<String> {
    COMMAND_LINE
        .with(|c| c.borrow().clone())
        .or_else(|| CAPTURED_COMMAND_LINE.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_else(|| std::env::args().collect())
}

/// Runs `command` (e.g. a command's `run`) with every record it emits kept, as the exact
/// text `--json` prints, instead of printed; returns the command's result and the records.
/// Records are emitted from whatever thread a command uses, so captures run one at a time:
/// a second call waits for the first.
/// Provenance records name `command_line` as the command that made them.
pub fn capture_records<T>(command_line: Vec<String>, command: impl FnOnce() -> T) -> (T, Vec<String>) {
    let _one_at_a_time = CAPTURING.lock().unwrap_or_else(|e| e.into_inner());
    *CAPTURED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    *CAPTURED_COMMAND_LINE.lock().unwrap_or_else(|e| e.into_inner()) = Some(command_line);
    // Cleared again even if `command` unwinds.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).take();
            CAPTURED_COMMAND_LINE.lock().unwrap_or_else(|e| e.into_inner()).take();
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
        command_line: command_line(),
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
