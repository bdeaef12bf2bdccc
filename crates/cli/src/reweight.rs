//! `qftml reweight`: expectation values under actions that were never sampled.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mc_sampler::ensemble::StoredEnsemble;
use phi4_action::Homogeneous;
use records::{
    DeltaF, HistogramRecord, JackknifeRecord, MeanErr, MultiHistogramRecord, OverlapRecord, PhaseRecord, Record,
    ReweightMethod, ReweightPoint, ReweightRecord, ReweightedObservables, StateOverlapRecord,
};
use reweight::{
    Coupling, Estimate, Flag, MbarPoint, MultiHistogramOptions, ObservableEstimates, ReweightEnsemble, ReweightOptions,
    Reweighted, Scan, Target, multi_histogram, trajectory,
};

use crate::output::{Output, provenance};
use crate::sample::HomogeneousArgs;

/// Reweight stored ensembles (from `qftml sample --out DIR`) to another action.
///
/// The target is the sampled homogeneous action with any of --kappa, --mu2, --lambda,
/// --g-nnn, --imag-mass replaced (for ensembles of inhomogeneous couplings all of κ, μ², λ
/// must be given).  --scan NAME=FROM:TO:N evaluates a trajectory (several --scan give a grid).
/// One ensemble: single-ensemble reweighting with overlap diagnostics.  Several ensembles:
/// multi-histogram (MBAR) reweighting, real targets only, with the overlap matrix of the
/// ensembles; ensembles that share configurations are refused.  A point is flagged, with the
/// reason and what would fix it, when the Pareto k̂ of its weights exceeds 0.45, its ESS is
/// below 50 or below 10 % of the samples, its average phase is consistent with zero (tested
/// at a family-wise 0.1 % over the whole scan; such a point has no central value), or the
/// ensembles barely overlap (overlap-matrix gap below 0.03).
#[derive(Debug, Args)]
pub struct ReweightArgs {
    /// Ensemble directory written by `qftml sample --out` (or its ensemble.qfe); repeat for
    /// multi-histogram reweighting.
    #[arg(long, required = true)]
    pub ensemble: Vec<PathBuf>,
    #[command(flatten)]
    pub couplings: HomogeneousArgs,
    /// Target imaginary mass c of i c Σφ² (a complex action).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::limits::finite)]
    pub imag_mass: Option<f64>,
    /// Scan a coupling: NAME=FROM:TO:N with NAME one of kappa, mu2, lambda, g-nnn, imag-mass;
    /// repeated, a grid (at most 100000 points in all).
    #[arg(long)]
    pub scan: Vec<String>,
    /// Jackknife bin size [default: from the integrated autocorrelation time].
    #[arg(long, allow_hyphen_values = true, value_parser = crate::limits::whole_usize)]
    pub bin_size: Option<usize>,
    #[command(flatten)]
    pub output: Output,
}

/// The ensemble file of `path`: a run directory (checked against its manifest) or the file.
fn ensemble_file(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        crate::rundir::verify(path).with_context(|| format!("cannot use ensemble {}", path.display()))?;
        Ok(path.join("ensemble.qfe"))
    } else {
        Ok(path.to_path_buf())
    }
}

/// Read a stored ensemble's measurements for reweighting.
fn load(path: &Path) -> Result<ReweightEnsemble> {
    let file = ensemble_file(path)?;
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
    let c = &args.couplings;
    let base = match (sampled, c.kappa, c.mu2, c.lambda) {
        (_, Some(kappa), Some(mu2), Some(lambda)) => {
            Target::new(Homogeneous { kappa, mu2, lambda }).with_g_nnn(sampled.map_or(0.0, |t| t.g_nnn))
        }
        (Some(t), ..) => t,
        (None, ..) => bail!("the ensemble's couplings are inhomogeneous: give all of --kappa, --mu2 and --lambda"),
    };
    let mut t = base;
    for (coupling, value) in [
        (Coupling::Kappa, c.kappa),
        (Coupling::Mu2, c.mu2),
        (Coupling::Lambda, c.lambda),
        (Coupling::GNnn, c.g_nnn),
        (Coupling::ImagMass, args.imag_mass),
    ] {
        if let Some(v) = value {
            t = t.with(coupling, v);
        }
    }
    Ok(t)
}

