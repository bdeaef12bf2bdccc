//! End-to-end tests of the `qftml` binary.
//!
//! Commands are written as one line (`"sample --lattice 8 --json"`, split on whitespace; the
//! temporary paths have no spaces), so each case is a row of a table.

use std::path::{Path, PathBuf};
use std::process::Output;

use mc_sampler::ensemble::StoredEnsemble;
use records::{ActionRecord, GraphRecord, Record, ReweightMethod, ReweightRecord, SampleRecord};
use reweight::{ReweightEnsemble, ReweightOptions, Target};
use serde_json::Value;

mod common;

use common::shape;

/// The words of a one-line command.
fn words(cmdline: &str) -> Vec<&str> {
    cmdline.split_whitespace().collect()
}

fn qftml(cmdline: &str) -> Output {
    common::qftml(&words(cmdline))
}

#[track_caller]
fn stdout(cmdline: &str) -> String {
    common::stdout(&words(cmdline))
}

#[track_caller]
fn json(cmdline: &str) -> Value {
    common::json(&words(cmdline))
}

#[track_caller]
fn record<T: Record>(cmdline: &str) -> T {
    common::record(&words(cmdline))
}

/// Runs `qftml CMDLINE`, which must succeed, and checks that its text output holds every
/// needle.
#[track_caller]
fn check_text(cmdline: &str, needles: &[&str]) {
    let text = stdout(cmdline);
    for needle in needles {
        assert!(
            text.contains(needle),
            "`{needle}` missing from the output of {cmdline}:\n{text}"
        );
    }
}

#[track_caller]
fn check_refused(cmdline: &str, needle: &str) {
    let stderr = common::failure(&words(cmdline));
    assert!(
        stderr.contains(needle),
        "stderr of {cmdline} should mention `{needle}`: {stderr}"
    );
}

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    common::scratch(name)
}

#[test]
fn graph_census_matches_the_talk() {
    for (cmdline, n_sites, n_cliques, size) in [
        ("--geometry square --lattice 4", 16, 32, 2),
        ("--geometry triangular --lattice 4", 16, 32, 3),
        ("--geometry square-diagonals --lattice 4", 16, 16, 4),
        ("--geometry bipartite --visible 3 --hidden 2", 5, 6, 2),
        ("--geometry square --lattice 8x4", 32, 64, 2),
    ] {
        let v: GraphRecord = record(&format!("graph {cmdline} --json"));
        assert_eq!(v.n_sites, n_sites, "{cmdline}");
        assert_eq!(v.n_maximal_cliques, n_cliques, "{cmdline}");
        assert_eq!(v.clique_sizes, [(size, n_cliques)].into_iter().collect(), "{cmdline}");
    }
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    for (cmdline, needle) in [
        ("graph --geometry square --lattice 3", "at least 4"),
        ("graph --geometry triangular --lattice 2x8", "at least 4"),
        ("graph --geometry square", "needs --lattice"),
        ("graph --geometry bipartite --visible 3", "--hidden"),
        ("graph --geometry square --lattice four", "not a lattice size"),
        ("action --lattice 4 --mu2 -1 --lambda 0", "not positive definite"),
        ("action --lattice 4 --lambda -0.1", "b[0]"),
        ("action --lattice 4 --field /nonexistent/field.json", "cannot read"),
        ("sample --lattice 8 --kappa 1 --mu2 1", "--lambda"),
        (
            "sample --lattice 8 --kappa 1 --mu2 1 --lambda 0 --algorithm gibbs",
            "unknown algorithm",
        ),
        ("sample --kappa 1 --mu2 1 --lambda 0", "--lattice"),
        ("reweight --ensemble /nonexistent/run", "cannot use ensemble"),
    ] {
        check_refused(cmdline, needle);
    }
}

