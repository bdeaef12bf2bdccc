//! `qftml irg`: inverse renormalization group from a small lattice to large ones, the fixed
//! point, the inverse flow and critical exponents.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use inverse_rg::analysis::Estimate;
use inverse_rg::{
    BlockRule, DirectEnsemble, InverseRg, LocalUpdate, Multilevel, ParentRun, Parents, Refinement, RescaledEnsemble,
    binder_crossings, direct_grid, inverse_flow, scaling,
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
/// crossed and γ/ν is fitted to χ at the fixed point.  --validate L simulates L² directly at
/// the central μ² (cluster hybrid, reweighted over a μ² grid): the Binder crossings of
/// consecutive direct sizes give the finite-size-scaling critical μ², a rescaled size is
/// compared with its direct simulation, and with several --mu2 the rescaled Binder
/// cumulants matched to direct simulation give the inverse flow μ² → μ²′, its fixed point,
/// and ν from the slopes of the flow over the rescaled sizes from --fit-from; with
/// --flow-passes P the rescaling is repeated P − 1 times, each level refined at the μ² the
/// previous pass's flow gives it.
#[derive(Debug, Args)]
pub struct IrgArgs {
    /// Linear size L₀ of the parent lattice (even, at least 8).
    #[arg(long, visible_alias = "base-lattice", default_value_t = 8, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub lattice: usize,
    /// Inverse steps: sizes L₀, 2L₀, …, 2^steps L₀ (at most 4096).
    #[arg(long, default_value_t = 3, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub steps: usize,
    /// Largest rescaled size L₀·2^k (instead of --steps), e.g. --base-lattice 8
    /// --max-lattice 512 for six inverse steps.
    #[arg(long, conflicts_with = "steps", allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub max_lattice: Option<usize>,
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
    /// Sizes to simulate directly (hybrid schedule) at the central μ², comma-separated, e.g.
    /// 8,16,32,64: Binder crossings, comparison with the rescaled sizes, the inverse flow.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub validate: Vec<usize>,
    /// The μ² at which γ/ν and the observables "at the fixed point" are evaluated, with its
    /// error, e.g. --fixed-point=-0.9512,0.0004 [default: the direct Binder crossing of the
    /// two largest --validate sizes, else the best-determined fixed point of the inverse
    /// flow, else the best crossing of the rescaled sizes].
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, value_parser = limits::finite)]
    pub fixed_point: Vec<f64>,
    /// Measurements per chain of each direct simulation (one hybrid sweep apart).
    #[arg(long, default_value_t = 2000, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub direct_configs: usize,
    /// Passes of the rescaling: the first refines every level at the parents' μ²; each
    /// further pass refines level l at the μ² the previous pass's inverse flow says it
    /// represents (needs two or more --mu2 and --validate sizes that are rescaled sizes).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub flow_passes: usize,
    /// Multilevel rescaling: of the lineages that reach a size, only one in RATIO goes on to
    /// the next (parent n reaches level l if RATIO^l divides n), and every size's moments are
    /// multilevel estimates, telescoping sums over the levels with control variates; 1: every
    /// lineage reaches the largest size. The largest size needs at least 16 lineages.
    #[arg(long, value_name = "RATIO", default_value_t = 1, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub multilevel: usize,
    /// Record the lineage of the first parent at the central μ² (one configuration per size)
    /// in the result, as images.
    #[arg(long)]
    pub images: bool,
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
    /// Largest rescaled size, `lattice · 2^steps`.
    #[serde(default)]
    pub max_lattice: usize,
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
    /// Passes of the rescaling (refinement at the previous pass's flow).
    #[serde(default = "one_pass")]
    pub flow_passes: usize,
    /// Multilevel ratio (1: every lineage reaches the largest size).
    #[serde(default = "one_pass")]
    pub multilevel: usize,
    /// Whether the lineage of one parent is recorded.
    pub images: bool,
    /// The μ² and error given for the fixed point, if any.
    pub fixed_point: Vec<f64>,
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
    /// μ² of the parents.
    pub mu2: f64,
    /// μ² of the re-equilibration of every rescaled level (the parents' μ² in the first
    /// pass; the previous pass's inverse flow after it).
    #[serde(default)]
    pub refine_mu2: Vec<f64>,
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
    /// Lineages that reached each size (parents first).
    #[serde(default)]
    pub lineages: Vec<usize>,
    /// CPU seconds of each size (parents first: measuring them), summed over lineages.
    #[serde(default)]
    pub level_cpu_s: Vec<f64>,
}

