//! `rbm-mnist`: φ⁴ networks on MNIST digits (28×28): a φ⁴–Bernoulli network's feature maps,
//! samples and training curve; the talk's special cases (Bernoulli–Bernoulli,
//! Gaussian–Bernoulli, φ⁴–Bernoulli) side by side on the same digits; a two-layer stack.
//!
//! The records read here are the views of `qftml rbm` defined in [`super::rbm`].

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::data_learning::{DataView, MomentsView};
use super::rbm::{SampleRecord, TrainRecord, eval_with_ais, sample_network};
use crate::figure::FigureCtx;
use crate::plot::{ImageGrid, LinePlot, Point, Series, SeriesStyle};
use crate::report::{Check, Table, Tolerance, fmt_measured, fmt_num};

/// The shipped MNIST subset (10,000 digits).
const MNIST: &str = "mnist-10k-images-idx3-ubyte.gz";

/// The special cases compared: label, `--visible`, run directory name.
const CASES: [(&str, &str, &str); 3] = [
    ("φ⁴–Bernoulli", "phi4", "phi4-bernoulli"),
    ("Gaussian–Bernoulli", "gaussian", "gaussian-bernoulli"),
    ("Bernoulli–Bernoulli", "bernoulli", "bernoulli-bernoulli"),
];

/// Lower bound on the correlation of the per-pixel means of 25 φ⁴–Bernoulli samples with
/// the per-pixel means of the digits.  Measured 0.80 (quick settings: 800 digits, 3 epochs, 300
/// Gibbs steps) and 0.49 (full settings: after 2000 steps the 25 chains have settled into a few digit
/// shapes, so their mean covers few classes); a network that has not learnt where the digits
/// put their ink (lr 10⁻⁶, one epoch, otherwise the quick settings) gives −0.06.
const MIN_MEAN_CORRELATION: f64 = 0.4;

/// Lower bound on the same correlation for 25 top-down samples of the two-layer stack:
/// measured 0.93 (quick settings) and 0.80 (full settings).
const MIN_STACK_CORRELATION: f64 = 0.4;

/// The fields of `qftml rbm export --json` used here.
#[derive(Debug, Serialize, Deserialize)]
struct ExportRecord {
    schema: u32,
    n_samples: usize,
}

records::record!(ExportRecord, "rbm-export", schema 1);

/// Pearson correlation of two equally long vectors (NaN if either is constant).
fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// The per-pixel mean of a set of images.
/// Checks that `corr`, the correlation that `what` names, is at least `min` (a measured
/// bound: samples that have learnt the digits correlate far above it).
fn check_mean_correlation(fig: &mut FigureCtx<'_>, what: &str, corr: f64, min: f64) {
    fig.check(Check::within(
        format!("{what} with the digits' (≥ {min})"),
        corr,
        1.0,
        Tolerance::Abs(1.0 - min),
        "measured bound",
    ));
}

fn pixel_means(images: &[Vec<f64>]) -> Vec<f64> {
    let n = images.len().max(1) as f64;
    let len = images.first().map_or(0, Vec::len);
    (0..len).map(|i| images.iter().map(|s| s[i]).sum::<f64>() / n).collect()
}

/// The reconstruction error of every epoch as a curve.
fn recon_curve(train: &TrainRecord) -> Vec<Point> {
    train
        .epochs
        .iter()
        .map(|e| Point::new(e.epoch as f64, e.reconstruction_error))
        .collect()
}

/// First and last epoch's reconstruction error.
fn first_last(train: &TrainRecord) -> Result<(f64, f64)> {
    let first = train.epochs.first().context("a training run reports its epochs")?;
    let last = train.epochs.last().context("a training run reports its epochs")?;
    Ok((first.reconstruction_error, last.reconstruction_error))
}

