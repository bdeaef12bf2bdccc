//! Unit tests of the report, provenance and plot helpers; none needs the qftml binary.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::figure::{Figure, FigureCtx, RunEnv};
use crate::figures::FIGURES;
use crate::figures::lattices_cliques::{self, GraphCensus, LatticesFigure, Panel, min_image};
use crate::fsutil::{civil_from_days, rfc3339, write_atomic};
use crate::plot::{CategoryPlot, LinePlot, Point, Series, SeriesStyle, padded_range, save_png_svg, tick_label};
use crate::provenance::{CommandRecord, GitState, Provenance};
use crate::qftml::executable_from_cargo_messages;
use crate::report::{Check, FigureSection, RunSummary, Table, Tolerance, checks_table, fmt_num, render_report};
use crate::reproduce::{run_figure, select};

/// A fresh, empty temporary directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qftml-xtask-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a test directory, unless `XTASK_KEEP_TEST_OUTPUT` is set (to look at the images).
fn cleanup(dir: PathBuf) {
    if std::env::var_os("XTASK_KEEP_TEST_OUTPUT").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    } else {
        eprintln!("kept {}", dir.display());
    }
}

#[track_caller]
fn check_fmt(v: f64, expected: &str) {
    assert_eq!(fmt_num(v), expected, "fmt_num({v:e})");
}

#[test]
fn numbers_format_for_tables() {
    check_fmt(32.0, "32");
    check_fmt(-4.0, "-4");
    check_fmt(0.0, "0");
    check_fmt(1.52425, "1.52425");
    check_fmt(0.175, "0.175");
    check_fmt(123.456789, "123.457");
    check_fmt(3.2e-16, "3.2e-16");
    check_fmt(3.5544e-16, "3.554e-16");
    check_fmt(1e-12, "1e-12");
    check_fmt(2.5e7 + 0.5, "2.5e7");
    check_fmt(f64::NAN, "NaN");
    check_fmt(f64::INFINITY, "inf");
}

#[test]
fn tick_labels_are_short() {
    assert_eq!(tick_label(0.0), "0");
    assert_eq!(tick_label(1e-12), "1e-12");
    assert_eq!(tick_label(2.5), "2.5");
    assert_eq!(tick_label(100.0), "100");
    assert_eq!(tick_label(3e-7), "3.0e-7");
}

#[test]
fn tables_render_as_markdown_with_escaped_pipes() {
    let mut t = Table::new(["a", "b"]);
    t.row(["1", "x|y"]).row(["2"]);
    assert_eq!(t.len(), 2);
    assert_eq!(t.to_markdown(), "| a | b |\n|---|---|\n| 1 | x\\|y |\n| 2 |  |\n");
}

#[track_caller]
fn check_verdict(c: Check, passes: bool) {
    assert_eq!(c.passed(), passes, "{c:?}");
}

#[test]
fn checks_apply_their_tolerance() {
    check_verdict(Check::exact("n", 32.0, 32.0, "exact"), true);
    check_verdict(Check::exact("n", 31.0, 32.0, "exact"), false);
    check_verdict(Check::within("m", 3e-16, 0.0, Tolerance::Abs(1e-12), "exact"), true);
    check_verdict(Check::within("m", 2e-12, 0.0, Tolerance::Abs(1e-12), "exact"), false);
    check_verdict(Check::within("m", f64::NAN, 0.0, Tolerance::Abs(1e-12), "exact"), false);
    check_verdict(Check::within("r", 1.01, 1.0, Tolerance::Rel(0.02), "talk"), true);
    check_verdict(Check::within("r", 1.03, 1.0, Tolerance::Rel(0.02), "talk"), false);
    check_verdict(Check::sigma("s", 1.05, 0.02, 1.0, 3.0, "exact"), true);
    check_verdict(Check::sigma("s", 1.10, 0.02, 1.0, 3.0, "exact"), false);
    // the reference's own error widens the window: σ = hypot(0.02, 0.02)
    check_verdict(
        Check::sigma("s", 1.07, 0.02, 1.0, 3.0, "direct").with_reference_err(0.02),
        true,
    );
    check_verdict(Check::within("s", 1.0, 1.0, Tolerance::Sigma(3.0), "no error"), false);
}

#[test]
fn checks_table_shows_difference_tolerance_and_verdict() {
    let md = checks_table(&[
        Check::exact("edges", 32.0, 32.0, "exact"),
        Check::sigma("⟨φ²⟩", 1.1, 0.02, 1.0, 3.0, "exact"),
    ])
    .to_markdown();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0],
        "| quantity | measured | reference | source | difference | tolerance | result |"
    );
    assert_eq!(lines[2], "| edges | 32 | 32 | exact | 0 | exact | pass |");
    assert_eq!(
        lines[3],
        "| ⟨φ²⟩ | 1.1 ± 0.02 | 1 | exact | 0.1 (5.00σ) | ≤ 3σ (σ = 0.02) | **FAIL** |"
    );
}

