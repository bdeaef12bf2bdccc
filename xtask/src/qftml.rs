//! Running the release build of the `qftml` binary and reading its `--json` output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::provenance::CommandRecord;

/// The talk's couplings as `qftml` flags: κ = 1, μ² = −0.9515, λ = 0.7.
pub const TALK_FLAGS: [&str; 6] = ["--kappa", "1", "--mu2", "-0.9515", "--lambda", "0.7"];

/// Builds `cargo build --release -p cli` and returns the path of the `qftml` binary.
///
/// Cargo's own progress goes to stderr; the binary's path is read from cargo's
/// JSON messages, so a custom target directory works.
pub fn build_release(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "-p", "cli", "--bin", "qftml"])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo to build the qftml release binary")?;
    if !output.status.success() {
        bail!("`cargo build --release -p cli` failed; fix the build and run again");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    executable_from_cargo_messages(&stdout)
        .ok_or_else(|| anyhow!("cargo built the cli package but reported no `qftml` executable"))
}

/// The fields of a cargo `--message-format=json` message that name a built binary.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    target: Option<CargoTarget>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
}

/// The `executable` of the `qftml` binary in cargo's `--message-format=json` output.
pub fn executable_from_cargo_messages(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
        .filter(|m| m.reason == "compiler-artifact" && m.target.as_ref().is_some_and(|t| t.name == "qftml"))
        .find_map(|m| m.executable)
}

/// A `qftml` binary and the commands run with it.
#[derive(Debug, Clone)]
pub struct Qftml {
    path: PathBuf,
}

impl Qftml {
    /// Uses the binary at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `qftml --version`, trimmed.
    pub fn version(&self) -> Result<String> {
        let out = Command::new(&self.path)
            .arg("--version")
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if !out.status.success() {
            bail!(
                "`qftml --version` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Runs `qftml ARGS --json`, returning its output read as the typed record `T` and a
    /// record of the command.  The command's stderr (progress, warnings) is passed through,
    /// indented, as it arrives; a failing command is an error that quotes the end of its
    /// stderr.
    pub fn run_json<T: records::Record>(&self, args: &[impl AsRef<str>]) -> (Result<T>, CommandRecord) {
        self.run_json_labelled("qftml", args)
    }

    /// [`Qftml::run_json`] with the forwarded stderr lines prefixed by `label` (the
    /// figure's name), so that figures running side by side can be told apart.
    pub fn run_json_labelled<T: records::Record>(
        &self,
        label: &str,
        args: &[impl AsRef<str>],
    ) -> (Result<T>, CommandRecord) {
        let mut argv: Vec<String> = vec!["qftml".to_owned()];
        argv.extend(args.iter().map(|a| a.as_ref().to_owned()));
        argv.push("--json".to_owned());
        let start = Instant::now();
        let record = |code| CommandRecord {
            argv: argv.clone(),
            wall_seconds: start.elapsed().as_secs_f64(),
            exit_code: code,
        };
        let child = Command::new(&self.path)
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => return (Err(anyhow!("cannot run {}: {e}", self.path.display())), record(None)),
        };
        let prefix = format!("      {label} | ");
        let stderr = child
            .stderr
            .take()
            .map(|pipe| std::thread::spawn(move || forward_stderr(pipe, &prefix)));
        let out = child.wait_with_output();
        let stderr_tail = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        let out = match out {
            Ok(o) => o,
            Err(e) => return (Err(anyhow!("cannot run {}: {e}", self.path.display())), record(None)),
        };
        let rec = record(out.status.code());
        let result = if out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            records::parse::<T>(&stdout).map_err(|e| {
                anyhow!(
                    "`{}` printed output that is not a {} record: {e}: {}",
                    argv.join(" "),
                    T::NAME,
                    stdout.chars().take(400).collect::<String>()
                )
            })
        } else {
            Err(anyhow!(
                "`{}` failed ({}): {}",
                argv.join(" "),
                out.status,
                stderr_tail.trim()
            ))
        };
        (result, rec)
    }
}

/// Copies a child's stderr to ours line by line (after `prefix`), returning its last lines.
pub(crate) fn forward_stderr(pipe: impl std::io::Read, prefix: &str) -> String {
    use std::io::BufRead;
    const KEEP: usize = 30;
    let mut tail = std::collections::VecDeque::with_capacity(KEEP);
    for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
        crate::progress::line(format!("{prefix}{line}"));
        if tail.len() == KEEP {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    Vec::from(tail).join("\n")
}
