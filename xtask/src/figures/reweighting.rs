//! Reweighting figures: reweighted against direct simulation along g′ at the talk's point,
//! and reweighting a free field to the complex action `+ i c Σφ²` against its exact values.

use anyhow::{Context, Result};
use records::{Estimate, ReweightPoint, ReweightRecord, SampleRecord};
use serde_json::Value;

use crate::figure::FigureCtx;
use crate::figures::sampler::{K_SIGMA, RESOLUTION};
use crate::figures::{sample_args, with_flags};
use crate::plot::{LinePlot, Point, Series, SeriesStyle};
use crate::qftml::TALK_FLAGS;
use crate::report::{Check, Table, fmt_measured};

/// The reweighted estimate of observable `name` at point `p`.
pub(super) fn reweighted(p: &ReweightPoint, name: &str) -> Result<Estimate> {
    let observables = p.observables.as_ref().with_context(|| {
        format!(
            "qftml reweight gives no central value at this point: {}",
            p.reason.as_deref().unwrap_or("no reason given")
        )
    })?;
    observables
        .get(name)
        .with_context(|| format!("qftml reweight reports no observable {name}"))
}

/// `(mean, err)` of a Γ-method observable of `qftml sample`.
pub(super) fn sampled(s: &SampleRecord, name: &str) -> Result<(f64, f64)> {
    let o = sampled_observable(s, name)?;
    Ok((o.mean, o.err))
}

fn sampled_observable(s: &SampleRecord, name: &str) -> Result<records::GammaValue> {
    s.observables
        .get(name)
        .with_context(|| format!("qftml sample reports no observable {name}"))
}

/// The single point of a `qftml reweight` run without a scan.
pub(super) fn only_point(r: ReweightRecord) -> Result<ReweightPoint> {
    r.points.into_iter().next().context("qftml reweight printed no point")
}

