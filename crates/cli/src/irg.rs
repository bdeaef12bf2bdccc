//! `qftml irg`: inverse renormalization group from a small lattice to large ones, the fixed
//! point, the inverse flow and critical exponents.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use inverse_rg::analysis::Estimate;
use inverse_rg::{
    BlockRule, DirectCurve, InverseRg, LocalUpdate, ParentRun, Parents, Refinement, RescaledEnsemble, inverse_flow,
    scaling,
};
use mrf_graph::Lattice;
use phi4_action::Homogeneous;
use records::{MeanErr, Provenance, Record};
use serde::{Deserialize, Serialize};

use crate::limits;
use crate::output::{Output, progress_bar, provenance, write_atomic};

/// Largest rescaled lattice `--lattice · 2^--steps`.
const MAX_SIZE: usize = 4096;

/// Generate large near-critical φ⁴ ensembles from a small lattice by inverse
/// renormalization-group steps, and measure the fixed point and critical exponents.
///
/// Parents are sampled on --lattice at every --mu2 (hybrid schedule); a transposed
/// convolution (stride 2) fitted by least squares to invert the 2×2 block average takes each
/// configuration to twice the size, and --sweeps local Metropolis (or heat-bath) sweeps at
/// the same couplings re-equilibrate it; --steps such steps give sizes up to
/// --lattice·2^steps.  With two or more --mu2 the Binder cumulants of consecutive sizes are
/// crossed (the fixed point) and γ/ν is fitted to χ at it; --validate L simulates L² directly
/// and, with several --mu2, gives the inverse flow μ² → μ²′ and ν from it.
#[derive(Debug, Args)]
pub struct IrgArgs {
    /// Linear size L₀ of the parent lattice (even, at least 8).
    #[arg(long, default_value_t = 8, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub lattice: usize,
    /// Inverse steps: sizes L₀, 2L₀, …, 2^steps L₀ (at most 4096).
    #[arg(long, default_value_t = 3, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub steps: usize,
    /// Hopping parameter κ.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true, value_parser = limits::finite)]
    pub kappa: f64,
    /// Bare mass squared μ²: one value, or several separated by commas (a scan).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',', value_parser = limits::finite, required = true)]
    pub mu2: Vec<f64>,
    /// Quartic coupling λ (positive).
    #[arg(long, default_value_t = 0.7, allow_hyphen_values = true, value_parser = limits::finite)]
    pub lambda: f64,
    /// Parent configurations per chain at every μ².
    #[arg(long, default_value_t = 500, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub configs: usize,
    /// Independent parent chains at every μ².
    #[arg(long, default_value_t = 4, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub chains: usize,
    /// Hybrid sweeps between parent configurations.
    #[arg(long, default_value_t = 2, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub parent_sweeps: u64,
    /// Thermalisation sweeps of every chain (parents and direct simulation).
    #[arg(long, default_value_t = 200, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub therm: u64,
    /// Local re-equilibration sweeps after every inverse step.
    #[arg(long, default_value_t = 100, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub sweeps: u64,
    /// Local update of the re-equilibration: metropolis or heatbath.
    #[arg(long, default_value = "metropolis")]
    pub local: String,
    /// Standard deviation of Gaussian noise added after each convolution.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = limits::finite)]
    pub noise: f64,
    /// Field rescaling factor applied after each convolution.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true, value_parser = limits::finite)]
    pub rescale: f64,
    /// Radius of the transposed convolution in coarse sites (1: a 6×6 kernel).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub radius: usize,
    /// Smallest size in the fits of exponents (corrections to scaling are largest on the
    /// smallest sizes); at least two sizes must remain.
    #[arg(long, default_value_t = 32, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub fit_from: usize,
    /// Rescaled sizes to compare with direct simulation (hybrid schedule) at the central μ²,
    /// comma-separated, e.g. 64,128.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub validate: Vec<usize>,
    /// Measurements per chain of each direct simulation.
    #[arg(long, default_value_t = 2000, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub direct_configs: usize,
    /// Seed of the run, a whole number 0 ≤ seed < 2^64.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub seed: u64,
    /// Worker threads [default: all cores]; results do not depend on it.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub threads: Option<usize>,
    /// Write results.json into this directory (created if needed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: Output,
}

