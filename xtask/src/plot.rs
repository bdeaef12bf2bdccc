//! Figures with plotters: font registration, saving one drawing as PNG and SVG,
//! and generic line plots (with error bars) and category plots.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::fsutil::{rename, temp_sibling};

/// DejaVu Sans, embedded so bitmap text renders the same on every machine
/// (see `assets/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family every figure uses.
pub const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters (once per process).
pub fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        [FontStyle::Normal, FontStyle::Bold]
            .into_iter()
            .all(|style| plotters::style::register_font(FONT, style, DEJAVU_SANS).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the embedded DejaVu Sans font could not be loaded"))
    }
}

/// Colours for series and highlights (the Tableau 10 palette).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th palette colour (cycling).
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Something that can draw itself on any plotters backend.
pub trait Plot {
    /// Draws on `root`, which has already been filled white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Saves `plot` as `dir/name.png` and `dir/name.svg` (each written to a temporary
/// file and renamed into place); returns the two paths.
pub fn save_png_svg(plot: &impl Plot, dir: &Path, name: &str, size: (u32, u32)) -> Result<[PathBuf; 2]> {
    register_fonts()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let png = dir.join(format!("{name}.png"));
    let svg = dir.join(format!("{name}.svg"));

    let tmp = temp_sibling(&png);
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        plot.draw(&root)
            .with_context(|| format!("cannot draw {}", png.display()))?;
        root.present()?;
    }
    rename(&tmp, &png)?;

    let tmp = temp_sibling(&svg);
    {
        let root = SVGBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        plot.draw(&root)
            .with_context(|| format!("cannot draw {}", svg.display()))?;
        root.present()?;
    }
    rename(&tmp, &svg)?;
    Ok([png, svg])
}

/// A font of the figure family at `size` pixels.
pub fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// Tick labels: short, scientific for very small or large values.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e5).contains(&a) {
        let e = a.log10().round();
        if (a / 10f64.powf(e) - 1.0).abs() < 1e-9 {
            format!("{}1e{}", if v < 0.0 { "-" } else { "" }, e as i32)
        } else {
            format!("{v:.1e}")
        }
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A point with an optional symmetric error in y.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Abscissa.
    pub x: f64,
    /// Ordinate.
    pub y: f64,
    /// Standard error of `y`.
    pub y_err: Option<f64>,
}

impl Point {
    /// A point without error bar.
    pub fn new(x: f64, y: f64) -> Self {
        Self { x, y, y_err: None }
    }

    /// A point with error bar `± err`.
    pub fn with_err(x: f64, y: f64, err: f64) -> Self {
        Self { x, y, y_err: Some(err) }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    /// Connected line.
    Line,
    /// Markers only.
    Points,
    /// Line with markers.
    LinePoints,
    /// Dashed line (references, exact curves).
    Dashed,
}

/// One data series of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// The data.
    pub points: Vec<Point>,
    /// Line, points or both.
    pub style: SeriesStyle,
    /// Colour (default: palette by index).
    pub color: Option<RGBColor>,
}

impl Series {
    /// A series in the given style.
    pub fn new(label: impl Into<String>, points: Vec<Point>, style: SeriesStyle) -> Self {
        Self {
            label: label.into(),
            points,
            style,
            color: None,
        }
    }

    /// Sets the colour.
    pub fn color(mut self, color: RGBColor) -> Self {
        self.color = Some(color);
        self
    }
}

/// A horizontal reference line (an exact value, a tolerance).
#[derive(Debug, Clone, PartialEq)]
pub struct RefLine {
    /// Height.
    pub y: f64,
    /// Legend label.
    pub label: String,
}

/// A line plot with optional log axes, error bars, legend and reference lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Caption above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Fixed x range (default: from the data).
    pub x_range: Option<(f64, f64)>,
    /// Fixed y range (default: from the data and reference lines).
    pub y_range: Option<(f64, f64)>,
    /// Bounds of the plotted quantity (a probability, a phase modulus): the range
    /// fitted to the data never extends past them.
    pub y_bounds: Option<(f64, f64)>,
    /// Data series.
    pub series: Vec<Series>,
    /// Horizontal reference lines.
    pub ref_lines: Vec<RefLine>,
}