/// Checks that the reconstruction error falls from the first to the last epoch: the ratio
/// last / first lies in [0, 1).
fn check_decrease(fig: &mut FigureCtx<'_>, what: &str, train: &TrainRecord) -> Result<()> {
    let (first, last) = first_last(train)?;
    let epochs = train.epochs.len();
    fig.check(Check::within(
        format!("{what}: reconstruction error, epoch {epochs} / epoch 1 (< 1: training lowers it)"),
        last / first,
        0.5,
        Tolerance::Abs(0.4999),
        "decrease",
    ));
    Ok(())
}

/// `rbm-mnist`.
pub fn mnist(fig: &mut FigureCtx<'_>) -> Result<()> {
    let n_images = fig.param("n_images", 800u64, 2000u64);
    let epochs = fig.param("epochs", 3u64, 10u64);
    let sweeps = fig.param("gibbs_steps", 300u64, 2000u64);
    let ais_runs = fig.param("ais_runs", 10u64, 100u64);
    let ais_steps = fig.param("ais_steps", 200u64, 500u64);
    let n_hidden = fig.fixed("n_hidden", 64u64);
    let n_hidden2 = fig.fixed("n_hidden_second", 32u64);
    let lr = fig.fixed("lr", 0.05);
    let seed = fig.seed("seed", 1);
    fig.fixed(
        "settings",
        "pixels x/255 in [0, 1] (binarised at 0.5 for Bernoulli visible units), batch 10, persistent CD-1, \
         quadratic and quartic coefficients of real units trained",
    );
    let data = fig.repo_root().join("data").join(MNIST);
    let data_s = data.to_str().context("repository path is not UTF-8")?.to_owned();
    let dir = fig.data_dir()?;
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (n_images_s, epochs_s, lr_s, seed_s) = (
        n_images.to_string(),
        epochs.to_string(),
        lr.to_string(),
        seed.to_string(),
    );

    // The three special cases on the same digits, same hidden layer, same epochs.
    let mut runs = Vec::new();
    for (label, visible, name) in CASES {
        let out = path(name);
        let train: TrainRecord = fig.qftml(&[
            "rbm",
            "train",
            "--data",
            &data_s,
            "--n-samples",
            &n_images_s,
            "--pixel-map",
            "unit",
            "--visible",
            visible,
            "--hidden",
            "bernoulli",
            "--n-hidden",
            &n_hidden.to_string(),
            "--epochs",
            &epochs_s,
            "--lr",
            &lr_s,
            "--persistent",
            "--train-shape",
            "--seed",
            &seed_s,
            "--out",
            &out,
        ])?;
        fig.progress(format!("{label}: {epochs} epochs in {:.1} s", train.timing.wall_s));
        let eval = eval_with_ais(fig, &out, ais_runs, ais_steps)?;
        let sample = sample_network(fig, &out, 25, sweeps, Some(seed), n_hidden)?;
        check_decrease(fig, label, &train)?;
        runs.push((label, out, train, eval, sample));
    }
    let shape = runs[0].4.shape.unwrap_or([28, 28]);
    // Every grid here: 25 images, 5 columns.
    let grid = |title: String, images: Vec<Vec<f64>>, diverging, range| ImageGrid {
        title,
        images,
        labels: Vec::new(),
        shape,
        columns: 5,
        diverging,
        range,
    };

    // 1. The φ⁴–Bernoulli network: feature maps, samples, training curves.
    let (phi4_label, phi4_dir, _, _, phi4_sample) = &runs[0];
    fig.plot_named(
        "rbm-mnist-features",
        &grid(
            format!("{phi4_label}: feature maps w_ij, j fixed (hidden units 1–25; red > 0, blue < 0)"),
            phi4_sample.feature_maps.iter().take(25).cloned().collect(),
            true,
            None,
        ),
        (900, 960),
    )?;
    fig.plot_named(
        "rbm-mnist-samples",
        &grid(
            format!("{phi4_label}: samples after {sweeps} Gibbs steps (grey scale 0 … 1)"),
            phi4_sample.samples.clone(),
            false,
            Some((0.0, 1.0)),
        ),
        (900, 960),
    )?;
    let mut curves = LinePlot::new(
        format!("Training on {n_images} MNIST digits: reconstruction error"),
        "epoch",
        "squared error per pixel",
    );
    for (label, _, train, _, _) in &runs {
        curves = curves.series(Series::new(*label, recon_curve(train), SeriesStyle::LinePoints));
    }
    fig.plot_named("rbm-mnist-training", &curves, (900, 600))?;
    // The digits' per-pixel means (all 10,000, on the same [0, 1] scale), from the data
    // statistics of `qftml train data` (one short epoch; only its data side is used).
    let moments_dir = path("data-moments");
    let _: DataView = fig.qftml(&[
        "train",
        "data",
        "--data",
        &data_s,
        "--pixel-map",
        "unit",
        "--epochs",
        "1",
        "--moment-samples",
        "10",
        "--seed",
        &seed_s,
        "--out",
        &moments_dir,
    ])?;
    let moments: MomentsView = records::parse(
        &std::fs::read_to_string(dir.join("data-moments").join("moments.json"))
            .context("the moments file of the data run")?,
    )?;
    let mut table_means = Table::new([
        "network",
        "correlation of the samples' per-pixel means with the digits'",
    ]);
    for (k, (label, _, _, _, sample)) in runs.iter().enumerate() {
        let corr = correlation(&pixel_means(&sample.samples), &moments.data.mean);
        table_means.row([(*label).to_owned(), format!("{corr:.3}")]);
        // The φ⁴–Bernoulli network, the first case, is the one checked.
        if k == 0 {
            check_mean_correlation(
                fig,
                &format!("{label}: correlation of the per-pixel means of 25 samples"),
                corr,
                MIN_MEAN_CORRELATION,
            );
        }
    }
    fig.table(
        format!("Samples after {sweeps} Gibbs steps (25 chains) against the digits' per-pixel means"),
        table_means,
    );

    // 2. The special cases side by side.
    let mut table = Table::new([
        "network".to_owned(),
        "recon. error, epoch 1".to_owned(),
        format!("recon. error, epoch {epochs}"),
        "recon. error (eval)".to_owned(),
        "pseudo-log-likelihood".to_owned(),
        "AIS log-likelihood".to_owned(),
        "s per epoch".to_owned(),
    ]);
    for (label, _, train, eval, _) in &runs {
        let (first, last) = first_last(train)?;
        let per_epoch = train.timing.sec_per_epoch.iter().sum::<f64>() / train.timing.sec_per_epoch.len().max(1) as f64;
        table.row([
            (*label).to_owned(),
            fmt_num(first),
            fmt_num(last),
            fmt_num(eval.reconstruction_error),
            eval.pseudo_loglik.map_or("— (real units)".to_owned(), fmt_num),
            eval.ais
                .as_ref()
                .map_or("—".to_owned(), |a| fmt_measured(a.loglik, Some(a.err))),
            format!("{per_epoch:.2}"),
        ]);
    }

    // 3. A two-layer stack: the φ⁴–Bernoulli network's hidden samples are the data of a
    //    Bernoulli–Bernoulli network.
    let export = path("phi4-bernoulli-export");
    let exported: ExportRecord = fig.qftml(&[
        "rbm",
        "export",
        "--model",
        phi4_dir,
        "--out",
        &export,
        "--activations",
        "samples",
        "--seed",
        &seed_s,
    ])?;
    fig.progress(format!("exported {} hidden samples", exported.n_samples));
    let activations = dir
        .join("phi4-bernoulli-export")
        .join("hidden_activations.npy")
        .to_string_lossy()
        .into_owned();
    let second = path("second-layer");
    let train2: TrainRecord = fig.qftml(&[
        "rbm",
        "train",
        "--data",
        &activations,
        "--pixel-map",
        "identity",
        "--n-hidden",
        &n_hidden2.to_string(),
        "--epochs",
        &epochs_s,
        "--lr",
        &lr_s,
        "--persistent",
        "--seed",
        &seed_s,
        "--out",
        &second,
    ])?;
    let eval2 = eval_with_ais(fig, &second, ais_runs, ais_steps)?;
    let sample2 = sample_network(fig, &second, 1, 1, Some(seed), n_hidden2)?;
    // Top-down through the stack: the second layer's chains, then the first network's
    // visible means given each chain's state.
    let sweeps_s = sweeps.to_string();
    let top_down: SampleRecord = fig.qftml(&[
        "rbm", "sample", "--model", phi4_dir, "--model", &second, "--n", "25", "--sweeps", &sweeps_s, "--seed",
        &seed_s, "--means",
    ])?;
    let top_down_corr = correlation(&pixel_means(&top_down.samples), &moments.data.mean);
    check_mean_correlation(
        fig,
        "stack: correlation of the per-pixel means of 25 top-down samples",
        top_down_corr,
        MIN_STACK_CORRELATION,
    );
    fig.plot_named(
        "rbm-mnist-stack-samples",
        &grid(
            format!("Stack, top-down: {sweeps} Gibbs steps of layer 2, then E[φ | h] of layer 1 (0 … 1)"),
            top_down.samples,
            false,
            Some((0.0, 1.0)),
        ),
        (900, 960),
    )?;
    check_decrease(fig, "second layer of the stack", &train2)?;
    let (first2, last2) = first_last(&train2)?;
    let per_epoch2 = train2.timing.sec_per_epoch.iter().sum::<f64>() / train2.timing.sec_per_epoch.len().max(1) as f64;
    table.row([
        format!("stack: Bernoulli–Bernoulli {n_hidden}×{n_hidden2} on the φ⁴–Bernoulli hidden samples"),
        fmt_num(first2),
        fmt_num(last2),
        fmt_num(eval2.reconstruction_error),
        eval2.pseudo_loglik.map_or("—".to_owned(), fmt_num),
        eval2
            .ais
            .as_ref()
            .map_or("—".to_owned(), |a| fmt_measured(a.loglik, Some(a.err))),
        format!("{per_epoch2:.2}"),
    ]);
    fig.table(
        format!(
            "784×{n_hidden} networks on {n_images} MNIST digits, {epochs} epochs, lr {lr}, and the second layer of the stack \
             (AIS: {ais_runs} runs × {ais_steps} steps)"
        ),
        table,
    );

    // The second layer's features in pixel space: Σ_k w¹_ik w²_kj, the first layer's
    // feature maps weighted by the second's couplings.
    let first_maps = &phi4_sample.feature_maps;
    let projected: Vec<Vec<f64>> = sample2
        .feature_maps
        .iter()
        .take(25)
        .map(|w2| {
            let mut image = vec![0.0; first_maps.first().map_or(0, Vec::len)];
            for (w1, &c) in first_maps.iter().zip(w2) {
                for (p, &w) in image.iter_mut().zip(w1) {
                    *p += c * w;
                }
            }
            image
        })
        .collect();
    fig.plot_named(
        "rbm-mnist-stack-features",
        &grid(
            "Second layer: Σ_k w¹_ik w²_kj, j fixed (hidden units 1–25 of the second layer)".to_owned(),
            projected,
            true,
            None,
        ),
        (900, 960),
    )?;
    let stack_curve = LinePlot::new(
        "Second layer of the stack: reconstruction error",
        "epoch",
        "squared error per unit",
    )
    .series(Series::new(
        "Bernoulli–Bernoulli on hidden samples",
        recon_curve(&train2),
        SeriesStyle::LinePoints,
    ));
    fig.plot_named("rbm-mnist-stack-training", &stack_curve, (900, 600))?;
    fig.note(
        "Reconstruction errors are per pixel on the [0, 1] scale; the Bernoulli–Bernoulli network sees the \
         digits binarised at 0.5, the others the grey levels. The pseudo-log-likelihood exists for binary \
         visible units only (all units flipped in turn). AIS log-likelihoods are probabilities for binary \
         visible units and densities for real ones, so only the φ⁴ and Gaussian rows compare with each other. \
         The stack's top-down samples are `qftml rbm sample --model FIRST --model SECOND --means`.",
    );
    Ok(())
}
