//! End-to-end tests of `qftml train data`: exact Gaussian samples from `qftml data`, learned
//! couplings that `qftml sample --couplings` reproduces the data's moments with, resume in
//! a separate process, bad input.

use std::path::{Path, PathBuf};

mod common;

use common::{failure, json, scratch, shape};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn digits() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/digits8x8-images-idx3-ubyte.gz")
}

/// 20 000 exact samples of a 4×4 free field (κ = 0.2, μ² = 0.5, mean 0.5) written to `npy`
/// by `qftml data gaussian`; its record.
fn free_field_npy(npy: &Path, seed: &str) -> serde_json::Value {
    json(&[
        "data",
        "gaussian",
        "--lattice",
        "4",
        "--samples",
        "20000",
        "--kappa",
        "0.2",
        "--mu2",
        "0.5",
        "--mean",
        "0.5",
        "--seed",
        seed,
        "--out",
        s(npy),
        "--json",
    ])
}

/// A Gaussian model learned from `npy` into `run` (2000 steps of 200 samples, η₀ = 0.01
/// halved after 300 steps), with further flags `extra`; its record.
fn train_gaussian(npy: &Path, run: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["train", "data", "--data", s(npy), "--gaussian"];
    args.extend(extra);
    args.extend([
        "--batch",
        "200",
        "--lr",
        "0.01",
        "--lr-half-life",
        "300",
        "--epochs",
        "20",
        "--seed",
        "3",
        "--out",
        s(run),
        "--json",
    ]);
    json(&args)
}

