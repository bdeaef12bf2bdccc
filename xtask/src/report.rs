//! `REPORT.md`: tables, checks of measured numbers against references, and the
//! rendering of one section per figure.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// A Markdown table with a header row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are left empty, extra cells are an error in
    /// debug builds and dropped otherwise.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        debug_assert!(cells.len() <= self.headers.len(), "row has more cells than the header");
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
        self
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// GitHub-flavoured Markdown; `|` inside cells is escaped.
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", escaped.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// How close a measured number must be to its reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Tolerance {
    /// Equal as numbers (counts, enumerations).
    Exact,
    /// `|measured − reference| ≤ tol`.
    Abs(f64),
    /// `|measured − reference| ≤ tol · |reference|`.
    Rel(f64),
    /// `|measured − reference| ≤ k · σ`, σ combining the errors of both numbers.
    Sigma(f64),
}

/// One measured number beside its reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was measured, e.g. `square L=4: maximal cliques of size 2`.
    pub quantity: String,
    /// The measured value.
    #[serde(with = "any_f64")]
    pub measured: f64,
    /// Its statistical error, if any.
    #[serde(with = "any_f64::option")]
    pub measured_err: Option<f64>,
    /// The reference value.
    #[serde(with = "any_f64")]
    pub reference: f64,
    /// The reference's own error (a direct simulation), if any.
    #[serde(with = "any_f64::option")]
    pub reference_err: Option<f64>,
    /// Where the reference comes from: `exact`, `enumeration`, `talk`, `direct simulation`.
    pub source: String,
    /// The acceptance rule.
    pub tolerance: Tolerance,
    /// The smallest deviation from the reference the check must be able to detect:
    /// a statistical check decides only if `k σ ≤ resolution` (see [`Check::decisive`]).
    #[serde(default, with = "any_f64::option")]
    pub resolution: Option<f64>,
}

impl Check {
    /// A count or other number that must equal its reference exactly.
    pub fn exact(quantity: impl Into<String>, measured: f64, reference: f64, source: &str) -> Self {
        Self::within(quantity, measured, reference, Tolerance::Exact, source)
    }

    /// A number that must lie within `tolerance` of its reference.
    pub fn within(
        quantity: impl Into<String>,
        measured: f64,
        reference: f64,
        tolerance: Tolerance,
        source: &str,
    ) -> Self {
        Self {
            quantity: quantity.into(),
            measured,
            measured_err: None,
            reference,
            reference_err: None,
            source: source.to_owned(),
            tolerance,
            resolution: None,
        }
    }

    /// A statistical estimate `measured ± err` that must lie within `k σ` of its reference.
    pub fn sigma(quantity: impl Into<String>, measured: f64, err: f64, reference: f64, k: f64, source: &str) -> Self {
        Self {
            measured_err: Some(err),
            ..Self::within(quantity, measured, reference, Tolerance::Sigma(k), source)
        }
    }

    /// Sets the reference's own error (for references from a direct simulation).
    pub fn with_reference_err(mut self, err: f64) -> Self {
        self.reference_err = Some(err);
        self
    }

    /// States the smallest deviation `delta` the check must detect.  The rule of the
    /// statistics: a `k σ` check decides at `delta` when `k σ ≤ delta`, so that a result
    /// off by `delta` would fail; the full run's statistics are chosen for that, no more.
    pub fn resolving(mut self, delta: f64) -> Self {
        self.resolution = Some(delta);
        self
    }

    /// Whether a statistical check with a stated resolution can decide it (`k σ ≤ δ`);
    /// `None` for checks without a resolution or without a σ.
    pub fn decisive(&self) -> Option<bool> {
        match (self.tolerance, self.combined_err(), self.resolution) {
            (Tolerance::Sigma(k), Some(s), Some(delta)) => Some(k * s <= delta),
            _ => None,
        }
    }

    /// The verdict column: `pass`, `**FAIL**`, or `pass, undecided (kσ = … > δ = …)` for a
    /// pass too imprecise to have detected a deviation of its resolution.
    pub fn verdict_text(&self) -> String {
        match (self.passed(), self.decisive()) {
            (false, _) => "**FAIL**".to_owned(),
            (true, Some(false)) => {
                let k = match self.tolerance {
                    Tolerance::Sigma(k) => k,
                    _ => 0.0,
                };
                format!(
                    "pass, undecided ({}σ = {} > δ = {})",
                    fmt_num(k),
                    fmt_num(k * self.combined_err().unwrap_or(f64::NAN)),
                    fmt_num(self.resolution.unwrap_or(f64::NAN))
                )
            }
            (true, _) => "pass".to_owned(),
        }
    }

    /// `measured − reference`.
    pub fn difference(&self) -> f64 {
        self.measured - self.reference
    }