/// The settings of an `irg` run, as resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgConfig {
    /// Parent lattice size L₀.
    pub lattice: usize,
    /// Inverse steps.
    pub steps: usize,
    /// κ.
    pub kappa: f64,
    /// λ.
    pub lambda: f64,
    /// The μ² of every parent ensemble.
    pub mu2: Vec<f64>,
    /// Parent configurations per chain.
    pub configs: usize,
    /// Parent chains.
    pub chains: usize,
    /// Hybrid sweeps between parent configurations.
    pub parent_sweeps: u64,
    /// Thermalisation sweeps.
    pub therm: u64,
    /// Re-equilibration sweeps per step.
    pub sweeps: u64,
    /// Their local update.
    pub local: String,
    /// Noise after each convolution.
    pub noise: f64,
    /// Field rescaling after each convolution.
    pub rescale: f64,
    /// Kernel radius.
    pub radius: usize,
    /// Smallest size in the fits of exponents.
    pub fit_from: usize,
    /// Sizes validated against direct simulation.
    pub validate: Vec<usize>,
    /// Measurements per chain of direct simulation.
    pub direct_configs: usize,
    /// Seed.
    pub seed: u64,
}

/// Observables of one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgSize {
    /// Linear size.
    pub size: usize,
    /// `⟨|m|⟩`.
    pub m_abs: MeanErr,
    /// `⟨m²⟩`.
    pub m2: MeanErr,
    /// `χ = V (⟨m²⟩ − ⟨|m|⟩²)`.
    pub chi: MeanErr,
    /// Binder cumulant `U`.
    pub binder: MeanErr,
}

/// One parent μ² and its rescaled sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgPoint {
    /// μ² of the parents and of the re-equilibration.
    pub mu2: f64,
    /// Parents first, then every rescaled size.
    pub sizes: Vec<IrgSize>,
    /// `γ/ν` from `χ ∝ L^{γ/ν}` over the rescaled sizes from `--fit-from` at this μ².
    pub gamma_over_nu: MeanErr,
    /// The fitted kernel, parity by parity (`p + 2q`), `(2r + 1)²` taps each.
    pub kernel: Vec<f64>,
    /// Frozen Metropolis step of the re-equilibration, if Metropolis.
    pub metropolis_step: Option<f64>,
    /// CPU seconds of the parents' updates.
    pub parents_cpu_s: f64,
    /// CPU seconds of the rescaled configurations (all sizes).
    pub rescale_cpu_s: f64,
}

/// Finite-size scaling across the scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgScaling {
    /// Rescaled sizes used.
    pub sizes: Vec<usize>,
    /// μ² where `U` of consecutive sizes cross.
    pub crossings: Vec<MeanErr>,
    /// The fixed point (the best-determined crossing).
    pub critical_mu2: MeanErr,
    /// The sizes whose crossing that is.
    pub fixed_pair: [usize; 2],
    /// `U` per size at the fixed point.
    pub binder_at_fixed_point: Vec<MeanErr>,
    /// `χ` per size at the fixed point.
    pub chi_at_fixed_point: Vec<MeanErr>,
    /// `V⟨m²⟩` per size at the fixed point.
    pub v_m2_at_fixed_point: Vec<MeanErr>,
    /// `dU/dμ²` per size at the fixed point.
    pub binder_slopes: Vec<MeanErr>,
    /// `γ/ν` from `χ` at the fixed point.
    pub gamma_over_nu: MeanErr,
    /// `γ/ν` from `V⟨m²⟩` at the fixed point.
    pub gamma_over_nu_from_m2: MeanErr,
    /// `ν` from `dU/dμ² ∝ L^{1/ν}` of the rescaled sizes (not an estimate of ν: the inverse
    /// flow contracts μ² towards the fixed point; see the inverse-rg docs).
    pub nu_from_binder_slopes: MeanErr,
}