impl LinePlot {
    /// An empty plot with linear axes.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log: false,
            y_log: false,
            x_range: None,
            y_range: None,
            y_bounds: None,
            series: Vec::new(),
            ref_lines: Vec::new(),
        }
    }

    /// The plotted quantity lies in `lo..=hi`: the fitted range stops there.
    pub fn y_bounds(mut self, lo: f64, hi: f64) -> Self {
        self.y_bounds = Some((lo, hi));
        self
    }

    /// Logarithmic x axis.
    pub fn log_x(mut self) -> Self {
        self.x_log = true;
        self
    }

    /// Logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.y_log = true;
        self
    }

    /// Fixes the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Adds a series.
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// Adds a horizontal reference line.
    pub fn ref_line(mut self, y: f64, label: impl Into<String>) -> Self {
        self.ref_lines.push(RefLine { y, label: label.into() });
        self
    }

    /// The x range drawn: the fixed one, or the data's padded range.
    pub fn resolved_x_range(&self) -> (f64, f64) {
        self.x_range.unwrap_or_else(|| {
            let xs = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.x));
            padded_range(xs, self.x_log)
        })
    }

    /// The y range drawn: the fixed one, or the padded range of data, error bars
    /// and reference lines.
    pub fn resolved_y_range(&self) -> (f64, f64) {
        self.y_range.unwrap_or_else(|| {
            let ys = self
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .flat_map(|p| {
                    let e = p.y_err.unwrap_or(0.0);
                    [p.y - e, p.y + e]
                })
                .chain(self.ref_lines.iter().map(|r| r.y));
            let (lo, hi) = padded_range(ys, self.y_log);
            match self.y_bounds {
                Some((b0, b1)) => {
                    let clamped = (if self.y_log && b0 <= 0.0 { lo } else { lo.max(b0) }, hi.min(b1));
                    // Data outside its own bounds is drawn in full rather than cut.
                    if clamped.0 < clamped.1 { clamped } else { (lo, hi) }
                }
                None => (lo, hi),
            }
        })
    }
}

/// The range of the finite values (positive ones on a log axis), padded by 5 %
/// (linear, or of the decades spanned on a log axis, at least 0.03 decade); a degenerate
/// range is widened.
pub fn padded_range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (l, h) = (lo.log10(), hi.log10());
        let pad = ((h - l) * 0.05).max(0.03);
        (10f64.powf(l - pad), 10f64.powf(h + pad))
    } else if hi > lo {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo - pad, hi + pad)
    }
}

/// One axis: linear, or logarithmic drawn as log10 of the data on a linear scale
/// (so values far below 1e-16 keep their tick labels, which plotters' own log axis
/// drops) with decades labelled `1e-12`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// Logarithmic.
    pub log: bool,
    /// Drawing range (log10 of the data range on a log axis).
    pub range: (f64, f64),
}

impl Axis {
    /// An axis over the data range `(lo, hi)` (positive on a log axis).
    pub fn new(log: bool, (lo, hi): (f64, f64)) -> Self {
        let range = if log {
            (lo.max(f64::MIN_POSITIVE).log10(), hi.max(f64::MIN_POSITIVE).log10())
        } else {
            (lo, hi)
        };
        Self { log, range }
    }

    /// Data value to drawing coordinate; `None` for non-positive values on a log axis.
    pub fn to_coord(self, v: f64) -> Option<f64> {
        match (self.log, v > 0.0) {
            (false, _) => v.is_finite().then_some(v),
            (true, true) => Some(v.log10()).filter(|c| c.is_finite()),
            (true, false) => None,
        }
    }

