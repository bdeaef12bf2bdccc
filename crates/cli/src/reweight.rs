//! `qftml reweight`: expectation values under actions that were never sampled.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mc_sampler::ensemble::StoredEnsemble;
use phi4_action::Homogeneous;
use reweight::{
    Coupling, Estimate, MultiHistogramOptions, ObservableEstimates, ReweightEnsemble, ReweightOptions, Reweighted,
    Scan, Target, multi_histogram, trajectory,
};
use serde_json::{Value, json};

use crate::output::{print_json, provenance};

/// Reweight stored ensembles (from `qftml sample --out DIR`) to another action.
///
/// The target is the sampled homogeneous action with any of --kappa, --mu2, --lambda,
/// --g-nnn, --imag-mass replaced (for ensembles of inhomogeneous couplings all of κ, μ², λ
/// must be given).  --scan NAME=FROM:TO:N evaluates a trajectory (several --scan give a grid).
/// One ensemble: single-ensemble reweighting with overlap diagnostics; points whose overlap is
/// too poor (ESS < 50, ESS/N < 0.05, or an average phase within 3σ of zero) are flagged.
/// Several ensembles: multi-histogram (MBAR) reweighting, real targets only.
#[derive(Debug, Args)]
pub struct ReweightArgs {
    /// Ensemble directory written by `qftml sample --out` (or its ensemble.qfe); repeat for
    /// multi-histogram reweighting.
    #[arg(long, required = true)]
    pub ensemble: Vec<PathBuf>,
    /// Target hopping parameter κ.
    #[arg(long, allow_negative_numbers = true)]
    pub kappa: Option<f64>,
    /// Target bare mass squared μ².
    #[arg(long, allow_negative_numbers = true)]
    pub mu2: Option<f64>,
    /// Target quartic coupling λ.
    #[arg(long, allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    /// Target diagonal coupling g′ of −g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j.
    #[arg(long, allow_negative_numbers = true)]
    pub g_nnn: Option<f64>,
    /// Target imaginary mass c of i c Σφ² (a complex action).
    #[arg(long, allow_negative_numbers = true)]
    pub imag_mass: Option<f64>,
    /// Scan a coupling: NAME=FROM:TO:N with NAME one of kappa, mu2, lambda, g-nnn, imag-mass.
    #[arg(long)]
    pub scan: Vec<String>,
    /// Jackknife bin size [default: from the integrated autocorrelation time].
    #[arg(long)]
    pub bin_size: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn ensemble_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("ensemble.qfe")
    } else {
        path.to_path_buf()
    }
}

/// Read a stored ensemble's measurements for reweighting.
fn load(path: &Path) -> Result<ReweightEnsemble> {
    let file = ensemble_file(path);
    let stored =
        StoredEnsemble::read_measurements(&file).with_context(|| format!("cannot use ensemble {}", file.display()))?;
    if stored.n_configs() == 0 {
        bail!(
            "{} holds no configurations; sample with --out to store them",
            file.display()
        );
    }
    Ok(ReweightEnsemble::from_stored(&stored)?)
}

fn target_from(args: &ReweightArgs, sampled: Option<Target>) -> Result<Target> {
    let base = match (sampled, args.kappa, args.mu2, args.lambda) {
        (_, Some(kappa), Some(mu2), Some(lambda)) => {
            Target::new(Homogeneous { kappa, mu2, lambda }).with_g_nnn(sampled.map_or(0.0, |t| t.g_nnn))
        }
        (Some(t), ..) => t,
        (None, ..) => bail!("the ensemble's couplings are inhomogeneous: give all of --kappa, --mu2 and --lambda"),
    };
    let mut t = base;
    for (coupling, value) in [
        (Coupling::Kappa, args.kappa),
        (Coupling::Mu2, args.mu2),
        (Coupling::Lambda, args.lambda),
        (Coupling::GNnn, args.g_nnn),
        (Coupling::ImagMass, args.imag_mass),
    ] {
        if let Some(v) = value {
            t = t.with(coupling, v);
        }
    }
    Ok(t)
}

fn estimate_json(e: &Estimate, complex: bool) -> Value {
    if complex {
        json!({ "re": e.re, "im": e.im, "err_re": e.err_re, "err_im": e.err_im })
    } else {
        json!({ "mean": e.re, "err": e.err_re })
    }
}

fn observables_json(o: &ObservableEstimates, complex: bool) -> Value {
    Value::Object(
        o.named()
            .iter()
            .map(|(name, e)| ((*name).to_string(), estimate_json(e, complex)))
            .collect(),
    )
}

fn target_json(t: &Target) -> Value {
    json!({ "kappa": t.kappa, "mu2": t.mu2, "lambda": t.lambda, "g_nnn": t.g_nnn, "imag_mass": t.imag_mass })
}