    /// The combined standard error of the difference, if either side has one.
    pub fn combined_err(&self) -> Option<f64> {
        match (self.measured_err, self.reference_err) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0).hypot(b.unwrap_or(0.0))),
        }
    }

    /// Whether the check passes; NaN and infinities never pass.
    pub fn passed(&self) -> bool {
        let diff = self.difference().abs();
        if !diff.is_finite() {
            return false;
        }
        match self.tolerance {
            Tolerance::Exact => self.measured == self.reference,
            Tolerance::Abs(tol) => diff <= tol,
            Tolerance::Rel(tol) => diff <= tol * self.reference.abs(),
            Tolerance::Sigma(k) => self.combined_err().is_some_and(|s| diff <= k * s),
        }
    }

    /// The acceptance rule in words, for the report.
    pub fn tolerance_text(&self) -> String {
        match self.tolerance {
            Tolerance::Exact => "exact".to_owned(),
            Tolerance::Abs(t) => format!("abs ≤ {}", fmt_num(t)),
            Tolerance::Rel(t) => format!("rel ≤ {}", fmt_num(t)),
            Tolerance::Sigma(k) => match self.combined_err() {
                Some(s) => format!("≤ {}σ (σ = {})", fmt_num(k), fmt_num(s)),
                None => format!("≤ {}σ (no error given)", fmt_num(k)),
            },
        }
    }

    /// The difference in the report: in units of σ for statistical checks.
    pub fn difference_text(&self) -> String {
        let d = self.difference();
        match (self.tolerance, self.combined_err()) {
            (Tolerance::Sigma(_), Some(s)) if s > 0.0 => {
                format!("{} ({:.2}σ)", fmt_num(d), d / s)
            }
            _ => fmt_num(d),
        }
    }
}

/// Formats a number for a table: integers as integers, moderate numbers with six
/// significant digits, very small or large ones in scientific notation.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if v == v.trunc() && v.abs() < 1e12 {
        return format!("{}", v as i64);
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let decimals = (5 - a.log10().floor() as i32).clamp(0, 8) as usize;
        let s = format!("{v:.decimals$}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_owned()
    } else {
        // four significant digits, trailing zeros of the mantissa dropped: 1e-12, 3.554e-16
        let s = format!("{v:.3e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.')),
            None => s,
        }
    }
}

/// `value ± err` (or just the value).
pub fn fmt_measured(v: f64, err: Option<f64>) -> String {
    match err {
        Some(e) => format!("{} ± {}", fmt_num(v), fmt_num(e)),
        None => fmt_num(v),
    }
}

/// The checks as a Markdown table.
pub fn checks_table(checks: &[Check]) -> Table {
    let mut t = Table::new([
        "quantity",
        "measured",
        "reference",
        "source",
        "difference",
        "tolerance",
        "result",
    ]);
    for c in checks {
        t.row([
            c.quantity.clone(),
            fmt_measured(c.measured, c.measured_err),
            fmt_measured(c.reference, c.reference_err),
            c.source.clone(),
            c.difference_text(),
            c.tolerance_text(),
            c.verdict_text(),
        ]);
    }
    t
}

/// Everything the report says about one figure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FigureSection {
    /// Registry name.
    pub name: String,
    /// One-paragraph description.
    pub description: String,
    /// Images relative to the report (PNG shown, SVG linked).
    pub images: Vec<String>,
    /// Captioned tables.
    pub tables: Vec<(String, Table)>,
    /// Measured numbers beside references.
    pub checks: Vec<Check>,
    /// Free-form remarks (parameters, caveats).
    pub notes: Vec<String>,
    /// Path of the provenance record, relative to the report.
    pub provenance: String,
    /// Wall time of the figure in seconds.
    pub wall_seconds: f64,
    /// Set if the figure could not be produced.
    pub error: Option<String>,
    /// The registry's time budget for this figure in this mode, in seconds.
    pub budget_seconds: f64,
    /// Whether the figure ran alone because it measures single-core cost.
    pub ran_alone: bool,
    /// When the reused results were made (RFC 3339), if they came from the cache.
    pub reused_from: Option<String>,
}

impl FigureSection {
    /// Number of failed checks.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed()).count()
    }

    /// Whether the figure was produced and all its checks pass.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.failed() == 0
    }

    /// `computed in this run`, `reused (made T)`, with `, ran alone` when it did.
    pub fn made_text(&self) -> String {
        let made = match &self.reused_from {
            Some(t) => format!("reused (made {t})"),
            None => "computed in this run".to_owned(),
        };
        if self.ran_alone {
            format!("{made}, ran alone")
        } else {
            made
        }
    }
}

/// Facts about the whole run, shown at the top of the report.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// `quick` or `full`.
    pub mode: String,
    /// `git rev-parse HEAD`, with `-dirty` if the tree had changes.
    pub revision: String,
    /// `qftml --version`.
    pub qftml_version: String,
    /// When the run started (RFC 3339).
    pub started: String,
    /// Total wall time in seconds.
    pub wall_seconds: f64,
}

