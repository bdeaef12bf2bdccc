//! End-to-end tests of the `qftml` binary.

use std::process::{Command, Output};

use serde_json::Value;

fn qftml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qftml"))
        .args(args)
        .output()
        .expect("qftml runs")
}

#[track_caller]
fn json(args: &[&str]) -> Value {
    let out = qftml(args);
    assert!(
        out.status.success(),
        "qftml {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

#[track_caller]
fn check_census(args: &[&str], n_sites: u64, n_cliques: u64, size: &str) {
    let v = json(args);
    assert_eq!(v["n_sites"], n_sites, "{args:?}");
    assert_eq!(v["n_maximal_cliques"], n_cliques, "{args:?}");
    assert_eq!(v["clique_sizes"], serde_json::json!({ size: n_cliques }), "{args:?}");
}

#[test]
fn graph_census_matches_the_talk() {
    check_census(
        &["graph", "--geometry", "square", "--lattice", "4", "--json"],
        16,
        32,
        "2",
    );
    check_census(
        &["graph", "--geometry", "triangular", "--lattice", "4", "--json"],
        16,
        32,
        "3",
    );
    check_census(
        &["graph", "--geometry", "square-diagonals", "--lattice", "4", "--json"],
        16,
        16,
        "4",
    );
    check_census(
        &[
            "graph",
            "--geometry",
            "bipartite",
            "--visible",
            "3",
            "--hidden",
            "2",
            "--json",
        ],
        5,
        6,
        "2",
    );
    check_census(
        &["graph", "--geometry", "square", "--lattice", "8x4", "--json"],
        32,
        64,
        "2",
    );
}

#[track_caller]
fn check_refused(args: &[&str], needle: &str) {
    let out = qftml(args);
    assert!(!out.status.success(), "qftml {args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(needle),
        "stderr of {args:?} should mention `{needle}`: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    check_refused(&["graph", "--geometry", "square", "--lattice", "3"], "at least 4");
    check_refused(&["graph", "--geometry", "triangular", "--lattice", "2x8"], "at least 4");
    check_refused(&["graph", "--geometry", "square"], "needs --lattice");
    check_refused(&["graph", "--geometry", "bipartite", "--visible", "3"], "--hidden");
    check_refused(
        &["graph", "--geometry", "square", "--lattice", "four"],
        "not a lattice size",
    );
    check_refused(
        &["action", "--lattice", "4", "--mu2", "-1", "--lambda", "0"],
        "not positive definite",
    );
    check_refused(&["action", "--lattice", "4", "--lambda", "-0.1"], "b[0]");
    check_refused(
        &["action", "--lattice", "4", "--field", "/nonexistent/field.json"],
        "cannot read",
    );
}

#[test]
fn action_factorises_on_every_geometry() {
    for geometry in ["square", "triangular", "square-diagonals"] {
        let v = json(&[
            "action",
            "--geometry",
            geometry,
            "--lattice",
            "5",
            "--random-couplings",
            "--seed",
            "3",
            "--json",
        ]);
        assert!(v["factorisation_mismatch"].as_f64().unwrap() < 1e-12, "{v}");
        assert!(v["blanket_violation"].as_f64().unwrap() < 1e-10, "{v}");
        let s = v["action"].as_f64().unwrap();
        assert!((v["log_product_potentials"].as_f64().unwrap() + s).abs() < 1e-9 * s.abs().max(1.0));
    }
    let v = json(&[
        "action",
        "--geometry",
        "bipartite",
        "--visible",
        "6",
        "--hidden",
        "3",
        "--random-couplings",
        "--json",
    ]);
    assert!(v["factorisation_mismatch"].as_f64().unwrap() < 1e-12, "{v}");
}

#[test]
fn action_on_a_given_field() {
    let dir = std::env::temp_dir().join(format!("qftml-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("field.txt");
    std::fs::write(&path, vec!["1.0"; 16].join(" ")).unwrap();
    // Constant φ = 1 on 4×4 at the talk's point: S = V(−2κ + a + b) = 16 (−2 + 1.52425 + 0.175).
    let v = json(&["action", "--lattice", "4", "--field", path.to_str().unwrap(), "--json"]);
    let expected = 16.0 * (-2.0 + (-0.9515 + 4.0) / 2.0 + 0.175);
    assert!((v["action"].as_f64().unwrap() - expected).abs() < 1e-12, "{v}");
    // ∂S/∂a_i = φ_i² = 1 for every site.
    assert!(
        v["gradient"]["a"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.as_f64() == Some(1.0))
    );
    std::fs::write(&path, "1 2 3").unwrap();
    check_refused(
        &["action", "--lattice", "4", "--field", path.to_str().unwrap()],
        "has 3 values",
    );
    std::fs::remove_dir_all(&dir).ok();
}
