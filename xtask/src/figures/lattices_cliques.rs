//! `lattices-cliques`: the four graphs of the talk with one maximal clique of
//! each highlighted, and their clique census against the exact counts.

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use records::GraphRecord;

use crate::figure::FigureCtx;
use crate::plot::{Plot, color, font};
use crate::report::{Check, Table};

/// The output of `qftml graph --json`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphCensus(GraphRecord);

impl std::ops::Deref for GraphCensus {
    type Target = GraphRecord;
    fn deref(&self) -> &GraphRecord {
        &self.0
    }
}

impl GraphCensus {
    /// Reads and validates `qftml graph --json` output.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_record(records::parse::<GraphRecord>(text)?)
    }

    /// Validates the record of `qftml graph --json`.
    pub fn from_record(r: GraphRecord) -> Result<Self> {
        let census = Self(r);
        census.validate()?;
        Ok(census)
    }

    fn validate(&self) -> Result<()> {
        if let Some([lx, ly]) = self.lattice
            && lx * ly != self.n_sites
        {
            bail!("lattice {lx}×{ly} does not have {} sites", self.n_sites);
        }
        if self.edges.len() != self.n_edges {
            bail!(
                "`n_edges` is {} but {} edges are listed",
                self.n_edges,
                self.edges.len()
            );
        }
        if self.cliques.len() != self.n_maximal_cliques {
            bail!(
                "`n_maximal_cliques` is {} but {} cliques are listed",
                self.n_maximal_cliques,
                self.cliques.len()
            );
        }
        let out_of_range = |i: &usize| *i >= self.n_sites;
        if self.edges.iter().flatten().any(out_of_range) || self.cliques.iter().flatten().any(out_of_range) {
            bail!("a listed edge or clique names a site outside 0..{}", self.n_sites);
        }
        Ok(())
    }

    /// Adjacency matrix of the listed edges.
    fn adjacency(&self) -> Vec<Vec<bool>> {
        let mut adj = vec![vec![false; self.n_sites]; self.n_sites];
        for &[a, b] in &self.edges {
            adj[a][b] = true;
            adj[b][a] = true;
        }
        adj
    }

    /// Number of listed cliques that are not complete subgraphs, or that some
    /// other site could extend (not maximal), checked against the listed edges.
    pub fn clique_violations(&self) -> usize {
        let adj = self.adjacency();
        self.cliques
            .iter()
            .filter(|c| {
                let complete = c
                    .iter()
                    .enumerate()
                    .all(|(k, &a)| c[k + 1..].iter().all(|&b| adj[a][b]));
                let extendable = (0..self.n_sites).any(|s| !c.contains(&s) && c.iter().all(|&a| adj[a][s]));
                !complete || extendable
            })
            .count()
    }

    /// `"32 maximal cliques of size 2"`, or the sizes joined by commas.
    pub fn census_text(&self) -> String {
        let parts: Vec<String> = self
            .clique_sizes
            .iter()
            .map(|(size, n)| format!("{n} maximal clique{} of size {size}", if *n == 1 { "" } else { "s" }))
            .collect();
        parts.join(", ")
    }
}

/// The exact census of one geometry: clique size, number of maximal cliques, edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Size of every maximal clique.
    pub clique_size: usize,
    /// Number of maximal cliques.
    pub n_cliques: usize,
    /// Number of edges.
    pub n_edges: usize,
    /// What the clique is (`edge`, `triangle`, `square`).
    pub shape: &'static str,
    /// The counting rule, for the report.
    pub rule: &'static str,
}

/// Exact counts on a periodic lattice with `n_sites` sites (L ≥ 4), or for the
/// complete bipartite graph with `bipartite = (N, M)` visible and hidden units.
pub fn expected(geometry: &str, n_sites: usize, bipartite: (usize, usize)) -> Option<Expected> {
    let v = n_sites;
    Some(match geometry {
        "square" => Expected {
            clique_size: 2,
            n_cliques: 2 * v,
            n_edges: 2 * v,
            shape: "edge",
            rule: "2V",
        },
        "triangular" => Expected {
            clique_size: 3,
            n_cliques: 2 * v,
            n_edges: 3 * v,
            shape: "triangle",
            rule: "2V",
        },
        "square-diagonals" => Expected {
            clique_size: 4,
            n_cliques: v,
            n_edges: 4 * v,
            shape: "square",
            rule: "V",
        },
        "bipartite" => {
            let nm = bipartite.0 * bipartite.1;
            Expected {
                clique_size: 2,
                n_cliques: nm,
                n_edges: nm,
                shape: "edge",
                rule: "NM",
            }
        }
        _ => return None,
    })
}