/// `reweight-gnnn`: one ensemble at g′ = 0 reweighted along g′, against direct simulations.
pub fn along_g_nnn(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.param("lattice", 8u64, 16u64);
    let sweeps = fig.param("sweeps", 20_000u64, 200_000u64);
    let direct_sweeps = fig.param("direct_sweeps", 10_000u64, 100_000u64);
    let g_max = fig.param("g_nnn_max", 0.1, 0.06);
    let seed = fig.seed("seed", 11);
    fig.fixed(
        "couplings",
        "kappa = 1, mu2 = -0.9515, lambda = 0.7 (target A), sampled at g_nnn = 0",
    );
    fig.fixed("algorithm", "hybrid");
    let data = fig.data_dir()?;
    let ens = data.join("ensemble-g0");
    let (ls, ss, ds, seeds) = (
        l.to_string(),
        sweeps.to_string(),
        direct_sweeps.to_string(),
        seed.to_string(),
    );
    let point = TALK_FLAGS;
    let mut args = vec![
        "sample",
        "--lattice",
        &ls,
        "--sweeps",
        &ss,
        "--seed",
        &seeds,
        "--algorithm",
        "hybrid",
    ];
    args.extend(point);
    let ens_str = ens.to_str().context("data directory is not UTF-8")?.to_owned();
    args.extend(["--out", &ens_str]);
    fig.qftml::<SampleRecord>(&args)?;
    fig.output(format!("data/{}/ensemble-g0/ensemble.qfe", fig.name()));
    let scan = format!("g-nnn={}:{}:21", -g_max, g_max);
    let rw: ReweightRecord = fig.qftml(&["reweight", "--ensemble", &ens_str, "--scan", &scan])?;
    let points = &rw.points;

    let observables = [("phi2", "⟨φ²⟩"), ("m2", "⟨m²⟩")];
    let mut rw_series: Vec<Vec<Point>> = vec![Vec::new(); observables.len()];
    let mut n_flagged = 0;
    for p in points {
        if p.flagged {
            n_flagged += 1;
            continue;
        }
        let g = p.target.g_nnn;
        for (k, (name, _)) in observables.iter().enumerate() {
            let e = reweighted(p, name)?;
            rw_series[k].push(Point::with_err(g, e.re(), e.err_re()));
        }
    }

    let direct_values: Vec<f64> = [-1.0, -0.5, 0.5, 1.0].iter().map(|f| f * g_max).collect();
    let mut table = Table::new(["g′", "observable", "reweighted", "direct", "ESS", "flagged"]);
    let mut direct_series: Vec<Vec<Point>> = vec![Vec::new(); observables.len()];
    let mut histogram = None;
    for (n, &g) in direct_values.iter().enumerate() {
        let gs = format!("{g}");
        let dseed = (seed + 1 + n as u64).to_string();
        let mut args = vec![
            "sample",
            "--lattice",
            &ls,
            "--sweeps",
            &ds,
            "--seed",
            &dseed,
            "--algorithm",
            "hybrid",
        ];
        args.extend(point);
        args.extend(["--g-nnn", &gs]);
        let direct: SampleRecord = fig.qftml(&args)?;
        let gt = format!("{g}");
        let one = only_point(fig.qftml(&["reweight", "--ensemble", &ens_str, "--g-nnn", &gt])?)?;
        let flagged = one.flagged;
        if n == 2 {
            histogram = one.overlap.as_ref().map(|o| (g, o.histogram.clone()));
        }
        for (k, (name, label)) in observables.iter().enumerate() {
            let (dm, de) = sampled(&direct, name)?;
            let e = reweighted(&one, name)?;
            let (rm, re) = (e.re(), e.err_re());
            direct_series[k].push(Point::with_err(g, dm, de));
            table.row([
                format!("{g:+.4}"),
                (*label).to_owned(),
                fmt_measured(rm, Some(re)),
                fmt_measured(dm, Some(de)),
                format!("{:.0}", one.ess),
                flagged.to_string(),
            ]);
            if !flagged {
                fig.check(
                    Check::sigma(
                        format!("{label} at g′ = {g:+.4}, reweighted from g′ = 0"),
                        rm,
                        re,
                        dm,
                        K_SIGMA,
                        "direct simulation",
                    )
                    .with_reference_err(de)
                    .resolving(RESOLUTION * dm.abs()),
                );
            }
        }
        fig.progress(format!("g′ = {g:+.4}: direct simulation done"));
    }
    fig.table(
        format!("Reweighted (from one ensemble at g′ = 0) against direct simulation, {l}×{l}"),
        table,
    );
    fig.note(format!(
        "{n_flagged} of {} scan points were flagged for poor overlap and are not drawn. \
         The reweighted curve and the direct points come from independent chains.",
        points.len()
    ));
    for (k, (name, label)) in observables.iter().enumerate() {
        let plot = LinePlot::new(
            format!("{label} along g′ at κ = 1, μ² = −0.9515, λ = 0.7 ({l}×{l})"),
            "g′",
            *label,
        )
        .series(Series::new(
            "reweighted from g′ = 0",
            rw_series[k].clone(),
            SeriesStyle::LinePoints,
        ))
        .series(Series::new(
            "direct simulation",
            direct_series[k].clone(),
            SeriesStyle::Points,
        ));
        fig.plot_named(&format!("{}-{name}", fig.name()), &plot, (1000, 650))?;
    }
    if let Some((g, h)) = histogram {
        let centre = |k: usize| 0.5 * (h.edges[k] + h.edges[k + 1]);
        let series =
            |v: &[f64]| -> Vec<Point> { v.iter().enumerate().map(|(k, y)| Point::new(centre(k), *y)).collect() };
        let plot = LinePlot::new(
            format!("Overlap: distribution of T − S for g′ = {g:+.3}"),
            "T − S",
            "fraction",
        )
        .series(Series::new(
            "under S (sampled, g′ = 0)",
            series(&h.under_sampled),
            SeriesStyle::LinePoints,
        ))
        .series(Series::new(
            "under T (reweighted)",
            series(&h.under_target),
            SeriesStyle::LinePoints,
        ));
        fig.plot_named(&format!("{}-overlap", fig.name()), &plot, (1000, 650))?;
    }
    Ok(())
}