/// A rescaled size against direct simulation at the central μ².
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgValidation {
    /// Linear size.
    pub size: usize,
    /// μ² of both.
    pub mu2: f64,
    /// Direct simulation.
    pub direct: IrgSize,
    /// The rescaled ensemble.
    pub rescaled: IrgSize,
    /// `(rescaled − direct)/σ` for `⟨|m|⟩`, `χ`, `U`.
    pub deviations_sigma: [f64; 3],
    /// CPU seconds of the direct simulation.
    pub direct_cpu_s: f64,
    /// The inverse flow of this size, with two or more μ².
    pub flow: Option<IrgFlow>,
}

/// The inverse flow of one rescaled size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgFlow {
    /// Inverse steps from the parents.
    pub level: usize,
    /// `(parent μ², μ²′)`: the μ² of direct simulation with the same `U`.
    pub map: Vec<(f64, MeanErr)>,
    /// `dμ²′/dμ²`.
    pub slope: MeanErr,
    /// `ν = k ln 2 / (−ln slope)`.
    pub nu: MeanErr,
    /// The fixed point of the map, `μ²* = μ²′(μ²*)`.
    pub fixed_point: MeanErr,
}

/// The summary exponents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgExponents {
    /// `ν` from the inverse flow of the largest validated size, if there is one.
    pub nu: Option<MeanErr>,
    /// `ν` from the last inverse step alone (two consecutive validated sizes).
    pub nu_per_step: Option<MeanErr>,
    /// `γ/ν` from `χ` at the fixed point (or at the only μ²).
    pub gamma_over_nu: MeanErr,
}

/// CPU and wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgTiming {
    /// CPU seconds of all rescaled configurations.
    pub rescale_cpu_s: f64,
    /// CPU seconds of all parents.
    pub parents_cpu_s: f64,
    /// CPU seconds of all direct simulations.
    pub direct_cpu_s: f64,
    /// Wall seconds of the command.
    pub wall_s: f64,
}

/// The result of `qftml irg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgRecord {
    /// Schema version of this record.
    pub schema: u32,
    /// Every μ² of the scan.
    pub points: Vec<IrgPoint>,
    /// Finite-size scaling, with two or more μ².
    pub scaling: Option<IrgScaling>,
    /// Direct-simulation comparisons.
    pub validation: Vec<IrgValidation>,
    /// The fixed point (with two or more μ²).
    pub critical_mu2: Option<MeanErr>,
    /// The exponents.
    pub exponents: IrgExponents,
    /// Timing.
    pub timing: IrgTiming,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The resolved settings.
    pub config: IrgConfig,
    /// Where the result comes from.
    pub provenance: Provenance,
}

impl Record for IrgRecord {
    const SCHEMA: u32 = 1;
    const NAME: &'static str = "irg";
    fn schema(&self) -> u32 {
        self.schema
    }
}

fn me(e: Estimate) -> MeanErr {
    MeanErr {
        mean: e.mean,
        err: e.err,
    }
}

