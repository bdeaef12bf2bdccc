//! End-to-end tests of `qftml rbm`: resuming in a new process is bit-identical, the JSON
//! records carry what they promise, AIS meets enumeration, bad input is a clear error.

use std::path::Path;

mod common;

use common::{fresh_path as tmp, json, qftml, shape};
use serde_json::Value;

fn cat<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    [a, b].concat()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[track_caller]
fn check_resume(settings: &[&str]) {
    let (straight, half, resumed) = (tmp("straight"), tmp("half"), tmp("resumed"));
    json(&cat(settings, &["--epochs", "4", "--out", s(&straight), "--json"]));
    json(&cat(settings, &["--epochs", "2", "--out", s(&half), "--json"]));
    let record = json(&[
        "rbm",
        "train",
        "--resume",
        s(&half),
        "--epochs",
        "4",
        "--out",
        s(&resumed),
        "--json",
    ]);
    let a = std::fs::read(straight.join("trainer.ckpt")).unwrap();
    let b = std::fs::read(resumed.join("trainer.ckpt")).unwrap();
    assert!(
        a == b,
        "{settings:?}: the resumed run's state differs from the uninterrupted run's"
    );
    let full: Value = serde_json::from_slice(&std::fs::read(straight.join("results.json")).unwrap()).unwrap();
    assert_eq!(record["epochs"], full["epochs"], "per-epoch results differ");
    assert_eq!(record["timing"]["sec_per_epoch"].as_array().unwrap().len(), 2);
    for d in [straight, half, resumed] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn resuming_in_a_new_process_is_bit_identical() {
    check_resume(&[
        "rbm",
        "train",
        "--n-samples",
        "300",
        "--n-hidden",
        "16",
        "--persistent",
        "--momentum",
        "0.5",
        "--data-order",
        "given",
    ]);
    check_resume(&[
        "rbm",
        "train",
        "--n-samples",
        "200",
        "--n-hidden",
        "8",
        "--visible",
        "phi4",
        "--train-shape",
        "--lr",
        "0.01",
        "--cd-k",
        "2",
        "--weight-decay",
        "0.001",
        "--momentum",
        "0.5",
        "--batch",
        "7",
    ]);
}

#[test]
fn train_eval_and_sample_records() {
    let dir = tmp("eval");
    let train = json(&[
        "rbm",
        "train",
        "--n-hidden",
        "12",
        "--epochs",
        "3",
        "--persistent",
        "--out",
        s(&dir),
        "--json",
    ]);
    assert_eq!(train["schema"], 1);
    assert_eq!(train["config"]["n_visible"], 64);
    assert_eq!(train["config"]["n_samples"], 1797);
    assert_eq!(train["config"]["shuffle"], true, "a new order every epoch by default");
    assert_eq!(train["epochs"].as_array().unwrap().len(), 3);
    assert_eq!(train["timing"]["sec_per_epoch"].as_array().unwrap().len(), 3);
    assert!(train["epochs"][2]["pseudo_loglik"].as_f64().unwrap() < 0.0);
    let eval = json(&[
        "rbm",
        "eval",
        "--model",
        s(&dir),
        "--ais-runs",
        "100",
        "--ais-steps",
        "1000",
        "--json",
    ]);
    assert_eq!(eval["schema"], 1);
    let exact = eval["exact_loglik"]
        .as_f64()
        .expect("12 hidden binary units are enumerated");
    let ais = eval["ais"]["loglik"].as_f64().unwrap();
    assert!((ais - exact).abs() < 0.5, "AIS {ais} vs exact {exact}");
    assert!(eval["pseudo_loglik"].as_f64().unwrap() < 0.0);
    assert!(eval["reconstruction_error"].as_f64().unwrap() > 0.0);
    let sample = json(&[
        "rbm",
        "sample",
        "--model",
        s(&dir),
        "--n",
        "3",
        "--sweeps",
        "10",
        "--json",
    ]);
    let samples = sample["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 3);
    assert!(samples.iter().all(|r| r.as_array().unwrap().len() == 64));
    insta::assert_json_snapshot!("rbm_train_shape", shape(&train));
    insta::assert_json_snapshot!("rbm_eval_shape", shape(&eval));
    insta::assert_json_snapshot!("rbm_sample_shape", shape(&sample));
    let _ = std::fs::remove_dir_all(dir);
}

#[track_caller]
fn check_error(args: &[&str], needle: &str) {
    let out = qftml(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: {stderr:?} does not mention {needle:?}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let t = ["rbm", "train", "--epochs", "1"];
    let with = |extra: &[&'static str]| cat(&t, extra);
    check_error(&with(&["--lr", "-1"]), "learning rate");
    check_error(&with(&["--lr", "nan"]), "--lr");
    check_error(&with(&["--batch", "0"]), "batch size");
    check_error(&with(&["--momentum", "1.5"]), "momentum");
    check_error(&with(&["--n-hidden", "0"]), "hidden");
    check_error(&with(&["--data", "/nonexistent/file.csv"]), "/nonexistent/file.csv");
    check_error(&with(&["--class", "11"]), "class");
    check_error(&with(&["--visible", "ising"]), "ising");
    check_error(&with(&["--resume", "/nonexistent/run"]), "/nonexistent/run");
    check_error(&["rbm", "eval", "--model", "/nonexistent/run"], "/nonexistent/run");
    let dir = tmp("bad");
    json(&cat(
        &t,
        &["--n-samples", "50", "--n-hidden", "4", "--out", s(&dir), "--json"],
    ));
    check_error(
        &["rbm", "train", "--resume", s(&dir), "--epochs", "2", "--lr", "0.1"],
        "--lr",
    );
    check_error(&["rbm", "train", "--resume", s(&dir), "--epochs", "0"], "--epochs");
    // A learning rate that makes the parameters blow up is reported as divergence.
    let csv = dir.with_extension("csv");
    std::fs::write(&csv, "0.5,0.5\n0.5,0.5\n").unwrap();
    check_error(
        &[
            "rbm",
            "train",
            "--epochs",
            "5",
            "--data",
            s(&csv),
            "--visible",
            "gaussian",
            "--hidden",
            "gaussian",
            "--lr",
            "1e9",
        ],
        "diverged",
    );
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(csv);
}

/// `rbm export` writes the parameters as `.npy` and the hidden activations of the training
/// data, on which a second network trains: a two-layer stack from the command line.
#[test]
fn export_and_stack_two_layers() {
    let (first, export, second) = (tmp("stack-first"), tmp("stack-export"), tmp("stack-second"));
    json(&[
        "rbm",
        "train",
        "--n-samples",
        "200",
        "--n-hidden",
        "12",
        "--epochs",
        "2",
        "--persistent",
        "--out",
        s(&first),
        "--json",
    ]);
    let record = json(&[
        "rbm",
        "export",
        "--model",
        s(&first),
        "--out",
        s(&export),
        "--activations",
        "samples",
        "--json",
    ]);
    assert_eq!(record["n_visible"], 64);
    assert_eq!(record["n_hidden"], 12);
    assert_eq!(record["n_samples"], 200);
    assert_eq!(record["files"].as_array().unwrap().len(), 8);
    insta::assert_json_snapshot!("rbm_export_shape", shape(&record));
    // A C-ordered <f8 array: the header, then 64 × 12 values.
    let weights = std::fs::read(export.join("weights.npy")).unwrap();
    assert_eq!(&weights[..6], b"\x93NUMPY");
    assert!(weights.len() > 64 * 12 * 8 && weights.len() <= 64 * 12 * 8 + 256);
    let activations = export.join("hidden_activations.npy");
    let stacked = json(&[
        "rbm",
        "train",
        "--data",
        s(&activations),
        "--pixel-map",
        "identity",
        "--n-hidden",
        "6",
        "--epochs",
        "2",
        "--persistent",
        "--out",
        s(&second),
        "--json",
    ]);
    assert_eq!(stacked["config"]["n_visible"], 12);
    assert_eq!(stacked["config"]["n_samples"], 200);
    // Top-down: the second network's chains, passed down through the first.
    let top_down = |means: bool| {
        let mut args = vec![
            "rbm",
            "sample",
            "--model",
            s(&first),
            "--model",
            s(&second),
            "--n",
            "5",
            "--sweeps",
            "20",
            "--json",
        ];
        if means {
            args.push("--means");
        }
        json(&args)
    };
    let drawn = top_down(false);
    assert_eq!(drawn["stack"].as_array().unwrap().len(), 2);
    let drawn = drawn["samples"].as_array().unwrap();
    assert_eq!(drawn.len(), 5);
    for row in drawn {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 64, "samples are images of the bottom network");
        assert!(row.iter().all(|x| x == 0.0 || x == 1.0), "binary draws");
    }
    let means = top_down(true);
    let means = means["samples"].as_array().unwrap();
    assert!(means.iter().flat_map(|r| r.as_array().unwrap()).any(|x| {
        let x = x.as_f64().unwrap();
        x > 0.0 && x < 1.0
    }));
    // A stack listed top first does not fit.
    check_error(
        &["rbm", "sample", "--model", s(&second), "--model", s(&first)],
        "visible units",
    );
    check_error(
        &["rbm", "sample", "--model", s(&first), "--means"],
        "--means applies to a stack",
    );
    for d in [first, export, second] {
        let _ = std::fs::remove_dir_all(d);
    }
}
