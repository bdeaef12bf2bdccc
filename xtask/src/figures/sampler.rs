//! Sampler figures: the free field against its exact eigenvalue results for every
//! algorithm, and τ_int and cost per site update against L at the talk's point.

use anyhow::{Context, Result};
use records::SampleRecord;
use serde_json::Value;

use crate::figure::FigureCtx;
use crate::figures::{sample_args, with_flags};
use crate::plot::{LinePlot, Point, Series, SeriesStyle};
use crate::report::{Check, Table, fmt_measured, fmt_num};

/// The update schedules of `qftml sample --algorithm`.
pub const ALGORITHMS: [&str; 5] = ["metropolis", "heatbath", "cluster", "hybrid", "sw"];

/// Tolerance of the statistical checks, in combined standard errors.
pub const K_SIGMA: f64 = 4.0;

/// The relative deviation from its reference that a statistical check must be able to
/// detect (its resolution): the full run's statistics make `K_SIGMA · σ` no larger.
pub const RESOLUTION: f64 = 0.02;

/// `mean`, `err` and `tau_int` of one Γ-method observable of `qftml sample --json`.
fn observable(v: &SampleRecord, name: &str) -> Result<(f64, f64, f64)> {
    let o = v
        .observables
        .get(name)
        .with_context(|| format!("qftml sample reports no observable {name}"))?;
    Ok((o.mean, o.err, o.tau_int))
}

/// `free-field`: every algorithm against the exact free field on 8×8 (κ = 1, μ² = 1, λ = 0).
pub fn free_field(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.fixed("lattice", 8u64);
    // Full mode: the fewest sweeps at which every check decides at δ = RESOLUTION (the
    // Metropolis ⟨m²⟩ has the largest relative error: 4σ = 4.3e-4 > δ = 3.1e-4 at 200,000).
    let sweeps = fig.param("sweeps", 20_000u64, 400_000u64);
    let seed = fig.seed("seed", 1);
    fig.fixed("couplings", "kappa = 1, mu2 = 1, lambda = 0");
    fig.fixed("tolerance_sigma", K_SIGMA);
    let names = [
        ("phi2", "⟨φ²⟩"),
        ("m2", "⟨m²⟩"),
        ("nn", "⟨φ_xφ_{x+μ}⟩"),
        ("action_density", "⟨S⟩/V"),
    ];
    let mut table = Table::new(["algorithm", "observable", "measured", "exact", "deviation / σ", "τ_int"]);
    let mut deviations: Vec<Series> = Vec::new();
    for (a, algorithm) in ALGORITHMS.into_iter().enumerate() {
        let args = with_flags(
            sample_args(l, (1.0, 1.0, 0.0), sweeps, seed),
            &[("--algorithm", algorithm)],
        );
        let out: SampleRecord = fig.qftml(&args)?;
        let exact = out
            .exact_free_field
            .context("qftml sample reported no exact free-field values")?;
        let mut points = Vec::new();
        for (k, (name, label)) in names.iter().enumerate() {
            let (mean, err, tau) = observable(&out, name)?;
            let truth = exact.get(name).context("no exact value")?;
            table.row([
                algorithm.to_owned(),
                (*label).to_owned(),
                fmt_measured(mean, Some(err)),
                fmt_num(truth),
                format!("{:+.2}", (mean - truth) / err),
                format!("{tau:.2}"),
            ]);
            fig.check(
                Check::sigma(
                    format!("{algorithm}: {label}, 8×8 free field"),
                    mean,
                    err,
                    truth,
                    K_SIGMA,
                    "exact",
                )
                .resolving(RESOLUTION * truth.abs()),
            );
            points.push(Point::new(k as f64 + 0.12 * a as f64 - 0.18, (mean - truth) / err));
        }
        deviations.push(Series::new(algorithm, points, SeriesStyle::Points));
        fig.progress(format!("{algorithm}: done"));
    }
    fig.table(
        "Free field on 8×8 (κ = 1, μ² = 1, λ = 0) against the exact eigenvalue sums",
        table,
    );
    fig.note(
        "x: 0 = ⟨φ²⟩, 1 = ⟨m²⟩, 2 = nearest-neighbour product, 3 = action density. Errors are Γ-method errors \
         (Wolff, S = 1.5) over 2 chains, so they include the autocorrelation.",
    );
    let mut plot = LinePlot::new("Free field: (measured − exact) / σ", "observable", "deviation / σ")
        .x_range(-0.5, 3.5)
        .y_range(-5.0, 5.0)
        .ref_line(K_SIGMA, "+4σ")
        .ref_line(-K_SIGMA, "−4σ");
    for s in deviations {
        plot = plot.series(s);
    }
    fig.plot(&plot, (1100, 650))
}

