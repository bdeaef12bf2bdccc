//! `qftml data`: the written samples have the exact moments the record states, within
//! their standard errors (independent samples: plain errors of per-sample averages).

mod common;

use common::{qftml, record, scratch};
use records::DataRecord;

/// Mean and standard error of per-sample values.
fn mean_err(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[track_caller]
fn within_4_sigma(what: &str, per_sample: &[f64], exact: f64) {
    let (mean, err) = mean_err(per_sample);
    let pull = (mean - exact) / err;
    assert!(
        pull.abs() < 4.0,
        "{what}: {mean} ± {err} against exact {exact} ({pull:.1}σ)"
    );
}

/// 4000 exact samples of an 8×6 free field (κ = 1, μ² = 0.5, mean 0.3, seed 3) into `out`.
fn free_field_data(out: &str) -> DataRecord {
    record(&[
        "data",
        "gaussian",
        "--lattice",
        "8x6",
        "--kappa",
        "1",
        "--mu2",
        "0.5",
        "--mean",
        "0.3",
        "--samples",
        "4000",
        "--seed",
        "3",
        "--out",
        out,
        "--json",
    ])
}

#[test]
fn free_field_samples_have_the_exact_moments() {
    let dir = scratch("gaussian");
    let file = dir.join("ff.npy");
    let f = file.to_str().unwrap();
    let r = free_field_data(f);
    assert_eq!(r.shape, vec![4000, 6, 8]);
    let data = datasets::Dataset::load(&file).unwrap();
    assert_eq!((data.n_samples(), data.shape()), (4000, Some([6, 8])));
    let (lx, ly) = (8, 6);
    let mut means = Vec::new();
    let mut variances = Vec::new();
    let mut covariances = Vec::new();
    for s in data.samples() {
        means.push(s.iter().sum::<f64>() / 48.0);
        variances.push(s.iter().map(|x| (x - 0.3) * (x - 0.3)).sum::<f64>() / 48.0);
        let mut nn = 0.0;
        for y in 0..ly {
            for x in 0..lx {
                let here = s[y * lx + x] - 0.3;
                nn += here * (s[y * lx + (x + 1) % lx] - 0.3) + here * (s[((y + 1) % ly) * lx + x] - 0.3);
            }
        }
        covariances.push(nn / 96.0);
    }
    within_4_sigma("mean", &means, r.exact_mean);
    within_4_sigma("variance", &variances, r.exact_variance);
    within_4_sigma("neighbour covariance", &covariances, r.exact_nn_covariance);
    assert!(r.exact_nn_covariance > 0.1 * r.exact_variance, "a correlated field");
    // The same seed gives the same bytes.
    let again = dir.join("again.npy");
    free_field_data(again.to_str().unwrap());
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(&again).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn independent_sites_have_their_means_and_variances() {
    let dir = scratch("independent");
    let file = dir.join("sites.npy");
    let means: Vec<String> = (0..16).map(|i| format!("{}", 0.25 * i as f64 - 1.0)).collect();
    let means = means.join(",");
    let r: DataRecord = record(&[
        "data",
        "independent",
        "--lattice",
        "4",
        "--means",
        &means,
        "--variances",
        "0.5",
        "--samples",
        "3000",
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.exact_variance, 0.5);
    let data = datasets::Dataset::load(&file).unwrap();
    for site in 0..16 {
        let column: Vec<f64> = data.samples().map(|s| s[site]).collect();
        within_4_sigma(&format!("site {site} mean"), &column, 0.25 * site as f64 - 1.0);
        let m = 0.25 * site as f64 - 1.0;
        let squares: Vec<f64> = column.iter().map(|x| (x - m) * (x - m)).collect();
        within_4_sigma(&format!("site {site} variance"), &squares, 0.5);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_data_requests_are_refused() {
    let dir = scratch("bad");
    let f = dir.join("x.npy");
    let f = f.to_str().unwrap();
    for (args, fragment) in [
        (
            vec![
                "data",
                "gaussian",
                "--lattice",
                "8",
                "--kappa",
                "1",
                "--mu2",
                "-1",
                "--out",
                f,
            ],
            "raise --mu2",
        ),
        (
            vec![
                "data",
                "gaussian",
                "--lattice",
                "128",
                "--kappa",
                "1",
                "--mu2",
                "1",
                "--out",
                f,
            ],
            "at most 4096",
        ),
        (
            vec!["data", "independent", "--lattice", "4", "--variances", "0", "--out", f],
            "positive variances",
        ),
        (
            vec!["data", "independent", "--lattice", "4", "--means", "1,2,3", "--out", f],
            "one per site (16)",
        ),
        (
            vec!["data", "independent", "--lattice", "4", "--samples", "0", "--out", f],
            "--samples 1 or more",
        ),
        (
            vec![
                "data",
                "independent",
                "--lattice",
                "4096",
                "--samples",
                "100000",
                "--out",
                f,
            ],
            "fewer --samples",
        ),
    ] {
        let out = qftml(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(msg.contains(fragment), "{args:?}: {msg}");
    }
    assert!(!std::path::Path::new(f).exists(), "nothing written on bad input");
    let _ = std::fs::remove_dir_all(&dir);
}
