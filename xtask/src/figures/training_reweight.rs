//! The trained model at work: the talk's three reweighting steps from a model trained
//! against `A₄(g′ = 1)` (correction to `A₄`, extrapolation along g′, the complex `A₅`), each
//! against an independent answer, and the overlap of model and target before and after
//! training.

use std::path::Path;

use anyhow::{Context, Result};
use records::{ReweightPoint, ReweightRecord, SampleRecord};

use super::reweighting::{only_point, reweighted, sampled};
use super::training::{ActionDiff, TARGET_A_TEXT, TrainView, train_with};
use super::{sample_args, with_flags};
use crate::figure::FigureCtx;
use crate::plot::{LinePlot, Panels, Point, Series, SeriesStyle, color};
use crate::qftml::TALK_FLAGS;
use crate::report::{Check, Table, Tolerance, fmt_measured};

/// Tolerance of the statistical checks, in combined standard errors.
const K_SIGMA: f64 = 4.0;

/// The talk's point `(κ, μ², λ)` of `A`, and its flags for `qftml reweight`.
const TALK: (f64, f64, f64) = (1.0, -0.9515, 0.7);

/// The imaginary mass `c` of `A₅ = A₄ + i c Σφ²` in the talk.
const IMAG_MASS: f64 = 0.15;

/// Observables compared at each step: name in the records and label.
const OBSERVABLES: [(&str, &str); 4] = [
    ("phi2", "⟨φ²⟩"),
    ("m_abs", "⟨|m|⟩"),
    ("nn", "nn"),
    ("action_density", "action density"),
];

fn utf8(path: &Path) -> Result<String> {
    path.to_str().map(str::to_owned).context("data directory is not UTF-8")
}

/// `measured ± err` against a reference with its own error (a direct simulation), within
/// [`K_SIGMA`] combined standard errors.
fn against(
    quantity: String,
    (measured, err): (f64, f64),
    (reference, reference_err): (f64, f64),
    source: &str,
) -> Check {
    Check::sigma(quantity, measured, err, reference, K_SIGMA, source).with_reference_err(reference_err)
}

/// Why a point is flagged, in short (empty when it is not).
fn flag_text(p: &ReweightPoint) -> String {
    if p.flagged { p.flags.join(", ") } else { String::new() }
}

