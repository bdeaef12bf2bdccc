//! `--out` run directories are whole or untouched: replaced as a whole, refused when mixed,
//! unharmed by a failed write, SIGINT or SIGTERM at any moment.

use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

use common::{qftml, scratch};
use std::time::{Duration, Instant};

use records::{RunManifest, SampleRecord};

fn sample_args<'a>(out: &'a str, sweeps: &'a str, seed: &'a str) -> Vec<&'a str> {
    let run = [
        "sample",
        "--lattice",
        "16",
        "--sweeps",
        sweeps,
        "--seed",
        seed,
        "--out",
        out,
        "--json",
    ];
    [&run[..], &common::TALK_POINT].concat()
}

#[track_caller]
fn sample_ok(out: &Path, sweeps: u64, seed: u64) -> RunManifest {
    let (o, s, r) = (out.to_str().unwrap(), sweeps.to_string(), seed.to_string());
    let result = qftml(&sample_args(o, &s, &r));
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    manifest(out)
}

fn manifest(dir: &Path) -> RunManifest {
    records::parse(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// `qftml reweight` accepts the directory (exit 0) or refuses it (non-zero, message).
fn reweight(dir: &Path) -> Output {
    qftml(&[
        "reweight",
        "--ensemble",
        dir.to_str().unwrap(),
        "--mu2",
        "-0.95",
        "--json",
    ])
}

/// Entries of `dir` other than `keep` (staging directories, temporary files).
fn leftovers(dir: &Path, keep: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect()
}

#[test]
fn a_rerun_replaces_the_whole_directory_and_leaves_nothing_beside_it() {
    let root = scratch("rerun");
    let out = root.join("run");
    let first = sample_ok(&out, 300, 1);
    let second = sample_ok(&out, 200, 2);
    assert_ne!(first.run_id, second.run_id);
    assert!(reweight(&out).status.success());
    assert_eq!(leftovers(&root, "run"), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_mixed_or_altered_directory_is_refused() {
    let root = scratch("mixed");
    let (a, b) = (root.join("a"), root.join("b"));
    sample_ok(&a, 200, 1);
    sample_ok(&b, 300, 2);
    // The ensemble of run b inside run a.
    std::fs::copy(b.join("ensemble.qfe"), a.join("ensemble.qfe")).unwrap();
    let refused = reweight(&a);
    assert!(!refused.status.success());
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(msg.contains("mixes runs or was altered"), "{msg}");
    // A missing file, a missing manifest.
    std::fs::remove_file(b.join("results.json")).unwrap();
    assert!(String::from_utf8_lossy(&reweight(&b).stderr).contains("incomplete"));
    std::fs::remove_file(b.join("manifest.json")).unwrap();
    assert!(String::from_utf8_lossy(&reweight(&b).stderr).contains("no manifest.json"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_directory_of_other_files_is_never_replaced() {
    let root = scratch("user");
    let out = root.join("mine");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let result = qftml(&sample_args(out.to_str().unwrap(), "100", "1"));
    assert_eq!(result.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&result.stderr).contains("not a qftml run directory"));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(&root);
}

/// A write that fails half-way (file-size limit: the same error as a full disk) prints the
/// results, exits non-zero and leaves the old run whole.
#[test]
fn a_failed_write_prints_the_results_and_keeps_the_old_run() {
    let root = scratch("full");
    let out = root.join("run");
    let old = sample_ok(&out, 200, 1);
    // 64 KiB per file: the new ensemble (16×16, 2 chains × 2000 configurations) cannot be written.
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' {}",
        env!("CARGO_BIN_EXE_qftml"),
        sample_args(out.to_str().unwrap(), "2000", "2").join(" ")
    );
    let result = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        result.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let printed: SampleRecord = records::parse(&String::from_utf8_lossy(&result.stdout)).expect("results printed");
    assert_eq!(printed.n_configs, 4000);
    let msg = String::from_utf8_lossy(&result.stderr);
    assert!(msg.contains("--out was not written"), "{msg}");
    assert_eq!(manifest(&out).run_id, old.run_id);
    assert!(reweight(&out).status.success());
    assert_eq!(leftovers(&root, "run"), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&root);
}

/// SIGINT and SIGTERM at pseudo-random moments of a run that replaces an earlier one: the
/// directory is always the complete old run or the complete new one.
#[test]
fn signals_at_random_moments_leave_the_old_or_the_new_run() {
    let root = scratch("signals");
    let out = root.join("run");
    let out_str = out.to_str().unwrap().to_owned();
    let mut ids = vec![sample_ok(&out, 200, 1).run_id];
    // How long one replacing run takes, to spread the signals over it.
    let start = Instant::now();
    ids.push(sample_ok(&out, 1500, 2).run_id);
    let duration = start.elapsed();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let (mut interrupted, mut completed) = (0, 0);
    for k in 0..12 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = duration.mul_f64((state >> 11) as f64 / (1u64 << 53) as f64 * 1.2);
        let seed = (10 + k).to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_qftml"))
            .args(sample_args(&out_str, "1500", &seed))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let signal = if k % 2 == 0 { "-INT" } else { "-TERM" };
        let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
        let status = child.wait_with_output().unwrap().status;
        if status.success() {
            completed += 1;
        } else {
            interrupted += 1;
            assert_eq!(status.code(), Some(130), "a signalled run exits with 130");
        }
        let now = manifest(&out);
        let verdict = reweight(&out);
        assert!(
            verdict.status.success(),
            "after signal {k}: {}",
            String::from_utf8_lossy(&verdict.stderr)
        );
        if !ids.contains(&now.run_id) {
            ids.push(now.run_id);
        }
        let left = leftovers(&root, "run");
        let inside: Vec<Vec<String>> = left.iter().map(|d| leftovers(&root.join(d), "")).collect();
        assert!(
            left.is_empty(),
            "after signal {k} ({status:?}, {delay:?}): {left:?} holding {inside:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("{interrupted} runs interrupted, {completed} completed before the signal");
    assert!(interrupted > 0, "no signal arrived during a run");
    let _ = std::fs::remove_dir_all(&root);
}

/// A run killed outright (SIGKILL) leaves its staging directory, which is never read and is
/// removed by the next run into the same `--out`.
#[test]
fn staging_left_by_a_killed_run_is_ignored_and_cleaned() {
    let root = scratch("killed");
    let out = root.join("run");
    let old = sample_ok(&out, 200, 1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_qftml"))
        .args(sample_args(out.to_str().unwrap(), "100000", "3"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while leftovers(&root, "run").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(leftovers(&root, "run").len(), 1, "the killed run's staging directory");
    assert_eq!(manifest(&out).run_id, old.run_id);
    assert!(reweight(&out).status.success());
    sample_ok(&out, 200, 4);
    assert_eq!(leftovers(&root, "run"), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&root);
}

/// A full disk (a 1 MiB tmpfs) during the write: the results are printed, the old run stays
/// whole, nothing is left beside it.  Needs the right to mount (root); says so when skipped.
#[test]
fn a_full_disk_keeps_the_old_run() {
    let root = scratch("tmpfs");
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs", root.to_str().unwrap()])
        .stderr(Stdio::null())
        .status();
    if !mount.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root); the file-size-limit test covers the same failure");
        let _ = std::fs::remove_dir_all(&root);
        return;
    }
    let out = root.join("run");
    let small = |sweeps: &str, seed: &str| {
        let o = out.to_str().unwrap().to_owned();
        let mut args = sample_args(&o, sweeps, seed);
        args[2] = "8";
        qftml(&args)
    };
    let first = small("150", "1");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let old = manifest(&out);
    let full = small("3000", "2");
    assert_eq!(full.status.code(), Some(1));
    let printed: Result<SampleRecord, _> = records::parse(&String::from_utf8_lossy(&full.stdout));
    let msg = String::from_utf8_lossy(&full.stderr).into_owned();
    let intact = manifest(&out).run_id == old.run_id && reweight(&out).status.success();
    let clean = leftovers(&root, "run").is_empty();
    // A run that fits replaces the old one on the same file system.
    let fits = small("100", "3");
    let replaced = manifest(&out).run_id != old.run_id;
    let _ = Command::new("umount").arg(&root).status();
    let _ = std::fs::remove_dir_all(&root);
    assert!(printed.is_ok(), "results not printed");
    assert!(msg.contains("--out was not written"), "{msg}");
    assert!(intact, "the old run was harmed");
    assert!(clean, "files were left beside --out");
    assert!(fits.status.success() && replaced);
}
