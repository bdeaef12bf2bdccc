//! Helpers shared by the end-to-end tests of the `qftml` binary: run it, read what it
//! prints, make scratch directories.  Each test file uses some of them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use records::Record;
use serde_json::Value;

/// The talk's couplings as flags: κ = 1, μ² = −0.9515, λ = 0.7.
pub const TALK_POINT: [&str; 6] = ["--kappa", "1", "--mu2", "-0.9515", "--lambda", "0.7"];

/// Runs `qftml ARGS`.
pub fn qftml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qftml"))
        .args(args)
        .output()
        .expect("qftml runs")
}

/// Runs `qftml ARGS`, which must succeed, and returns its stdout.
#[track_caller]
pub fn stdout(args: &[&str]) -> String {
    let out = qftml(args);
    assert!(
        out.status.success(),
        "qftml {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `qftml ARGS` (with `--json`), which must succeed, and parses its stdout.
#[track_caller]
pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&stdout(args)).expect("stdout is one JSON object")
}

/// Runs `qftml ARGS` (with `--json`) and reads its typed record.
#[track_caller]
pub fn record<T: Record>(args: &[&str]) -> T {
    records::parse(&stdout(args)).expect("stdout is one record of the current schema")
}

/// Runs `qftml ARGS`, which must fail with a message and no panic; returns its stderr.
#[track_caller]
pub fn failure(args: &[&str]) -> String {
    let out = qftml(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "qftml {args:?} should have failed");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A path for one test that does not exist yet (anything left there is removed).
pub fn fresh_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qftml-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = fresh_path(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The shape of a JSON value for a snapshot: numbers become their kind, arrays keep their
/// first two entries and their length.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => Value::from("<f64>"),
        Value::Number(_) => Value::from("<int>"),
        Value::String(_) => Value::from("<string>"),
        Value::Array(a) => {
            let mut out: Vec<Value> = a.iter().take(2).map(shape).collect();
            if a.len() > 2 {
                out.push(Value::from(format!("… {} entries", a.len())));
            }
            Value::Array(out)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}