    /// Labelled and unlabelled tick positions, in drawing coordinates, at round values:
    /// 1, 2 or 5 × 10ᵏ apart on a linear axis; on a log axis every decade (every few
    /// decades on a very wide one) with 2…9 between, or 1, 2 and 5 × 10ᵏ on an axis of
    /// one or two decades, or every 1…9 × 10ᵏ on a narrower one.
    pub fn ticks(self) -> (Vec<f64>, Vec<f64>) {
        let (lo, hi) = (self.range.0.min(self.range.1), self.range.0.max(self.range.1));
        let eps = 1e-9 * (hi - lo).abs().max(1e-300);
        let inside = |c: &f64| *c >= lo - eps && *c <= hi + eps;
        if !self.log {
            let (major, minor) = linear_ticks(lo, hi);
            return (major, minor);
        }
        let span = hi - lo;
        let decades = || (lo.floor() as i32 - 1)..=(hi.ceil() as i32 + 1);
        let at = |k: i32, m: u32| f64::from(m).log10() + f64::from(k);
        let pick = |majors: &[u32]| -> (Vec<f64>, Vec<f64>) {
            let (mut major, mut minor) = (Vec::new(), Vec::new());
            for k in decades() {
                for m in 1..=9u32 {
                    let c = at(k, m);
                    if inside(&c) {
                        if majors.contains(&m) {
                            major.push(c)
                        } else {
                            minor.push(c)
                        }
                    }
                }
            }
            (major, minor)
        };
        if span > 6.0 {
            let every = (span / 6.0).ceil() as i32;
            let (major, minor): (Vec<f64>, Vec<f64>) = decades()
                .map(f64::from)
                .filter(inside)
                .partition(|c| (*c as i32).rem_euclid(every) == 0);
            (major, minor)
        } else if span >= 2.5 {
            pick(&[1])
        } else if span >= 0.8 {
            pick(&[1, 2, 5])
        } else {
            let (major, minor) = pick(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
            if major.len() >= 3 {
                (major, minor)
            } else {
                // Less than a factor of about 3: round values on a linear scale.
                let (major, minor) = linear_ticks(10f64.powf(lo), 10f64.powf(hi));
                (
                    major.into_iter().map(f64::log10).collect(),
                    minor.into_iter().map(f64::log10).collect(),
                )
            }
        }
    }

    /// How many labels to ask plotters for (the tick positions are fixed by [`Axis::ticks`]).
    pub fn n_labels(self) -> usize {
        self.ticks().0.len().max(2)
    }

    /// Tick label at drawing coordinate `c`: the value at three significant digits,
    /// `2e-5` style far from 1.
    pub fn label(self, c: f64) -> String {
        if !self.log {
            // A tick that is zero up to rounding of the tick grid is labelled 0.
            let span = (self.range.1 - self.range.0).abs();
            return tick_label(if c.abs() < 1e-9 * span { 0.0 } else { c });
        }
        let v = 10f64.powf(c);
        let e = v.log10().floor();
        let mantissa = (v / 10f64.powf(e) * 100.0).round() / 100.0;
        if (-3.0..=4.0).contains(&e) {
            tick_label(mantissa * 10f64.powf(e))
        } else {
            format!("{}e{}", tick_label(mantissa), e as i32)
        }
    }
}

/// Round tick positions on a linear axis `lo..hi`: labelled ones 1, 2 or 5 × 10ᵏ apart
/// (about six of them) and unlabelled ones between.
pub fn linear_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let span = (hi - lo).abs();
    if !(span.is_finite() && span > 0.0) {
        return (vec![lo], Vec::new());
    }
    let raw = span / 6.0;
    let decade = 10f64.powf(raw.log10().floor());
    let mantissa = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * decade >= raw * 0.999)
        .unwrap_or(10.0);
    let step = mantissa * decade;
    let minor_step = step / if mantissa == 2.0 { 4.0 } else { 5.0 };
    let grid = |step: f64| -> Vec<f64> {
        let (first, last) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
        (first..=last)
            .map(|k| {
                let v = k as f64 * step;
                if v.abs() < 1e-9 * span { 0.0 } else { v }
            })
            .collect()
    };
    let major = grid(step);
    let minor = grid(minor_step)
        .into_iter()
        .filter(|v| major.iter().all(|m| (m - v).abs() > 1e-6 * step))
        .collect();
    (major, minor)
}

/// Radius of a data marker in pixels; an error bar shorter than its diameter is hidden
/// behind it, and the legend says so.
pub const MARKER_RADIUS: i32 = 4;