#[test]
fn report_has_summary_sections_images_and_verdicts() {
    let mut table = Table::new(["geometry", "edges"]);
    table.row(["square", "32"]);
    let ok = FigureSection {
        name: "lattices-cliques".into(),
        description: "The graphs.".into(),
        images: vec!["figures/lattices-cliques.png".into()],
        tables: vec![("Census".into(), table)],
        checks: vec![Check::exact("edges", 32.0, 32.0, "exact")],
        notes: vec!["A note.".into()],
        provenance: "provenance/lattices-cliques.json".into(),
        wall_seconds: 1.25,
        error: None,
        budget_seconds: 2.0,
        ran_alone: true,
        reused_from: Some("2026-11-28T16:00:00Z".into()),
    };
    let bad = FigureSection {
        name: "broken".into(),
        checks: vec![Check::exact("n", 1.0, 2.0, "exact")],
        error: Some("qftml failed".into()),
        provenance: "provenance/broken.json".into(),
        ..FigureSection::default()
    };
    assert!(ok.ok());
    assert!(!bad.ok());
    let run = RunSummary {
        mode: "quick".into(),
        revision: "abc-dirty".into(),
        qftml_version: "qftml 0.1.0".into(),
        started: "2026-11-28T17:00:00Z".into(),
        wall_seconds: 3.0,
    };
    let md = render_report(&run, &[ok, bad]);
    for needle in [
        "# qftml: reproduction report",
        "- mode: `quick`",
        "- revision: `abc-dirty`",
        "- checks: 1 of 2 pass, 1 fail; figures with errors: 1 (FAILURES)",
        "| [lattices-cliques](#lattices-cliques) | 1 | 0 | 1.2 s | 2 s | reused (made 2026-11-28T16:00:00Z), ran alone | pass |",
        "| [broken](#broken) | 1 | 1 | 0.0 s | 0 s | computed in this run | **ERROR** |",
        "1 of 2 figure(s) were reused from the cache",
        "Figures that measure single-core cost ran alone, never beside another figure: lattices-cliques.",
        "## lattices-cliques\n\nThe graphs.",
        "![lattices-cliques](figures/lattices-cliques.png)",
        "([SVG](figures/lattices-cliques.svg))",
        "**Census**\n\n| geometry | edges |",
        "A note.",
        "Provenance: [`provenance/lattices-cliques.json`](provenance/lattices-cliques.json); wall time 1.2 s \
         (budget 2 s); reused (made 2026-11-28T16:00:00Z), ran alone.",
        "**Error:** the figure could not be produced:\n\n```text\nqftml failed\n```",
    ] {
        assert!(md.contains(needle), "report lacks {needle:?}:\n{md}");
    }
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn provenance_records_everything_in_order() {
    let mut seeds = serde_json::Map::new();
    seeds.insert("base_seed".into(), json!(1));
    let mut parameters = serde_json::Map::new();
    parameters.insert("lattice".into(), json!(4));
    parameters.insert("configurations".into(), json!(8));
    let p = Provenance {
        figure: "toy".into(),
        mode: "quick".into(),
        qftml_version: "qftml 0.1.0".into(),
        qftml_path: "/x/target/release/qftml".into(),
        git: GitState {
            revision: "0123abcd".into(),
            dirty: true,
        },
        seeds,
        parameters,
        commands: vec![CommandRecord {
            argv: vec!["qftml".into(), "graph".into(), "--json".into()],
            wall_seconds: 0.01,
            exit_code: Some(0),
        }],
        outputs: vec!["figures/toy.png".into()],
        started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        finished: UNIX_EPOCH + Duration::from_secs(1_700_000_002),
        wall_seconds: 2.0,
        error: None,
    };
    let v = p.to_json(&[Check::within("m", f64::NAN, 0.0, Tolerance::Abs(1e-12), "exact")]);
    assert_eq!(v["format"], "qftml-provenance/1");
    assert_eq!(v["git_revision"], "0123abcd");
    assert_eq!(v["git_dirty"], true);
    assert_eq!(v["started"], "2023-11-14T22:13:20Z");
    assert_eq!(v["finished"], "2023-11-14T22:13:22Z");
    assert_eq!(v["commands"][0]["argv"], json!(["qftml", "graph", "--json"]));
    assert_eq!(v["checks"][0]["measured"], "NaN");
    assert_eq!(v["checks"][0]["passed"], false);
    let keys: Vec<&String> = v["parameters"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["lattice", "configurations"], "parameters keep their order");
}

#[test]
fn git_state_describes_dirty_trees() {
    let g = GitState {
        revision: "abc".into(),
        dirty: true,
    };
    assert_eq!(g.describe(), "abc-dirty");
    let outside = GitState::read(&std::env::temp_dir());
    assert!(!outside.revision.is_empty());
}

#[test]
fn atomic_writes_leave_no_temporary_files() {
    let dir = temp_dir("atomic");
    let path = dir.join("sub").join("REPORT.md");
    write_atomic(&path, "first").unwrap();
    write_atomic(&path, "second").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
    let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["REPORT.md"]);
    cleanup(dir);
}