#[test]
fn action_factorises_on_every_geometry() {
    for geometry in [
        "--geometry square --lattice 5",
        "--geometry triangular --lattice 5",
        "--geometry square-diagonals --lattice 5",
        "--geometry bipartite --visible 6 --hidden 3",
    ] {
        let v = json(&format!("action {geometry} --random-couplings --seed 3 --json"));
        assert!(v["factorisation_mismatch"].as_f64().unwrap() < 1e-12, "{v}");
        assert!(v["blanket_violation"].as_f64().unwrap() < 1e-10, "{v}");
        let s = v["action"].as_f64().unwrap();
        assert!((v["log_product_potentials"].as_f64().unwrap() + s).abs() < 1e-9 * s.abs().max(1.0));
    }
}

#[test]
fn json_shapes_of_graph_and_action() {
    let graph = json("graph --geometry square --lattice 4 --json");
    insta::assert_json_snapshot!("graph_shape", shape(&graph));
    let action = json("action --lattice 4 --json");
    insta::assert_json_snapshot!("action_shape", shape(&action));
    // The same output read as typed records.
    let g: GraphRecord = record("graph --geometry square --lattice 4 --json");
    let a: ActionRecord = record("action --lattice 4 --json");
    assert_eq!((g.schema, g.n_edges, a.n_sites, a.gradient.w.len()), (1, 32, 16, 32));
}

