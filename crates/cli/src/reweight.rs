//! `qftml reweight`: expectation values under actions that were never sampled.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use mc_sampler::ensemble::StoredEnsemble;
use phi4_action::Homogeneous;
use records::{
    DeltaF, HistogramRecord, JackknifeRecord, MeanErr, MultiHistogramRecord, OverlapRecord, PhaseRecord, Record,
    ReweightMethod, ReweightPoint, ReweightRecord, ReweightedObservables, TargetRecord,
};
use reweight::{
    Coupling, Estimate, MultiHistogramOptions, ObservableEstimates, ReweightEnsemble, ReweightOptions, Reweighted,
    Scan, Target, multi_histogram, trajectory,
};

use crate::output::{Output, provenance};

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

fn target_record(t: &Target) -> TargetRecord {
    TargetRecord {
        kappa: t.kappa,
        mu2: t.mu2,
        lambda: t.lambda,
        g_nnn: t.g_nnn,
        linear: t.linear,
        imag_mass: t.imag_mass,
    }
}

fn point_record(r: &Reweighted) -> ReweightPoint {
    let complex = r.target.is_complex();
    let o = &r.overlap;
    ReweightPoint {
        target: target_record(&r.target),
        observables: observables_record(&r.observables, complex),
        ess: o.ess,
        flagged: r.flagged,
        reason: r.reason.clone(),
        avg_phase: r.avg_phase.map(|p| PhaseRecord {
            re: p.re,
            im: p.im,
            abs: p.abs,
            err: p.err,
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
        let points = mh
            .points
            .iter()
            .map(|p| ReweightPoint {
                target: target_record(&p.target),
                observables: observables_record(&p.observables, false),
                ess: p.ess,
                flagged: false,
                reason: None,
                avg_phase: None,
                ln_z_ratio: None,
                overlap: None,
                jackknife: None,
                delta_f: Some(p.delta_f),
            })
            .collect();
        ReweightRecord {
            schema: ReweightRecord::SCHEMA,
            method: ReweightMethod::MultiHistogram,
            n_configs,
            multi_histogram: Some(MultiHistogramRecord {
                states: mh.states.iter().map(target_record).collect(),
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
                iterations: mh.iterations,
            }),
            points,
            provenance: provenance(),
        }
    };
    args.output.emit(&record, print_text)
}

fn print_text(r: &ReweightRecord) {
    for p in &r.points {
        let t = &p.target;
        println!(
            "target κ = {}, μ² = {}, λ = {}, g′ = {}, c = {}: ESS = {:.1}{}",
            t.kappa,
            t.mu2,
            t.lambda,
            t.g_nnn,
            t.imag_mass,
            p.ess,
            if p.flagged {
                format!("  FLAGGED: {}", p.reason.as_deref().unwrap_or("poor overlap"))
            } else {
                String::new()
            }
        );
        for (name, e) in p.observables.named() {
            match e {
                records::Estimate::Real(m) => println!("  {name:<16} {:>14.8} ± {:.2e}", m.mean, m.err),
                records::Estimate::Complex { re, im, err_re, err_im } => {
                    println!("  {name:<16} {re:>14.8} ± {err_re:.2e}  + i ({im:.8} ± {err_im:.2e})")
                }
            }
        }
        if let Some(ph) = &p.avg_phase {
            println!("  average phase |⟨e^{{-iθ}}⟩| = {:.6} ± {:.2e}", ph.abs, ph.err);
        }
    }
}