#[test]
fn cargo_messages_name_the_qftml_executable() {
    let stdout = [
        r#"{"reason":"compiler-artifact","target":{"name":"mrf_graph"},"executable":null}"#,
        r#"{"reason":"compiler-artifact","target":{"name":"qftml"},"executable":"/w/target/release/qftml"}"#,
        r#"{"reason":"build-finished","success":true}"#,
    ]
    .join("\n");
    assert_eq!(
        executable_from_cargo_messages(&stdout),
        Some(PathBuf::from("/w/target/release/qftml"))
    );
    assert_eq!(executable_from_cargo_messages("not json\n"), None);
}

#[test]
fn padded_ranges_cover_the_data() {
    assert_eq!(padded_range([0.0, 10.0].into_iter(), false), (-0.5, 10.5));
    assert_eq!(padded_range([2.0, 2.0].into_iter(), false), (1.8, 2.2));
    let (lo, hi) = padded_range([1e-3, 0.0, -1.0, 10.0].into_iter(), true);
    assert!(lo < 1e-3 && lo > 1e-4 && hi > 10.0 && hi < 100.0, "{lo} {hi}");
    assert_eq!(padded_range(std::iter::empty(), true), (0.1, 10.0));
}

/// Asserts that `stem.png` is a PNG of the given size and `stem.svg` an SVG containing `text`.
#[track_caller]
fn check_image_pair(dir: &std::path::Path, stem: &str, size: (u32, u32), text: &str) {
    let png = std::fs::read(dir.join(format!("{stem}.png"))).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), size);
    let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.contains(text), "svg lacks {text:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn line_plots_write_png_and_svg_on_every_axis_kind() {
    let dir = temp_dir("line-plot");
    let pts: Vec<Point> = (1..=20)
        .map(|k| Point::with_err(f64::from(k), 1.0 / f64::from(k), 0.1 / f64::from(k)))
        .collect();
    let exact: Vec<Point> = (1..=20).map(|k| Point::new(f64::from(k), 1.0 / f64::from(k))).collect();
    for (k, (lx, ly)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let mut plot = LinePlot::new("w_ij against epochs", "epoch", "w")
            .series(Series::new("training", pts.clone(), SeriesStyle::LinePoints))
            .series(Series::new("exact", exact.clone(), SeriesStyle::Dashed))
            .series(Series::new("", pts.clone(), SeriesStyle::Points))
            .series(Series::new("line", exact.clone(), SeriesStyle::Line))
            .ref_line(0.5, "target");
        plot.x_log = lx;
        plot.y_log = ly;
        let stem = format!("line-{k}");
        save_png_svg(&plot, &dir, &stem, (640, 480)).unwrap();
        check_image_pair(&dir, &stem, (640, 480), "w_ij against epochs");
    }
    cleanup(dir);
}

#[test]
fn category_plots_write_png_and_svg() {
    let dir = temp_dir("category-plot");
    let plot = CategoryPlot::new("mismatch", "relative mismatch", ["square", "triangular"])
        .log_y()
        .series("a", vec![(0, 1e-16), (0, 3e-16), (1, 1e-15)])
        .series("b", vec![(1, 1e-17)])
        .ref_line(1e-12, "tolerance");
    let pos = plot.positions();
    assert_eq!(pos[0].len(), 3);
    assert!(pos[0].iter().all(|(x, _)| (-0.5..1.5).contains(x)));
    assert!(pos[0][0].0 < pos[0][1].0, "values in one category are spread");
    save_png_svg(&plot, &dir, "category", (800, 500)).unwrap();
    check_image_pair(&dir, "category", (800, 500), "relative mismatch");
    let linear = CategoryPlot::new("linear", "y", ["a", "b", "c"]).series("s", vec![(0, 1.0), (2, -1.0)]);
    save_png_svg(&linear, &dir, "category-linear", (400, 300)).unwrap();
    check_image_pair(&dir, "category-linear", (400, 300), "linear");
    cleanup(dir);
}

// ---- qftml graph output: fixtures built like the real command's JSON ----