/// Height of the visible row above the hidden one in the bipartite drawing.
const BIPARTITE_ROW: f64 = 1.6;

/// Where sites are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// Periodic lattice; drawn position `(x + shear·y, yscale·y)`.
    Lattice {
        lx: usize,
        ly: usize,
        shear: f64,
        yscale: f64,
    },
    /// Visible sites on a top row, hidden ones on a bottom row.
    Bipartite { visible: usize, hidden: usize },
}

/// Displacement `d` reduced to the nearest periodic image, in `(−l/2, l/2]`.
pub fn min_image(d: i64, l: usize) -> i64 {
    let l = l as i64;
    let r = d.rem_euclid(l);
    if r > l / 2 { r - l } else { r }
}

impl Layout {
    fn for_census(c: &GraphCensus, bipartite: (usize, usize)) -> Self {
        let Some([lx, ly]) = c.lattice else {
            return Layout::Bipartite {
                visible: bipartite.0,
                hidden: bipartite.1,
            };
        };
        if c.geometry != "triangular" {
            return Layout::Lattice {
                lx,
                ly,
                shear: 0.0,
                yscale: 1.0,
            };
        }
        // shear the square-plus-one-diagonal lattice so its triangles are equilateral
        let (mut up, mut down) = (0, 0);
        for &[a, b] in &c.edges {
            let dx = min_image((b % lx) as i64 - (a % lx) as i64, lx);
            let dy = min_image((b / lx) as i64 - (a / lx) as i64, ly);
            if dx * dy == 1 {
                up += 1;
            } else if dx * dy == -1 {
                down += 1;
            }
        }
        let shear = if up >= down { -0.5 } else { 0.5 };
        Layout::Lattice {
            lx,
            ly,
            shear,
            yscale: 3f64.sqrt() / 2.0,
        }
    }

    /// Lattice coordinates (possibly fractional) to drawing coordinates.
    fn place(&self, x: f64, y: f64) -> (f64, f64) {
        match *self {
            Layout::Lattice { shear, yscale, .. } => (x + shear * y, yscale * y),
            Layout::Bipartite { .. } => (x, y),
        }
    }

    fn site(&self, i: usize) -> (f64, f64) {
        match *self {
            Layout::Lattice { lx, .. } => self.place((i % lx) as f64, (i / lx) as f64),
            Layout::Bipartite { visible, hidden } => {
                if i < visible {
                    (i as f64 - (visible as f64 - 1.0) / 2.0, BIPARTITE_ROW)
                } else {
                    ((i - visible) as f64 - (hidden as f64 - 1.0) / 2.0, 0.0)
                }
            }
        }
    }

    /// Line segments of an edge: the full segment, or two half-length stubs
    /// pointing across the periodic boundary.
    fn edge_segments(&self, a: usize, b: usize) -> Vec<[(f64, f64); 2]> {
        match *self {
            Layout::Bipartite { .. } => vec![[self.site(a), self.site(b)]],
            Layout::Lattice { lx, ly, .. } => {
                let (xa, ya) = ((a % lx) as i64, (a / lx) as i64);
                let (xb, yb) = ((b % lx) as i64, (b / lx) as i64);
                let (dx, dy) = (min_image(xb - xa, lx), min_image(yb - ya, ly));
                if xa + dx == xb && ya + dy == yb {
                    vec![[self.site(a), self.site(b)]]
                } else {
                    let half = |x: i64, y: i64, s: f64| {
                        self.place(x as f64 + s * 0.5 * dx as f64, y as f64 + s * 0.5 * dy as f64)
                    };
                    vec![[self.site(a), half(xa, ya, 1.0)], [self.site(b), half(xb, yb, -1.0)]]
                }
            }
        }
    }