fn check(args: &IrgArgs) -> Result<(Homogeneous, Refinement, LocalUpdate)> {
    if args.lattice < 8 || !args.lattice.is_multiple_of(2) {
        bail!(
            "--lattice {} cannot be blocked with b = 2; give an even size of at least 8",
            args.lattice
        );
    }
    if args.steps == 0 {
        bail!("--steps 0 makes no rescaled size; give --steps 1 or more");
    }
    if args.steps > 12 || args.lattice << args.steps > MAX_SIZE {
        bail!(
            "--lattice {} with --steps {} exceeds the largest size {MAX_SIZE}; lower --steps",
            args.lattice,
            args.steps
        );
    }
    if args.lambda <= 0.0 {
        bail!(
            "--lambda {} must be positive so that exp(−S) is normalisable",
            args.lambda
        );
    }
    if args.chains == 0 || args.chains > 4096 {
        bail!("--chains {} must be between 1 and 4096", args.chains);
    }
    if args.configs < 20 {
        bail!(
            "--configs {} is too few for jackknife errors; give at least 20",
            args.configs
        );
    }
    if args.parent_sweeps == 0 {
        bail!("--parent-sweeps 0: give at least one sweep between parent configurations");
    }
    if args.direct_configs < 20 {
        bail!("--direct-configs {} is too few; give at least 20", args.direct_configs);
    }
    let mut sorted = args.mu2.clone();
    sorted.sort_by(f64::total_cmp);
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        bail!("--mu2 lists a value twice; give distinct values");
    }
    let local = match args.local.as_str() {
        "metropolis" => LocalUpdate::Metropolis,
        "heatbath" => LocalUpdate::HeatBath,
        other => bail!("--local {other:?} is not a local update; use metropolis or heatbath"),
    };
    for &size in &args.validate {
        if !(1..=args.steps).any(|k| args.lattice << k == size) {
            bail!(
                "--validate {size} is not a rescaled size; give one of {}",
                (1..=args.steps)
                    .map(|k| (args.lattice << k).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let refinement = Refinement {
        rescale: args.rescale,
        noise: args.noise,
        sweeps: args.sweeps,
        local,
    };
    let target = Homogeneous {
        kappa: args.kappa,
        mu2: args.mu2[0],
        lambda: args.lambda,
    };
    Ok((target, refinement, local))
}

fn size_record(size: usize, m_abs: Estimate, m2: Estimate, chi: Estimate, binder: Estimate) -> IrgSize {
    IrgSize {
        size,
        m_abs: me(m_abs),
        m2: me(m2),
        chi: me(chi),
        binder: me(binder),
    }
}

pub fn run(args: &IrgArgs) -> Result<()> {
    let start = Instant::now();
    let (base_target, refinement, _) = check(args)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")?;
    let lattice = Lattice::new(args.lattice, args.lattice)?;
    let first_fit = (1..=args.steps)
        .find(|&k| args.lattice << k >= args.fit_from)
        .unwrap_or(args.steps + 1);
    if first_fit + 1 > args.steps {
        bail!(
            "--fit-from {} leaves fewer than two rescaled sizes to fit (the largest is {}); lower --fit-from or raise --steps",
            args.fit_from,
            args.lattice << args.steps
        );
    }
    let fit_levels = first_fit..args.steps + 1;
    let bar = progress_bar((args.mu2.len() * args.chains * args.configs) as u64, "lineages");
    let mut points = Vec::new();
    let mut ensembles = Vec::new();
    let mut warnings = Vec::new();
    for (j, &mu2) in args.mu2.iter().enumerate() {
        let target = Homogeneous { mu2, ..base_target };
        let run = ParentRun {
            n_chains: args.chains,
            n_configs: args.configs,
            sweeps_between: args.parent_sweeps,
            n_therm: args.therm,
            seed: args.seed.wrapping_add(2 * j as u64),
        };
        let (parents, ensemble, inverse) = pool.install(|| -> Result<_> {
            let parents = Parents::simulate(&lattice, target, run)
                .with_context(|| format!("cannot sample the parents at --mu2 {mu2}"))?;
            let conv = parents.fit_inverse(BlockRule::Average { rescale: 1.0 }, args.radius)?;
            let inverse = InverseRg::new(conv, refinement, target)?;
            let ensemble = RescaledEnsemble::rescale(
                &parents,
                &inverse,
                args.steps,
                args.seed.wrapping_add(2 * j as u64 + 1),
                |_, _, _, _| {},
                |n| bar.inc(n),
            )?;
            Ok((parents, ensemble, inverse))
        })?;
        let sizes = ensemble
            .observables()
            .into_iter()
            .map(|o| size_record(o.size, o.m_abs, o.m2, o.chi, o.binder))
            .collect();
        let gamma_over_nu = me(ensemble.exponents(mu2, fit_levels.clone())?.gamma_over_nu);
        points.push(IrgPoint {
            mu2,
            sizes,
            gamma_over_nu,
            kernel: inverse.conv().weights().to_vec(),
            metropolis_step: inverse.metropolis_step(),
            parents_cpu_s: parents.cpu_seconds,
            rescale_cpu_s: ensemble.cpu_seconds,
        });
        ensembles.push(ensemble);
    }
    bar.finish_and_clear();
    let scaling = if ensembles.len() >= 2 {
        let s = scaling(&ensembles, fit_levels.clone())?;
        let all = |v: &[Estimate]| v.iter().copied().map(me).collect::<Vec<_>>();
        Some(IrgScaling {
            sizes: s.sizes.clone(),
            crossings: all(&s.crossings),
            critical_mu2: me(s.critical_mu2),
            fixed_pair: [s.sizes[s.fixed_pair], s.sizes[s.fixed_pair + 1]],
            binder_at_fixed_point: all(&s.binder_at_fixed_point),
            chi_at_fixed_point: all(&s.chi_at_fixed_point),
            v_m2_at_fixed_point: all(&s.v_m2_at_fixed_point),
            binder_slopes: all(&s.binder_slopes),
            gamma_over_nu: me(s.gamma_over_nu),
            gamma_over_nu_from_m2: me(s.gamma_over_nu_from_m2),
            nu_from_binder_slopes: me(s.nu_from_binder_slopes),
        })
    } else {
        None
    };
    // Direct simulation at the central μ², reweighted over the range of the scan.
    let mut sorted = args.mu2.clone();
    sorted.sort_by(f64::total_cmp);
    let centre = sorted[sorted.len() / 2];
    let centre_index = args
        .mu2
        .iter()
        .position(|&m| m == centre)
        .expect("the centre is in the list");
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    let grid: Vec<f64> = (0..=80).map(|i| lo + (hi - lo) * i as f64 / 80.0).collect();
    let mut validation = Vec::new();
    let mut flows = Vec::new();
    for (v, &size) in args.validate.iter().enumerate() {
        let level = (1..=args.steps).find(|&k| args.lattice << k == size).expect("checked");
        let run = ParentRun {
            n_chains: args.chains,
            n_configs: args.direct_configs,
            sweeps_between: 1,
            n_therm: args.therm,
            seed: args.seed.wrapping_add(1000 + v as u64),
        };
        let target = Homogeneous {
            mu2: centre,
            ..base_target
        };
        let direct = pool
            .install(|| DirectCurve::simulate(size, target, run, &grid))
            .with_context(|| format!("cannot simulate {size}² directly"))?;
        let rescaled = ensembles[centre_index].observables()[level];
        let [m_abs, chi, binder] = direct.at_sampled;
        let sigma = |a: Estimate, b: Estimate| (a.mean - b.mean) / (a.err * a.err + b.err * b.err).sqrt();
        let flow = if ensembles.len() >= 2 {
            match inverse_flow(&ensembles, level, &direct) {
                Ok(f) => {
                    let record = IrgFlow {
                        level,
                        map: f.map.iter().map(|&(x, y)| (x, me(y))).collect(),
                        slope: me(f.slope),
                        nu: me(f.nu),
                        fixed_point: me(f.fixed_point),
                    };
                    flows.push(f);
                    Some(record)
                }
                Err(e) => {
                    warnings.push(format!("no inverse flow for size {size}: {e}"));
                    None
                }
            }
        } else {
            None
        };
        validation.push(IrgValidation {
            size,
            mu2: centre,
            direct: size_record(
                size,
                m_abs,
                Estimate {
                    mean: f64::NAN,
                    err: f64::NAN,
                },
                chi,
                binder,
            ),
            rescaled: size_record(size, rescaled.m_abs, rescaled.m2, rescaled.chi, rescaled.binder),
            deviations_sigma: [
                sigma(rescaled.m_abs, m_abs),
                sigma(rescaled.chi, chi),
                sigma(rescaled.binder, binder),
            ],
            direct_cpu_s: direct.cpu_seconds,
            flow,
        });
    }
    flows.sort_by_key(|f| f.level);
    let nu_per_step = flows
        .windows(2)
        .rev()
        .find_map(|w| w[1].nu_per_step(&w[0]).ok())
        .map(me);
    let exponents = IrgExponents {
        nu: validation.iter().rev().find_map(|v| v.flow.as_ref().map(|f| f.nu)),
        nu_per_step,
        gamma_over_nu: scaling
            .as_ref()
            .map_or(points[centre_index].gamma_over_nu, |s| s.gamma_over_nu),
    };
    let record = IrgRecord {
        schema: IrgRecord::SCHEMA,
        critical_mu2: scaling.as_ref().map(|s| s.critical_mu2),
        timing: IrgTiming {
            rescale_cpu_s: points.iter().map(|p| p.rescale_cpu_s).sum(),
            parents_cpu_s: points.iter().map(|p| p.parents_cpu_s).sum(),
            direct_cpu_s: validation.iter().map(|v| v.direct_cpu_s).sum(),
            wall_s: start.elapsed().as_secs_f64(),
        },
        points,
        scaling,
        validation,
        exponents,
        warnings,
        config: IrgConfig {
            lattice: args.lattice,
            steps: args.steps,
            kappa: args.kappa,
            lambda: args.lambda,
            mu2: args.mu2.clone(),
            configs: args.configs,
            chains: args.chains,
            parent_sweeps: args.parent_sweeps,
            therm: args.therm,
            sweeps: args.sweeps,
            local: args.local.clone(),
            noise: args.noise,
            rescale: args.rescale,
            radius: args.radius,
            fit_from: args.fit_from,
            validate: args.validate.clone(),
            direct_configs: args.direct_configs,
            seed: args.seed,
        },
        provenance: provenance(),
    };
    for w in &record.warnings {
        eprintln!("warning: {w}");
    }
    args.output.emit(&record, print_text)?;
    if let Some(dir) = &args.out {
        write_atomic(&dir.join("results.json"), records::to_json(&record).as_bytes())?;
    }
    Ok(())
}

fn print_text(r: &IrgRecord) {
    let pm = |x: &MeanErr| format!("{:.5} ± {:.5}", x.mean, x.err);
    for p in &r.points {
        println!("mu2 = {}  (rescaling {:.1} s CPU)", p.mu2, p.rescale_cpu_s);
        println!("  {:>6} {:>22} {:>22} {:>22}", "L", "<|m|>", "chi", "U");
        for s in &p.sizes {
            println!(
                "  {:>6} {:>22} {:>22} {:>22}",
                s.size,
                pm(&s.m_abs),
                pm(&s.chi),
                pm(&s.binder)
            );
        }
        println!("  gamma/nu over the rescaled sizes: {}", pm(&p.gamma_over_nu));
    }
    if let Some(s) = &r.scaling {
        println!(
            "fixed point mu2 = {} (crossing of {} and {})",
            pm(&s.critical_mu2),
            s.fixed_pair[0],
            s.fixed_pair[1]
        );
        println!(
            "gamma/nu at the fixed point: {} (from V<m²>: {})",
            pm(&s.gamma_over_nu),
            pm(&s.gamma_over_nu_from_m2)
        );
    }
    for v in &r.validation {
        println!(
            "L = {} at mu2 = {}: direct <|m|> {} chi {} U {}; deviations {:.1}σ {:.1}σ {:.1}σ",
            v.size,
            v.mu2,
            pm(&v.direct.m_abs),
            pm(&v.direct.chi),
            pm(&v.direct.binder),
            v.deviations_sigma[0],
            v.deviations_sigma[1],
            v.deviations_sigma[2]
        );
        if let Some(f) = &v.flow {
            println!(
                "  inverse flow: dmu2'/dmu2 = {}, nu = {}, fixed point mu2 = {}",
                pm(&f.slope),
                pm(&f.nu),
                pm(&f.fixed_point)
            );
        }
    }
    if let Some(nu) = &r.exponents.nu_per_step {
        println!("nu from the last inverse step: {}", pm(nu));
    }
    println!("2D Ising: nu = 1, gamma/nu = 1.75");
}
