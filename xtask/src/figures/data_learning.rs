//! Learning couplings from data, KL(q‖p): Gaussian data with known generating couplings
//! (recovered), and one class of real digits (the model's per-site moments against the
//! data's, as numbers, scatter plots and images beside samples of data and model).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::figure::FigureCtx;
use crate::plot::{ImageGrid, LinePlot, Panels, Point, Series, SeriesStyle, color};
use crate::report::{Check, Table, Tolerance, fmt_num};

/// The generating free field of the Gaussian demonstration: κ, μ², mean.
const GAUSSIAN: (f64, f64, f64) = (0.2, 0.5, 0.5);

/// The part of `qftml train data --json` (the `DataTrainRecord` of `cli/src/train.rs`,
/// schema 1) the figure reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct DataView {
    schema: u32,
    n_samples: usize,
    couplings: Couplings,
    moments: Moments,
    steps: u64,
}

records::record!(DataView, "train-data", schema 1);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Spread {
    mean: f64,
    std: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Couplings {
    w: Spread,
    a: Spread,
    r: Option<Spread>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Agreement {
    max_abs_diff: f64,
    correlation: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Moments {
    mean: Agreement,
    variance: Agreement,
    nn_corr: Agreement,
}

/// Per-site moments (the `SiteMoments` of `cli/src/train.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SiteMoments {
    pub(super) mean: Vec<f64>,
    variance: Vec<f64>,
    nn_corr: Vec<f64>,
}

/// `moments.json` of a data run (the `MomentsFile` of `cli/src/train.rs`, schema 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct MomentsView {
    schema: u32,
    lattice: [usize; 2],
    pub(super) data: SiteMoments,
    model: SiteMoments,
    data_samples: Vec<Vec<f64>>,
    model_samples: Vec<Vec<f64>>,
}

records::record!(MomentsView, "train-data-moments", schema 1);

/// Means and variances of data and model as images, and eight samples of each.
fn image_panels(label: &str, m: &MomentsView) -> Panels<ImageGrid> {
    let [lx, ly] = m.lattice;
    let grid = |title: String, images: Vec<Vec<f64>>, labels: [&str; 2], columns, range| ImageGrid {
        title,
        labels: images
            .iter()
            .enumerate()
            .map(|(k, _)| labels[k * 2 / images.len()].to_owned())
            .collect(),
        images,
        shape: [ly, lx],
        columns,
        diverging: false,
        range: Some(range),
    };
    let max_var = m
        .data
        .variance
        .iter()
        .chain(&m.model.variance)
        .fold(0.0_f64, |a, &b| a.max(b));
    let samples: Vec<Vec<f64>> = m
        .data_samples
        .iter()
        .take(8)
        .chain(m.model_samples.iter().take(8))
        .cloned()
        .collect();
    Panels(vec![
        grid(
            format!("{label}: mean"),
            vec![m.data.mean.clone(), m.model.mean.clone()],
            ["data", "model"],
            1,
            (0.0, 1.0),
        ),
        grid(
            "variance".into(),
            vec![m.data.variance.clone(), m.model.variance.clone()],
            ["data", "model"],
            1,
            (0.0, max_var),
        ),
        grid(
            "samples: data (top), model (bottom)".into(),
            samples,
            ["data", "model"],
            4,
            (0.0, 1.0),
        ),
    ])
}

/// The trained couplings file (`qftml-couplings`): the per-pair and per-site values.
#[derive(Debug, Clone, Deserialize)]
struct CouplingsFile {
    w: Vec<f64>,
    a: Vec<f64>,
    r: Vec<f64>,
}

/// `data-learning`: the two demonstrations of learning from data.
pub fn run(fig: &mut FigureCtx<'_>) -> Result<()> {
    let n_samples = fig.param("gaussian_samples", 20_000u64, 20_000u64);
    let seed = fig.seed("seed", 4);
    let (kappa, mu2, mean) = GAUSSIAN;
    fig.fixed("gaussian", "8×8 free field, kappa = 0.2, mu2 = 0.5, mean 0.5");
    let data = fig.data_dir()?;
    let npy = data.join("gaussian.npy");
    let npy_s = npy.to_str().context("data directory is not UTF-8")?.to_owned();
    let out = data.join("gaussian-run");
    let out_s = out.to_str().context("data directory is not UTF-8")?.to_owned();
    let (ns, ss, ks, ms, cs) = (
        n_samples.to_string(),
        seed.to_string(),
        kappa.to_string(),
        mu2.to_string(),
        mean.to_string(),
    );
    fig.qftml::<records::DataRecord>(&[
        "data",
        "gaussian",
        "--lattice",
        "8",
        "--kappa",
        &ks,
        "--mu2",
        &ms,
        "--mean",
        &cs,
        "--samples",
        &ns,
        "--seed",
        &ss,
        "--out",
        &npy_s,
    ])?;
    let run: DataView = fig.qftml(&[
        "train",
        "data",
        "--data",
        &npy_s,
        "--gaussian",
        "--batch",
        "200",
        "--lr",
        "0.01",
        "--lr-half-life",
        "300",
        "--epochs",
        "20",
        "--seed",
        "3",
        "--out",
        &out_s,
    ])?;
    let learned: CouplingsFile = serde_json::from_str(
        &std::fs::read_to_string(out.join("couplings.json")).context("the trained couplings file")?,
    )?;
    // The generating couplings: w = κ, a = (μ² + 4κ)/2, r = −μ²·mean (so that the mean is `mean`).
    let truth = [
        ("w", kappa, run.couplings.w, &learned.w),
        ("a", (mu2 + 4.0 * kappa) / 2.0, run.couplings.a, &learned.a),
        (
            "r",
            -mu2 * mean,
            run.couplings.r.context("a data run trains r")?,
            &learned.r,
        ),
    ];
    let mut table = Table::new([
        "coupling",
        "learned mean",
        "spread over sites/pairs",
        "generating",
        "deviation / σ",
    ]);
    let mut plot = LinePlot::new(
        "Gaussian data: every learned coupling against its generating value",
        "site or pair",
        "coupling",
    );
    for (k, (name, true_value, spread, values)) in truth.into_iter().enumerate() {
        // The average over n couplings has the standard error spread/√n (couplings of
        // different sites are estimated from the same data but nearly independently).
        let err = spread.std / (values.len() as f64).sqrt();
        table.row([
            name.to_owned(),
            fmt_num(spread.mean),
            fmt_num(spread.std),
            fmt_num(true_value),
            format!("{:+.2}", (spread.mean - true_value) / err),
        ]);
        fig.check(Check::sigma(
            format!("Gaussian data: site/pair average of {name}"),
            spread.mean,
            err,
            true_value,
            4.0,
            "generating couplings",
        ));
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &v)| Point::new(i as f64, v))
            .collect();
        plot = plot
            .series(Series::new(format!("{name} learned"), points, SeriesStyle::Points).color(color(k)))
            .ref_line(true_value, format!("{name} generating"));
    }
    fig.table(
        format!(
            "Gaussian data ({n_samples} exact samples of an 8×8 free field with κ = {kappa}, μ² = {mu2}, mean {mean}), \
             {} mini-batch steps",
            run.steps
        ),
        table,
    );
    fig.plot(&plot, (1100, 650))?;

    let mut images = Table::new([
        "data",
        "samples",
        "corr(mean)",
        "corr(variance)",
        "corr(nn)",
        "max |Δ mean|",
        "max |Δ variance|",
    ]);
    let mut scatter: [Vec<Series>; 3] = Default::default();
    for (k, (label, tag, file)) in [
        ("8×8 digits, class 3", "digits", "digits8x8-images-idx3-ubyte.gz"),
        ("MNIST, class 3", "mnist", "mnist-10k-images-idx3-ubyte.gz"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = fig.repo_root().join("data").join(file);
        let path_s = path.to_str().context("repository path is not UTF-8")?.to_owned();
        let out = data.join(format!("{file}-run"));
        let out_s = out.to_str().context("data directory is not UTF-8")?.to_owned();
        let r: DataView = fig.qftml(&[
            "train",
            "data",
            "--data",
            &path_s,
            "--classes",
            "3",
            "--seed",
            "1",
            "--out",
            &out_s,
        ])?;
        let moments: MomentsView = records::parse(
            &std::fs::read_to_string(out.join("moments.json")).context("the moments file of the data run")?,
        )?;
        let [lx, ly] = moments.lattice;
        let size = if lx > 8 { (1500, 620) } else { (1200, 560) };
        fig.plot_named(&format!("{}-{tag}", fig.name()), &image_panels(label, &moments), size)?;
        for (series, (data, model)) in scatter.iter_mut().zip([
            (&moments.data.mean, &moments.model.mean),
            (&moments.data.variance, &moments.model.variance),
            (&moments.data.nn_corr, &moments.model.nn_corr),
        ]) {
            let points = data.iter().zip(model).map(|(&x, &y)| Point::new(x, y)).collect();
            series.push(Series::new(format!("{label} ({lx}×{ly})"), points, SeriesStyle::Points).color(color(k)));
        }
        let m = r.moments;
        images.row([
            label.to_owned(),
            r.n_samples.to_string(),
            format!("{:.4}", m.mean.correlation),
            format!("{:.4}", m.variance.correlation),
            format!("{:.4}", m.nn_corr.correlation),
            format!("{:.3}", m.mean.max_abs_diff),
            format!("{:.3}", m.variance.max_abs_diff),
        ]);
        for (what, corr) in [("means", m.mean.correlation), ("variances", m.variance.correlation)] {
            fig.check(Check::within(
                format!("{label}: correlation of the model's per-site {what} with the data's (≥ 0.95)"),
                corr,
                1.0,
                Tolerance::Abs(0.05),
                "issue target ≥ 0.95",
            ));
        }
        fig.progress(format!(
            "{label}: corr(mean) {:.4}, corr(var) {:.4}",
            m.mean.correlation, m.variance.correlation
        ));
    }
    fig.table(
        "Images (pixels mapped to [0, 1]): equilibrium samples of the trained MRF against the data, per site",
        images,
    );
    let panels = scatter
        .into_iter()
        .zip(["per-site mean", "per-site variance", "nearest-neighbour correlation"])
        .map(|(series, what)| {
            let (lo, hi) = series
                .iter()
                .flat_map(|s| s.points.iter())
                .fold((f64::MAX, f64::MIN), |(a, b), p| {
                    (a.min(p.x).min(p.y), b.max(p.x).max(p.y))
                });
            let diagonal = Series::new(
                "model = data",
                vec![Point::new(lo, lo), Point::new(hi, hi)],
                SeriesStyle::Dashed,
            )
            .color(color(7));
            series
                .into_iter()
                .fold(
                    LinePlot::new(what, "data", "model (equilibrium samples)"),
                    LinePlot::series,
                )
                .series(diagonal)
        })
        .collect();
    fig.plot_named(&format!("{}-moments", fig.name()), &Panels(panels), (1800, 620))?;
    fig.note(
        "Images: the per-site mean and variance of the data and of equilibrium samples of the trained MRF (shared \
         grey scales: white 0, black the largest value), and eight samples of each (the data's first images of the \
         class; the model's from eight independent chains). The scatter plots set the model's per-site moments \
         against the data's, one point per site (per nearest-neighbour pair for the correlation).",
    );
    Ok(())
}