/// 20 000 exact samples of a 4×4 free field (κ = 0.2, μ² = 0.5, mean 0.5), a Gaussian model
/// learned from them, and a Monte Carlo run of that model: its ⟨φ²⟩ and nearest-neighbour
/// ⟨φ_iφ_j⟩ agree with the exact values of the generating field within 5 standard errors,
/// combining the run's own error with the data's (maximum likelihood matches the data's
/// empirical moments, which scatter around the exact ones by `sd/√N`, with
/// `sd² = 2σ⁴ + 4σ²m²` for `φ²` of a normal variable).
#[test]
fn learned_gaussian_reproduces_the_data_moments() {
    let dir = scratch("gauss");
    let npy = dir.join("x.npy");
    let data = free_field_npy(&npy, "4");
    let run = dir.join("run");
    let trained = train_gaussian(&npy, &run, &[]);
    assert_eq!(trained["mode"], "data");
    assert_eq!(trained["steps"], 2000);
    insta::assert_json_snapshot!("train_data_shape", shape(&trained));
    assert_eq!(trained["couplings"]["b"]["max"], 0.0);
    for (key, truth) in [("w", 0.2), ("a", 0.65), ("r", -0.25)] {
        let learned = trained["couplings"][key]["mean"].as_f64().unwrap();
        // The mean over 16 or 32 couplings; the single-coupling error is below 0.03.
        assert!((learned - truth).abs() < 0.03, "{key}: learned {learned} vs {truth}");
    }
    for moment in ["mean", "variance", "nn_corr"] {
        let diff = trained["moments"][moment]["max_abs_diff"].as_f64().unwrap();
        assert!(diff < 0.06, "{moment}: model and data differ by {diff}");
    }
    let sampled = json(&[
        "sample",
        "--couplings",
        s(&run.join("couplings.json")),
        "--sweeps",
        "20000",
        "--chains",
        "4",
        "--seed",
        "8",
        "--json",
    ]);
    let (m, var, cov) = (
        data["exact_mean"].as_f64().unwrap(),
        data["exact_variance"].as_f64().unwrap(),
        data["exact_nn_covariance"].as_f64().unwrap(),
    );
    let data_err = ((2.0 * var * var + 4.0 * var * m * m) / 20_000.0).sqrt();
    for (key, exact) in [("phi2", var + m * m), ("nn", cov + m * m)] {
        let value = sampled["observables"][key]["mean"].as_f64().unwrap();
        let err = sampled["observables"][key]["err"].as_f64().unwrap();
        let sigma = (err * err + data_err * data_err).sqrt();
        println!("{key}: model {value:.5} ± {err:.5}, exact {exact:.5} (data error {data_err:.5})");
        assert!(
            (value - exact).abs() < 5.0 * sigma,
            "{key}: model {value} vs exact {exact} (σ = {sigma})"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--diagonal` on exact samples of a 4×4 free field without diagonal couplings (κ = 0.2,
/// μ² = 0.5, mean 0.5): the learned nearest-neighbour couplings average to κ and the
/// diagonal ones to 0 (the single-coupling error is below 0.03, so averages over 32
/// couplings are within 0.02); `moments.json` holds the per-site moments of data and model
/// and 16 configurations of each.
#[test]
fn diagonal_couplings_of_a_field_without_them_vanish() {
    let dir = scratch("diagonal");
    let npy = dir.join("x.npy");
    free_field_npy(&npy, "5");
    let run = dir.join("run");
    let trained = train_gaussian(&npy, &run, &["--diagonal"]);
    for (key, truth) in [("w", 0.2), ("w_diagonal", 0.0)] {
        let learned = trained["couplings"][key]["mean"].as_f64().unwrap();
        assert!((learned - truth).abs() < 0.02, "{key}: learned {learned} vs {truth}");
    }
    let moments: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("moments.json")).unwrap()).unwrap();
    assert_eq!(moments["lattice"], serde_json::json!([4, 4]));
    for who in ["data", "model"] {
        for (key, n) in [("mean", 16), ("variance", 16), ("nn_corr", 32)] {
            assert_eq!(moments[who][key].as_array().unwrap().len(), n, "{who} {key}");
        }
        let samples = moments[format!("{who}_samples")].as_array().unwrap();
        assert_eq!(samples.len(), 16);
        assert!(samples.iter().all(|x| x.as_array().unwrap().len() == 16));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run stopped half way and resumed in another process ends with the same couplings,
/// bit for bit, as one run straight through.
#[test]
fn resumed_run_matches_a_straight_one() {
    let dir = scratch("resume");
    let base = |out: &Path, epochs: &str| {
        vec![
            "train".to_string(),
            "data".into(),
            "--data".into(),
            s(&digits()).into(),
            "--classes".into(),
            "3".into(),
            "--batch".into(),
            "61".into(),
            "--chains".into(),
            "8".into(),
            "--checkpoint-every".into(),
            "7".into(),
            "--moment-samples".into(),
            "20".into(),
            "--epochs".into(),
            epochs.into(),
            "--out".into(),
            s(out).into(),
            "--json".into(),
        ]
    };
    let straight = dir.join("straight");
    let args = base(&straight, "20");
    json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let split = dir.join("split");
    let args = base(&split, "9");
    json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let resumed = json(&["train", "data", "--resume", s(&split), "--epochs", "20", "--json"]);
    assert_eq!(resumed["steps"], 60);
    let read = |d: &Path| std::fs::read(d.join("couplings.json")).unwrap();
    assert_eq!(read(&straight), read(&split));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = scratch("bad");
    let missing = failure(&["train", "data", "--data", s(&dir.join("none.npy"))]);
    assert!(missing.contains("does not exist"), "{missing}");
    let npy = dir.join("rows.npy");
    json(&[
        "data",
        "independent",
        "--lattice",
        "4",
        "--samples",
        "50",
        "--means",
        "0",
        "--variances",
        "1",
        "--out",
        s(&npy),
        "--json",
    ]);
    let wrong = failure(&["train", "data", "--data", s(&npy), "--lattice", "5"]);
    assert!(wrong.contains("lattice"), "{wrong}");
    let no_labels = failure(&["train", "data", "--data", s(&npy), "--classes", "3"]);
    assert!(no_labels.contains("labels"), "{no_labels}");
    let no_class = failure(&["train", "data", "--data", s(&digits()), "--classes", "11"]);
    assert!(no_class.contains("class 11"), "{no_class}");
    let mnist_labels = digits().with_file_name("mnist-10k-labels-idx1-ubyte.gz");
    let mismatch = failure(&["train", "data", "--data", s(&digits()), "--labels", s(&mnist_labels)]);
    assert!(mismatch.contains("label"), "{mismatch}");
    let big_batch = failure(&["train", "data", "--data", s(&npy), "--batch", "51"]);
    assert!(big_batch.contains("batch"), "{big_batch}");
    let _ = std::fs::remove_dir_all(&dir);
}