/// `training-reweight`: train against `A₄(g′ = 1)`, sample the trained model and reweight
/// it to `A₄`, along g′ and to `A₅`, against direct simulations.
pub fn reweight_steps(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.fixed("lattice", 8u64);
    let epochs = fig.param("epochs", 1000u64, 2000u64);
    let model_sweeps = fig.param("model_sweeps", 10_000u64, 100_000u64);
    let direct_sweeps = fig.param("direct_sweeps", 5_000u64, 50_000u64);
    let seed = fig.seed("seed", 31);
    fig.fixed(
        "target",
        "A4(g' = 1) = A - Σ_⟨⟨ij⟩⟩ φ_iφ_j at kappa = 1, mu2 = -0.9515, lambda = 0.7; A5 = A4 + 0.15 i Σφ²",
    );
    fig.fixed(
        "model",
        "nearest-neighbour couplings w_ij, a_i, b_i, trained with the qftml defaults",
    );
    let data = fig.data_dir()?;
    let (ens_dir, direct_dir) = (utf8(&data.join("model-ensemble"))?, utf8(&data.join("direct-g1"))?);
    let bound = ["--bound-samples", "100", "--bound-nodes", "8"];
    let (run, model) = train_and_sample(
        fig,
        (l, 1.0, epochs, seed),
        &bound,
        &data.join("trained"),
        &ens_dir,
        model_sweeps,
    )?;
    fig.progress(format!(
        "trained {epochs} epochs, KL(p‖q) = {}; model sampled",
        fmt_measured(run.free_energy.gap.mean, Some(run.free_energy.gap.err))
    ));

    // Direct simulations of A₄(g′) around g′ = 1 (the one at g′ = 1 stored for step (c)).
    let direct = direct_simulations(
        fig,
        l,
        &[0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1],
        (direct_sweeps, seed + 10),
        Some(&direct_dir),
    )?;
    let direct_at_1 = &direct[3].1;

    correction(fig, &ens_dir, &model, direct_at_1)?;
    let direct_refs: Vec<(f64, &SampleRecord)> = direct.iter().map(|(g, r)| (*g, r)).collect();
    let g_scan = GScan {
        step: "(b)",
        trained_against: "A₄(g′ = 1)",
        ensemble: &ens_dir,
        range: (0.8, 1.2, 41),
        file: "gnnn",
    };
    along_g_nnn(fig, &g_scan, &model, &direct_refs)?;
    complex(fig, &ens_dir, &direct_dir)?;

    // The same scan from a model trained against A (g′ = 0), from g′ = 0 to 1.
    let a_ens = utf8(&data.join("model-a-ensemble"))?;
    let bound = ["--bound-samples", "50", "--bound-nodes", "4"];
    let (_, model_a) = train_and_sample(
        fig,
        (l, 0.0, epochs, seed + 2),
        &bound,
        &data.join("trained-a"),
        &a_ens,
        model_sweeps,
    )?;
    let direct_a = direct_simulations(fig, l, &[0.0, 0.5], (direct_sweeps, seed + 20), None)?;
    let mut direct_refs: Vec<(f64, &SampleRecord)> = direct_a.iter().map(|(g, r)| (*g, r)).collect();
    direct_refs.push((1.0, direct_at_1));
    let g_scan = GScan {
        step: "(b′)",
        trained_against: "A",
        ensemble: &a_ens,
        range: (0.0, 1.0, 21),
        file: "from-a",
    };
    along_g_nnn(fig, &g_scan, &model_a, &direct_refs)?;
    fig.note(format!(
        "Steps (a), (b) and (c) start from a model trained against A₄(g′ = 1): the correction step makes the trained \
         action equal to the target it was trained against. (b′) shows why: from a model trained against A, every \
         g′ beyond the first few hundredths lies far in the tail of the weights. The model has nearest-neighbour \
         couplings only, so it cannot represent A₄: after {epochs} epochs \
         KL(p‖q) = {} remains. The reweighting supplies the diagonal pairs exactly; its trust is judged per point \
         (Pareto k̂ of the weights, Kish ESS and, for A₅, the average phase). The ensemble of the model has {} \
         configurations (heat bath); the direct simulations use the default hybrid schedule.",
        fmt_measured(run.free_energy.gap.mean, Some(run.free_energy.gap.err)),
        model.n_configs
    ));
    Ok(())
}

/// Trains against `A₄(g′)` at the talk's point (`(l, g′, epochs, seed)`, the bound with
/// `bound` flags) into `run_dir`, and samples the trained couplings by heat bath into
/// `ensemble` (`sweeps` sweeps, seed `seed + 1`).
fn train_and_sample(
    fig: &mut FigureCtx<'_>,
    (l, g_nnn, epochs, seed): (u64, f64, u64, u64),
    bound: &[&str],
    run_dir: &Path,
    ensemble: &str,
    sweeps: u64,
) -> Result<(TrainView, SampleRecord)> {
    let run_dir = utf8(run_dir)?;
    let mut extra = bound.to_vec();
    extra.extend(["--out", &run_dir]);
    let run = train_with(fig, l, g_nnn, epochs, seed, &extra)?;
    let (couplings, ss, seeds) = (
        format!("{run_dir}/couplings.json"),
        sweeps.to_string(),
        (seed + 1).to_string(),
    );
    let model = fig.qftml(&[
        "sample",
        "--couplings",
        &couplings,
        "--sweeps",
        &ss,
        "--seed",
        &seeds,
        "--algorithm",
        "heatbath",
        "--out",
        ensemble,
    ])?;
    Ok((run, model))
}

/// Direct simulations of `A₄(g′)` at each of `g_nnn` (`sweeps` sweeps, seeds from
/// `first_seed` on); the one at g′ = 1 stored in `store_g1` when given.
fn direct_simulations(
    fig: &mut FigureCtx<'_>,
    l: u64,
    g_nnn: &[f64],
    (sweeps, first_seed): (u64, u64),
    store_g1: Option<&str>,
) -> Result<Vec<(f64, SampleRecord)>> {
    let mut direct = Vec::new();
    for (n, &g) in g_nnn.iter().enumerate() {
        let gs = g.to_string();
        let mut flags = vec![("--g-nnn", gs.as_str())];
        if let (1.0, Some(dir)) = (g, store_g1) {
            flags.push(("--out", dir));
        }
        let args = with_flags(sample_args(l, TALK, sweeps, first_seed + n as u64), &flags);
        direct.push((g, fig.qftml::<SampleRecord>(&args)?));
    }
    Ok(direct)
}

