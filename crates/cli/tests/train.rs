//! End-to-end tests of `qftml train variational`: outputs other commands accept, resume in a
//! separate process, bad input, and a snapshot of trained couplings.

use std::path::Path;

mod common;

use common::{failure, json, scratch, shape};
use serde_json::Value;

/// A short run of the talk's target on 4×4.
const TALK_4: [&str; 4] = ["--lattice", "4", "--bound-samples", "100"];

fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["train", "variational"];
    args.extend(TALK_4);
    args.extend(common::TALK_POINT);
    args.extend(["--bound-nodes", "4", "--chains", "8"]);
    args.extend(extra);
    args
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn trained_couplings_are_sampled_and_reweighted() {
    let dir = scratch("accept");
    let out = dir.join("run");
    let record = json(&train_args(&[
        "--epochs",
        "60",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(record["schema"], 1);
    assert_eq!(record["epochs"], 60);
    insta::assert_json_snapshot!("train_variational_shape", shape(&record));
    for block in ["w", "a", "b"] {
        for key in ["mean", "std", "min", "max"] {
            assert!(record["couplings"][block][key].is_f64(), "{block}.{key}");
        }
    }
    assert!(record["couplings"].get("r").is_none(), "r is not trained by default");
    for key in ["bound", "f_target", "gap"] {
        assert!(record["free_energy"][key]["mean"].is_f64() && record["free_energy"][key]["err"].is_f64());
    }
    assert!(record["free_energy"]["gap"]["mean"].as_f64().unwrap() > -0.01);
    assert!(record["timing"]["wall_s"].as_f64().unwrap() > 0.0);
    for name in [
        "config.json",
        "checkpoint.qftmlckp",
        "couplings.json",
        "bounds.json",
        "results.json",
    ] {
        assert!(out.join(name).exists(), "{name}");
    }
    let ensemble = dir.join("ensemble");
    let couplings = out.join("couplings.json");
    let sample = json(&[
        "sample",
        "--couplings",
        couplings.to_str().unwrap(),
        "--sweeps",
        "200",
        "--therm",
        "50",
        "--out",
        ensemble.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(sample["n_sites"], 16);
    let reweight = ["reweight", "--ensemble", ensemble.to_str().unwrap(), "--json"];
    let reweighted = json(&[&reweight[..], &common::TALK_POINT].concat());
    assert!(reweighted.is_object());
    // The trained couplings are also a target.
    let again = json(&[
        "train",
        "variational",
        "--target-couplings",
        couplings.to_str().unwrap(),
        "--epochs",
        "5",
        "--bound-samples",
        "20",
        "--bound-nodes",
        "2",
        "--json",
    ]);
    assert_eq!(again["n_sites"], 16);
    let err = failure(&[
        "train",
        "variational",
        "--lattice",
        "8",
        "--target-couplings",
        couplings.to_str().unwrap(),
    ]);
    assert!(err.contains("disagrees"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A run stopped after 30 epochs and resumed in a new process to 60 ends with the same
/// couplings and checkpoint payload as the run that went straight to 60.
#[test]
fn a_resumed_run_ends_bit_identical() {
    let dir = scratch("resume");
    let (straight, split) = (dir.join("straight"), dir.join("split"));
    let common = ["--checkpoint-every", "10", "--bound-every", "0"];
    let mut args = train_args(&common);
    args.extend(["--epochs", "60", "--out", straight.to_str().unwrap()]);
    json(&[args.as_slice(), &["--json"]].concat());
    let mut first = train_args(&common);
    first.extend(["--epochs", "30", "--out", split.to_str().unwrap(), "--json"]);
    json(&first);
    let mut second = train_args(&[]);
    second.extend(["--epochs", "60", "--resume", split.to_str().unwrap(), "--json"]);
    let resumed = json(&second);
    assert_eq!(resumed["epochs"], 60);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(read(&straight, "couplings.json"), read(&split, "couplings.json"));
    let couplings: Value = serde_json::from_slice(&read(&split, "couplings.json")).unwrap();
    assert_eq!(couplings["format"], "qftml-couplings");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_is_a_clear_error() {
    let base = ["train", "variational", "--lattice", "4", "--kappa", "1", "--mu2"];
    let err = failure(&[&base[..], &["-0.9515", "--lambda", "-0.1"]].concat());
    assert!(err.contains("not normalisable"), "{err}");
    let err = failure(&[&base[..], &["-1", "--lambda", "0"]].concat());
    assert!(err.contains("not normalisable"), "{err}");
    let err = failure(&[
        "train",
        "variational",
        "--lattice",
        "2",
        "--kappa",
        "1",
        "--mu2",
        "1",
        "--lambda",
        "0.5",
    ]);
    assert!(err.contains("lattice"), "{err}");
    let err = failure(&train_args(&["--optimizer", "sgd", "--lr", "1000", "--epochs", "50"]));
    assert!(
        err.contains("diverged") && err.contains("lower the learning rate"),
        "{err}"
    );
}

/// `--overlap-samples`: `A − S` under the initial and the trained model and under the target:
/// training brings the two histograms together (larger overlap coefficient and effective
/// sample size); the means bracket `F_A − F_S` (`⟨A − S⟩_q ≤ ⟨A − S⟩_p`); the histograms
/// are probabilities on common edges.  One sample per chain is refused.
#[test]
fn overlap_before_and_after_training() {
    let r = json(&train_args(&["--epochs", "300", "--overlap-samples", "100", "--json"]));
    let stage = |name: &str| &r["overlap"][name];
    let number = |v: &Value| v.as_f64().unwrap();
    for name in ["initial", "trained"] {
        let o = stage(name);
        assert_eq!(o["n_samples"], 800);
        let edges = o["edges"].as_array().unwrap();
        for key in ["under_model", "under_target"] {
            let p = o[key].as_array().unwrap();
            assert_eq!(p.len() + 1, edges.len());
            let total: f64 = p.iter().map(number).sum();
            assert!((total - 1.0).abs() < 1e-9, "{name} {key}: {total}");
        }
        let (p, q) = (&o["mean_under_model"], &o["mean_under_target"]);
        let sigma = number(&p["err"]).hypot(number(&q["err"]));
        assert!(
            number(&q["mean"]) < number(&p["mean"]) + 4.0 * sigma,
            "{name}: ⟨A − S⟩_q {} above ⟨A − S⟩_p {}",
            q["mean"],
            p["mean"]
        );
    }
    let (before, after) = (stage("initial"), stage("trained"));
    assert!(number(&before["overlap_coefficient"]) < 0.5, "{before}");
    assert!(number(&after["overlap_coefficient"]) > 0.8, "{after}");
    assert!(number(&after["ess"]) > 10.0 * number(&before["ess"]));
    let err = failure(&train_args(&["--epochs", "5", "--overlap-samples", "1"]));
    assert!(err.contains("--overlap-samples"), "{err}");
}

/// A resume directory of another run, a corrupted checkpoint, or a second run into the same
/// directory are errors, and nothing in the directory changes.
#[test]
fn a_run_directory_is_never_clobbered() {
    let dir = scratch("clobber");
    let run = dir.join("run");
    let run_s = run.to_str().unwrap();
    json(&train_args(&["--epochs", "20", "--out", run_s, "--json"]));
    let before = files(&run);

    let err = failure(&train_args(&["--epochs", "40", "--resume", run_s, "--seed", "9"]));
    assert!(err.contains("different run"), "{err}");
    assert_eq!(files(&run), before);

    let err = failure(&train_args(&["--epochs", "40", "--out", run_s]));
    assert!(err.contains("already holds a training run"), "{err}");
    assert_eq!(files(&run), before);

    let copy = dir.join("corrupt");
    std::fs::create_dir_all(&copy).unwrap();
    for (name, bytes) in &before {
        std::fs::write(copy.join(name), bytes).unwrap();
    }
    let ckpt = copy.join("checkpoint.qftmlckp");
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&ckpt, &bytes).unwrap();
    let corrupted = files(&copy);
    let err = failure(&train_args(&["--epochs", "40", "--resume", copy.to_str().unwrap()]));
    assert!(err.contains("not a valid checkpoint"), "{err}");
    assert_eq!(files(&copy), corrupted);

    let err = failure(&[
        "train",
        "variational",
        "--resume",
        dir.join("missing").to_str().unwrap(),
    ]);
    assert!(err.contains("training config"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Trained couplings of a small fixed-seed run, rounded to 4 decimals: a change of the
/// training shows here.
#[test]
fn trained_couplings_snapshot() {
    let dir = scratch("snapshot");
    json(&train_args(&[
        "--epochs",
        "40",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
        "--json",
    ]));
    let couplings: Value = serde_json::from_slice(&std::fs::read(dir.join("couplings.json")).unwrap()).unwrap();
    let round = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| (x.as_f64().unwrap() * 1e4).round() / 1e4)
            .collect()
    };
    let rounded = serde_json::json!({
        "w": round(&couplings["w"]),
        "a": round(&couplings["a"]),
        "b": round(&couplings["b"]),
    });
    insta::assert_json_snapshot!(rounded);
    let _ = std::fs::remove_dir_all(dir);
}