    /// Whether the clique's sites are drawn next to each other (no pair wraps around).
    fn is_unwrapped(&self, clique: &[usize]) -> bool {
        match *self {
            Layout::Bipartite { .. } => true,
            Layout::Lattice { lx, .. } => clique.iter().all(|&a| {
                clique.iter().all(|&b| {
                    let dx = (b % lx) as i64 - (a % lx) as i64;
                    let dy = (b / lx) as i64 - (a / lx) as i64;
                    dx.abs() <= 1 && dy.abs() <= 1
                })
            }),
        }
    }

    /// Corners of the periodic cell (for lattices).
    fn cell(&self) -> Option<Vec<(f64, f64)>> {
        match *self {
            Layout::Lattice { lx, ly, .. } => {
                let (x1, y1) = (lx as f64 - 0.5, ly as f64 - 0.5);
                Some(vec![
                    self.place(-0.5, -0.5),
                    self.place(x1, -0.5),
                    self.place(x1, y1),
                    self.place(-0.5, y1),
                ])
            }
            Layout::Bipartite { .. } => None,
        }
    }

    /// Bounding box of the drawing in drawing coordinates.
    fn bounds(&self, n_sites: usize) -> (f64, f64, f64, f64) {
        let pts: Vec<(f64, f64)> = match self.cell() {
            Some(c) => c,
            None => (0..n_sites).map(|i| self.site(i)).collect(),
        };
        let pad = match self {
            Layout::Lattice { .. } => 0.25,
            Layout::Bipartite { .. } => 0.7,
        };
        let fold = |f: fn(f64, f64) -> f64, init: f64, sel: fn(&(f64, f64)) -> f64| pts.iter().map(sel).fold(init, f);
        (
            fold(f64::min, f64::INFINITY, |p| p.0)
                - pad
                - if matches!(self, Layout::Bipartite { .. }) {
                    1.2
                } else {
                    0.0
                },
            fold(f64::max, f64::NEG_INFINITY, |p| p.0) + pad,
            fold(f64::min, f64::INFINITY, |p| p.1) - pad,
            fold(f64::max, f64::NEG_INFINITY, |p| p.1) + pad,
        )
    }
}

/// The maximal clique to highlight: one drawn without wrap-around, nearest the
/// centre of the drawing.
fn pick_clique(c: &GraphCensus, layout: &Layout) -> Option<Vec<usize>> {
    let n = c.n_sites.max(1) as f64;
    let centre = (0..c.n_sites)
        .map(|i| layout.site(i))
        .fold((0.0, 0.0), |a, p| (a.0 + p.0 / n, a.1 + p.1 / n));
    let centroid = |cl: &[usize]| {
        let n = cl.len() as f64;
        let (sx, sy) = cl
            .iter()
            .map(|&i| layout.site(i))
            .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
        (sx / n, sy / n)
    };
    c.cliques
        .iter()
        .filter(|cl| layout.is_unwrapped(cl))
        .map(|cl| {
            let (x, y) = centroid(cl);
            ((x - centre.0).hypot(y - centre.1), cl)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, cl)| cl.clone())
}

/// One panel of the figure: a graph with one maximal clique highlighted.
pub struct Panel {
    title: String,
    census: GraphCensus,
    layout: Layout,
    highlight: Vec<usize>,
    color: RGBColor,
}

impl Panel {
    /// The `k`-th panel, for `census`; `bipartite` gives (visible, hidden) of a bipartite graph.
    pub fn new(census: GraphCensus, bipartite: (usize, usize), k: usize) -> Self {
        let layout = Layout::for_census(&census, bipartite);
        let highlight = pick_clique(&census, &layout).unwrap_or_default();
        let graph = match census.lattice {
            Some([lx, ly]) => format!("{lx}×{ly} periodic"),
            None => String::new(),
        };
        let title = match census.geometry.as_str() {
            "square" => format!("square lattice, {graph}"),
            "triangular" => format!("triangular lattice, {graph}"),
            "square-diagonals" => format!("square + both diagonals, {graph}"),
            _ => format!("bipartite graph, {} visible × {} hidden", bipartite.0, bipartite.1),
        };
        Self {
            title,
            census,
            layout,
            highlight,
            color: color([3, 0, 2, 4][k % 4]),
        }
    }

