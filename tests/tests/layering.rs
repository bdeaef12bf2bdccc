//! The dependency order of ARCHITECTURE.md, enforced: a crate may depend only on crates
//! before it in `LAYERS`; `xtask` on `records` only.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The layer order, lowest first (must match ARCHITECTURE.md).
const LAYERS: [&str; 10] = [
    "records",
    "datasets",
    "mrf-graph",
    "phi4-action",
    "mc-sampler",
    "reweight",
    "kl-train",
    "phi4-rbm",
    "inverse-rg",
    "cli",
];

/// Packages that may use every library crate.
const FREE: [&str; 2] = ["qftml-tests", "qftml-benches"];

fn metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Every (package, internal dependency) edge of the workspace, any dependency kind.
fn internal_edges(meta: &Value) -> Vec<(String, String)> {
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut edges = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap().to_string();
        for d in p["dependencies"].as_array().unwrap() {
            let to = d["name"].as_str().unwrap();
            if names.contains(&to) {
                edges.push((from.clone(), to.to_string()));
            }
        }
    }
    edges
}

/// The only internal crate the xtask may use: it links no physics.
const XTASK_MAY_USE: [&str; 1] = ["records"];

fn allowed(from: &str, to: &str) -> bool {
    if from == "xtask" {
        return XTASK_MAY_USE.contains(&to);
    }
    if FREE.contains(&from) {
        return LAYERS.contains(&to);
    }
    match (
        LAYERS.iter().position(|l| *l == from),
        LAYERS.iter().position(|l| *l == to),
    ) {
        (Some(f), Some(t)) => t < f,
        _ => false,
    }
}

#[test]
fn dependencies_follow_the_layer_order() {
    let meta = metadata();
    let bad: Vec<String> = internal_edges(&meta)
        .into_iter()
        .filter(|(from, to)| !allowed(from, to))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        bad.is_empty(),
        "dependency edges not allowed by ARCHITECTURE.md: {bad:?}"
    );
}

#[test]
fn every_workspace_package_is_known() {
    let meta = metadata();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert!(
            LAYERS.contains(&name) || FREE.contains(&name) || name == "xtask",
            "package {name} is not in the layer order of ARCHITECTURE.md"
        );
    }
}

#[test]
fn architecture_document_lists_the_layers_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let positions: Vec<usize> = LAYERS
        .iter()
        .map(|l| {
            doc.find(&format!("`{l}`"))
                .unwrap_or_else(|| panic!("ARCHITECTURE.md does not mention `{l}`"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "ARCHITECTURE.md lists the layers out of order"
    );
}

#[test]
fn the_rule_rejects_upward_and_xtask_edges() {
    assert!(allowed("phi4-action", "mrf-graph"));
    assert!(!allowed("mrf-graph", "phi4-action"));
    assert!(!allowed("mc-sampler", "mc-sampler"));
    assert!(!allowed("xtask", "mc-sampler"));
    assert!(allowed("xtask", "records"));
    assert!(allowed("mc-sampler", "records"));
    assert!(!allowed("records", "mrf-graph"));
    assert!(allowed("qftml-tests", "cli"));
}