/// `qftml graph --json` for a periodic L×L lattice of the given geometry.
fn lattice_fixture(geometry: &str, l: usize) -> Value {
    let site = |x: usize, y: usize| (y % l) * l + (x % l);
    let mut edges = Vec::new();
    let mut cliques = Vec::new();
    for y in 0..l {
        for x in 0..l {
            let (i, r, u, ru) = (site(x, y), site(x + 1, y), site(x, y + 1), site(x + 1, y + 1));
            edges.push([i, r]);
            edges.push([i, u]);
            match geometry {
                "square" => cliques.extend([vec![i, r], vec![i, u]]),
                "triangular" => {
                    edges.push([i, ru]);
                    cliques.extend([vec![i, r, ru], vec![i, u, ru]]);
                }
                "square-diagonals" => {
                    edges.extend([[i, ru], [r, u]]);
                    cliques.push(vec![i, r, u, ru]);
                }
                _ => unreachable!(),
            }
        }
    }
    let size = cliques[0].len();
    json!({
        "schema": 1,
        "geometry": geometry,
        "lattice": [l, l],
        "n_sites": l * l,
        "n_edges": edges.len(),
        "n_maximal_cliques": cliques.len(),
        "clique_sizes": { size.to_string(): cliques.len() },
        "edges": edges,
        "cliques": cliques,
    })
}

fn bipartite_fixture(n: usize, m: usize) -> Value {
    let edges: Vec<[usize; 2]> = (0..n).flat_map(|v| (0..m).map(move |h| [v, n + h])).collect();
    json!({
        "schema": 1,
        "geometry": "bipartite",
        "lattice": null,
        "n_sites": n + m,
        "n_edges": n * m,
        "n_maximal_cliques": n * m,
        "clique_sizes": { "2": n * m },
        "edges": edges,
        "cliques": edges,
    })
}

#[track_caller]
fn check_census(v: Value, sizes: &[(usize, usize)], n_edges: usize) {
    let c = GraphCensus::from_json(&v.to_string()).unwrap();
    assert_eq!(c.clique_sizes.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), sizes);
    assert_eq!(c.n_edges, n_edges);
    assert_eq!(c.clique_violations(), 0);
    let e = lattices_cliques::expected(&c.geometry, c.n_sites, (3, 2)).unwrap();
    assert_eq!(
        (e.clique_size, e.n_cliques, e.n_edges),
        (sizes[0].0, sizes[0].1, n_edges)
    );
}

#[test]
fn graph_census_reads_the_talks_facts() {
    check_census(lattice_fixture("square", 4), &[(2, 32)], 32);
    check_census(lattice_fixture("triangular", 4), &[(3, 32)], 48);
    check_census(lattice_fixture("square-diagonals", 4), &[(4, 16)], 64);
    check_census(bipartite_fixture(3, 2), &[(2, 6)], 6);
}

#[test]
fn graph_census_rejects_inconsistent_output() {
    let mut v = lattice_fixture("square", 4);
    v["n_edges"] = json!(31);
    let err = GraphCensus::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(err.contains("`n_edges` is 31 but 32 edges are listed"), "{err}");
    let mut v = lattice_fixture("square", 4);
    v.as_object_mut().unwrap().remove("n_sites");
    let err = GraphCensus::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(err.contains("`n_sites`"), "{err}");
    let mut v = lattice_fixture("square", 4);
    v["edges"][0] = json!([0, 99]);
    assert!(GraphCensus::from_json(&v.to_string()).is_err());
    let mut v = lattice_fixture("square", 4);
    v["schema"] = json!(2);
    let err = GraphCensus::from_json(&v.to_string()).unwrap_err().to_string();
    assert!(err.contains("schema 2"), "{err}");
}

#[test]
fn non_maximal_or_incomplete_cliques_are_counted() {
    // {A,B,C} and {C,D} are the maximal cliques; {A,B} is not maximal, {A,B,C,D} not a clique
    let census = |cliques: Value| {
        GraphCensus::from_json(
            &json!({
                "schema": 1, "geometry": "four-point", "lattice": null, "n_sites": 4, "n_edges": 4,
                "n_maximal_cliques": cliques.as_array().unwrap().len(),
                "clique_sizes": {}, "edges": [[0, 1], [0, 2], [1, 2], [2, 3]], "cliques": cliques,
            })
            .to_string(),
        )
        .unwrap()
    };
    assert_eq!(census(json!([[0, 1, 2], [2, 3]])).clique_violations(), 0);
    assert_eq!(census(json!([[0, 1], [2, 3]])).clique_violations(), 1);
    assert_eq!(census(json!([[0, 1, 2, 3]])).clique_violations(), 1);
}

