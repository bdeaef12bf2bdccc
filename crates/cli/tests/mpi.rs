//! `qftml` under `mpirun` (feature `mpi`): chains across ranks, one lattice split in row
//! strips, training across ranks with a resume on another rank count, refusals, and a
//! failing rank that stops the job without output.  Each result is compared bit for bit
//! with the one-process run of the same command.
//!
//! Needs OpenMPI's `mpirun` on the `PATH` (`.ci/run` installs it).
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{qftml, scratch};
use serde_json::Value;

/// Runs `mpirun -np RANKS qftml ARGS` with `env` set in every rank.
fn mpirun(ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "--allow-run-as-root", "-np", &ranks.to_string()]);
    for (k, v) in env {
        cmd.env(k, v).args(["-x", k]);
    }
    cmd.arg(env!("CARGO_BIN_EXE_qftml")).args(args);
    cmd.output()
        .expect("mpirun runs (install OpenMPI: apt-get install openmpi-bin libopenmpi-dev)")
}

/// The record printed by a successful run, without what may differ between runs (wall
/// time, provenance).
#[track_caller]
fn record(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    let o = v.as_object_mut().expect("a record");
    for key in ["timing", "provenance"] {
        o.remove(key);
    }
    v
}

/// The files of a run directory that must be bit-identical across rank counts.
fn stable_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".npy") || e.file_name() == "couplings.json")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{} holds no results", dir.display());
    out
}

fn sample_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let talk = "sample --kappa 1 --mu2 -0.9515 --lambda 0.7 --therm 40 --sweeps 100 --seed 11 --json";
    talk.split_whitespace().chain(extra.iter().copied()).collect()
}