/// Step (a): the model reweighted to `A₄(g′ = 1)` against the direct simulation.
fn correction(fig: &mut FigureCtx<'_>, ens: &str, model: &SampleRecord, direct: &SampleRecord) -> Result<()> {
    let mut args = vec!["reweight", "--ensemble", ens];
    args.extend(TALK_FLAGS);
    args.extend(["--g-nnn", "1"]);
    let p = only_point(fig.qftml(&args)?)?;
    let mut table = Table::new([
        "observable",
        "trained model S itself",
        "reweighted to A₄",
        "direct simulation of A₄",
        "(reweighted − direct)/σ",
    ]);
    for (name, label) in OBSERVABLES {
        let (mm, me) = sampled(model, name)?;
        let (dm, de) = sampled(direct, name)?;
        let e = reweighted(&p, name)?;
        let (rm, re) = (e.re(), e.err_re());
        table.row([
            label.to_owned(),
            fmt_measured(mm, Some(me)),
            fmt_measured(rm, Some(re)),
            fmt_measured(dm, Some(de)),
            format!("{:+.2}", (rm - dm) / re.hypot(de)),
        ]);
        if !p.flagged {
            fig.check(against(
                format!("(a) correction: {label} reweighted from the model to A₄(g′ = 1)"),
                (rm, re),
                (dm, de),
                "direct simulation",
            ));
        }
    }
    fig.table(
        format!(
            "(a) The correction step: the trained model reweighted to A₄(g′ = 1) (ESS {:.0} of {}, k̂ = {:.2}, limit \
             {:.2}{})",
            p.ess,
            model.n_configs,
            p.k_hat,
            p.k_hat_threshold,
            if p.flagged {
                format!("; FLAGGED: {}", p.reason.as_deref().unwrap_or(""))
            } else {
                String::new()
            }
        ),
        table,
    );
    Ok(())
}

/// A scan along g′ from one trained model.
struct GScan<'a> {
    /// `(b)` for the model of `A₄`, `(b′)` for the model of `A`.
    step: &'a str,
    /// What the model was trained against.
    trained_against: &'a str,
    /// Its ensemble directory.
    ensemble: &'a str,
    /// `FROM:TO:N` of the scan.
    range: (f64, f64, usize),
    /// Suffix of the plot file.
    file: &'a str,
}

