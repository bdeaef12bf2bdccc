//! Project automation for qftml. `cargo xtask reproduce` regenerates every figure
//! (PNG and SVG), a provenance record per figure and `REPORT.md`, running the heavy
//! work through the release build of the `qftml` binary (this crate never links the
//! physics crates).
//!
//! Adding a figure: write `pub fn run(fig: &mut FigureCtx<'_>) -> anyhow::Result<()>`
//! in a module under `src/figures/` and add one [`figure::Figure`] entry to
//! [`figures::FIGURES`], with its measured time budget and whether it measures
//! single-core cost (then it runs alone). Finished figures are cached ([`cache`]). The context gives parameters (`fig.param("name", quick, full)`),
//! seeds, `qftml` commands (`fig.qftml(&[...])`, parsed JSON), plots (`fig.plot`, with
//! [`plot::LinePlot`] and [`plot::CategoryPlot`]), report tables and checks, and records
//! all of it in `provenance/NAME.json`.

pub mod cache;
pub mod figure;
pub mod figures;
pub mod fsutil;
pub mod plot;
pub mod progress;
pub mod provenance;
pub mod qftml;
pub mod report;
pub mod reproduce;

#[cfg(test)]
mod tests;