/// Finite-size scaling across the scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgScaling {
    /// Rescaled sizes used.
    pub sizes: Vec<usize>,
    /// μ² where `U` of consecutive sizes cross.
    pub crossings: Vec<MeanErr>,
    /// The μ² of the fixed point used (given, the flow's, the direct crossing, or the
    /// best-determined crossing of the rescaled sizes).
    pub critical_mu2: MeanErr,
    /// The sizes whose crossing that is.
    pub fixed_pair: [usize; 2],
    /// `U` per size at the fixed point.
    pub binder_at_fixed_point: Vec<MeanErr>,
    /// `χ` per size at the fixed point.
    pub chi_at_fixed_point: Vec<MeanErr>,
    /// `V⟨m²⟩` per size at the fixed point.
    pub v_m2_at_fixed_point: Vec<MeanErr>,
    /// `⟨|m|⟩` per size at the fixed point.
    pub m_abs_at_fixed_point: Vec<MeanErr>,
    /// `β/ν` from `⟨|m|⟩ ∝ L^{−β/ν}` at the fixed point.
    pub beta_over_nu: MeanErr,
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

/// A direct simulation at the central μ² and, if its size is a rescaled size, the rescaled
/// ensemble beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgValidation {
    /// Linear size.
    pub size: usize,
    /// μ² of both.
    pub mu2: f64,
    /// Direct simulation (`m2` is not recorded: NaN).
    pub direct: IrgSize,
    /// The rescaled ensemble of this size, if it is one.
    pub rescaled: Option<IrgSize>,
    /// `(rescaled − direct)/σ` for `⟨|m|⟩`, `χ`, `U`.
    pub deviations_sigma: Option<[f64; 3]>,
    /// The direct curve: `(μ², ⟨|m|⟩, χ, U)` on the reweighting grid.
    pub curve: Vec<IrgCurvePoint>,
    /// Γ-method `τ_int` of `m²` in hybrid sweeps.
    pub tau_int_m2: f64,
    /// Measurements of the direct simulation.
    pub n_measurements: usize,
    /// CPU seconds of the direct simulation.
    pub direct_cpu_s: f64,
    /// CPU seconds per hybrid sweep.
    pub seconds_per_sweep: f64,
    /// The cost of the rescaled ensemble against direct simulation for the same error.
    pub cost: Option<IrgCost>,
}

/// CPU time of a rescaled ensemble against the CPU time direct simulation needs for the
/// same statistical error, for one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgCost {
    /// CPU seconds of the parents and of all their lineages at this μ² (every size up to
    /// the largest, so an upper bound for the smaller sizes).
    pub rescaled_cpu_s: f64,
    /// One entry per observable (`m_abs`, `chi`, `binder`).
    pub observables: Vec<IrgCostEntry>,
}

/// The cost comparison of one observable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgCostEntry {
    /// Observable name.
    pub name: String,
    /// Standard error of the rescaled ensemble.
    pub rescaled_err: f64,
    /// Standard error of the direct run.
    pub direct_err: f64,
    /// CPU seconds of the direct run's measurement sweeps.
    pub direct_cpu_s: f64,
    /// Extrapolated CPU seconds of direct simulation for the rescaled error,
    /// `direct_cpu_s · (direct_err / rescaled_err)²` (errors fall like `1/√sweeps`).
    pub direct_cpu_for_rescaled_err_s: f64,
    /// `direct_cpu_for_rescaled_err_s / rescaled_cpu_s`.
    pub speedup: f64,
}