fn estimate_record(e: &Estimate, complex: bool) -> records::Estimate {
    if complex {
        records::Estimate::Complex {
            re: e.re,
            im: e.im,
            err_re: e.err_re,
            err_im: e.err_im,
        }
    } else {
        records::Estimate::Real(MeanErr {
            mean: e.re,
            err: e.err_re,
        })
    }
}

fn observables_record(o: &ObservableEstimates, complex: bool) -> ReweightedObservables {
    o.map(|e| estimate_record(&e, complex))
}

fn flag_codes(flags: &[Flag]) -> Vec<String> {
    flags.iter().map(|f| f.code().to_string()).collect()
}

fn point_record(r: &Reweighted) -> ReweightPoint {
    let complex = r.target.is_complex();
    let o = &r.overlap;
    ReweightPoint {
        target: r.target.into(),
        observables: r.observables.as_ref().map(|obs| observables_record(obs, complex)),
        ess: o.ess,
        k_hat: o.k_hat,
        k_hat_threshold: o.k_hat_threshold,
        flagged: r.flagged,
        flags: flag_codes(&r.flags),
        reason: r.reason.clone(),
        avg_phase: r.avg_phase.map(|p| PhaseRecord {
            re: p.re,
            im: p.im,
            abs: p.abs,
            err: p.err,
            p_value: p.p_value,
        }),
        ln_z_ratio: Some(r.ln_z_ratio),
        overlap: Some(OverlapRecord {
            ess_fraction: o.ess_fraction,
            kl_target_sampled: o.kl_target_sampled,
            kl_sampled_target: o.kl_sampled_target,
            histogram: HistogramRecord {
                edges: o.histogram.edges.clone(),
                under_sampled: o.histogram.under_sampled.clone(),
                under_target: o.histogram.under_target.clone(),
            },
        }),
        jackknife: Some(JackknifeRecord {
            n_samples: r.n_samples,
            bin_size: r.bin_size,
            n_bins: r.n_bins,
            tau_int: r.tau_int,
        }),
        delta_f: None,
    }
}

fn mbar_point_record(p: &MbarPoint) -> ReweightPoint {
    ReweightPoint {
        target: p.target.into(),
        observables: Some(observables_record(&p.observables, false)),
        ess: p.ess,
        k_hat: p.k_hat,
        k_hat_threshold: p.k_hat_threshold,
        flagged: p.flagged,
        flags: flag_codes(&p.flags),
        reason: p.reason.clone(),
        avg_phase: None,
        ln_z_ratio: None,
        overlap: None,
        jackknife: None,
        delta_f: Some(p.delta_f),
    }
}

pub fn run(args: &ReweightArgs) -> Result<()> {
    if args.bin_size == Some(0) {
        bail!("--bin-size must be at least 1 (or leave it out to choose it from the autocorrelation time)");
    }
    let scans: Vec<Scan> = args
        .scan
        .iter()
        .map(|s| s.parse::<Scan>().with_context(|| format!("bad --scan {s}")))
        .collect::<Result<_>>()?;
    crate::limits::check_scan_points(scans.iter().map(|s| s.n))?;
    let loaded: Vec<ReweightEnsemble> = args.ensemble.iter().map(|p| load(p)).collect::<Result<_>>()?;
    let target = target_from(args, loaded[0].sampled_target())?;
    let targets = if scans.is_empty() {
        vec![target]
    } else {
        trajectory(target, &scans)
    };
    let n_configs = loaded.iter().map(ReweightEnsemble::n_configs).sum();
    let record = if loaded.len() == 1 {
        let mut options = ReweightOptions::recommended();
        if let Some(b) = args.bin_size {
            options = options.with_bin_size(b);
        }
        let points = reweight::scan(&loaded[0], &targets, &options)?;
        ReweightRecord {
            schema: ReweightRecord::SCHEMA,
            method: ReweightMethod::SingleEnsemble,
            n_configs,
            multi_histogram: None,
            points: points.iter().map(point_record).collect(),
            provenance: provenance(),
        }
    } else {
        if targets.iter().any(Target::is_complex) {
            bail!("multi-histogram reweighting takes real targets only; use one --ensemble for --imag-mass");
        }
        let ensembles: Vec<&ReweightEnsemble> = loaded.iter().collect();
        let mh = multi_histogram(&ensembles, &targets, &MultiHistogramOptions::recommended())?;
        let points = mh.points.iter().map(mbar_point_record).collect();
        ReweightRecord {
            schema: ReweightRecord::SCHEMA,
            method: ReweightMethod::MultiHistogram,
            n_configs,
            multi_histogram: Some(MultiHistogramRecord {
                states: mh.states.iter().map(|&s| s.into()).collect(),
                n_k: mh.n_k.clone(),
                delta_f: mh
                    .delta_f
                    .iter()
                    .zip(&mh.delta_f_asymptotic_err)
                    .map(|(d, a)| DeltaF {
                        mean: d.mean,
                        err: d.err,
                        err_asymptotic: *a,
                    })
                    .collect(),
                overlap: StateOverlapRecord {
                    matrix: mh.overlap.matrix.clone(),
                    eigenvalues: mh.overlap.eigenvalues.clone(),
                    gap: mh.overlap.gap,
                },
                iterations: mh.iterations,
            }),
            points,
            provenance: provenance(),
        }
    };
    args.output.emit(&record, print_text)
}