/// A scan along g′ against the direct simulations; flagged points drawn apart.
fn along_g_nnn(
    fig: &mut FigureCtx<'_>,
    g_scan: &GScan<'_>,
    model: &SampleRecord,
    direct: &[(f64, &SampleRecord)],
) -> Result<()> {
    let GScan {
        step,
        trained_against,
        ensemble,
        range: (from, to, n),
        file,
    } = *g_scan;
    let spec = format!("g-nnn={from}:{to}:{n}");
    let mut args = vec!["reweight", "--ensemble", ensemble];
    args.extend(TALK_FLAGS);
    args.extend(["--scan", &spec]);
    let scan: ReweightRecord = fig.qftml(&args)?;
    let (mut trusted, mut flagged, mut k_hat) = (Vec::new(), Vec::new(), Vec::new());
    for p in &scan.points {
        let g = p.target.g_nnn;
        if p.k_hat.is_finite() {
            k_hat.push(Point::new(g, p.k_hat));
        }
        let Some(e) = p.observables.as_ref().and_then(|o| o.get("phi2")) else {
            continue;
        };
        let point = Point::with_err(g, e.re(), e.err_re());
        if p.flagged { &mut flagged } else { &mut trusted }.push(point);
    }
    let mut table = Table::new([
        "g′",
        "⟨φ²⟩ reweighted",
        "⟨φ²⟩ direct",
        "nn reweighted",
        "nn direct",
        "ESS",
        "k̂",
        "flagged",
    ]);
    let mut direct_points = Vec::new();
    for (g, rec) in direct {
        let (dm, de) = sampled(rec, "phi2")?;
        direct_points.push(Point::with_err(*g, dm, de));
        let p = scan
            .points
            .iter()
            .find(|p| (p.target.g_nnn - g).abs() < 1e-9)
            .with_context(|| format!("the scan has no point at g′ = {g}"))?;
        let mut cells = vec![format!("{g}")];
        for (name, label) in [("phi2", "⟨φ²⟩"), ("nn", "nn")] {
            let e = reweighted(p, name)?;
            let (dm, de) = sampled(rec, name)?;
            cells.push(fmt_measured(e.re(), Some(e.err_re())));
            cells.push(fmt_measured(dm, Some(de)));
            if !p.flagged {
                fig.check(against(
                    format!("{step} along g′: {label} at g′ = {g}, reweighted from the model of {trained_against}"),
                    (e.re(), e.err_re()),
                    (dm, de),
                    "direct simulation",
                ));
            }
        }
        cells.extend([format!("{:.0}", p.ess), format!("{:.2}", p.k_hat), flag_text(p)]);
        table.row(cells);
    }
    let n_flagged = scan.points.iter().filter(|p| p.flagged).count();
    fig.table(
        format!(
            "{step} Along g′: reweighted from the model trained against {trained_against}, against direct \
             simulations of A₄(g′) (flagged points are not checked)"
        ),
        table,
    );
    let (mm, _) = sampled(model, "phi2")?;
    let threshold = scan.points.first().map_or(0.45, |p| p.k_hat_threshold);
    let phi2 = LinePlot::new(
        format!("{step} ⟨φ²⟩ of A₄(g′) from the model of {trained_against} (8×8)"),
        "g′",
        "⟨φ²⟩",
    )
    .series(Series::new("reweighted", trusted, SeriesStyle::Points).color(color(0)))
    .series(Series::new("reweighted, flagged (k-hat or ESS)", flagged, SeriesStyle::Points).color(color(3)))
    .series(Series::new("direct simulation", direct_points, SeriesStyle::Points).color(color(2)))
    .ref_line(mm, format!("the model S itself: {mm:.3}"));
    let tail = LinePlot::new("PSIS k-hat of the weights along g′", "g′", "k-hat")
        .series(Series::new("Pareto k-hat", k_hat, SeriesStyle::LinePoints).color(color(0)))
        .ref_line(
            threshold,
            format!("limit {threshold:.2}: above it the point is flagged"),
        );
    fig.plot_named(
        &format!("{}-{file}", fig.name()),
        &Panels(vec![phi2, tail]),
        (1800, 650),
    )?;
    fig.note(format!(
        "{step} From the model of {trained_against}, along g′ ({} points from {from} to {to}) {n_flagged} points are \
         flagged: their weights are heavy-tailed or their effective sample is small. They are drawn in red and not \
         checked.",
        scan.points.len()
    ));
    Ok(())
}

/// Re, Im of `name` at `p`, or NaN when the point has no central value.
fn complex_value(p: &ReweightPoint, name: &str) -> (f64, f64, f64, f64) {
    p.observables
        .as_ref()
        .and_then(|o| o.get(name))
        .map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |e| {
            (e.re(), e.err_re(), e.im(), e.err_im())
        })
}