    /// The highlighted maximal clique.
    pub fn highlight(&self) -> &[usize] {
        &self.highlight
    }
}

/// The panels, two per row.
pub struct LatticesFigure {
    /// The panels in reading order.
    pub panels: Vec<Panel>,
}

impl Plot for LatticesFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let cols = 2;
        let rows = self.panels.len().div_ceil(cols);
        for (area, panel) in root.split_evenly((rows, cols)).iter().zip(&self.panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    let (head, body) = area.split_vertically(96);
    let centre = Pos::new(HPos::Center, VPos::Top);
    let cx = (w / 2) as i32;
    head.draw(&Text::new(p.title.clone(), (cx, 12), font(26).pos(centre)))?;
    head.draw(&Text::new(p.census.census_text(), (cx, 44), font(20).pos(centre)))?;
    let sites: Vec<String> = p.highlight.iter().map(usize::to_string).collect();
    let hl = format!("highlighted: {{{}}}", sites.join(", "));
    head.draw(&Text::new(hl, (cx, 70), font(18).pos(centre).color(&p.color)))?;

    let body = body.margin(4, 16, 16, 16);
    let (bw, bh) = body.dim_in_pixel();
    // equal scales on both axes: widen the tighter direction
    let (mut x0, mut x1, mut y0, mut y1) = p.layout.bounds(p.census.n_sites);
    let (sx, sy) = ((x1 - x0) / f64::from(bw), (y1 - y0) / f64::from(bh));
    if sx > sy {
        let extra = (sx * f64::from(bh) - (y1 - y0)) / 2.0;
        (y0, y1) = (y0 - extra, y1 + extra);
    } else {
        let extra = (sy * f64::from(bw) - (x1 - x0)) / 2.0;
        (x0, x1) = (x0 - extra, x1 + extra);
    }
    let mut chart = ChartBuilder::on(&body).build_cartesian_2d(x0..x1, y0..y1)?;

    if let Some(cell) = p.layout.cell() {
        let mut closed = cell.clone();
        closed.push(cell[0]);
        let style = ShapeStyle::from(&RGBColor(170, 170, 170)).stroke_width(1);
        chart.draw_series([DashedPathElement::new(closed, 6, 5, style)])?;
    }

    let edge_style = ShapeStyle::from(&RGBColor(110, 110, 110)).stroke_width(2);
    for &[a, b] in &p.census.edges {
        chart.draw_series(
            p.layout
                .edge_segments(a, b)
                .into_iter()
                .map(|s| PathElement::new(s.to_vec(), edge_style)),
        )?;
    }

    // the highlighted clique: filled polygon, thick edges, coloured sites
    let pts: Vec<(f64, f64)> = p.highlight.iter().map(|&i| p.layout.site(i)).collect();
    if pts.len() >= 3 {
        let n = pts.len() as f64;
        let (mx, my) = pts.iter().fold((0.0, 0.0), |a, q| (a.0 + q.0 / n, a.1 + q.1 / n));
        let mut ring = pts.clone();
        ring.sort_by(|a, b| (a.1 - my).atan2(a.0 - mx).total_cmp(&(b.1 - my).atan2(b.0 - mx)));
        chart.draw_series([Polygon::new(ring, p.color.mix(0.25).filled())])?;
    }
    let thick = ShapeStyle::from(&p.color).stroke_width(6);
    for (k, &a) in pts.iter().enumerate() {
        for &b in &pts[k + 1..] {
            chart.draw_series([PathElement::new(vec![a, b], thick)])?;
        }
    }

    if let Layout::Bipartite { visible, hidden } = p.layout {
        let (lx, _, _, _) = p.layout.bounds(p.census.n_sites);
        let left = Pos::new(HPos::Left, VPos::Center);
        chart.draw_series([
            Text::new(
                format!("visible ({visible})"),
                (lx + 0.1, BIPARTITE_ROW),
                font(18).pos(left),
            ),
            Text::new(format!("hidden ({hidden})"), (lx + 0.1, 0.0), font(18).pos(left)),
        ])?;
    }

    for i in 0..p.census.n_sites {
        let at = p.layout.site(i);
        let hidden = matches!(p.layout, Layout::Bipartite { visible, .. } if i >= visible);
        let lit = p.highlight.contains(&i);
        let c = if lit { p.color } else { BLACK };
        let r = if lit { 10 } else { 7 };
        chart.draw_series([Circle::new(at, r, c.filled())])?;
        if hidden {
            chart.draw_series([Circle::new(at, r - 3, WHITE.filled())])?;
        }
    }
    Ok(())
}