fn print_text(r: &ReweightRecord) {
    if let Some(mh) = &r.multi_histogram {
        println!(
            "multi-histogram over {} ensembles ({} configurations):",
            mh.states.len(),
            r.n_configs
        );
        for (k, (s, d)) in mh.states.iter().zip(&mh.delta_f).enumerate() {
            println!(
                "  state {k}: κ = {}, μ² = {}, λ = {}, g′ = {}: N = {}, f − f₀ = {:.6} ± {:.2e} (asymptotic {:.2e})",
                s.kappa, s.mu2, s.lambda, s.g_nnn, mh.n_k[k], d.mean, d.err, d.err_asymptotic
            );
        }
        let row = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(" ");
        for (k, r) in mh.overlap.matrix.iter().enumerate() {
            println!("  overlap row {k}: {}", row(r));
        }
        println!(
            "  overlap spectrum: {} (gap 1 − λ₂ = {:.4})",
            row(&mh.overlap.eigenvalues),
            mh.overlap.gap
        );
    }
    for p in &r.points {
        let t = &p.target;
        println!(
            "target κ = {}, μ² = {}, λ = {}, g′ = {}, c = {}",
            t.kappa, t.mu2, t.lambda, t.g_nnn, t.imag_mass
        );
        let fraction = p
            .overlap
            .as_ref()
            .map_or(String::new(), |o| format!(" (ESS/N = {:.4})", o.ess_fraction));
        // k̂ is undefined (NaN) when the largest weights are all equal: no tail to fit.
        let k_hat = if p.k_hat.is_nan() {
            "none (the largest weights are equal: no tail)".to_owned()
        } else {
            format!("{:.2}", p.k_hat)
        };
        println!(
            "  overlap: ESS = {:.1}{fraction}, Pareto k̂ = {k_hat} (limit {:.2})",
            p.ess, p.k_hat_threshold
        );
        if let Some(ph) = &p.avg_phase {
            println!(
                "  average phase |⟨e^{{-iθ}}⟩| = {:.6} ± {:.2e} (p-value of a zero phase {:.1e})",
                ph.abs, ph.err, ph.p_value
            );
        }
        if p.flagged {
            println!(
                "  FLAGGED [{}]: {}",
                p.flags.join(", "),
                p.reason.as_deref().unwrap_or("")
            );
        } else if let Some(warning) = &p.reason {
            println!("  warning: {warning}");
        }
        let Some(observables) = &p.observables else {
            println!("  no central value: the average phase is consistent with zero");
            continue;
        };
        for (name, e) in observables.named() {
            match e {
                records::Estimate::Real(m) => println!("  {name:<16} {:>14.8} ± {:.2e}", m.mean, m.err),
                records::Estimate::Complex { re, im, err_re, err_im } => {
                    println!("  {name:<16} {re:>14.8} ± {err_re:.2e}  + i ({im:.8} ± {err_im:.2e})")
                }
            }
        }
        if let Some(d) = &p.delta_f {
            println!("  f_T − f₀ = {:.6} ± {:.2e}", d.mean, d.err);
        }
    }
}