/// Exact free-field eigenvalues on `l × l` with κ = 1: `(re, im)` of
/// `μ² + 2Σ(1 − cos k) + 2ic` (DESIGN.md section 4).
fn eigenvalues(l: usize, mu2: f64, c: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(l * l);
    for nx in 0..l {
        for ny in 0..l {
            let k = |n: usize| (2.0 * std::f64::consts::PI * n as f64 / l as f64).cos();
            out.push((mu2 + 2.0 * (2.0 - k(nx) - k(ny)), 2.0 * c));
        }
    }
    out
}

/// Exact `⟨φ²⟩ = (1/V) Σ_k 1/λ_k` as `(re, im)`.
pub fn exact_phi2(l: usize, mu2: f64, c: f64) -> (f64, f64) {
    let ev = eigenvalues(l, mu2, c);
    let v = ev.len() as f64;
    ev.iter().fold((0.0, 0.0), |(re, im), (a, b)| {
        let d = a * a + b * b;
        (re + a / d / v, im - b / d / v)
    })
}

/// Exact `|Z_T / Z_{Re T}| = Π_k |λ_k / (λ_k + 2ic)|^{1/2}`.
pub fn exact_phase_abs(l: usize, mu2: f64, c: f64) -> f64 {
    eigenvalues(l, mu2, 0.0)
        .iter()
        .map(|(a, _)| -0.25 * (1.0 + 4.0 * c * c / (a * a)).ln())
        .sum::<f64>()
        .exp()
}