/// The grid and axis-label style every plot uses.
fn grid_style<'m, 'a, 'b, X, Y, DB>(mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    DB: DrawingBackend,
{
    mesh.label_style(font(18))
        .axis_desc_style(font(20))
        .max_light_lines(2)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
}

/// One axis of a chart: `f64` coordinates with the ticks of [`Axis::ticks`] (labels come
/// from the plot's own formatter).
#[derive(Clone)]
struct TickedCoord {
    inner: RangedCoordf64,
    major: Vec<f64>,
    minor: Vec<f64>,
}

impl Ranged for TickedCoord {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> std::ops::Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

/// A chart with `f64` coordinates on both axes.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedCoord, TickedCoord>>;

/// The coordinate of an axis drawn over `range` with the given ticks.
fn ticked((lo, hi): (f64, f64), (major, minor): (Vec<f64>, Vec<f64>)) -> TickedCoord {
    TickedCoord {
        inner: (lo..hi).into(),
        major,
        minor,
    }
}

/// Dashed horizontal reference lines across `x0..x1`; whether any carries a legend label.
fn draw_ref_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    ref_lines: &[RefLine],
    ay: Axis,
    (x0, x1): (f64, f64),
) -> Result<bool>
where
    DB::ErrorType: 'static,
{
    let mut any_label = false;
    for r in ref_lines {
        let Some(y) = ay.to_coord(r.y) else { continue };
        let style = ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(1);
        let anno = chart.draw_series(DashedLineSeries::new([(x0, y), (x1, y)], 8, 5, style))?;
        if !r.label.is_empty() {
            any_label = true;
            anno.label(r.label.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(90, 90, 90)));
        }
    }
    Ok(any_label)
}

/// The legend box every plot uses.
fn draw_legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .label_font(font(18))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()?;
    Ok(())
}

impl Plot for LinePlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let ax = Axis::new(self.x_log, self.resolved_x_range());
        let ay = Axis::new(self.y_log, self.resolved_y_range());
        let ((x0, x1), (y0, _)) = (ax.range, ay.range);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(26))
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(ticked(ax.range, ax.ticks()), ticked(ay.range, ay.ticks()))?;
        let (x_label, y_label) = (|c: &f64| ax.label(*c), |c: &f64| ay.label(*c));
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_labels(ax.n_labels())
            .y_labels(ay.n_labels())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label);
        grid_style(&mut mesh).draw()?;

        let mut any_label = draw_ref_lines(&mut chart, &self.ref_lines, ay, (x0, x1))?;

        for (i, s) in self.series.iter().enumerate() {
            let c = s.color.unwrap_or_else(|| color(i));
            let line_style = ShapeStyle::from(&c).stroke_width(2);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|p| Some((ax.to_coord(p.x)?, ay.to_coord(p.y)?)))
                .collect();

            // error bars first, so markers sit on top
            let bar = ShapeStyle::from(&c).stroke_width(1);
            let (mut with_err, mut hidden) = (0usize, 0usize);
            for p in &s.points {
                let (Some(x), Some(e)) = (ax.to_coord(p.x), p.y_err.filter(|e| *e > 0.0)) else {
                    continue;
                };
                let lo = ay.to_coord(p.y - e).unwrap_or(y0).max(y0);
                let Some(hi) = ay.to_coord(p.y + e) else { continue };
                with_err += 1;
                let pixels = (chart.backend_coord(&(x, hi)).1 - chart.backend_coord(&(x, lo)).1).abs();
                if pixels < 2 * MARKER_RADIUS {
                    hidden += 1;
                }
                chart.draw_series([PathElement::new(vec![(x, lo), (x, hi)], bar)])?;
                chart.draw_series(
                    [lo, hi].map(|y| EmptyElement::at((x, y)) + PathElement::new(vec![(-4, 0), (4, 0)], bar)),
                )?;
            }

            let anno = match s.style {
                SeriesStyle::Line | SeriesStyle::LinePoints => {
                    chart.draw_series(LineSeries::new(pts.clone(), line_style))?
                }
                SeriesStyle::Dashed => chart.draw_series(DashedLineSeries::new(pts.clone(), 10, 6, line_style))?,
                SeriesStyle::Points => {
                    chart.draw_series(pts.iter().map(|&p| Circle::new(p, MARKER_RADIUS, c.filled())))?
                }
            };
            if !s.label.is_empty() {
                any_label = true;
                let style = s.style;
                let hidden_behind = match s.style {
                    SeriesStyle::Points | SeriesStyle::LinePoints => "the markers",
                    SeriesStyle::Line | SeriesStyle::Dashed => "the line",
                };
                let label = match hidden {
                    0 => s.label.clone(),
                    h if h == with_err => format!("{} (error bars within {hidden_behind})", s.label),
                    _ => format!("{} (some error bars within {hidden_behind})", s.label),
                };
                anno.label(label).legend(move |(x, y)| {
                    let line = match style {
                        SeriesStyle::Points => ShapeStyle::from(&TRANSPARENT),
                        _ => ShapeStyle::from(&c).stroke_width(2),
                    };
                    let marker = match style {
                        SeriesStyle::Points | SeriesStyle::LinePoints => 4,
                        _ => 0,
                    };
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (20, 0)], line)
                        + Circle::new((10, 0), marker, c.filled())
                });
            }
            if s.style == SeriesStyle::LinePoints {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, MARKER_RADIUS, c.filled())))?;
            }
        }

        if any_label {
            draw_legend(&mut chart)?;
        }
        Ok(())
    }
}

