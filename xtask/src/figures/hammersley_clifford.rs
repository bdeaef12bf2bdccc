//! `hammersley-clifford`: ∏_c ψ_c = exp(−S) and the local Markov property on
//! random configurations with random inhomogeneous couplings, on all four graphs.

use anyhow::Result;
use records::ActionRecord;

use crate::figure::FigureCtx;
use crate::plot::CategoryPlot;
use crate::report::{Check, Table, Tolerance, fmt_num};

/// Tolerance of the factorisation and blanket checks (relative to max(1, |S|)).
pub const TOLERANCE: f64 = 1e-12;

/// Mismatches of exactly zero are drawn at this height on the log axis.
const FLOOR: f64 = 1e-18;

/// The fields of `qftml action --json` this figure uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionCheck {
    /// Number of sites.
    pub n_sites: usize,
    /// S(φ; θ).
    pub action: f64,
    /// ln ∏_c ψ_c(φ).
    pub log_product: f64,
    /// |ln ∏ψ_c + S| / max(1, |S|).
    pub mismatch: f64,
    /// Largest change of a site's conditional when sites outside its blanket change.
    pub blanket_violation: f64,
}

impl ActionCheck {
    /// The fields of `qftml action --json` output.
    pub fn from_record(r: &ActionRecord) -> Self {
        Self {
            n_sites: r.n_sites,
            action: r.action,
            log_product: r.log_product_potentials,
            mismatch: r.factorisation_mismatch,
            blanket_violation: r.blanket_violation,
        }
    }

    /// The mismatch recomputed from S and ln ∏ψ (the CLI's own number must agree).
    pub fn recomputed_mismatch(&self) -> f64 {
        (self.log_product + self.action).abs() / self.action.abs().max(1.0)
    }
}

/// Runs `qftml action --random-couplings` for several seeds per geometry.
pub fn run(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.param("lattice", 4u64, 8u64);
    let visible = fig.param("visible", 3u64, 8u64);
    let hidden = fig.param("hidden", 2u64, 4u64);
    let n_configs = fig.param("configurations_per_geometry", 8u64, 32u64);
    let base = fig.seed("base_seed", 1);
    fig.fixed(
        "seeds",
        format!("base_seed + k for k = 0..{n_configs}; the seed draws couplings and configuration"),
    );
    fig.fixed("tolerance", TOLERANCE);
    let (ls, vs, hs) = (l.to_string(), visible.to_string(), hidden.to_string());

    let mut table = Table::new([
        "geometry",
        "graph",
        "sites",
        "configurations",
        "S (first)",
        "ln ∏ψ_c (first)",
        "max |ln ∏ψ_c + S| / max(1,|S|)",
        "max blanket violation",
    ]);
    let mut mismatches = Vec::new();
    let mut blankets = Vec::new();
    for (g, geometry) in records::GEOMETRIES.into_iter().enumerate() {
        let mut results = Vec::new();
        for k in 0..n_configs {
            let seed = (base + k).to_string();
            let mut args = vec!["action", "--geometry", geometry, "--random-couplings", "--seed", &seed];
            if geometry == "bipartite" {
                args.extend(["--visible", &vs, "--hidden", &hs]);
            } else {
                args.extend(["--lattice", &ls]);
            }
            let r = ActionCheck::from_record(&fig.qftml::<ActionRecord>(&args)?);
            mismatches.push((g, r.mismatch.max(FLOOR)));
            blankets.push((g, r.blanket_violation.max(FLOOR)));
            results.push(r);
        }
        let first = results[0];
        let max_of = |f: fn(&ActionCheck) -> f64| results.iter().map(f).fold(0.0, f64::max);
        let max_mismatch = max_of(|r| r.mismatch);
        let max_blanket = max_of(|r| r.blanket_violation);
        let max_disagreement = max_of(|r| (r.recomputed_mismatch() - r.mismatch).abs());
        let graph = if geometry == "bipartite" {
            format!("{visible}+{hidden}")
        } else {
            format!("{l}×{l}")
        };
        table.row([
            geometry.to_owned(),
            graph.clone(),
            first.n_sites.to_string(),
            n_configs.to_string(),
            fmt_num(first.action),
            fmt_num(first.log_product),
            fmt_num(max_mismatch),
            fmt_num(max_blanket),
        ]);
        let tag = format!("{geometry} {graph}");
        let exact_zero = [
            (
                format!("max |ln ∏ψ_c + S| / max(1,|S|) over {n_configs} configurations"),
                max_mismatch,
            ),
            (
                format!("max blanket violation over {n_configs} configurations"),
                max_blanket,
            ),
            (
                "reported mismatch vs recomputed from S and ln ∏ψ_c".to_owned(),
                max_disagreement,
            ),
        ];
        for (what, value) in exact_zero {
            fig.check(Check::within(
                format!("{tag}: {what}"),
                value,
                0.0,
                Tolerance::Abs(TOLERANCE),
                "exact",
            ));
        }
        fig.progress(format!(
            "{tag}: max mismatch {max_mismatch:.2e}, max blanket violation {max_blanket:.2e}"
        ));
    }
    fig.table(
        "Factorisation ∏_c ψ_c = exp(−S) with random couplings (w, a, b scaled by U[0.5, 1.5), r ∈ U[−0.5, 0.5))",
        table,
    );
    fig.note(format!(
        "Each point is one seed (random couplings and a Gaussian random configuration). \
         Values that are exactly 0 are drawn at {FLOOR:e}. The blanket violation is the largest change of \
         the log conditional of a site (at a few probe values, for three sites) when every site outside its \
         Markov blanket is redrawn; the last check recomputes the mismatch from the reported S and ln ∏ψ_c."
    ));

    let plot = CategoryPlot::new(
        "Hammersley–Clifford: ∏ψ_c = exp(−S)",
        "relative mismatch",
        records::GEOMETRIES,
    )
    .log_y()
    .y_range(FLOOR / 3.0, 1e-9)
    .series("|ln ∏ψ_c + S| / max(1,|S|)", mismatches)
    .series("blanket violation", blankets)
    .ref_line(TOLERANCE, "tolerance 1e-12");
    fig.plot(&plot, (1200, 700))
}