/// One configuration of a recorded lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgImage {
    /// Linear size.
    pub size: usize,
    /// The field, site `i = y·L + x`.
    pub field: Vec<f32>,
}

/// One point of a direct curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgCurvePoint {
    /// μ².
    pub mu2: f64,
    /// `⟨|m|⟩`.
    pub m_abs: MeanErr,
    /// `χ`.
    pub chi: MeanErr,
    /// `U`.
    pub binder: MeanErr,
}

/// The Binder crossing of two direct sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgCrossing {
    /// The two sizes.
    pub sizes: [usize; 2],
    /// μ² of the crossing.
    pub mu2: MeanErr,
    /// `U` there.
    pub binder: MeanErr,
}

/// The inverse flow of one rescaled size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgFlow {
    /// Inverse steps from the parents.
    pub level: usize,
    /// Linear size.
    pub size: usize,
    /// `(parent μ², μ²′)`: the μ² of direct simulation with the same `U`.
    pub map: Vec<(f64, MeanErr)>,
    /// `dμ²′/dμ²`.
    pub slope: MeanErr,
    /// The fixed point of the map, `μ²* = μ²′(μ²*)`.
    pub fixed_point: MeanErr,
}

/// `ν` from the flow of two consecutive rescaled sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgStep {
    /// The two sizes.
    pub sizes: [usize; 2],
    /// `slope_{k+1} / slope_k = 2^{−1/ν}`.
    pub ratio: MeanErr,
    /// `ν`.
    pub nu: MeanErr,
}

/// `ν` from the slopes of several rescaled sizes at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgFit {
    /// The sizes fitted.
    pub sizes: Vec<usize>,
    /// `ν` from `ln(dμ²′/dμ²)` against the level.
    pub nu: MeanErr,
}

/// What one rescaling pass gave (see `--flow-passes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgPass {
    /// Refinement μ² of every level, per parent μ² (in the order of `--mu2`).
    pub refine_mu2: Vec<Vec<f64>>,
    /// `(size, dμ²′/dμ²)` of every matched level.
    pub slopes: Vec<(usize, MeanErr)>,
    /// `ν` from every pair of consecutive matched levels.
    pub nu: Vec<IrgStep>,
    /// `ν` from the fit over every matched level from each one upwards.
    #[serde(default)]
    pub fits: Vec<IrgFit>,
}

/// The summary exponents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgExponents {
    /// `ν` from the flow fit over the matched sizes from `--fit-from` up, else (no such fit,
    /// or a slope that is not positive) from the two largest consecutive matched sizes;
    /// none without two matched sizes.
    pub nu: Option<MeanErr>,
    /// `γ/ν` from `χ` at the fixed point (or at the only μ²).
    pub gamma_over_nu: MeanErr,
}

/// CPU and wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrgTiming {
    /// CPU seconds of the whole rescaled ensemble: the parents and their lineages (last
    /// pass) at every μ².
    #[serde(default)]
    pub rescaled_ensemble_cpu_s: f64,
    /// CPU seconds of all rescaled configurations (last pass).
    pub rescale_cpu_s: f64,
    /// CPU seconds of the rescaled configurations of every pass (`--flow-passes`).
    #[serde(default)]
    pub all_passes_rescale_cpu_s: f64,
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
    /// Direct simulations at the central μ².
    pub validation: Vec<IrgValidation>,
    /// Binder crossings of consecutive direct sizes.
    pub direct_crossings: Vec<IrgCrossing>,
    /// The finite-size-scaling critical μ²: the crossing of the two largest direct sizes.
    pub direct_critical_mu2: Option<MeanErr>,
    /// The inverse flow of every rescaled size simulated directly.
    pub flow: Vec<IrgFlow>,
    /// `ν` from consecutive rescaled sizes.
    pub flow_steps: Vec<IrgStep>,
    /// `ν` from the fit over every matched size from each one upwards (last pass).
    #[serde(default)]
    pub flow_fits: Vec<IrgFit>,
    /// Every rescaling pass, first to last (the last is the one recorded above).
    #[serde(default)]
    pub passes: Vec<IrgPass>,
    /// The fixed point of the inverse RG: the best-determined fixed point of the flows, else
    /// the best crossing of the rescaled Binder cumulants (two or more μ²).
    pub critical_mu2: Option<MeanErr>,
    /// The exponents.
    pub exponents: IrgExponents,
    /// Timing.
    pub timing: IrgTiming,
    /// The lineage of the first parent at the central μ² (with `--images`), smallest first.
    pub images: Vec<IrgImage>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// The resolved settings.
    pub config: IrgConfig,
    /// Where the result comes from.
    pub provenance: Provenance,
}