/// One series of a [`CategoryPlot`]: values attached to category indices.
#[derive(Debug, Clone, PartialEq)]
pub struct CategorySeries {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// `(category index, value)`; several values per category are spread sideways.
    pub values: Vec<(usize, f64)>,
    /// Colour (default: palette by index).
    pub color: Option<RGBColor>,
}

/// Points over named categories (geometries, methods), optionally on a log y axis.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryPlot {
    /// Caption above the plot.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Fixed y range (default: from the data and reference lines).
    pub y_range: Option<(f64, f64)>,
    /// Data series.
    pub series: Vec<CategorySeries>,
    /// Horizontal reference lines.
    pub ref_lines: Vec<RefLine>,
}

impl CategoryPlot {
    /// An empty plot over these categories.
    pub fn new<S: Into<String>>(
        title: impl Into<String>,
        y_label: impl Into<String>,
        categories: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            categories: categories.into_iter().map(Into::into).collect(),
            y_log: false,
            y_range: None,
            series: Vec::new(),
            ref_lines: Vec::new(),
        }
    }

    /// Logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.y_log = true;
        self
    }

    /// Fixes the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Adds a series.
    pub fn series(mut self, label: impl Into<String>, values: Vec<(usize, f64)>) -> Self {
        self.series.push(CategorySeries {
            label: label.into(),
            values,
            color: None,
        });
        self
    }

    /// Adds a horizontal reference line.
    pub fn ref_line(mut self, y: f64, label: impl Into<String>) -> Self {
        self.ref_lines.push(RefLine { y, label: label.into() });
        self
    }

    /// The points actually drawn: several values of one series in one category are
    /// spread over ±0.3 around the category, series are offset from each other.
    pub fn positions(&self) -> Vec<Vec<(f64, f64)>> {
        let n_series = self.series.len().max(1) as f64;
        self.series
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let band = 0.6 / n_series;
                let start = -0.3 + band * k as f64;
                (0..self.categories.len())
                    .flat_map(|cat| {
                        let vals: Vec<f64> = s.values.iter().filter(|(c, _)| *c == cat).map(|(_, v)| *v).collect();
                        let m = vals.len() as f64;
                        vals.into_iter()
                            .enumerate()
                            .map(move |(j, v)| (cat as f64 + start + band * (j as f64 + 0.5) / m, v))
                    })
                    .collect()
            })
            .collect()
    }

    fn resolved_y_range(&self) -> (f64, f64) {
        self.y_range.unwrap_or_else(|| {
            let ys = self
                .series
                .iter()
                .flat_map(|s| s.values.iter().map(|v| v.1))
                .chain(self.ref_lines.iter().map(|r| r.y));
            padded_range(ys, self.y_log)
        })
    }
}