#[test]
fn minimal_images_wrap_to_the_nearest_copy() {
    assert_eq!(min_image(3, 4), -1);
    assert_eq!(min_image(-3, 4), 1);
    assert_eq!(min_image(1, 4), 1);
    assert_eq!(min_image(2, 4), 2);
    assert_eq!(min_image(-4, 5), 1);
}

#[test]
fn lattice_panels_highlight_an_unwrapped_clique_and_draw() {
    let dir = temp_dir("lattices");
    let fixtures = [
        lattice_fixture("square", 4),
        lattice_fixture("triangular", 4),
        lattice_fixture("square-diagonals", 4),
        bipartite_fixture(3, 2),
    ];
    let panels: Vec<Panel> = fixtures
        .iter()
        .enumerate()
        .map(|(k, v)| Panel::new(GraphCensus::from_json(&v.to_string()).unwrap(), (3, 2), k))
        .collect();
    let sizes: Vec<usize> = panels.iter().map(|p| p.highlight().len()).collect();
    assert_eq!(sizes, [2, 3, 4, 2]);
    // the square's highlighted plaquette sits inside the cell: {5, 6, 9, 10}
    let mut square = panels[2].highlight().to_vec();
    square.sort_unstable();
    assert_eq!(square, [5, 6, 9, 10]);
    save_png_svg(&LatticesFigure { panels }, &dir, "lattices", (1000, 1000)).unwrap();
    check_image_pair(&dir, "lattices", (1000, 1000), "32 maximal cliques of size 2");
    cleanup(dir);
}

#[test]
fn registry_names_are_unique_and_selectable() {
    let mut names: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
    assert!(names.iter().all(|n| !n.is_empty() && !n.contains(' ')));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FIGURES.len(), "figure names must be unique");
    assert!(FIGURES.iter().all(|f| !f.description.is_empty()));

    assert_eq!(select(FIGURES, &[]).unwrap().len(), FIGURES.len());
    let one = select(FIGURES, &["hammersley-clifford".to_owned()]).unwrap();
    assert_eq!(one.iter().map(|f| f.name).collect::<Vec<_>>(), ["hammersley-clifford"]);
    let err = select(FIGURES, &["nope".to_owned()]).unwrap_err().to_string();
    assert!(
        err.contains("no figure named `nope`; known figures: lattices-cliques"),
        "{err}"
    );
}

fn toy_figure(fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    let n = fig.param("points", 5u64, 50u64);
    let seed = fig.seed("seed", 7);
    let pts: Vec<Point> = (0..n).map(|k| Point::new(k as f64, (k + seed) as f64)).collect();
    fig.plot(
        &LinePlot::new("toy", "k", "k + seed").series(Series::new("", pts, SeriesStyle::Line)),
        (300, 200),
    )?;
    let mut t = Table::new(["n"]);
    t.row([n.to_string()]);
    fig.table("size", t);
    fig.check(Check::exact("points", n as f64, 5.0, "exact"));
    fig.note("toy note");
    Ok(())
}

fn failing_figure(fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    fig.qftml::<records::GraphRecord>(&["graph"])?;
    Ok(())
}

/// A quick-mode environment without a `qftml` binary, writing to `dir`.
fn toy_env(dir: &std::path::Path) -> RunEnv {
    RunEnv {
        quick: true,
        out_dir: dir.to_path_buf(),
        qftml: None,
        qftml_version: "qftml test".into(),
        git: GitState {
            revision: "r".into(),
            dirty: false,
        },
    }
}

#[test]
fn a_figure_run_writes_its_plot_and_provenance() {
    let dir = temp_dir("run-figure");
    let env = toy_env(&dir);
    let toy = Figure {
        name: "toy",
        description: "A toy.",
        run: toy_figure,
        budget: TOY_BUDGET,
        runs_alone: false,
    };
    let section = run_figure(&env, &toy).unwrap();
    assert!(section.ok(), "{section:?}");
    assert_eq!(section.images, ["figures/toy.png"]);
    check_image_pair(&dir.join("figures"), "toy", (300, 200), "toy");
    let prov: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("provenance/toy.json")).unwrap()).unwrap();
    assert_eq!(prov["mode"], "quick");
    assert_eq!(prov["parameters"]["points"], 5);
    assert_eq!(prov["seeds"]["seed"], 7);
    assert_eq!(
        prov["outputs"],
        json!(["figures/toy.png", "figures/toy.svg", "provenance/toy.json"])
    );
    assert_eq!(prov["checks"][0]["passed"], true);

    let full = RunEnv {
        quick: false,
        ..env.clone()
    };
    let section = run_figure(&full, &toy).unwrap();
    assert_eq!(section.failed(), 1, "the full run has 50 points, not 5");

    let broken = Figure {
        name: "broken",
        description: "Needs qftml.",
        run: failing_figure,
        budget: TOY_BUDGET,
        runs_alone: false,
    };
    let section = run_figure(&env, &broken).unwrap();
    assert!(section.error.as_deref().unwrap().contains("needs the qftml binary"));
    let prov: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("provenance/broken.json")).unwrap()).unwrap();
    assert!(prov["error"].as_str().unwrap().contains("qftml"));
    cleanup(dir);
}

