//! `qftml irg`: a small run end to end, and bad input refused with a message that names the
//! flag to change.

use std::process::{Command, Output};

mod common;

fn qftml(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qftml")).args(args).output().unwrap()
}

const SMALL: [&str; 18] = [
    "irg",
    "--lattice",
    "8",
    "--steps",
    "2",
    "--mu2=-0.96,-0.94",
    "--configs",
    "40",
    "--chains",
    "2",
    "--sweeps",
    "10",
    "--validate",
    "8,16",
    "--direct-configs",
    "100",
    "--fit-from",
    "16",
];

/// The linear sizes of one point of the record.
fn sizes_of(point: &serde_json::Value) -> Vec<u64> {
    point["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["size"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_small_scan_gives_every_size_and_a_typed_record() {
    let dir = std::env::temp_dir().join(format!("qftml-irg-{}", std::process::id()));
    let out_dir = dir.to_str().unwrap();
    let mut args = SMALL.to_vec();
    args.extend(["--json", "--out", out_dir]);
    let out = qftml(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["schema"], 3);
    // The record's sections and the shape of one size's entry (the lengths of the other
    // sections follow from what the numbers of the run find, so they are asserted above).
    let sections: Vec<&String> = record.as_object().unwrap().keys().collect();
    insta::assert_json_snapshot!(
        "irg_shape",
        serde_json::json!({
            "sections": sections,
            "size": common::shape(&record["points"][0]["sizes"][0]),
            "exponents": common::shape(&record["exponents"]["gamma_over_nu"]),
        })
    );
    let points = record["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(sizes_of(&points[0]), [8, 16, 32]);
    for s in points[0]["sizes"].as_array().unwrap() {
        let u = s["binder"]["mean"].as_f64().unwrap();
        assert!(u > 0.0 && u < 2.0 / 3.0 + 1e-9, "U = {u}");
    }
    assert_eq!(record["validation"][1]["size"], 16);
    assert!(
        record["validation"][0]["rescaled"].is_object(),
        "8² is the parents' size"
    );
    assert!(record["validation"][1]["cost"]["observables"][1]["speedup"].is_number());
    assert!(record["scaling"]["gamma_over_nu"]["mean"].is_number());
    // The Binder crossing of 8² and 16², and the flow of 16² against direct simulation.
    assert_eq!(record["direct_crossings"][0]["sizes"], serde_json::json!([8, 16]));
    assert_eq!(record["flow"][0]["size"], 16);
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(written["points"], record["points"]);
    // The same seed gives the same numbers.
    let again = qftml(&args);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["points"][1]["sizes"], record["points"][1]["sizes"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `SMALL` with `--base-lattice` for `--lattice`, `--max-lattice max` for `--steps 2` and
/// 32² simulated directly too (two matched sizes give ν).
fn with_max_lattice(max: &'static str) -> Vec<&'static str> {
    let mut args = SMALL.to_vec();
    let lattice = args.iter().position(|&a| a == "--lattice").unwrap();
    args[lattice] = "--base-lattice";
    let steps = args.iter().position(|&a| a == "--steps").unwrap();
    args[steps] = "--max-lattice";
    args[steps + 1] = max;
    let validate = args.iter().position(|&a| a == "--validate").unwrap();
    args[validate + 1] = "8,16,32";
    args
}

#[test]
fn base_and_max_lattice_give_the_sizes_and_later_passes_refine_along_the_flow() {
    let mut args = with_max_lattice("32");
    args.extend(["--flow-passes", "2", "--json"]);
    let out = qftml(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["config"]["steps"], 2);
    assert_eq!(record["config"]["max_lattice"], 32);
    assert_eq!(sizes_of(&record["points"][0]), [8, 16, 32]);
    // The keys (ν from the 16²/32² step: these few parents give no fit).
    for key in ["nu", "gamma_over_nu"] {
        assert!(record["exponents"][key]["mean"].is_number(), "exponents.{key}");
    }
    assert!(record["critical_mu2"]["err"].is_number());
    assert!(record["timing"]["rescaled_ensemble_cpu_s"].as_f64().unwrap() > 0.0);
    // The first pass refines at the parents' μ², the second along the first pass's flow.
    let passes = record["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 2);
    assert_eq!(passes[0]["refine_mu2"][0], serde_json::json!([-0.96, -0.96]));
    let second: Vec<f64> = passes[1]["refine_mu2"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(second.iter().all(|&m| m != -0.96 && m.is_finite()), "{second:?}");
    assert_eq!(record["points"][0]["refine_mu2"], passes[1]["refine_mu2"][0]);
    // A largest size that is not L₀·2^k is refused with one that is.
    let out = qftml(&with_max_lattice("48"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
    assert!(
        stderr.contains("--max-lattice 48 is not --base-lattice 8") && stderr.contains("--max-lattice 32"),
        "{stderr}"
    );
}

#[track_caller]
fn check_refused(changes: &[(&str, &str)], fragment: &str) {
    let mut args: Vec<String> = SMALL.iter().map(|s| s.to_string()).collect();
    for (flag, value) in changes {
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = value.to_string(),
            None => args.extend([flag.to_string(), value.to_string()]),
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = qftml(&refs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{changes:?}: exit {:?}, {stderr}",
        out.status.code()
    );
    assert!(stderr.contains(fragment), "{changes:?}: {stderr}");
}

#[test]
fn bad_input_is_refused_with_the_flag_to_change() {
    check_refused(&[("--lattice", "9")], "--lattice 9");
    check_refused(&[("--lattice", "4")], "at least 8");
    check_refused(&[("--steps", "0")], "--steps 1 or more");
    check_refused(&[("--steps", "10")], "lower --steps");
    check_refused(&[("--lambda", "0")], "--lambda 0 must be positive");
    check_refused(&[("--lambda", "nan")], "not finite");
    check_refused(&[("--local", "wolff")], "metropolis or heatbath");
    check_refused(&[("--validate", "9")], "--validate 9 is not a lattice size");
    check_refused(&[("--validate", "16,16")], "--validate lists 16 twice");
    check_refused(
        &[("--fixed-point", "-0.95")],
        "--fixed-point takes the μ² and its error",
    );
    check_refused(&[("--configs", "3")], "--configs 3");
    check_refused(&[("--chains", "0")], "--chains 0");
    check_refused(&[("--noise", "-1")], "noise");
    check_refused(&[("--rescale", "0")], "rescaling");
    check_refused(&[("--radius", "2")], "radius 2");
    check_refused(&[("--mu2", "")], "--mu2");
    check_refused(&[("--seed", "-1")], "negative");
    check_refused(&[("--fit-from", "32")], "lower --fit-from");
    check_refused(&[("--flow-passes", "0")], "--flow-passes 0");
    check_refused(&[("--multilevel", "0")], "multilevel ratio is 0");
    // 2 × 40 parents, ratio 4, two steps: 5 lineages reach 32², fewer than 16.
    check_refused(&[("--multilevel", "4")], "give at least 241 parents");
}

/// `--multilevel 2`: half of the lineages of each size go on to the next, the record says
/// how many reached each size, and the carried lineages are those of the plain run.
#[test]
fn multilevel_rescaling_carries_a_fraction_of_the_lineages() {
    let run = |extra: &[&'static str]| -> serde_json::Value {
        let mut args = SMALL.to_vec();
        args.extend(["--json"]);
        args.extend(extra);
        let out = qftml(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = run(&[]);
    let multi = run(&["--multilevel", "2"]);
    assert_eq!(multi["config"]["multilevel"], 2);
    assert_eq!(multi["points"][0]["lineages"], serde_json::json!([80, 40, 20]));
    assert_eq!(plain["points"][0]["lineages"], serde_json::json!([80, 80, 80]));
    let level_cpu: Vec<f64> = multi["points"][0]["level_cpu_s"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(level_cpu.len(), 3);
    assert!((level_cpu.iter().sum::<f64>() - multi["points"][0]["rescale_cpu_s"].as_f64().unwrap()).abs() < 1e-6);
    // The parents are the same; the rescaled sizes are other estimates of the same means.
    assert_eq!(multi["points"][0]["sizes"][0], plain["points"][0]["sizes"][0]);
    let rescale_cpu = |r: &serde_json::Value| r["points"][0]["rescale_cpu_s"].as_f64().unwrap();
    assert!(rescale_cpu(&multi) > 0.0 && rescale_cpu(&plain) > 0.0);
    for l in 1..3 {
        let (a, b) = (
            &multi["points"][0]["sizes"][l]["m_abs"],
            &plain["points"][0]["sizes"][l]["m_abs"],
        );
        let diff = a["mean"].as_f64().unwrap() - b["mean"].as_f64().unwrap();
        let err = a["err"].as_f64().unwrap().hypot(b["err"].as_f64().unwrap());
        assert!(diff.abs() < 3.0 * err, "level {l}: {a} vs {b}");
    }
}