records::record!(IrgRecord, "irg", schema 3);

fn step_record(s: &inverse_rg::StepExponent) -> IrgStep {
    IrgStep {
        sizes: s.sizes,
        ratio: me(s.ratio),
        nu: me(s.nu),
    }
}

fn fit_record(f: &inverse_rg::LevelFit) -> IrgFit {
    IrgFit {
        sizes: f.sizes.clone(),
        nu: me(f.nu),
    }
}

fn one_pass() -> usize {
    1
}

fn me(e: Estimate) -> MeanErr {
    MeanErr {
        mean: e.mean,
        err: e.err,
    }
}

/// The number of inverse steps: `--steps`, or the k with `--max-lattice = L₀·2^k`.
fn resolved_steps(args: &IrgArgs) -> Result<usize> {
    let Some(max) = args.max_lattice else {
        return Ok(args.steps);
    };
    match (1..=12).find(|&k| args.lattice << k == max) {
        Some(k) => Ok(k),
        None => {
            // The nearest valid size at or below the one given (at least one step).
            let below = (1..=12)
                .map(|k| args.lattice << k)
                .take_while(|&l| l <= max.max(2 * args.lattice))
                .last()
                .unwrap_or(2 * args.lattice);
            bail!(
                "--max-lattice {max} is not --base-lattice {} times 2, 4, 8, …; give e.g. --max-lattice {below}",
                args.lattice
            )
        }
    }
}