#[test]
fn action_output_is_read_and_cross_checked() {
    use crate::figures::hammersley_clifford::ActionCheck;
    let text = json!({
        "schema": 1, "geometry": "square", "n_sites": 16, "n_pairs": 32, "n_maximal_cliques": 32,
        "random_couplings": true, "seed": 1, "action": 12.5, "log_product_potentials": -12.5,
        "factorisation_mismatch": 0.0, "blanket_violation": 1e-17, "gradient_norm": 3.0,
        "gradient": { "w": [], "a": [], "b": [], "r": [] },
    })
    .to_string();
    let a = ActionCheck::from_record(&records::parse(&text).unwrap());
    assert_eq!(a.n_sites, 16);
    assert_eq!(a.recomputed_mismatch(), 0.0);
    let err = records::parse::<records::ActionRecord>(&json!({"schema": 1, "n_sites": 16}).to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`geometry`"), "{err}");
}

#[test]
fn elapsed_helpers_are_monotone() {
    let t = Instant::now();
    assert!(t.elapsed().as_secs_f64() >= 0.0);
    assert!(crate::fsutil::unix_seconds(SystemTime::now()) > 1.7e9);
}

#[test]
fn qftml_stderr_is_forwarded_and_its_tail_kept() {
    let lines: String = (0..40).map(|k| format!("line {k}\n")).collect();
    let tail = crate::qftml::forward_stderr(lines.as_bytes(), "  toy | ");
    assert!(tail.starts_with("line 10\n") && tail.ends_with("line 39"), "{tail}");
}

#[test]
fn a_missing_qftml_binary_is_a_recorded_error() {
    let q = crate::qftml::Qftml::new(PathBuf::from("/nonexistent/qftml"));
    let (result, record) = q.run_json::<records::GraphRecord>(&["graph", "--geometry", "square"]);
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("cannot run /nonexistent/qftml")
    );
    assert_eq!(record.argv, ["qftml", "graph", "--geometry", "square", "--json"]);
    assert_eq!(record.exit_code, None);
}

const TOY_BUDGET: crate::figure::Budget = crate::figure::Budget {
    quick_s: 1.0,
    full_s: 2.0,
};

/// How often each cache-test figure ran.
static TOY_RUNS: [std::sync::atomic::AtomicUsize; 3] = [const { std::sync::atomic::AtomicUsize::new(0) }; 3];

fn counted(k: usize, fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    TOY_RUNS[k].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    toy_figure(fig)
}

fn counted_a(fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    counted(0, fig)
}

fn counted_b(fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    counted(1, fig)
}

fn counted_broken(fig: &mut FigureCtx<'_>) -> anyhow::Result<()> {
    TOY_RUNS[2].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    failing_figure(fig)
}