/// Step (c): `A₅ = A₄ + i c Σφ²` from the model, against the direct simulation of `A₄`
/// reweighted by the phase alone.
fn complex(fig: &mut FigureCtx<'_>, ens: &str, direct: &str) -> Result<()> {
    let cs = IMAG_MASS.to_string();
    let mut from_model = vec!["reweight", "--ensemble", ens];
    from_model.extend(TALK_FLAGS);
    from_model.extend(["--g-nnn", "1"]);
    let from_direct = vec!["reweight", "--ensemble", direct];
    fn at(base: &[&str], extra: [&str; 2]) -> Vec<String> {
        base.iter().copied().chain(extra).map(str::to_owned).collect()
    }
    let m = only_point(fig.qftml(&at(&from_model, ["--imag-mass", &cs]))?)?;
    let d = only_point(fig.qftml(&at(&from_direct, ["--imag-mass", &cs]))?)?;
    let mut table = Table::new([
        "observable",
        "Re, from the model",
        "Re, A₄ direct × phase",
        "Im, from the model",
        "Im, A₄ direct × phase",
    ]);
    for (name, label) in OBSERVABLES {
        let (mr, mre, mi, mie) = complex_value(&m, name);
        let (dr, dre, di, die) = complex_value(&d, name);
        table.row([
            label.to_owned(),
            fmt_measured(mr, Some(mre)),
            fmt_measured(dr, Some(dre)),
            fmt_measured(mi, Some(mie)),
            fmt_measured(di, Some(die)),
        ]);
        if !m.flagged && !d.flagged && name != "m_abs" {
            for (part, (x, xe), (y, ye)) in [("Re", (mr, mre), (dr, dre)), ("Im", (mi, mie), (di, die))] {
                fig.check(against(
                    format!("(c) A₅: {part} {label}, from the model"),
                    (x, xe),
                    (y, ye),
                    "direct simulation of A₄ × phase",
                ));
            }
        }
    }
    let phase = |p: &ReweightPoint| p.avg_phase.as_ref().map_or((f64::NAN, f64::NAN), |ph| (ph.abs, ph.err));
    let ((pm, pme), (pd, pde)) = (phase(&m), phase(&d));
    table.row([
        "|⟨e^{−iθ}⟩|".to_owned(),
        fmt_measured(pm, Some(pme)),
        fmt_measured(pd, Some(pde)),
        "-".into(),
        "-".into(),
    ]);
    if !m.flagged && !d.flagged {
        fig.check(against(
            "(c) A₅: average phase |⟨e^{−i c Σφ²}⟩|, from the model".into(),
            (pm, pme),
            (pd, pde),
            "direct simulation of A₄",
        ));
    }
    fig.table(
        format!(
            "(c) The complex action A₅ = A₄(g′ = 1) + {IMAG_MASS} i Σφ²: from the trained model, and from a direct \
             simulation of A₄ reweighted by the phase alone (⟨|m|⟩ is not checked: the direct hybrid chains tunnel \
             between the two signs of m, the heat-bath chains of the model do not)"
        ),
        table,
    );

    // Re and Im of ⟨φ²⟩ and the average phase against c, from both ensembles.
    let scan = ["--scan", "imag-mass=0:0.3:13"];
    let sm: ReweightRecord = fig.qftml(&at(&from_model, scan))?;
    let sd: ReweightRecord = fig.qftml(&at(&from_direct, scan))?;
    let mut parts = LinePlot::new("(c) ⟨φ²⟩ under A₄ + i c Σφ²", "c", "⟨φ²⟩ − ⟨φ²⟩(c = 0)");
    let mut phase_plot = LinePlot::new("(c) average phase under A₄ + i c Σφ²", "c", "|⟨exp(−i c Σφ²)⟩|").log_y();
    for (k, (source, rec)) in [("from the model", &sm), ("A₄ direct × phase", &sd)]
        .into_iter()
        .enumerate()
    {
        let offset = rec.points.first().map_or(0.0, |p| complex_value(p, "phi2").0);
        let (mut re, mut im, mut ph) = (Vec::new(), Vec::new(), Vec::new());
        for p in &rec.points {
            let c = p.target.imag_mass;
            let (r, rerr, i, ierr) = complex_value(p, "phi2");
            if r.is_finite() {
                re.push(Point::with_err(c, r - offset, rerr));
                im.push(Point::with_err(c, i, ierr));
            }
            if let Some(phase) = &p.avg_phase {
                ph.push(Point::with_err(c, phase.abs, phase.err));
            }
        }
        parts = parts
            .series(Series::new(format!("Re, {source}"), re, SeriesStyle::LinePoints).color(color(2 * k)))
            .series(Series::new(format!("Im, {source}"), im, SeriesStyle::Points).color(color(2 * k + 1)));
        phase_plot = phase_plot.series(Series::new(source, ph, SeriesStyle::LinePoints).color(color(2 * k)));
    }
    fig.plot_named(
        &format!("{}-complex", fig.name()),
        &Panels(vec![parts, phase_plot]),
        (1800, 650),
    )
}