/// Runs `qftml graph` on the four geometries, checks the census and draws the panels.
pub fn run(fig: &mut FigureCtx<'_>) -> Result<()> {
    let l = fig.fixed("lattice", 4u64);
    let visible = fig.fixed("visible", 3u64);
    let hidden = fig.fixed("hidden", 2u64);
    let bip = (visible as usize, hidden as usize);
    let (ls, vs, hs) = (l.to_string(), visible.to_string(), hidden.to_string());

    let mut table = Table::new([
        "geometry",
        "graph",
        "sites",
        "edges",
        "maximal cliques",
        "highlighted clique",
    ]);
    let mut panels = Vec::new();
    // The geometries of the figure, in panel order.
    for (k, geometry) in records::GEOMETRIES.into_iter().enumerate() {
        let args: Vec<&str> = if geometry == "bipartite" {
            vec!["graph", "--geometry", geometry, "--visible", &vs, "--hidden", &hs]
        } else {
            vec!["graph", "--geometry", geometry, "--lattice", &ls]
        };
        let census = GraphCensus::from_record(fig.qftml(&args)?)
            .with_context(|| format!("unexpected `qftml graph --geometry {geometry}` output"))?;
        let graph = match census.lattice {
            Some([lx, ly]) => format!("{lx}×{ly} periodic"),
            None => format!("complete bipartite {visible}+{hidden}"),
        };

        let exp = expected(geometry, census.n_sites, bip).context("unknown geometry")?;
        let of_size = census.clique_sizes.get(&exp.clique_size).copied().unwrap_or(0);
        let tag = match census.lattice {
            Some([lx, ly]) => format!("{geometry} {lx}×{ly}"),
            None => format!("{geometry} {visible}+{hidden}"),
        };
        fig.check(Check::exact(
            format!(
                "{tag}: maximal cliques of size {} ({}s, {})",
                exp.clique_size, exp.shape, exp.rule
            ),
            of_size as f64,
            exp.n_cliques as f64,
            "exact",
        ));
        fig.check(Check::exact(
            format!("{tag}: maximal cliques of any other size"),
            (census.n_maximal_cliques - of_size) as f64,
            0.0,
            "talk",
        ));
        let edge_rule = match geometry {
            "square" => "2V",
            "triangular" => "3V",
            "square-diagonals" => "4V",
            _ => "NM",
        };
        fig.check(Check::exact(
            format!("{tag}: edges ({edge_rule})"),
            census.n_edges as f64,
            exp.n_edges as f64,
            "exact",
        ));
        fig.check(Check::exact(
            format!("{tag}: listed cliques not complete or not maximal"),
            census.clique_violations() as f64,
            0.0,
            "enumeration",
        ));

        let panel = Panel::new(census, bip, k);
        let hl: Vec<String> = panel.highlight.iter().map(usize::to_string).collect();
        table.row([
            geometry.to_owned(),
            graph,
            panel.census.n_sites.to_string(),
            panel.census.n_edges.to_string(),
            panel.census.census_text(),
            format!("{{{}}}", hl.join(", ")),
        ]);
        panels.push(panel);
    }
    fig.table("Clique census from `qftml graph`", table);
    fig.note(
        "Sites are dots (hidden units of the bipartite graph are open circles); edges that wrap around \
         the periodic boundary are drawn as stubs reaching the dashed cell border. Site i of a lattice \
         sits at x = i mod L, y = ⌊i / L⌋; the triangular lattice (square lattice plus the (1, 1) \
         diagonal) is sheared so that its triangles are equilateral.",
    );
    fig.plot(&LatticesFigure { panels }, (1400, 1400))
}