fn runs() -> [usize; 3] {
    TOY_RUNS.each_ref().map(|c| c.load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn unchanged_figures_are_reused_and_changed_ones_made_again() {
    use crate::cache::RunInputs;
    use crate::reproduce::RunFigures;

    let dir = temp_dir("cache");
    let env = toy_env(&dir);
    let figure = |name, run, runs_alone| Figure {
        name,
        description: "A toy.",
        run,
        budget: TOY_BUDGET,
        runs_alone,
    };
    let registry = [
        figure("alone", counted_a as fn(&mut FigureCtx<'_>) -> anyhow::Result<()>, true),
        figure("shared", counted_b, false),
        figure("broken", counted_broken, false),
    ];
    let selected: Vec<&Figure> = registry.iter().collect();
    let inputs = RunInputs {
        qftml: "q1".into(),
        xtask: "x1".into(),
        data: "d1".into(),
    };
    let run = |inputs: &RunInputs, force: bool| {
        RunFigures {
            env: &env,
            inputs,
            force,
            jobs: 2,
        }
        .run(&selected, SystemTime::now())
        .unwrap();
        std::fs::read_to_string(dir.join("REPORT.md")).unwrap()
    };
    let before = runs();
    let delta = |b: [usize; 3]| {
        let now = runs();
        [now[0] - b[0], now[1] - b[1], now[2] - b[2]]
    };

    let first = run(&inputs, false);
    assert_eq!(delta(before), [1, 1, 1]);
    assert!(first.contains("| [alone](#alone) | 1 | 0 |"), "{first}");
    assert!(first.contains("computed in this run, ran alone | pass |"), "{first}");
    assert!(
        first.contains("ran alone, never beside another figure: alone."),
        "{first}"
    );

    // Nothing changed: both produced figures come from the cache, the broken one runs again.
    let b = runs();
    let second = run(&inputs, false);
    assert_eq!(delta(b), [0, 0, 1]);
    assert!(
        second.contains("2 of 3 figure(s) were reused from the cache"),
        "{second}"
    );
    assert!(second.contains("| reused (made "), "{second}");
    let strip = |md: &str| -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with("| ") && !l.contains("wall") && !l.contains("](#"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(strip(&first), strip(&second), "reused checks and tables differ");

    // A changed output file, a changed input and --force each make figures again.
    std::fs::write(dir.join("figures/shared.svg"), "tampered").unwrap();
    let b = runs();
    run(&inputs, false);
    assert_eq!(delta(b), [0, 1, 1]);
    let b = runs();
    run(
        &RunInputs {
            qftml: "q2".into(),
            ..inputs.clone()
        },
        false,
    );
    assert_eq!(delta(b), [1, 1, 1]);
    let b = runs();
    run(&inputs, true);
    assert_eq!(delta(b), [1, 1, 1]);
    // The full mode has its own key.
    let b = runs();
    RunFigures {
        env: &RunEnv {
            quick: false,
            ..env.clone()
        },
        inputs: &inputs,
        force: false,
        jobs: 1,
    }
    .run(&selected, SystemTime::now())
    .unwrap();
    assert_eq!(delta(b), [1, 1, 1]);
    cleanup(dir);
}

#[test]
fn cache_entries_keep_non_finite_numbers_and_refuse_other_keys() {
    let dir = temp_dir("cache-entry");
    std::fs::create_dir_all(dir.join("figures")).unwrap();
    std::fs::write(dir.join("figures/x.png"), b"png").unwrap();
    let section = FigureSection {
        name: "x".into(),
        checks: vec![Check::sigma(
            "nan",
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            3.0,
            "exact",
        )],
        ..FigureSection::default()
    };
    crate::cache::store(
        &dir,
        "k1",
        "2026-12-02T00:00:00Z".into(),
        "r".into(),
        &["figures/x.png".to_owned()],
        &section,
    )
    .unwrap();
    let entry = crate::cache::load(&dir, "x", "k1").expect("entry under its key");
    let c = &entry.section.checks[0];
    assert!(c.measured.is_nan() && c.measured_err == Some(f64::INFINITY) && c.reference == f64::NEG_INFINITY);
    assert!(crate::cache::load(&dir, "x", "k2").is_none());
    assert!(crate::cache::load(&dir, "y", "k1").is_none());
    std::fs::write(crate::cache::entry_path(&dir, "x"), "{ truncated").unwrap();
    assert!(crate::cache::load(&dir, "x", "k1").is_none());
    cleanup(dir);
}

#[test]
fn keys_depend_on_every_input() {
    let base = crate::cache::RunInputs {
        qftml: "q".into(),
        xtask: "x".into(),
        data: "d".into(),
    };
    let k = base.key("f", "quick");
    assert_eq!(k.len(), 64);
    assert_eq!(k, base.key("f", "quick"));
    for other in [
        base.key("g", "quick"),
        base.key("f", "full"),
        crate::cache::RunInputs {
            qftml: "q'".into(),
            ..base.clone()
        }
        .key("f", "quick"),
        crate::cache::RunInputs {
            xtask: "x'".into(),
            ..base.clone()
        }
        .key("f", "quick"),
        crate::cache::RunInputs {
            data: "d'".into(),
            ..base.clone()
        }
        .key("f", "quick"),
    ] {
        assert_ne!(k, other);
    }
}

#[test]
fn budgets_are_positive_and_durations_read_well() {
    for f in FIGURES {
        assert!(
            f.budget.quick_s > 0.0 && f.budget.full_s >= f.budget.quick_s,
            "{}: {:?}",
            f.name,
            f.budget
        );
    }
    use crate::progress::duration_text;
    assert_eq!(duration_text(42.4), "42 s");
    assert_eq!(duration_text(425.0), "7 min 05 s");
    assert_eq!(duration_text(3720.0), "1 h 02 min");
}

#[test]
fn the_eta_follows_the_budgets() {
    let p = crate::progress::Progress::new(2, 100.0);
    assert!(
        (p.eta_seconds() - 100.0).abs() < 1.0,
        "before anything ran, the ETA is the budget"
    );
    p.started("a", 40.0);
    p.finished("a", 40.0);
    let eta = p.eta_seconds();
    assert!(eta.is_finite() && eta >= 0.0, "{eta}");
    assert!(p.status().starts_with("1/2 figures; ETA"), "{}", p.status());
    p.finish();
}

fn tick_values(axis: crate::plot::Axis) -> Vec<f64> {
    let round = |v: f64| {
        if v == 0.0 {
            return 0.0;
        }
        let scale = 10f64.powf(9.0 - v.abs().log10().floor());
        (v * scale).round() / scale
    };
    let to_value = |c: f64| round(if axis.log { 10f64.powf(c) } else { c });
    axis.ticks().0.into_iter().map(to_value).collect()
}

/// Ticks are whole multiples of one step of 1, 2 or 5 × 10ᵏ.
fn assert_round(values: &[f64]) {
    let step = values[1] - values[0];
    let e = step.log10().floor();
    let m = step / 10f64.powf(e);
    assert!(
        [1.0, 2.0, 5.0, 10.0].iter().any(|r| (m - r).abs() < 1e-6),
        "step {step} of {values:?} is not 1, 2 or 5 × 10^k"
    );
    for v in values {
        assert!(
            ((v / step) - (v / step).round()).abs() < 1e-6,
            "tick {v} is off the grid of {step}"
        );
    }
}

#[test]
fn ticks_sit_at_round_values_inside_the_range() {
    use crate::plot::Axis;
    // The τ_int axis that used to read 6.3, 25, 40, 63.
    let tau = tick_values(Axis::new(true, (4.0, 80.0)));
    assert_eq!(tau, [5.0, 10.0, 20.0, 50.0], "{tau:?}");
    let wide = tick_values(Axis::new(true, (3e-17, 2e-9)));
    assert!(wide.len() >= 3 && wide.len() <= 8, "{wide:?}");
    assert!(
        wide.iter().all(|v| (v.log10() - v.log10().round()).abs() < 1e-9),
        "{wide:?}"
    );
    let decades = tick_values(Axis::new(true, (0.5, 300.0)));
    assert_eq!(decades, [1.0, 10.0, 100.0], "{decades:?}");
    let narrow = tick_values(Axis::new(true, (0.62, 0.98)));
    assert!(narrow.len() >= 3, "{narrow:?}");
    assert_round(&narrow);
    let linear = tick_values(Axis::new(false, (-0.93, 1.87)));
    assert_eq!(linear, [-0.5, 0.0, 0.5, 1.0, 1.5], "{linear:?}");
    for (lo, hi) in [(0.0, 1.0), (-5.0, 5.0), (1.52, 1.53), (1e-6, 3e-6), (-3e4, 1e5)] {
        let t = tick_values(Axis::new(false, (lo, hi)));
        assert!(t.len() >= 3 && t.len() <= 12, "{lo}..{hi}: {t:?}");
        assert!(
            t.iter().all(|v| *v >= lo - 1e-12 && *v <= hi + 1e-12),
            "{lo}..{hi}: {t:?}"
        );
        assert_round(&t);
    }
    let log = Axis::new(true, (4.0, 80.0));
    assert_eq!(log.label(20f64.log10()), "20");
    assert_eq!(Axis::new(true, (1e-14, 1e-9)).label(-12.0), "1e-12");
}

#[test]
fn bounded_quantities_keep_their_range() {
    let pts = vec![Point::with_err(16.0, 0.95, 0.3), Point::with_err(64.0, 0.4, 0.05)];
    let plot = LinePlot::new("phase", "V", "|phase|")
        .y_bounds(0.0, 1.0)
        .series(Series::new("", pts, SeriesStyle::Points));
    let (lo, hi) = plot.resolved_y_range();
    assert!(lo >= 0.0 && hi <= 1.0, "{lo}..{hi}");
}

#[test]
fn imprecise_passes_are_reported_as_undecided() {
    let precise = Check::sigma("x", 1.0, 0.001, 1.0, 4.0, "exact").resolving(0.02);
    let vague = Check::sigma("x", 1.0, 0.1, 1.0, 4.0, "exact").resolving(0.02);
    let failing = Check::sigma("x", 2.0, 0.1, 1.0, 4.0, "exact").resolving(0.02);
    assert_eq!(
        (precise.decisive(), precise.verdict_text()),
        (Some(true), "pass".to_owned())
    );
    assert_eq!(vague.decisive(), Some(false));
    assert_eq!(vague.verdict_text(), "pass, undecided (4σ = 0.4 > δ = 0.02)");
    assert_eq!(failing.verdict_text(), "**FAIL**");
    assert_eq!(Check::exact("n", 1.0, 1.0, "exact").decisive(), None);
    let section = FigureSection {
        name: "s".into(),
        checks: vec![precise, vague],
        ..FigureSection::default()
    };
    let md = render_report(&RunSummary::default(), &[section]);
    assert!(
        md.contains("1 passing check(s) are undecided at this run's statistics"),
        "{md}"
    );
}