#[test]
fn action_on_a_given_field() {
    let dir = temp_dir("action");
    let path = dir.join("field.txt");
    std::fs::write(&path, vec!["1.0"; 16].join(" ")).unwrap();
    // Constant φ = 1 on 4×4 at the talk's point: S = V(−2κ + a + b) = 16 (−2 + 1.52425 + 0.175).
    let v = json(&format!("action --lattice 4 --field {} --json", path.display()));
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
        &format!("action --lattice 4 --field {}", path.display()),
        "has 3 values",
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The free field sampled by every algorithm agrees with the exact eigenvalue results
/// (DESIGN.md section 4) within 4 standard errors that include autocorrelation.
#[test]
fn sample_free_field_agrees_with_exact_for_every_algorithm() {
    for algorithm in ["metropolis", "heatbath", "cluster", "hybrid", "sw"] {
        let v = json(&format!(
            "sample --lattice 8 --kappa 1 --mu2 1 --lambda 0 --sweeps 20000 --seed 1 --algorithm {algorithm} --json"
        ));
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
    let run = |threads: u32| {
        let mut v = json(&format!(
            "sample --lattice 8 --kappa 1 --mu2 -0.9515 --lambda 0.7 --sweeps 500 --therm 100 --chains 3 --seed 9 \
             --threads {threads} --json"
        ));
        v["observables"].take()
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn sample_writes_its_ensemble_and_refuses_bad_input() {
    let dir = temp_dir("sample");
    let out = dir.join("run");
    let v = json(&format!(
        "sample --lattice 6x4 --kappa 1 --mu2 1 --lambda 0.2 --sweeps 50 --therm 10 --algorithm heatbath \
         --out {} --json",
        out.display()
    ));
    for file in ["ensemble.qfe", "config.toml", "results.json"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let written: SampleRecord = records::parse(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let printed: SampleRecord = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(written.observables, printed.observables);
    assert_eq!(written.config.lattice.as_deref(), Some("6x4"));

    // The written config reproduces the run.
    let again = json(&format!("sample --config {} --json", out.join("config.toml").display()));
    assert_eq!(again["observables"], v["observables"]);

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        "{\"format\": \"qftml-couplings\", \"version\": 1, \"lattice\": [4, 4]",
    )
    .unwrap();
    check_refused(&format!("sample --couplings {}", bad.display()), "not a couplings file");
    let toml = dir.join("run.toml");
    std::fs::write(&toml, "lattice = \"8\"\nkapa = 1.0\n").unwrap();
    check_refused(&format!("sample --config {}", toml.display()), "kapa");
    std::fs::remove_dir_all(&dir).ok();
}

/// A free-field heat-bath ensemble (8×8, κ = 1, λ = 0) stored with `--out`: 2 chains of
/// `sweeps` sweeps.
fn free_field_ensemble(dir: &Path, mu2: f64, seed: u64, sweeps: u64) -> String {
    let out = dir.join(format!("ff-mu2-{mu2}-seed-{seed}"));
    json(&format!(
        "sample --lattice 8 --kappa 1 --mu2 {mu2} --lambda 0 --sweeps {sweeps} --therm 500 --algorithm heatbath \
         --seed {seed} --out {} --json",
        out.display()
    ));
    out.to_str().unwrap().to_string()
}

/// Exact free-field ⟨φ²⟩ on 8×8 (DESIGN.md section 4).
fn exact_phi2(kappa: f64, mu2: f64, g_nnn: f64, c: f64) -> (f64, f64) {
    let lattice = mrf_graph::Lattice::new(8, 8).unwrap();
    let field = phi4_action::gaussian::FreeField {
        lattice,
        kappa,
        mu2,
        g_nnn,
        imag_mass: c,
    };
    let phi2 = field.phi2();
    (phi2.re, phi2.im)
}

/// The only point of `qftml reweight ARGS --json`.
#[track_caller]
fn point(args: &str) -> records::ReweightPoint {
    let r: ReweightRecord = record(&format!("reweight {args} --json"));
    assert_eq!(r.points.len(), 1);
    r.points.into_iter().next().unwrap()
}

/// `|value − exact| < 4σ` for ⟨φ²⟩ of a point (both parts for complex targets).
#[track_caller]
fn check_phi2(p: &records::ReweightPoint, exact: (f64, f64)) {
    assert!(!p.flagged, "{:?}", p.reason);
    let o = p.observables.as_ref().expect("an unflagged point has observables").phi2;
    assert!((o.re() - exact.0).abs() < 4.0 * o.err_re(), "{o:?} vs {exact:?}");
    if let records::Estimate::Complex { im, err_im, .. } = o {
        assert!((im - exact.1).abs() < 4.0 * err_im, "{o:?} vs {exact:?}");
    }
}

/// The ensemble's measurements as the library reads them.
fn library_ensemble(ens: &str) -> ReweightEnsemble {
    let stored = StoredEnsemble::read_measurements(Path::new(ens).join("ensemble.qfe")).unwrap();
    ReweightEnsemble::from_stored(&stored).unwrap()
}

#[test]
fn reweight_free_field_ensembles() {
    let dir = temp_dir("reweight");
    let ens = free_field_ensemble(&dir, 1.0, 5, 20_000);
    let sampled: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(&ens).join("results.json")).unwrap()).unwrap();

    // Identity: the sampled action itself gives the plain means and ESS = N.
    let id = point(&format!("--ensemble {ens}"));
    assert_eq!(id.ess, 40_000.0);
    let plain = sampled["observables"]["phi2"]["mean"].as_f64().unwrap();
    assert!((id.observables.unwrap().phi2.re() - plain).abs() < 1e-12);

    // Each target flag against the exact free field: g′, c, κ.
    for (args, exact) in [
        ("--g-nnn 0.05", exact_phi2(1.0, 1.0, 0.05, 0.0)),
        ("--imag-mass 0.1", exact_phi2(1.0, 1.0, 0.0, 0.1)),
        ("--kappa 1.02", exact_phi2(1.02, 1.0, 0.0, 0.0)),
        ("--mu2 1.1 --g-nnn -0.03", exact_phi2(1.0, 1.1, -0.03, 0.0)),
    ] {
        let p = point(&format!("--ensemble {ens} {args}"));
        check_phi2(&p, exact);
        assert_eq!(p.observables.unwrap().phi2.err_im() == 0.0, !args.contains("imag"));
    }
    let c = point(&format!("--ensemble {ens} --imag-mass 0.1"));
    assert!(c.avg_phase.unwrap().abs > 0.5 && c.avg_phase.unwrap().p_value < 1e-10);

    // --lambda (no exact value): the CLI point is the library's reweighting to λ = 0.01.
    let library = library_ensemble(&ens);
    let quartic = library.sampled_target().unwrap().with(reweight::Coupling::Lambda, 0.01);
    let expected = reweight::reweight(&library, &quartic, &ReweightOptions::recommended()).unwrap();
    let p = point(&format!("--ensemble {ens} --lambda 0.01"));
    assert_eq!(p.target, quartic.into());
    let (got, want) = (p.observables.unwrap().phi2, expected.observables.unwrap().phi2);
    assert_eq!((got.re(), got.err_re()), (want.re, want.err_re));
    assert_eq!(p.k_hat.to_bits(), expected.overlap.k_hat.to_bits());

    reweight_scans(&ens);
    reweight_bin_size(&ens);
    reweight_flags_one_by_one(&dir, &ens);
    reweight_text_output(&ens);
    multi_histogram_of_two_ensembles(&dir, &ens);

    // A corrupted ensemble file is detected, not misread.
    let file = Path::new(&ens).join("ensemble.qfe");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    check_refused(&format!("reweight --ensemble {}", file.display()), "checksum");
    check_refused(&format!("reweight --ensemble {ens}"), "mixes runs or was altered");
    std::fs::remove_dir_all(&dir).ok();
}

/// One --scan gives a line, each point with its own diagnostics; repeated --scan a grid, the
/// first varying slowest.
fn reweight_scans(ens: &str) {
    let s: ReweightRecord = record(&format!("reweight --ensemble {ens} --scan g-nnn=0:0.24:4 --json"));
    assert_eq!(s.points.len(), 4);
    assert_eq!(s.points[0].target.g_nnn, 0.0);
    assert!(!s.points[0].flagged);
    assert!(s.points[3].flagged && s.points[3].flags.contains(&"heavy-tail".to_string()));
    assert_eq!(s.method, ReweightMethod::SingleEnsemble);
    let grid: ReweightRecord = record(&format!(
        "reweight --ensemble {ens} --scan g-nnn=0:0.04:3 --scan imag-mass=0:0.1:2 --json"
    ));
    let points: Vec<(f64, f64)> = grid
        .points
        .iter()
        .map(|p| (p.target.g_nnn, p.target.imag_mass))
        .collect();
    assert_eq!(
        points,
        [
            (0.0, 0.0),
            (0.0, 0.1),
            (0.02, 0.0),
            (0.02, 0.1),
            (0.04, 0.0),
            (0.04, 0.1)
        ]
    );
    for p in &grid.points {
        check_phi2(p, exact_phi2(1.0, 1.0, p.target.g_nnn, p.target.imag_mass));
    }
    check_refused(&format!("reweight --ensemble {ens} --scan g-nnn=0:0.1"), "bad --scan");
}

/// --bin-size sets the jackknife bins; too large a size warns that the errors are uncertain
/// and says what to change; zero is refused.
fn reweight_bin_size(ens: &str) {
    let p = point(&format!("--ensemble {ens} --g-nnn 0.05 --bin-size 7"));
    let jk = p.jackknife.unwrap();
    assert_eq!((jk.bin_size, jk.n_bins), (7, 2 * (20_000 / 7)));
    let p = point(&format!("--ensemble {ens} --g-nnn 0.05 --bin-size 4000"));
    assert!(!p.flagged);
    assert!(p.reason.unwrap().contains("use a smaller bin size"));
    check_refused(
        &format!("reweight --ensemble {ens} --bin-size 0"),
        "--bin-size must be at least 1",
    );
}

/// Each flag on its own, with its reason, through the command line.  (The ESS fraction never
/// fails alone on Gaussian weights; the library tests it on its own.)
fn reweight_flags_one_by_one(dir: &Path, ens: &str) {
    for (args, code, fragment) in [
        // Towards a broader distribution: the exact tail index is 4g′ = 0.6.
        ("--g-nnn 0.15", "heavy-tail", "weights heavy-tailed (k̂ = "),
        // Deep in the sign problem.
        ("--imag-mass 3", "phase", "consistent with zero"),
    ] {
        let p = point(&format!("--ensemble {ens} {args}"));
        assert_eq!(p.flags, [code], "{args}: {:?}", p.reason);
        assert!(p.reason.as_deref().unwrap().contains(fragment), "{:?}", p.reason);
    }
    assert!(point(&format!("--ensemble {ens} --imag-mass 3")).observables.is_none());
    // Few configurations: 400 of them, towards a narrower target (the largest of these
    // weights also look heavy-tailed: alone, this rule is tested in the library).
    let small = free_field_ensemble(dir, 1.0, 7, 200);
    let p = point(&format!("--ensemble {small} --mu2 2.4"));
    assert!(p.flags.contains(&"few-effective".to_string()), "{:?}", p.reason);
    assert!(p.reason.unwrap().contains("effective sample size 43.0 < 50"));
    // Two ensembles that barely overlap (μ² = 1 and 10).
    let far = free_field_ensemble(dir, 10.0, 8, 2_000);
    let p = point(&format!("--ensemble {ens} --ensemble {far}"));
    assert_eq!(p.flags, ["state-overlap"], "{:?}", p.reason);
    assert!(p.reason.unwrap().contains("add an ensemble at intermediate couplings"));
    // The same ensemble twice is refused.
    check_refused(
        &format!("reweight --ensemble {ens} --ensemble {far} --ensemble {ens}"),
        "give each ensemble once",
    );
}

/// The text output carries the same diagnostics as the JSON.
fn reweight_text_output(ens: &str) {
    check_text(
        &format!("reweight --ensemble {ens} --scan g-nnn=0.05:0.15:2"),
        &[
            "target κ = 1, μ² = 1, λ = 0, g′ = 0.05, c = 0",
            "overlap: ESS = ",
            "Pareto k̂ = ",
            "(limit 0.45)",
            "FLAGGED [heavy-tail]: weights heavy-tailed",
            "phi2",
        ],
    );
    check_text(
        &format!("reweight --ensemble {ens} --imag-mass 3"),
        &["average phase", "FLAGGED [phase]", "no central value"],
    );
}

/// Multi-histogram over two ensembles at μ² = 1 and 1.3, evaluated at μ² = 1.15, with the
/// overlap matrix of the two; JSON shapes of both methods.
fn multi_histogram_of_two_ensembles(dir: &Path, ens: &str) {
    let ens2 = free_field_ensemble(dir, 1.3, 6, 20_000);
    let mh: ReweightRecord = record(&format!(
        "reweight --ensemble {ens} --ensemble {ens2} --mu2 1.15 --json"
    ));
    check_phi2(&mh.points[0], exact_phi2(1.0, 1.15, 0.0, 0.0));
    assert_eq!(mh.method, ReweightMethod::MultiHistogram);
    let states = mh.multi_histogram.as_ref().unwrap();
    assert_eq!(states.n_k, [40_000, 40_000]);
    let overlap = &states.overlap;
    for row in &overlap.matrix {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{overlap:?}");
    }
    assert!(
        (overlap.eigenvalues[0] - 1.0).abs() < 1e-9 && overlap.gap > 0.03,
        "{overlap:?}"
    );
    check_text(
        &format!("reweight --ensemble {ens} --ensemble {ens2} --mu2 1.15"),
        &[
            "multi-histogram over 2 ensembles",
            "overlap row 0:",
            "overlap spectrum: 1.0000",
            "f_T − f₀",
        ],
    );
    check_refused(
        &format!("reweight --ensemble {ens} --ensemble {ens2} --imag-mass 0.1"),
        "real targets only",
    );

    // The JSON shape of each method, values redacted.
    let shape_of = |cmdline: String| shape(&serde_json::from_slice(&qftml(&cmdline).stdout).unwrap());
    insta::assert_json_snapshot!(
        "reweight_scan_shape",
        shape_of(format!("reweight --ensemble {ens} --scan imag-mass=0:0.1:2 --json"))
    );
    insta::assert_json_snapshot!(
        "reweight_multi_histogram_shape",
        shape_of(format!("reweight --ensemble {ens} --ensemble {ens2} --json"))
    );
    let sampled: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ens).join("results.json")).unwrap()).unwrap();
    insta::assert_json_snapshot!("sample_shape", shape(&sampled));
}

