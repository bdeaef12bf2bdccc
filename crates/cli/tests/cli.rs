//! End-to-end tests of the `qftml` binary.

use std::process::{Command, Output};

use records::{ActionRecord, GraphRecord, Record, ReweightMethod, ReweightRecord, SampleRecord};
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

/// Runs `qftml ARGS` (which must include `--json`) and reads its typed record.
#[track_caller]
fn record<T: Record>(args: &[&str]) -> T {
    let out = qftml(args);
    assert!(
        out.status.success(),
        "qftml {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    records::parse(&String::from_utf8_lossy(&out.stdout)).expect("stdout is one record of the current schema")
}

/// The shape of a JSON value for a snapshot: numbers become their kind, arrays keep their
/// first two entries and their length.
fn shape(v: &Value) -> Value {
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

#[track_caller]
fn check_census(args: &[&str], n_sites: usize, n_cliques: usize, size: usize) {
    let v: GraphRecord = record(args);
    assert_eq!(v.n_sites, n_sites, "{args:?}");
    assert_eq!(v.n_maximal_cliques, n_cliques, "{args:?}");
    assert_eq!(v.clique_sizes, [(size, n_cliques)].into_iter().collect(), "{args:?}");
}

#[test]
fn graph_census_matches_the_talk() {
    check_census(
        &["graph", "--geometry", "square", "--lattice", "4", "--json"],
        16,
        32,
        2,
    );
    check_census(
        &["graph", "--geometry", "triangular", "--lattice", "4", "--json"],
        16,
        32,
        3,
    );
    check_census(
        &["graph", "--geometry", "square-diagonals", "--lattice", "4", "--json"],
        16,
        16,
        4,
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
        2,
    );
    check_census(
        &["graph", "--geometry", "square", "--lattice", "8x4", "--json"],
        32,
        64,
        2,
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
fn json_shapes_of_graph_and_action() {
    let graph = json(&["graph", "--geometry", "square", "--lattice", "4", "--json"]);
    insta::assert_json_snapshot!("graph_shape", shape(&graph));
    let action = json(&["action", "--lattice", "4", "--json"]);
    insta::assert_json_snapshot!("action_shape", shape(&action));
    // The same output read as typed records.
    let g: GraphRecord = record(&["graph", "--geometry", "square", "--lattice", "4", "--json"]);
    let a: ActionRecord = record(&["action", "--lattice", "4", "--json"]);
    assert_eq!((g.schema, g.n_edges, a.n_sites, a.gradient.w.len()), (1, 32, 16, 32));
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

/// The free field sampled by every algorithm agrees with the exact eigenvalue results
/// (DESIGN.md section 4) within 4 standard errors that include autocorrelation.
#[test]
fn sample_free_field_agrees_with_exact_for_every_algorithm() {
    for algorithm in ["metropolis", "heatbath", "cluster", "hybrid", "sw"] {
        let v = json(&[
            "sample",
            "--lattice",
            "8",
            "--kappa",
            "1",
            "--mu2",
            "1",
            "--lambda",
            "0",
            "--sweeps",
            "20000",
            "--seed",
            "1",
            "--algorithm",
            algorithm,
            "--json",
        ]);
        let exact = &v["exact_free_field"];
        for name in ["phi2", "m2", "nn", "m_abs", "action_density"] {
            let o = &v["observables"][name];
            let (mean, err) = (o["mean"].as_f64().unwrap(), o["err"].as_f64().unwrap());
            let truth = exact[name].as_f64().unwrap();
            // τ_int = ½ + Σ ρ(t) can fall a little below ½ when successive samples are
            // anticorrelated (the hybrid's m² on the free field: 0.499 ± 0.005).
            assert!(
                err > 0.0 && o["tau_int"].as_f64().unwrap() > 0.4,
                "{algorithm} {name}: {o}"
            );
            assert!(
                (mean - truth).abs() < 4.0 * err,
                "{algorithm} {name}: {mean} ± {err} vs exact {truth}"
            );
        }
        assert!(v["observables"]["chi"]["err"].as_f64().unwrap() > 0.0);
        assert_eq!(v["n_configs"], 40_000);
        assert!(v["timing"]["ns_per_site_update"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn sample_is_bit_identical_on_one_or_two_threads() {
    let run = |threads: &str| {
        let mut v = json(&[
            "sample",
            "--lattice",
            "8",
            "--kappa",
            "1",
            "--mu2",
            "-0.9515",
            "--lambda",
            "0.7",
            "--sweeps",
            "500",
            "--therm",
            "100",
            "--chains",
            "3",
            "--seed",
            "9",
            "--threads",
            threads,
            "--json",
        ]);
        v["observables"].take()
    };
    assert_eq!(run("1"), run("2"));
}

#[test]
fn sample_writes_its_ensemble_and_refuses_bad_input() {
    let dir = std::env::temp_dir().join(format!("qftml-sample-test-{}", std::process::id()));
    let out = dir.join("run");
    let v = json(&[
        "sample",
        "--lattice",
        "6x4",
        "--kappa",
        "1",
        "--mu2",
        "1",
        "--lambda",
        "0.2",
        "--sweeps",
        "50",
        "--therm",
        "10",
        "--algorithm",
        "heatbath",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    for file in ["ensemble.qfe", "config.toml", "results.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let written: SampleRecord = records::parse(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let printed: SampleRecord = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(written.observables, printed.observables);
    assert_eq!(written.config.lattice.as_deref(), Some("6x4"));

    // The written config reproduces the run.
    let again = json(&[
        "sample",
        "--config",
        out.join("config.toml").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(again["observables"], v["observables"]);

    check_refused(&["sample", "--lattice", "8", "--kappa", "1", "--mu2", "1"], "--lambda");
    check_refused(
        &[
            "sample",
            "--lattice",
            "8",
            "--kappa",
            "1",
            "--mu2",
            "1",
            "--lambda",
            "0",
            "--algorithm",
            "gibbs",
        ],
        "unknown algorithm",
    );
    check_refused(&["sample", "--kappa", "1", "--mu2", "1", "--lambda", "0"], "--lattice");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\"format\": \"qftml-couplings\", \"version\": 1, \"lattice\": [4, 4]",
    )
    .unwrap();
    check_refused(
        &["sample", "--couplings", bad.to_str().unwrap()],
        "not a couplings file",
    );
    let toml = dir.join("run.toml");
    std::fs::write(&toml, "lattice = \"8\"\nkapa = 1.0\n").unwrap();
    check_refused(&["sample", "--config", toml.to_str().unwrap()], "kapa");
    std::fs::remove_dir_all(&dir).ok();
}

/// A free-field heat-bath ensemble (8×8, κ = 1, μ² = 1, λ = 0) stored with `--out`.
fn free_field_ensemble(dir: &std::path::Path, mu2: &str, seed: &str) -> String {
    let out = dir.join(format!("ff-mu2-{mu2}"));
    json(&[
        "sample",
        "--lattice",
        "8",
        "--kappa",
        "1",
        "--mu2",
        mu2,
        "--lambda",
        "0",
        "--sweeps",
        "20000",
        "--therm",
        "500",
        "--algorithm",
        "heatbath",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    out.to_str().unwrap().to_string()
}

/// Exact free-field ⟨φ²⟩ on 8×8 with κ = 1 from the eigenvalues (DESIGN.md section 4).
fn exact_phi2(mu2: f64, g_nnn: f64, c: f64) -> (f64, f64) {
    let lattice = mrf_graph::Lattice::new(8, 8).unwrap();
    let field = phi4_action::gaussian::FreeField {
        lattice,
        kappa: 1.0,
        mu2,
        g_nnn,
        imag_mass: c,
    };
    let phi2 = field.phi2();
    (phi2.re, phi2.im)
}

#[test]
fn reweight_free_field_to_diagonal_and_imaginary_mass() {
    let dir = std::env::temp_dir().join(format!("qftml-reweight-test-{}", std::process::id()));
    let ens = free_field_ensemble(&dir, "1", "5");
    let sampled: Value =
        serde_json::from_str(&std::fs::read_to_string(std::path::Path::new(&ens).join("results.json")).unwrap())
            .unwrap();

    // Identity: the sampled action itself gives the plain means and ESS = N.
    let id: ReweightRecord = record(&["reweight", "--ensemble", &ens, "--json"]);
    let id = &id.points[0];
    assert_eq!(id.ess, 40_000.0);
    let plain = sampled["observables"]["phi2"]["mean"].as_f64().unwrap();
    assert!((id.observables.phi2.re() - plain).abs() < 1e-12);

    // A real target: the diagonal coupling g′ = 0.05.
    let g: ReweightRecord = record(&["reweight", "--ensemble", &ens, "--g-nnn", "0.05", "--json"]);
    let (exact, _) = exact_phi2(1.0, 0.05, 0.0);
    let o = g.points[0].observables.phi2;
    assert!((o.re() - exact).abs() < 4.0 * o.err_re(), "{o:?} vs {exact}");
    assert!(matches!(o, records::Estimate::Real(_)));
    assert!(!g.points[0].flagged);

    // A complex target: the imaginary mass c = 0.1.
    let c: ReweightRecord = record(&["reweight", "--ensemble", &ens, "--imag-mass", "0.1", "--json"]);
    let (re, im) = exact_phi2(1.0, 0.0, 0.1);
    let o = c.points[0].observables.phi2;
    assert!((o.re() - re).abs() < 4.0 * o.err_re(), "{o:?} vs {re}");
    assert!((o.im() - im).abs() < 4.0 * o.err_im(), "{o:?} vs {im}");
    assert!(c.points[0].avg_phase.unwrap().abs > 0.5);

    // A scan: one point per value, each with its own diagnostics; far points are flagged.
    let s: ReweightRecord = record(&["reweight", "--ensemble", &ens, "--scan", "g-nnn=0:0.24:4", "--json"]);
    assert_eq!(s.points.len(), 4);
    assert_eq!(s.points[0].target.g_nnn, 0.0);
    assert!(!s.points[0].flagged);
    assert_eq!(s.method, ReweightMethod::SingleEnsemble);

    // Multi-histogram over two ensembles at μ² = 1 and 1.3, evaluated at μ² = 1.15.
    let ens2 = free_field_ensemble(&dir, "1.3", "6");
    let mh: ReweightRecord = record(&[
        "reweight",
        "--ensemble",
        &ens,
        "--ensemble",
        &ens2,
        "--mu2",
        "1.15",
        "--json",
    ]);
    let (exact, _) = exact_phi2(1.15, 0.0, 0.0);
    let o = mh.points[0].observables.phi2;
    assert!((o.re() - exact).abs() < 4.0 * o.err_re(), "{o:?} vs {exact}");
    assert_eq!(mh.method, ReweightMethod::MultiHistogram);
    assert_eq!(mh.multi_histogram.as_ref().unwrap().n_k, [40_000, 40_000]);

    // The JSON shape of each command, values redacted.
    let text = |args: &[&str]| -> Value { serde_json::from_slice(&qftml(args).stdout).unwrap() };
    insta::assert_json_snapshot!(
        "reweight_scan_shape",
        shape(&text(&[
            "reweight",
            "--ensemble",
            &ens,
            "--scan",
            "imag-mass=0:0.1:2",
            "--json"
        ]))
    );
    insta::assert_json_snapshot!(
        "reweight_multi_histogram_shape",
        shape(&text(&["reweight", "--ensemble", &ens, "--ensemble", &ens2, "--json"]))
    );
    insta::assert_json_snapshot!("sample_shape", shape(&sampled));

    check_refused(
        &[
            "reweight",
            "--ensemble",
            &ens,
            "--ensemble",
            &ens2,
            "--imag-mass",
            "0.1",
        ],
        "real targets only",
    );
    check_refused(&["reweight", "--ensemble", &ens, "--scan", "g-nnn=0:0.1"], "bad --scan");
    // A corrupted ensemble file is detected, not misread.
    let file = std::path::Path::new(&ens).join("ensemble.qfe");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    check_refused(&["reweight", "--ensemble", file.to_str().unwrap()], "checksum");
    check_refused(&["reweight", "--ensemble", &ens], "mixes runs or was altered");
    check_refused(
        &["reweight", "--ensemble", dir.join("missing").to_str().unwrap()],
        "cannot use ensemble",
    );
    std::fs::remove_dir_all(&dir).ok();
}