fn check(args: &IrgArgs) -> Result<(Homogeneous, Refinement, LocalUpdate)> {
    if args.lattice < 8 || !args.lattice.is_multiple_of(2) {
        bail!(
            "--lattice {} cannot be blocked with b = 2; give an even size of at least 8",
            args.lattice
        );
    }
    let steps = resolved_steps(args)?;
    if steps == 0 {
        bail!("--steps 0 makes no rescaled size; give --steps 1 or more");
    }
    if steps > 12 || args.lattice << steps > MAX_SIZE {
        bail!(
            "--lattice {} with --steps {} exceeds the largest size {MAX_SIZE}; lower --steps or --max-lattice",
            args.lattice,
            steps
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
    if args.flow_passes == 0 || args.flow_passes > 10 {
        bail!("--flow-passes {} must be between 1 and 10", args.flow_passes);
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
    if !args.fixed_point.is_empty() && (args.fixed_point.len() != 2 || args.fixed_point[1] < 0.0) {
        bail!("--fixed-point takes the μ² and its error (≥ 0), e.g. --fixed-point=-0.9512,0.0004");
    }
    let mut seen = Vec::new();
    for &size in &args.validate {
        if size < 8 || !size.is_multiple_of(2) || size > MAX_SIZE {
            bail!("--validate {size} is not a lattice size to simulate; give even sizes from 8 to {MAX_SIZE}");
        }
        if seen.contains(&size) {
            bail!("--validate lists {size} twice; give distinct sizes");
        }
        seen.push(size);
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
    let steps = resolved_steps(args)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --out {}", dir.display()))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")?;
    let lattice = Lattice::new(args.lattice, args.lattice)?;
    let first_fit = (1..=steps)
        .find(|&k| args.lattice << k >= args.fit_from)
        .unwrap_or(steps + 1);
    if first_fit + 1 > steps {
        bail!(
            "--fit-from {} leaves fewer than two rescaled sizes to fit (the largest is {}); lower --fit-from or raise --steps",
            args.fit_from,
            args.lattice << steps
        );
    }
    let fit_levels = first_fit..steps + 1;
    let schedule = Multilevel { ratio: args.multilevel };
    schedule
        .check(args.chains * args.configs, steps)
        .context("--multilevel, --configs and --chains do not fit together")?;
    let centre = {
        let mut sorted = args.mu2.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let centre_index = args
        .mu2
        .iter()
        .position(|&m| m == centre)
        .expect("the centre is in the list");
    let images = std::sync::Mutex::new(Vec::new());
    let mut warnings = Vec::new();
    // The parents and the fitted inverse of every μ².
    let mut bases = Vec::new();
    for (j, &mu2) in args.mu2.iter().enumerate() {
        let target = Homogeneous { mu2, ..base_target };
        let run = ParentRun {
            n_chains: args.chains,
            n_configs: args.configs,
            sweeps_between: args.parent_sweeps,
            n_therm: args.therm,
            seed: args.seed.wrapping_add(2 * j as u64),
        };
        let (parents, inverse) = pool.install(|| -> Result<_> {
            let parents = Parents::simulate(&lattice, target, run)
                .with_context(|| format!("cannot sample the parents at --mu2 {mu2}"))?;
            let conv = parents.fit_inverse(BlockRule::Average { rescale: 1.0 }, args.radius)?;
            let inverse = InverseRg::new(conv, refinement, target)?;
            Ok((parents, inverse))
        })?;
        bases.push((parents, inverse));
    }
    // Direct simulation at the central μ², reweighted on a grid around it.
    let centre_target = Homogeneous {
        mu2: centre,
        ..base_target
    };
    let mut direct = Vec::new();
    for (v, &size) in args.validate.iter().enumerate() {
        let run = ParentRun {
            n_chains: args.chains,
            n_configs: args.direct_configs,
            sweeps_between: 1,
            n_therm: args.therm,
            seed: args.seed.wrapping_add(1000 + v as u64),
        };
        let ensemble = pool
            .install(|| DirectEnsemble::simulate(size, centre_target, run, &direct_grid(size, centre, 20)))
            .with_context(|| format!("cannot simulate {size}² directly"))?;
        direct.push(ensemble);
    }
    // The rescaling passes: the first refines at the parents' μ², each further one at the
    // couplings the previous pass's inverse flow gives every level.
    let bar = progress_bar(
        (args.flow_passes * args.mu2.len() * args.chains * args.configs) as u64,
        "lineages",
    );
    let mut refine: Vec<Vec<f64>> = args.mu2.iter().map(|&mu2| vec![mu2; steps]).collect();
    let mut ensembles: Vec<RescaledEnsemble> = Vec::new();
    let mut flow_result = None;
    let mut passes = Vec::new();
    let mut all_passes_rescale_cpu_s = 0.0;
    for pass in 0..args.flow_passes {
        if pass > 0 {
            let Some(Ok(flow)) = &flow_result else {
                warnings.push(format!(
                    "pass {} of --flow-passes {} skipped: the previous pass gave no inverse flow",
                    pass + 1,
                    args.flow_passes
                ));
                break;
            };
            let flow: &inverse_rg::InverseFlow = flow;
            refine = args.mu2.iter().map(|&mu2| flow.level_mu2(mu2, steps)).collect();
        }
        images.lock().expect("no panics while recording").clear();
        ensembles.clear();
        for (j, (parents, inverse)) in bases.iter().enumerate() {
            let ensemble = pool.install(|| {
                RescaledEnsemble::rescale_multilevel(
                    parents,
                    inverse,
                    &refine[j],
                    schedule,
                    args.seed.wrapping_add(2 * j as u64 + 1),
                    |parent, _, lattice, field| {
                        if args.images && j == centre_index && parent == 0 {
                            let image = IrgImage {
                                size: lattice.lx(),
                                field: field.iter().map(|&x| x as f32).collect(),
                            };
                            images.lock().expect("no panics while recording").push(image);
                        }
                    },
                    |n| bar.inc(n),
                )
            })?;
            all_passes_rescale_cpu_s += ensemble.cpu_seconds();
            ensembles.push(ensemble);
        }
        flow_result = (ensembles.len() >= 2 && !direct.is_empty()).then(|| inverse_flow(&ensembles, &direct));
        let (slopes, nu, fits) = match &flow_result {
            Some(Ok(f)) => (
                f.levels.iter().map(|l| (l.size, me(l.slope))).collect(),
                f.steps.iter().map(step_record).collect(),
                f.fits.iter().map(fit_record).collect(),
            ),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        passes.push(IrgPass {
            refine_mu2: refine.clone(),
            slopes,
            nu,
            fits,
        });
    }
    bar.finish_and_clear();
    let mut points = Vec::new();
    for (j, ensemble) in ensembles.iter().enumerate() {
        let (parents, inverse) = &bases[j];
        let mu2 = args.mu2[j];
        let sizes = ensemble
            .observables()
            .into_iter()
            .map(|o| size_record(o.size, o.m_abs, o.m2, o.chi, o.binder))
            .collect();
        let gamma_over_nu = me(ensemble.exponents(mu2, fit_levels.clone())?.gamma_over_nu);
        points.push(IrgPoint {
            mu2,
            refine_mu2: refine[j].clone(),
            sizes,
            gamma_over_nu,
            kernel: inverse.conv().weights().to_vec(),
            metropolis_step: inverse.metropolis_step(),
            parents_cpu_s: parents.cpu_seconds,
            rescale_cpu_s: ensemble.cpu_seconds(),
            lineages: ensemble.lineages.clone(),
            level_cpu_s: ensemble.level_cpu_seconds.clone(),
        });
    }
    let mut images = images.into_inner().expect("no panics while recording");
    images.sort_by_key(|i| i.size);
    let sigma = |a: Estimate, b: Estimate| (a.mean - b.mean) / (a.err * a.err + b.err * b.err).sqrt();
    let centre_observables = ensembles[centre_index].observables();
    let validation: Vec<IrgValidation> = direct
        .iter()
        .map(|d| {
            let [m_abs, chi, binder] = d.at_sampled();
            let rescaled = centre_observables.iter().find(|o| o.size == d.size);
            let nan = Estimate {
                mean: f64::NAN,
                err: f64::NAN,
            };
            IrgValidation {
                size: d.size,
                mu2: centre,
                direct: size_record(d.size, m_abs, nan, chi, binder),
                rescaled: rescaled.map(|r| size_record(r.size, r.m_abs, r.m2, r.chi, r.binder)),
                deviations_sigma: rescaled.map(|r| [sigma(r.m_abs, m_abs), sigma(r.chi, chi), sigma(r.binder, binder)]),
                curve: d
                    .curve()
                    .into_iter()
                    .map(|(mu2, [m_abs, chi, binder])| IrgCurvePoint {
                        mu2,
                        m_abs: me(m_abs),
                        chi: me(chi),
                        binder: me(binder),
                    })
                    .collect(),
                tau_int_m2: d.tau_int_m2 * d.sweeps_between as f64,
                n_measurements: d.n_measurements,
                direct_cpu_s: d.cpu_seconds,
                seconds_per_sweep: d.seconds_per_sweep,
                cost: rescaled.map(|r| {
                    let rescaled_cpu_s = points[centre_index].rescale_cpu_s + points[centre_index].parents_cpu_s;
                    let measured_cpu = d.seconds_per_sweep * (d.n_measurements as u64 * d.sweeps_between) as f64;
                    let observables = [
                        ("m_abs", r.m_abs, m_abs),
                        ("chi", r.chi, chi),
                        ("binder", r.binder, binder),
                    ]
                    .into_iter()
                    .map(|(name, r, d)| {
                        let needed = measured_cpu * (d.err / r.err).powi(2);
                        IrgCostEntry {
                            name: name.to_owned(),
                            rescaled_err: r.err,
                            direct_err: d.err,
                            direct_cpu_s: measured_cpu,
                            direct_cpu_for_rescaled_err_s: needed,
                            speedup: needed / rescaled_cpu_s,
                        }
                    })
                    .collect();
                    IrgCost {
                        rescaled_cpu_s,
                        observables,
                    }
                }),
            }
        })
        .collect();
    let crossings = binder_crossings(&direct);
    let direct_critical = crossings.last().map(|c| c.mu2).filter(|e| e.mean.is_finite());
    let (flow, flow_steps, flow_fits) = match flow_result {
        Some(Ok(f)) => (f.levels, f.steps, f.fits),
        Some(Err(e)) => {
            warnings.push(format!("no inverse flow: {e}"));
            (Vec::new(), Vec::new(), Vec::new())
        }
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    // ν: the fit over the matched sizes from --fit-from up, else (no such fit, or a slope
    // that is not positive) the largest step.
    let nu = flow_fits
        .iter()
        .find(|f| f.sizes[0] >= args.fit_from)
        .map(|f| f.nu)
        .filter(|nu| nu.mean.is_finite())
        .or_else(|| flow_steps.last().map(|s| s.nu));
    // The fixed point of the inverse RG: the best-determined fixed point of the flows.
    let flow_fixed_point = flow
        .iter()
        .map(|f| f.fixed_point)
        .filter(|e| e.mean.is_finite() && e.err.is_finite())
        .min_by(|a, b| a.err.total_cmp(&b.err));
    let given = (args.fixed_point.len() == 2).then(|| Estimate {
        mean: args.fixed_point[0],
        err: args.fixed_point[1],
    });
    let scaling = if ensembles.len() >= 2 {
        let s = scaling(
            &ensembles,
            fit_levels.clone(),
            given.or(direct_critical).or(flow_fixed_point),
        )?;
        let all = |v: &[Estimate]| v.iter().copied().map(me).collect::<Vec<_>>();
        Some(IrgScaling {
            sizes: s.sizes.clone(),
            crossings: all(&s.crossings),
            critical_mu2: me(s.critical_mu2),
            fixed_pair: [s.sizes[s.fixed_pair], s.sizes[s.fixed_pair + 1]],
            binder_at_fixed_point: all(&s.binder_at_fixed_point),
            chi_at_fixed_point: all(&s.chi_at_fixed_point),
            v_m2_at_fixed_point: all(&s.v_m2_at_fixed_point),
            m_abs_at_fixed_point: all(&s.m_abs_at_fixed_point),
            beta_over_nu: me(s.beta_over_nu),
            binder_slopes: all(&s.binder_slopes),
            gamma_over_nu: me(s.gamma_over_nu),
            gamma_over_nu_from_m2: me(s.gamma_over_nu_from_m2),
            nu_from_binder_slopes: me(s.nu_from_binder_slopes),
        })
    } else {
        None
    };
    let exponents = IrgExponents {
        nu: nu.map(me),
        gamma_over_nu: scaling
            .as_ref()
            .map_or(points[centre_index].gamma_over_nu, |s| s.gamma_over_nu),
    };
    let critical_mu2 = flow_fixed_point
        .map(me)
        .or_else(|| scaling.as_ref().map(|s| s.critical_mu2));
    let record = IrgRecord {
        schema: IrgRecord::SCHEMA,
        critical_mu2,
        direct_crossings: crossings
            .iter()
            .map(|c| IrgCrossing {
                sizes: c.sizes,
                mu2: me(c.mu2),
                binder: me(c.binder),
            })
            .collect(),
        direct_critical_mu2: direct_critical.map(me),
        flow: flow
            .iter()
            .map(|f| IrgFlow {
                level: f.level,
                size: f.size,
                map: f.map.iter().map(|&(x, y)| (x, me(y))).collect(),
                slope: me(f.slope),
                fixed_point: me(f.fixed_point),
            })
            .collect(),
        flow_steps: flow_steps.iter().map(step_record).collect(),
        flow_fits: flow_fits.iter().map(fit_record).collect(),
        passes,
        timing: IrgTiming {
            rescaled_ensemble_cpu_s: points.iter().map(|p| p.rescale_cpu_s + p.parents_cpu_s).sum(),
            rescale_cpu_s: points.iter().map(|p| p.rescale_cpu_s).sum(),
            all_passes_rescale_cpu_s,
            parents_cpu_s: points.iter().map(|p| p.parents_cpu_s).sum(),
            direct_cpu_s: validation.iter().map(|v| v.direct_cpu_s).sum(),
            wall_s: start.elapsed().as_secs_f64(),
        },
        points,
        scaling,
        validation,
        exponents,
        images,
        warnings,
        config: IrgConfig {
            lattice: args.lattice,
            steps,
            max_lattice: args.lattice << steps,
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
            flow_passes: args.flow_passes,
            multilevel: args.multilevel,
            images: args.images,
            fixed_point: args.fixed_point.clone(),
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
        println!(
            "  {:>6} {:>22} {:>22} {:>22} {:>9} {:>9}",
            "L", "<|m|>", "chi", "U", "lineages", "CPU s"
        );
        for (k, s) in p.sizes.iter().enumerate() {
            println!(
                "  {:>6} {:>22} {:>22} {:>22} {:>9} {:>9}",
                s.size,
                pm(&s.m_abs),
                pm(&s.chi),
                pm(&s.binder),
                p.lineages.get(k).map_or_else(String::new, usize::to_string),
                p.level_cpu_s.get(k).map_or_else(String::new, |t| format!("{t:.2}"))
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
        print!(
            "L = {} at mu2 = {}: direct <|m|> {} chi {} U {} (tau_int {:.1} sweeps)",
            v.size,
            v.mu2,
            pm(&v.direct.m_abs),
            pm(&v.direct.chi),
            pm(&v.direct.binder),
            v.tau_int_m2
        );
        match v.deviations_sigma {
            Some(d) => println!("; rescaled deviates {:.1}σ {:.1}σ {:.1}σ", d[0], d[1], d[2]),
            None => println!(),
        }
        if let Some(c) = &v.cost {
            for o in &c.observables {
                println!(
                    "  {}: direct needs {:.0} s CPU for the rescaled error {:.3e} (rescaled {:.1} s): {:.0}x",
                    o.name, o.direct_cpu_for_rescaled_err_s, o.rescaled_err, c.rescaled_cpu_s, o.speedup
                );
            }
        }
    }
    for c in &r.direct_crossings {
        println!(
            "direct Binder crossing {}/{}: mu2 = {}",
            c.sizes[0],
            c.sizes[1],
            pm(&c.mu2)
        );
    }
    for f in &r.flow {
        println!(
            "inverse flow of {}: dmu2'/dmu2 = {}, fixed point mu2 = {}",
            f.size,
            pm(&f.slope),
            pm(&f.fixed_point)
        );
    }
    for s in &r.flow_steps {
        println!(
            "flow {} -> {}: ratio {} (2^(-1/nu)), nu = {}",
            s.sizes[0],
            s.sizes[1],
            pm(&s.ratio),
            pm(&s.nu)
        );
    }
    for f in &r.flow_fits {
        println!("flow fit over {:?}: nu = {}", f.sizes, pm(&f.nu));
    }
    if let Some(c) = &r.critical_mu2 {
        println!("fixed point of the inverse RG: mu2 = {}", pm(c));
    }
    println!("2D Ising: nu = 1, gamma/nu = 1.75");
}
