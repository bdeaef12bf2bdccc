//! `rbm-digits`: φ⁴ networks (generalised RBMs) on the 8×8 digits: training curves, feature
//! maps, samples, and the likelihood numbers beside their references (exact enumeration;
//! scikit-learn's `BernoulliRBM` pseudo-log-likelihood, a recorded reference value).
//!
//! The records of `qftml rbm` are defined in the CLI; the fields read here are mirrored by
//! the structs below (same schema numbers), so a change of shape fails the schema check.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::figure::FigureCtx;
use crate::plot::{ImageGrid, LinePlot, Point, Series, SeriesStyle};
use crate::report::{Check, Table, Tolerance, fmt_measured, fmt_num};

/// scikit-learn 1.9.1 `BernoulliRBM(n_components=64, learning_rate=0.05, batch_size=10,
/// n_iter=20)` on the binarised digits (pixel/16 ≥ 0.5), `random_state` 0, 1, 2: mean
/// pseudo-log-likelihood with every unit flipped in turn (the all-units form of
/// `score_samples`), computed from the fitted parameters.
const SKLEARN_PLL_ALL_UNITS: [f64; 3] = [-15.575, -15.615, -16.099];

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Epoch {
    pub(super) epoch: u64,
    pub(super) reconstruction_error: f64,
    pub(super) pseudo_loglik: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Timing {
    pub(super) wall_s: f64,
    pub(super) sec_per_epoch: Vec<f64>,
}

/// The fields of `qftml rbm train --json` used here.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct TrainRecord {
    pub(super) schema: u32,
    pub(super) epochs: Vec<Epoch>,
    pub(super) timing: Timing,
}

records::record!(TrainRecord, "rbm-train", schema 1);

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Ais {
    pub(super) loglik: f64,
    pub(super) err: f64,
}

/// The fields of `qftml rbm eval --json` used here.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EvalRecord {
    pub(super) schema: u32,
    pub(super) reconstruction_error: f64,
    pub(super) pseudo_loglik: Option<f64>,
    pub(super) ais: Option<Ais>,
    pub(super) exact_loglik: Option<f64>,
}

records::record!(EvalRecord, "rbm-eval", schema 1);

/// The fields of `qftml rbm sample --json` used here.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SampleRecord {
    pub(super) schema: u32,
    pub(super) shape: Option<[usize; 2]>,
    pub(super) samples: Vec<Vec<f64>>,
    pub(super) feature_maps: Vec<Vec<f64>>,
}

records::record!(SampleRecord, "rbm-sample", schema 1);

/// `qftml rbm eval` of the network in `model`, with AIS of `ais_runs` runs of `ais_steps`
/// steps.
pub(super) fn eval_with_ais(fig: &mut FigureCtx<'_>, model: &str, ais_runs: u64, ais_steps: u64) -> Result<EvalRecord> {
    let (runs, steps) = (ais_runs.to_string(), ais_steps.to_string());
    fig.qftml(&[
        "rbm",
        "eval",
        "--model",
        model,
        "--ais-runs",
        &runs,
        "--ais-steps",
        &steps,
    ])
}

/// `qftml rbm sample` of the network in `model`: `n` samples after `sweeps` Gibbs steps
/// (from seed `seed`, the command's default for `None`) and the feature maps of the first
/// `features` hidden units.
pub(super) fn sample_network(
    fig: &mut FigureCtx<'_>,
    model: &str,
    n: u64,
    sweeps: u64,
    seed: Option<u64>,
    features: u64,
) -> Result<SampleRecord> {
    let (n, sweeps, seed, features) = (
        n.to_string(),
        sweeps.to_string(),
        seed.map(|s| s.to_string()),
        features.to_string(),
    );
    let mut args = vec!["rbm", "sample", "--model", model, "--n", &n, "--sweeps", &sweeps];
    if let Some(seed) = &seed {
        args.extend(["--seed", seed]);
    }
    args.extend(["--features", &features]);
    fig.qftml(&args)
}