/// `reweight-complex`: a free field reweighted to `+ i c Σφ²`: Re/Im ⟨φ²⟩ against c, and the
/// average phase against the volume, with the exact values.
pub fn complex(fig: &mut FigureCtx<'_>) -> Result<()> {
    let mu2 = fig.fixed("mu2", 1.0);
    let c_talk = fig.fixed("imag_mass_of_the_talk", 0.15);
    let sweeps = fig.param("sweeps", 20_000u64, 200_000u64);
    let sizes: Vec<u64> = if fig.quick() {
        vec![4, 6, 8, 12]
    } else {
        vec![4, 6, 8, 12, 16, 24]
    };
    fig.fixed("lattices", sizes.iter().map(|l| Value::from(*l)).collect::<Vec<_>>());
    let seed = fig.seed("seed", 21);
    fig.fixed(
        "couplings",
        "free field kappa = 1, lambda = 0, sampled by heat bath at c = 0",
    );
    let data = fig.data_dir()?;
    let mut phase_points = Vec::new();
    let mut phase_exact = Vec::new();
    let mut table = Table::new([
        "L",
        "c",
        "Re ⟨φ²⟩",
        "exact Re",
        "Im ⟨φ²⟩",
        "exact Im",
        "|⟨e^{−iθ}⟩|",
        "exact",
    ]);
    let (mut re_pts, mut im_pts, mut re_exact, mut im_exact) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (n, &l) in sizes.iter().enumerate() {
        let ens = data.join(format!("free-{l}"));
        let ens_str = ens.to_str().context("data directory is not UTF-8")?.to_owned();
        fig.qftml::<SampleRecord>(&with_flags(
            sample_args(l, (1.0, mu2, 0.0), sweeps, seed + n as u64),
            &[("--algorithm", "heatbath"), ("--out", &ens_str)],
        ))?;
        let cs = c_talk.to_string();
        let p = only_point(fig.qftml(&["reweight", "--ensemble", &ens_str, "--imag-mass", &cs])?)?;
        let phase = p.avg_phase.context("qftml reweight reported no average phase")?;
        let (abs, abs_err) = (phase.abs, phase.err);
        let exact_abs = exact_phase_abs(l as usize, mu2, c_talk);
        phase_points.push(Point::with_err((l * l) as f64, abs, abs_err));
        phase_exact.push(Point::new((l * l) as f64, exact_abs));
        // A point whose phase is consistent with zero has no central value (NaN in the table).
        let (re, im, err_re, err_im) = p
            .observables
            .as_ref()
            .map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |o| {
                let o = o.phi2;
                (o.re(), o.im(), o.err_re(), o.err_im())
            });
        let (ex_re, ex_im) = exact_phi2(l as usize, mu2, c_talk);
        table.row([
            l.to_string(),
            c_talk.to_string(),
            fmt_measured(re, Some(err_re)),
            format!("{ex_re:.6}"),
            fmt_measured(im, Some(err_im)),
            format!("{ex_im:.6}"),
            fmt_measured(abs, Some(abs_err)),
            format!("{exact_abs:.6}"),
        ]);
        if !p.flagged {
            // Both parts are resolved relative to the size of ⟨φ²⟩, the phase absolutely.
            let scale = ex_re.hypot(ex_im);
            fig.check(
                Check::sigma(
                    format!("Re ⟨φ²⟩, {l}×{l}, c = {c_talk}"),
                    re,
                    err_re,
                    ex_re,
                    K_SIGMA,
                    "exact",
                )
                .resolving(RESOLUTION * scale),
            );
            fig.check(
                Check::sigma(
                    format!("Im ⟨φ²⟩, {l}×{l}, c = {c_talk}"),
                    im,
                    err_im,
                    ex_im,
                    K_SIGMA,
                    "exact",
                )
                .resolving(RESOLUTION * scale),
            );
            fig.check(
                Check::sigma(
                    format!("|average phase|, {l}×{l}, c = {c_talk}"),
                    abs,
                    abs_err,
                    exact_abs,
                    K_SIGMA,
                    "exact",
                )
                .resolving(RESOLUTION),
            );
        }
        if l == 8 {
            let scan: ReweightRecord =
                fig.qftml(&["reweight", "--ensemble", &ens_str, "--scan", "imag-mass=0:0.3:13"])?;
            for q in &scan.points {
                let c = q.target.imag_mass;
                let (ex_re, ex_im) = exact_phi2(8, mu2, c);
                re_exact.push(Point::new(c, ex_re));
                im_exact.push(Point::new(c, ex_im));
                if q.flagged {
                    continue;
                }
                let o = reweighted(q, "phi2")?;
                // At c = 0 the target is real: its estimate has no imaginary part.
                re_pts.push(Point::with_err(c, o.re(), o.err_re()));
                im_pts.push(Point::with_err(c, o.im(), o.err_im()));
            }
        }
        fig.progress(format!(
            "L = {l}: |phase| = {abs:.4} ± {abs_err:.1e} (exact {exact_abs:.4})"
        ));
    }
    fig.table(
        format!("Free field reweighted to the imaginary mass c = {c_talk} (κ = 1, μ² = {mu2})"),
        table,
    );
    let phase_plot = LinePlot::new(format!("Average phase at c = {c_talk}"), "V", "|⟨exp(−i c Σφ²)⟩|")
        .log_x()
        .log_y()
        .y_bounds(0.0, 1.0)
        .series(Series::new("reweighted", phase_points, SeriesStyle::Points))
        .series(Series::new("exact", phase_exact, SeriesStyle::Dashed));
    fig.plot_named(&format!("{}-phase", fig.name()), &phase_plot, (1000, 650))?;
    let phi2_plot = LinePlot::new("⟨φ²⟩ under S + i c Σφ² (8×8 free field)", "c", "⟨φ²⟩")
        .series(Series::new("Re, reweighted", re_pts, SeriesStyle::Points))
        .series(Series::new("Re, exact", re_exact, SeriesStyle::Dashed))
        .series(Series::new("Im, reweighted", im_pts, SeriesStyle::Points))
        .series(Series::new("Im, exact", im_exact, SeriesStyle::Dashed));
    fig.plot_named(&format!("{}-phi2", fig.name()), &phi2_plot, (1000, 650))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_free_field_values() {
        // c = 0: real ⟨φ²⟩ and unit phase.
        let (re, im) = exact_phi2(8, 1.0, 0.0);
        assert!(re > 0.25 && re < 0.26 && im == 0.0);
        assert!((exact_phase_abs(8, 1.0, 0.0) - 1.0).abs() < 1e-15);
        // The phase shrinks exponentially with the volume.
        assert!(exact_phase_abs(16, 1.0, 0.15) < exact_phase_abs(8, 1.0, 0.15).powi(3));
    }
}