fn point_json(r: &Reweighted, scans: &[Scan]) -> Value {
    let complex = r.target.is_complex();
    let mut v = json!({
        "target": target_json(&r.target),
        "observables": observables_json(&r.observables, complex),
        "ess": r.overlap.ess,
        "ess_fraction": r.overlap.ess_fraction,
        "kl_target_sampled": { "mean": r.overlap.kl_target_sampled.mean, "err": r.overlap.kl_target_sampled.err },
        "kl_sampled_target": { "mean": r.overlap.kl_sampled_target.mean, "err": r.overlap.kl_sampled_target.err },
        "overlap_histogram": {
            "edges": r.overlap.histogram.edges,
            "under_sampled": r.overlap.histogram.under_sampled,
            "under_target": r.overlap.histogram.under_target,
        },
        "ln_z_ratio": { "mean": r.ln_z_ratio.mean, "err": r.ln_z_ratio.err },
        "n_samples": r.n_samples,
        "bin_size": r.bin_size,
        "n_bins": r.n_bins,
        "tau_int": r.tau_int,
        "flagged": r.flagged,
        "reason": r.reason,
    });
    if let Some(p) = &r.avg_phase {
        v["avg_phase"] = json!({ "re": p.re, "im": p.im, "abs": p.abs, "err": p.err });
    }
    for s in scans {
        v[s.coupling.name().replace('-', "_")] = json!(s.coupling.get(&r.target));
    }
    v
}

pub fn run(args: &ReweightArgs) -> Result<()> {
    let scans: Vec<Scan> = args
        .scan
        .iter()
        .map(|s| s.parse::<Scan>().with_context(|| format!("bad --scan {s}")))
        .collect::<Result<_>>()?;
    let loaded: Vec<ReweightEnsemble> = args.ensemble.iter().map(|p| load(p)).collect::<Result<_>>()?;
    let target = target_from(args, loaded[0].sampled_target())?;
    let targets = if scans.is_empty() {
        vec![target]
    } else {
        trajectory(target, &scans)
    };
    let result = if loaded.len() == 1 {
        let ensemble = &loaded[0];
        let mut options = ReweightOptions::recommended();
        if let Some(b) = args.bin_size {
            options = options.with_bin_size(b);
        }
        let points = reweight::scan(ensemble, &targets, &options)?;
        let mut out = if scans.is_empty() {
            point_json(&points[0], &scans)
        } else {
            json!({ "points": points.iter().map(|p| point_json(p, &scans)).collect::<Vec<_>>() })
        };
        out["method"] = json!("single-ensemble");
        out["n_configs"] = json!(ensemble.n_configs());
        out
    } else {
        if targets.iter().any(Target::is_complex) {
            bail!("multi-histogram reweighting takes real targets only; use one --ensemble for --imag-mass");
        }
        let ensembles: Vec<&ReweightEnsemble> = loaded.iter().collect();
        let mh = multi_histogram(&ensembles, &targets, &MultiHistogramOptions::recommended())?;
        let points: Vec<Value> = mh
            .points
            .iter()
            .map(|p| {
                let mut v = json!({
                    "target": target_json(&p.target),
                    "observables": observables_json(&p.observables, false),
                    "delta_f": { "mean": p.delta_f.mean, "err": p.delta_f.err },
                    "ess": p.ess,
                    "flagged": false,
                });
                for s in &scans {
                    v[s.coupling.name().replace('-', "_")] = json!(s.coupling.get(&p.target));
                }
                v
            })
            .collect();
        let mut out = json!({
            "method": "multi-histogram",
            "states": mh.states.iter().map(target_json).collect::<Vec<_>>(),
            "n_k": mh.n_k,
            "delta_f": mh.delta_f.iter().zip(&mh.delta_f_asymptotic_err)
                .map(|(d, a)| json!({ "mean": d.mean, "err": d.err, "err_asymptotic": a })).collect::<Vec<_>>(),
            "iterations": mh.iterations,
        });
        if scans.is_empty() {
            let p = points.into_iter().next().context("no target point")?;
            for (k, v) in p.as_object().into_iter().flatten() {
                out[k] = v.clone();
            }
        } else {
            out["points"] = json!(points);
        }
        out
    };
    let mut result = result;
    result["provenance"] = provenance();
    if args.json {
        return print_json(&result);
    }
    print_text(&result);
    Ok(())
}

fn print_text(r: &Value) {
    let points: Vec<&Value> = match r["points"].as_array() {
        Some(p) => p.iter().collect(),
        None => vec![r],
    };
    for p in points {
        let t = &p["target"];
        println!(
            "target κ = {}, μ² = {}, λ = {}, g′ = {}, c = {}: ESS = {:.1}{}",
            t["kappa"],
            t["mu2"],
            t["lambda"],
            t["g_nnn"],
            t["imag_mass"],
            p["ess"].as_f64().unwrap_or(f64::NAN),
            if p["flagged"] == true {
                format!("  FLAGGED: {}", p["reason"].as_str().unwrap_or("poor overlap"))
            } else {
                String::new()
            }
        );
        for (name, v) in p["observables"].as_object().into_iter().flatten() {
            if let Some(mean) = v["mean"].as_f64() {
                println!(
                    "  {name:<16} {mean:>14.8} ± {:.2e}",
                    v["err"].as_f64().unwrap_or(f64::NAN)
                );
            } else {
                println!(
                    "  {name:<16} {:>14.8} ± {:.2e}  + i ({:.8} ± {:.2e})",
                    v["re"].as_f64().unwrap_or(f64::NAN),
                    v["err_re"].as_f64().unwrap_or(f64::NAN),
                    v["im"].as_f64().unwrap_or(f64::NAN),
                    v["err_im"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        if let Some(ph) = p.get("avg_phase") {
            println!(
                "  average phase |⟨e^{{-iθ}}⟩| = {:.6} ± {:.2e}",
                ph["abs"].as_f64().unwrap_or(f64::NAN),
                ph["err"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
}