/// Renders the whole `REPORT.md`.
pub fn render_report(run: &RunSummary, sections: &[FigureSection]) -> String {
    let mut out = String::new();
    let n_checks: usize = sections.iter().map(|s| s.checks.len()).sum();
    let n_failed: usize = sections.iter().map(FigureSection::failed).sum();
    let n_errors = sections.iter().filter(|s| s.error.is_some()).count();

    out.push_str("# qftml: reproduction report\n\n");
    let _ = writeln!(out, "- mode: `{}`", run.mode);
    let _ = writeln!(out, "- revision: `{}`", run.revision);
    let _ = writeln!(out, "- qftml: `{}`", run.qftml_version);
    let _ = writeln!(out, "- started: {}", run.started);
    let _ = writeln!(out, "- wall time: {:.1} s", run.wall_seconds);
    let n_undecided = sections
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.passed() && c.decisive() == Some(false))
        .count();
    let verdict = if n_failed == 0 && n_errors == 0 {
        "all pass"
    } else {
        "FAILURES"
    };
    let _ = writeln!(
        out,
        "- checks: {} of {n_checks} pass, {n_failed} fail; figures with errors: {n_errors} ({verdict})",
        n_checks - n_failed
    );
    let _ = writeln!(
        out,
        "- statistics: a `k σ` check that states a resolution δ (the smallest deviation it must detect) \
         decides only if k σ ≤ δ; {n_undecided} passing check(s) are undecided at this run's statistics\n"
    );

    let reused = sections.iter().filter(|s| s.reused_from.is_some()).count();
    if reused > 0 {
        let _ = writeln!(
            out,
            "{reused} of {} figure(s) were reused from the cache: their inputs (the qftml and xtask \
             binaries, the shipped data, the mode) are unchanged since they were made; `--force` \
             recomputes.\n",
            sections.len()
        );
    }
    let mut summary = Table::new(["figure", "checks", "failed", "wall time", "budget", "made", "status"]);
    for s in sections {
        let status = match (&s.error, s.failed()) {
            (Some(_), _) => "**ERROR**",
            (None, 0) => "pass",
            (None, _) => "**FAIL**",
        };
        summary.row([
            format!("[{0}](#{0})", s.name),
            s.checks.len().to_string(),
            s.failed().to_string(),
            format!("{:.1} s", s.wall_seconds),
            format!("{:.0} s", s.budget_seconds),
            s.made_text(),
            status.to_owned(),
        ]);
    }
    out.push_str(&summary.to_markdown());
    let alone: Vec<&str> = sections
        .iter()
        .filter(|s| s.ran_alone)
        .map(|s| s.name.as_str())
        .collect();
    if !alone.is_empty() {
        let _ = writeln!(
            out,
            "\nFigures that measure single-core cost ran alone, never beside another figure: {}.",
            alone.join(", ")
        );
    }

    for s in sections {
        let _ = write!(out, "\n## {}\n\n{}\n\n", s.name, s.description);
        if let Some(e) = &s.error {
            let _ = writeln!(
                out,
                "**Error:** the figure could not be produced:\n\n```text\n{e}\n```\n"
            );
        }
        for img in &s.images {
            let svg = img.strip_suffix(".png").map(|stem| format!("{stem}.svg"));
            let _ = write!(out, "![{}]({img})\n\n", s.name);
            if let Some(svg) = svg {
                let _ = write!(out, "([SVG]({svg}))\n\n");
            }
        }
        for (caption, table) in &s.tables {
            let _ = write!(out, "**{caption}**\n\n{}\n", table.to_markdown());
        }
        if !s.checks.is_empty() {
            let _ = write!(out, "**Checks**\n\n{}\n", checks_table(&s.checks).to_markdown());
        }
        for note in &s.notes {
            let _ = write!(out, "{note}\n\n");
        }
        let _ = writeln!(
            out,
            "Provenance: [`{0}`]({0}); wall time {1:.1} s (budget {2:.0} s); {3}.",
            s.provenance,
            s.wall_seconds,
            s.budget_seconds,
            s.made_text()
        );
    }
    out
}

/// Serde for numbers that may be NaN or infinite (JSON has neither): finite values as
/// numbers, the others as the strings `NaN`, `inf` and `-inf`, read back exactly.
mod any_f64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    fn to_repr(v: f64) -> Repr {
        if v.is_finite() {
            Repr::Number(v)
        } else {
            Repr::Text(v.to_string())
        }
    }

    fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => t.parse().map_err(|_| E::custom(format!("`{t}` is not a number"))),
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        to_repr(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        from_repr(Repr::deserialize(d)?)
    }

    pub mod option {
        use super::{Repr, from_repr, to_repr};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(to_repr).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<Repr>::deserialize(d)?.map(from_repr).transpose()
        }
    }
}