/// `training-overlap`: `A − S` under the model and under a direct simulation of the target
/// `A`, before training (the initial couplings) and after.
pub fn overlap(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.fixed("lattice", 8u64);
    let epochs = fig.param("epochs", 1000u64, 2000u64);
    let samples = fig.param("overlap_samples_per_chain", 200u64, 1000u64);
    let seed = fig.seed("seed", 41);
    fig.fixed("target", TARGET_A_TEXT);
    fig.fixed(
        "sampling",
        "32 heat-bath chains of the model and 32 of the target, 200 thermalisation sweeps, one sweep apart",
    );
    let ss = samples.to_string();
    let run = train_with(
        fig,
        l,
        0.0,
        epochs,
        seed,
        &["--bound-samples", "100", "--bound-nodes", "8", "--overlap-samples", &ss],
    )?;
    let o = run
        .overlap
        .as_ref()
        .context("qftml train variational reported no overlap")?;
    let mut table = Table::new([
        "model",
        "⟨A − S⟩ under p (model)",
        "⟨A − S⟩ under q (target)",
        "overlap coefficient",
        "Kish ESS / N of e^{−(A−S)}",
    ]);
    let mut panels = Vec::new();
    for (stage, d) in [("initial couplings", &o.initial), ("after training", &o.trained)] {
        let fraction = d.ess / d.n_samples as f64;
        table.row([
            stage.to_owned(),
            fmt_measured(d.mean_under_model.mean, Some(d.mean_under_model.err)),
            fmt_measured(d.mean_under_target.mean, Some(d.mean_under_target.err)),
            format!("{:.4}", d.overlap_coefficient),
            format!("{fraction:.4}"),
        ]);
        panels.push(histogram_plot(
            format!("{stage}: overlap {:.3}, ESS/N {fraction:.3}", d.overlap_coefficient),
            d,
        ));
    }
    let t = &o.trained;
    fig.check(Check::within(
        "after training: Kish ESS / N of the weights that reweight p to q",
        t.ess / t.n_samples as f64,
        1.0,
        Tolerance::Abs(0.1),
        "complete overlap (A is in the model family)",
    ));
    fig.check(Check::sigma(
        "after training: ⟨A − S⟩_p − ⟨A − S⟩_q = KL(p‖q) + KL(q‖p)",
        t.mean_under_model.mean - t.mean_under_target.mean,
        t.mean_under_model.err.hypot(t.mean_under_target.err),
        0.0,
        K_SIGMA,
        "exact (p = q)",
    ));
    fig.table(
        format!(
            "A − S under the model p and under a direct simulation of the target q = A ({l}×{l}, {} samples of each, \
             {epochs} epochs)",
            t.n_samples
        ),
        table,
    );
    fig.plot(&Panels(panels), (1800, 650))?;
    fig.note(
        "The histograms are centred on ⟨A − S⟩ under the model. Before training (w = 0: independent sites) the \
         two distributions are far apart and almost no configuration of p carries weight under q; after training \
         A − S is nearly constant, so the weights are nearly equal and p reweights to q at full effective size.",
    );
    Ok(())
}

/// The two histograms of `A − S` as step lines (probability density), centred on the
/// model's mean.
fn histogram_plot(title: String, d: &ActionDiff) -> LinePlot {
    let centre = d.mean_under_model.mean;
    let steps = |probabilities: &[f64]| -> Vec<Point> {
        let mut points = Vec::with_capacity(2 * probabilities.len());
        for (k, p) in probabilities.iter().enumerate() {
            let (lo, hi) = (d.edges[k] - centre, d.edges[k + 1] - centre);
            let density = p / (hi - lo);
            points.push(Point::new(lo, density));
            points.push(Point::new(hi, density));
        }
        points
    };
    LinePlot::new(title, "A − S − ⟨A − S⟩_p", "probability density")
        .series(Series::new("under p (the model)", steps(&d.under_model), SeriesStyle::Line).color(color(0)))
        .series(
            Series::new(
                "under q (direct simulation of A)",
                steps(&d.under_target),
                SeriesStyle::Line,
            )
            .color(color(3)),
        )
}