/// `sample --couplings` with inhomogeneous couplings, then reweighting through the recorded
/// actions: the target needs all of κ, μ², λ, and the result is the library's.
#[test]
fn inhomogeneous_ensemble_from_a_couplings_file() {
    let dir = temp_dir("inhomogeneous");
    let v = 16;
    let a: Vec<f64> = (0..v).map(|i| 2.5 + 0.1 * ((i * 7 % 5) as f64 - 2.0)).collect();
    let file = dir.join("couplings.json");
    std::fs::write(
        &file,
        format!(
            "{{\"format\": \"qftml-couplings\", \"version\": 1, \"lattice\": [4, 4], \
             \"pair_set\": \"nearest-neighbour\", \"w\": {:?}, \"a\": {a:?}, \"b\": {:?}, \"r\": {:?}}}",
            vec![1.0; 2 * v],
            vec![0.0; v],
            vec![0.0; v]
        ),
    )
    .unwrap();
    let ens = dir.join("run");
    let sampled: SampleRecord = record(&format!(
        "sample --couplings {} --sweeps 5000 --algorithm heatbath --seed 3 --out {} --json",
        file.display(),
        ens.display()
    ));
    assert_eq!((sampled.n_sites, sampled.n_configs), (16, 10_000));
    check_refused(&format!("sample --couplings {} --kappa 1", file.display()), "not both");
    let ens = ens.to_str().unwrap();
    check_refused(
        &format!("reweight --ensemble {ens} --mu2 1"),
        "give all of --kappa, --mu2 and --lambda",
    );
    let p = point(&format!("--ensemble {ens} --kappa 1 --mu2 1 --lambda 0 --g-nnn 0.02"));
    let library = library_ensemble(ens);
    assert!(library.sampled_target().is_none());
    let target = Target::new(phi4_action::Homogeneous {
        kappa: 1.0,
        mu2: 1.0,
        lambda: 0.0,
    })
    .with_g_nnn(0.02);
    let expected = reweight::reweight(&library, &target, &ReweightOptions::recommended()).unwrap();
    assert_eq!(p.target, target.into());
    assert_eq!(p.ess, expected.overlap.ess);
    assert_eq!(p.flagged, expected.flagged);
    let (got, want) = (p.observables.unwrap().phi2, expected.observables.unwrap().phi2);
    assert_eq!((got.re(), got.err_re()), (want.re, want.err_re));
    // And against the exact free field of the 4×4 target.
    let exact = phi4_action::gaussian::FreeField {
        lattice: mrf_graph::Lattice::new(4, 4).unwrap(),
        kappa: 1.0,
        mu2: 1.0,
        g_nnn: 0.02,
        imag_mass: 0.0,
    };
    assert!(!p.flagged, "{:?}", p.reason);
    assert!((got.re() - exact.phi2().re).abs() < 4.0 * got.err_re());
    std::fs::remove_dir_all(&dir).ok();
}

/// A reader that stops early (`qftml graph … | head -1`) ends the run quietly with the status
/// of a process killed by SIGPIPE, never with a panic.  The output (about 100 kB) is larger
/// than a pipe's buffer, so printing always meets the closed pipe.
#[test]
fn a_closed_stdout_stops_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_qftml"))
        .args(words("graph --geometry square --lattice 64"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