impl Plot for CategoryPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let ay = Axis::new(self.y_log, self.resolved_y_range());
        let n = self.categories.len();
        let (x0, x1) = (-0.5, n as f64 - 0.5);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(
                ticked((x0, x1), ((0..n).map(|i| i as f64).collect(), Vec::new())),
                ticked(ay.range, ay.ticks()),
            )?;
        let name = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                self.categories[i as usize].clone()
            } else {
                String::new()
            }
        };
        let y_label = |c: &f64| ay.label(*c);
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .x_labels(n.max(2) * 2 + 1)
            .x_label_formatter(&name)
            .y_labels(ay.n_labels())
            .y_label_formatter(&y_label)
            .y_desc(self.y_label.as_str());
        grid_style(&mut mesh).draw()?;

        let mut any_label = draw_ref_lines(&mut chart, &self.ref_lines, ay, (x0, x1))?;
        for (k, (s, pts)) in self.series.iter().zip(self.positions()).enumerate() {
            let c = s.color.unwrap_or_else(|| color(k));
            let pts = pts.into_iter().filter_map(|(x, v)| Some((x, ay.to_coord(v)?)));
            let anno = chart.draw_series(pts.map(|p| Circle::new(p, 5, c.filled())))?;
            if !s.label.is_empty() {
                any_label = true;
                anno.label(s.label.clone())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
            }
        }
        if any_label {
            draw_legend(&mut chart)?;
        }
        Ok(())
    }
}

/// A grid of grey-scale images (dark = large), each scaled to its own range or all to
/// `range`; a diverging map around 0 (red positive, blue negative) for feature maps.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid {
    /// Title above the grid.
    pub title: String,
    /// The images, row-major `shape[0] × shape[1]` each.
    pub images: Vec<Vec<f64>>,
    /// A caption above each image (none when empty).
    pub labels: Vec<String>,
    /// `[height, width]` of every image.
    pub shape: [usize; 2],
    /// Images per row of the grid.
    pub columns: usize,
    /// Diverging colour map around 0 instead of grey levels.
    pub diverging: bool,
    /// The grey-level range shared by every image (`None`: each image its own).
    pub range: Option<(f64, f64)>,
}

impl Plot for ImageGrid {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let root = root.titled(&self.title, font(24))?;
        let rows = self.images.len().div_ceil(self.columns).max(1);
        let cells = root.split_evenly((rows, self.columns));
        let [h, w] = self.shape;
        for (k, (image, cell)) in self.images.iter().zip(cells).enumerate() {
            let cell = match self.labels.get(k) {
                Some(label) => cell.titled(label, font(16))?,
                None => cell,
            };
            let (lo, hi) = self.range.unwrap_or_else(|| {
                image
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)))
            });
            let scale = if self.diverging {
                lo.abs().max(hi.abs()).max(1e-12)
            } else {
                (hi - lo).max(1e-12)
            };
            let (cw, ch) = cell.dim_in_pixel();
            let px = (cw.min(ch) as f64 * 0.9 / w.max(h) as f64).floor().max(1.0) as i32;
            for y in 0..h {
                for x in 0..w {
                    let v = image[y * w + x];
                    let colour = if self.diverging {
                        let t = (v / scale).clamp(-1.0, 1.0);
                        let fade = |c: f64| (255.0 * (1.0 - t.abs()) + c * t.abs()) as u8;
                        if t >= 0.0 {
                            RGBColor(fade(214.0), fade(39.0), fade(40.0))
                        } else {
                            RGBColor(fade(31.0), fade(119.0), fade(180.0))
                        }
                    } else {
                        let g = (255.0 * (1.0 - ((v - lo) / scale).clamp(0.0, 1.0))) as u8;
                        RGBColor(g, g, g)
                    };
                    let (x0, y0) = (x as i32 * px + 4, y as i32 * px + 4);
                    cell.draw(&Rectangle::new([(x0, y0), (x0 + px, y0 + px)], colour.filled()))?;
                }
            }
        }
        Ok(())
    }
}

/// Several plots side by side, in equal columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Panels<P>(pub Vec<P>);

impl<P: Plot> Plot for Panels<P> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        for (plot, area) in self.0.iter().zip(root.split_evenly((1, self.0.len().max(1)))) {
            plot.draw(&area)?;
        }
        Ok(())
    }
}