/// `check(ranks, ranks_per_chain, extra)`: the run on `ranks` ranks gives the one-process
/// record and files.
#[track_caller]
fn check_sample(ranks: usize, per_chain: usize, extra: &[&str]) {
    let dir = scratch(&format!("mpi-sample-{ranks}-{per_chain}"));
    let (one, many) = (dir.join("one"), dir.join("many"));
    let mut args = sample_args(extra);
    args.extend(["--out", one.to_str().unwrap()]);
    let reference = record(&qftml(&args), "one process");
    let k = per_chain.to_string();
    let mut args = sample_args(extra);
    args.extend(["--out", many.to_str().unwrap(), "--ranks-per-chain", &k]);
    let what = format!("{ranks} ranks, {per_chain} per chain, {extra:?}");
    assert_eq!(record(&mpirun(ranks, &args, &[]), &what), reference, "{what}");
    assert_eq!(stable_files(&many), stable_files(&one), "{what}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn chains_across_ranks_are_bit_identical() {
    for ranks in 1..=3 {
        check_sample(ranks, 1, &["--lattice", "8", "--chains", "3"]);
    }
}

/// One lattice split in row strips over 1, 2 and 3 ranks, rows not dividing evenly (10
/// rows in 3 strips), and two groups of two ranks.
#[test]
fn split_lattice_is_bit_identical() {
    let metropolis = ["--lattice", "8x10", "--algorithm", "metropolis", "--chains", "2"];
    check_sample(1, 1, &metropolis);
    check_sample(2, 2, &metropolis);
    check_sample(3, 3, &metropolis);
    check_sample(4, 2, &metropolis);
}

#[track_caller]
fn check_refused(ranks: usize, args: &[&str], env: &[(&str, &str)], message: &str) {
    let out = mpirun(ranks, args, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} on {ranks} ranks should fail");
    assert!(stderr.contains(message), "{args:?} on {ranks} ranks: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.matches("error: ").count(),
        1,
        "one message, from rank 0: {stderr}"
    );
}

#[test]
fn impossible_layouts_are_refused() {
    let args = sample_args(&["--lattice", "8", "--chains", "2"]);
    check_refused(3, &args, &[], "3 ranks are more than 2 chains × 1 ranks per chain = 2");
    let args = sample_args(&["--lattice", "8", "--chains", "2", "--ranks-per-chain", "2"]);
    check_refused(2, &args, &[], "needs --algorithm metropolis");
    let args = sample_args(&[
        "--lattice",
        "8",
        "--chains",
        "2",
        "--ranks-per-chain",
        "2",
        "--algorithm",
        "metropolis",
    ]);
    check_refused(3, &args, &[], "do not split into groups of --ranks-per-chain 2");
}

/// A failure injected on rank 1 ends the job with that rank's message and a non-zero exit,
/// and nothing is written.
#[test]
fn a_failing_rank_stops_every_rank() {
    let dir = scratch("mpi-fail");
    let out_dir = dir.join("run");
    let mut args = sample_args(&["--lattice", "8", "--chains", "2"]);
    args.extend(["--out", out_dir.to_str().unwrap()]);
    check_refused(
        2,
        &args,
        &[("QFTML_MPI_FAIL_RANK", "1")],
        "rank 1: injected failure on rank 1",
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "the failed run left {left:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `check_train(mode_args, first_ranks, resume_ranks)`: a run on `first_ranks` ranks (a
/// checkpoint at the half) resumed on `resume_ranks` ranks ends with the couplings of one
/// process straight through; `epochs` are (half, all).
#[track_caller]
fn check_train(mode_args: &[&str], epochs: (&str, &str), first_ranks: usize, resume_ranks: usize) {
    let dir = scratch(&format!("mpi-train-{}-{first_ranks}-{resume_ranks}", mode_args[1]));
    let (one, many) = (dir.join("one"), dir.join("many"));
    let run = |out: &Path, epochs: &str| {
        let mut args = mode_args.to_vec();
        args.extend(["--epochs", epochs, "--out", out.to_str().unwrap(), "--json"]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = run(&one, epochs.1);
    let reference = qftml(&args.iter().map(String::as_str).collect::<Vec<_>>());
    record(&reference, "one process");
    let args = run(&many, epochs.0);
    let what = format!("{} on {first_ranks} ranks", mode_args[1]);
    record(
        &mpirun(first_ranks, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[]),
        &what,
    );
    let resume = [
        "train",
        mode_args[1],
        "--resume",
        many.to_str().unwrap(),
        "--epochs",
        epochs.1,
        "--json",
    ];
    let what = format!("{what}, resumed on {resume_ranks}");
    record(&mpirun(resume_ranks, &resume, &[]), &what);
    assert_eq!(stable_files(&many), stable_files(&one), "{what}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The talk's target on 4×4, 7 chains.
const VARIATIONAL: &str =
    "train variational --lattice 4 --kappa 1 --mu2 -0.9515 --lambda 0.7 --chains 7 --bound-samples 100 --bound-nodes 4";

/// Training across 1, 2 and 3 ranks gives the couplings of one process, through a
/// checkpoint resumed on another number of ranks.
#[test]
fn training_across_ranks_is_bit_identical() {
    let variational: Vec<&str> = VARIATIONAL
        .split_whitespace()
        .chain(["--checkpoint-every", "10", "--bound-every", "0"])
        .collect();
    check_train(&variational, ("15", "30"), 2, 3);
    check_train(&variational, ("15", "30"), 3, 1);
    let digits = format!(
        "{}/../../data/digits8x8-images-idx3-ubyte.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = [
        "train",
        "data",
        "--data",
        &digits,
        "--classes",
        "3",
        "--batch",
        "61",
        "--chains",
        "5",
        "--checkpoint-every",
        "7",
        "--moment-samples",
        "20",
    ];
    check_train(&data, ("5", "10"), 3, 2);
}

#[test]
fn training_on_more_ranks_than_chains_is_refused() {
    let two_chains = VARIATIONAL.replace("--chains 7", "--chains 2") + " --epochs 2 --json";
    let args: Vec<&str> = two_chains.split_whitespace().collect();
    check_refused(3, &args, &[], "3 ranks are more than the 2 chains");
}