/// `rbm-digits`.
pub fn digits(fig: &mut FigureCtx<'_>) -> Result<()> {
    // 20 epochs: the setting of the scikit-learn reference.
    let epochs = fig.fixed("epochs", 20u64);
    let n_hidden = fig.fixed("n_hidden", 64u64);
    let seed = fig.seed("seed", 1);
    let ais_runs = fig.param("ais_runs", 100u64, 500u64);
    let ais_steps = fig.param("ais_steps", 1000u64, 5000u64);
    fig.fixed(
        "settings",
        "Bernoulli–Bernoulli, batch 10, lr 0.05, persistent CD-1, examples in the data's order (scikit-learn's)",
    );
    let dir = fig.data_dir()?;
    let run = dir.join("bb64");
    let run_s = run.to_string_lossy().into_owned();
    let train: TrainRecord = fig.qftml(&[
        "rbm",
        "train",
        "--epochs",
        &epochs.to_string(),
        "--n-hidden",
        &n_hidden.to_string(),
        "--persistent",
        "--data-order",
        "given",
        "--seed",
        &seed.to_string(),
        "--out",
        &run_s,
    ])?;
    fig.progress(format!("trained {epochs} epochs in {:.1} s", train.timing.wall_s));
    let eval = eval_with_ais(fig, &run_s, ais_runs, ais_steps)?;
    let sample = sample_network(fig, &run_s, 32, 1000, None, 32)?;

    // A network small enough to enumerate: AIS against the exact log-likelihood.
    let small = dir.join("bb12");
    let small_s = small.to_string_lossy().into_owned();
    let _: TrainRecord = fig.qftml(&[
        "rbm",
        "train",
        "--epochs",
        "5",
        "--n-hidden",
        "12",
        "--persistent",
        "--seed",
        &seed.to_string(),
        "--out",
        &small_s,
    ])?;
    let small_eval = eval_with_ais(fig, &small_s, ais_runs, ais_steps)?;
    let exact = small_eval
        .exact_loglik
        .context("12 hidden binary units should be enumerated")?;
    let small_ais = small_eval.ais.context("AIS was requested")?;
    fig.check(Check::within(
        "64×12 Bernoulli–Bernoulli on the digits: AIS log-likelihood per example",
        small_ais.loglik,
        exact,
        Tolerance::Abs(0.5),
        "enumeration",
    ));

    let pll = eval
        .pseudo_loglik
        .context("binary visible units have a pseudo-log-likelihood")?;
    let sk_mean = SKLEARN_PLL_ALL_UNITS.iter().sum::<f64>() / 3.0;
    let mut table = Table::new(["quantity", "qftml", "reference", "source"]);
    table.row([
        format!("pseudo-log-likelihood, 64×{n_hidden}, {epochs} epochs (all units)"),
        fmt_num(pll),
        format!(
            "{} … {} (20 epochs)",
            fmt_num(SKLEARN_PLL_ALL_UNITS[2]),
            fmt_num(SKLEARN_PLL_ALL_UNITS[0])
        ),
        "scikit-learn 1.9.1 BernoulliRBM, random_state 0–2 (recorded)".into(),
    ]);
    if let Some(a) = &eval.ais {
        table.row([
            format!("AIS log-likelihood, 64×{n_hidden}"),
            fmt_measured(a.loglik, Some(a.err)),
            "—".into(),
            format!("{ais_runs} runs × {ais_steps} steps"),
        ]);
    }
    table.row([
        "AIS log-likelihood, 64×12, 5 epochs".to_owned(),
        fmt_measured(small_ais.loglik, Some(small_ais.err)),
        fmt_num(exact),
        "exact enumeration of 2¹² hidden states".into(),
    ]);
    table.row([
        "reconstruction error per pixel".to_owned(),
        fmt_num(eval.reconstruction_error),
        "—".into(),
        "mean-field reconstruction".into(),
    ]);
    let per_epoch = train.timing.sec_per_epoch.iter().sum::<f64>() / train.timing.sec_per_epoch.len().max(1) as f64;
    table.row([
        "seconds per epoch (1797 digits)".to_owned(),
        format!("{per_epoch:.3}"),
        "—".into(),
        "this machine".into(),
    ]);
    fig.table("Bernoulli–Bernoulli networks on the binarised 8×8 digits", table);
    fig.check(Check::within(
        format!("64×{n_hidden} Bernoulli–Bernoulli: PLL per example after {epochs} epochs (all units)"),
        pll,
        sk_mean,
        Tolerance::Abs(1.0),
        "scikit-learn (recorded, mean of 3 seeds)",
    ));
    let curve = |f: fn(&Epoch) -> Option<f64>| -> Vec<Point> {
        train
            .epochs
            .iter()
            .filter_map(|e| f(e).map(|y| Point::new(e.epoch as f64, y)))
            .collect()
    };
    let pll_plot = LinePlot::new(
        "Training: pseudo-log-likelihood (one random unit)",
        "epoch",
        "PLL per example",
    )
    .series(Series::new(
        "qftml",
        curve(|e| e.pseudo_loglik),
        SeriesStyle::LinePoints,
    ))
    .ref_line(sk_mean, "scikit-learn, 20 epochs (all units)");
    fig.plot_named("rbm-digits-pll", &pll_plot, (900, 600))?;
    let recon_plot =
        LinePlot::new("Training: reconstruction error", "epoch", "squared error per pixel").series(Series::new(
            "qftml",
            curve(|e| Some(e.reconstruction_error)),
            SeriesStyle::LinePoints,
        ));
    fig.plot_named("rbm-digits-reconstruction", &recon_plot, (900, 600))?;
    let shape = sample.shape.unwrap_or([8, 8]);
    let grid = |title: &str, images: Vec<Vec<f64>>, diverging| ImageGrid {
        title: title.to_owned(),
        images,
        labels: Vec::new(),
        shape,
        columns: 8,
        diverging,
        range: None,
    };
    fig.plot_named(
        "rbm-digits-features",
        &grid(
            "Feature maps w_ij, j fixed (red > 0, blue < 0)",
            sample.feature_maps,
            true,
        ),
        (900, 520),
    )?;
    fig.plot_named(
        "rbm-digits-samples",
        &grid("Samples after 1000 Gibbs steps", sample.samples, false),
        (900, 520),
    )?;
    fig.note(
        "The scikit-learn numbers were measured once with the same data, settings and 20 epochs (python3, \
         scikit-learn 1.9.1) and are recorded here as reference values; the PLL of the training curve is \
         scikit-learn's one-random-unit estimate, the table's is its average over every unit.",
    );
    Ok(())
}