/// `sampler-scaling`: τ_int(m²) and ns per site update against L for every algorithm at
/// the talk's point κ = 1, μ² = −0.9515, λ = 0.7.
pub fn scaling(fig: &mut FigureCtx<'_>) -> Result<()> {
    let sizes: Vec<u64> = if fig.quick() {
        vec![8, 16, 32, 64]
    } else {
        vec![8, 16, 32, 64, 128, 256]
    };
    fig.fixed("lattices", sizes.iter().map(|l| Value::from(*l)).collect::<Vec<_>>());
    let sweeps = fig.param("sweeps", 4_000u64, 40_000u64);
    let therm = fig.param("therm", 1_000u64, 5_000u64);
    let seed = fig.seed("seed", 2);
    fig.fixed("couplings", "kappa = 1, mu2 = -0.9515, lambda = 0.7 (target A)");
    let mut table = Table::new([
        "algorithm",
        "L",
        "τ_int(m²)",
        "τ_int(|m|)",
        "ns / site update",
        "acceptance",
        "⟨m²⟩",
    ]);
    let mut tau_series = Vec::new();
    let mut cost_series = Vec::new();
    for algorithm in ALGORITHMS {
        let (mut taus, mut costs) = (Vec::new(), Vec::new());
        for &l in &sizes {
            // One chain on one thread measures the single-core cost per site update.
            let args = with_flags(
                sample_args(l, (1.0, -0.9515, 0.7), sweeps, seed),
                &[
                    ("--therm", &therm.to_string()),
                    ("--algorithm", algorithm),
                    ("--chains", "1"),
                    ("--threads", "1"),
                ],
            );
            let out: SampleRecord = fig.qftml(&args)?;
            let (m2, m2_err, tau_m2) = observable(&out, "m2")?;
            let (_, _, tau_mabs) = observable(&out, "m_abs")?;
            let tau_err = out.observables.m2.tau_int_err;
            let cost = out.timing.ns_per_site_update;
            table.row([
                algorithm.to_owned(),
                l.to_string(),
                fmt_measured(tau_m2, Some(tau_err)),
                format!("{tau_mabs:.2}"),
                format!("{cost:.2}"),
                format!("{:.3}", out.acceptance),
                fmt_measured(m2, Some(m2_err)),
            ]);
            taus.push(Point::with_err(l as f64, tau_m2, tau_err));
            costs.push(Point::new(l as f64, cost));
            fig.progress(format!(
                "{algorithm} L = {l}: τ_int(m²) = {tau_m2:.2}, {cost:.2} ns/site"
            ));
        }
        tau_series.push(Series::new(algorithm, taus, SeriesStyle::LinePoints));
        cost_series.push(Series::new(algorithm, costs, SeriesStyle::LinePoints));
    }
    fig.table(
        "τ_int of m² (in sweeps) and single-core cost per site update at the talk's point (one chain, one thread)",
        table,
    );
    fig.note(
        "A sweep is one update of every site (Metropolis, heat bath), or the schedule's unit (cluster: Wolff \
         clusters covering about V sites plus one heat-bath sweep; hybrid: four rounds of a Metropolis sweep and \
         a global-move pass, then one Swendsen–Wang update; sw: one Swendsen–Wang update plus one Metropolis \
         sweep). Cost counts every site visited by a local update or added to a cluster (a hybrid sweep is 5V \
         site updates, an sw sweep 2V).",
    );
    let mut tau_plot = LinePlot::new(
        "Autocorrelation at κ = 1, μ² = −0.9515, λ = 0.7",
        "L",
        "τ_int(m²) [sweeps]",
    )
    .log_x()
    .log_y();
    for s in tau_series {
        tau_plot = tau_plot.series(s);
    }
    fig.plot_named("sampler-scaling-tau", &tau_plot, (1000, 650))?;
    let mut cost_plot = LinePlot::new("Cost per site update (one core)", "L", "ns / site update")
        .log_x()
        .log_y();
    for s in cost_series {
        cost_plot = cost_plot.series(s);
    }
    fig.plot_named("sampler-scaling-cost", &cost_plot, (1000, 650))
}
