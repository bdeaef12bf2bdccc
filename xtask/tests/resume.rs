//! `cargo xtask reproduce --quick` killed at a random moment and started again ends with
//! the same checks and figures as an uninterrupted run; a second run with nothing changed
//! reuses everything in under ten seconds.  Three quick runs: set `QFTML_SLOW=1`.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

fn slow() -> bool {
    std::env::var("QFTML_SLOW").is_ok_and(|v| v == "1")
}

fn reproduce(out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(["reproduce", "--quick", "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs to the end; returns the wall time and the run's stderr.
fn run_to_end(out: &Path) -> (f64, String) {
    let start = Instant::now();
    let output = reproduce(out).output().expect("xtask runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "reproduce failed:\n{stderr}");
    (start.elapsed().as_secs_f64(), stderr)
}

/// Per figure: its checks as `(quantity, passed, measured)` (the measured value left out
/// for figures that ran alone, which measure time) and whether it ran alone.
fn checks(out: &Path, timed: &[String]) -> BTreeMap<String, Vec<(String, bool, Option<String>)>> {
    let mut by_figure = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("provenance")).expect("provenance dir") {
        let path = entry.expect("entry").path();
        let prov: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let figure = prov["figure"].as_str().expect("figure").to_owned();
        let alone = timed.contains(&figure);
        let list = prov["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| {
                (
                    c["quantity"].as_str().unwrap_or_default().to_owned(),
                    c["passed"].as_bool().unwrap_or(false),
                    (!alone).then(|| c["measured"].to_string()),
                )
            })
            .collect();
        by_figure.insert(figure, list);
    }
    by_figure
}

/// The figures that ran alone (they measure time), read from the report's summary table.
fn timed_figures(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("REPORT.md"))
        .expect("REPORT.md")
        .lines()
        .filter(|l| l.starts_with("| [") && l.contains("ran alone"))
        .filter_map(|l| l.split(['[', ']']).nth(1).map(str::to_owned))
        .collect()
}

/// SVG files of figures that do not measure time, with their bytes.
fn figures(out: &Path, timed: &[String]) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(out.join("figures"))
        .expect("figures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            let timed_figure = timed.iter().any(|t| name.starts_with(t.as_str()));
            Some((
                name,
                if timed_figure {
                    Vec::new()
                } else {
                    std::fs::read(&p).ok()?
                },
            ))
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qftml-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_killed_run_resumes_to_the_same_report_and_a_rerun_reuses_everything() {
    if !slow() {
        eprintln!("skipped: set QFTML_SLOW=1 to kill and resume `cargo xtask reproduce --quick` (three quick runs)");
        return;
    }
    let (whole, interrupted) = (scratch("whole"), scratch("interrupted"));

    run_to_end(&whole);
    let (t_again, again) = run_to_end(&whole);
    assert!(
        again.contains("0 to make"),
        "nothing changed, yet figures ran again:\n{again}"
    );
    assert!(t_again < 10.0, "a rerun with nothing changed took {t_again:.1} s");

    // Kill the whole process group (xtask and its qftml children) at a random moment
    // inside the figures: once a random number of them (at least one, at most half) has
    // finished, after a further random delay of up to 300 ms.  The figures that finish
    // last are the short ones, so stopping at half leaves several seconds of work.
    let n_figures = std::fs::read_dir(whole.join("cache")).expect("cache dir").count() as u64;
    let seed = std::env::var("QFTML_RESUME_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let finished_before_kill = 1 + (mixed >> 40) % (n_figures / 2).max(1);
    let extra = Duration::from_millis((mixed >> 20) % 300);
    eprintln!(
        "killing the second run after {finished_before_kill} of {n_figures} figures and {} ms (QFTML_RESUME_SEED={seed})",
        extra.as_millis()
    );
    let mut child = reproduce(&interrupted)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("xtask starts");
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(interrupted.join("cache")).map_or(0, |d| d.count() as u64);
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run ended before {finished_before_kill} figures were cached"
        );
        if done >= finished_before_kill {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the run made no progress"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(extra);
    // `kill -s KILL -- -PGID`: procps' kill takes a bare `-PGID` after `-KILL` for
    // something else and kills nothing.
    let killed = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill failed: {killed}");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the run was not killed: {status}");
    let (_, resumed) = run_to_end(&interrupted);
    let reused = resumed.lines().filter(|l| l.contains(" reused (made ")).count();
    let made = resumed.lines().filter(|l| l.contains(" done in ")).count();
    eprintln!("the resumed run reused {reused} figure(s) and made {made}");
    assert!(
        made > 0,
        "the kill came after the run had finished: nothing was resumed"
    );

    let timed = timed_figures(&whole);
    let (a, b) = (checks(&whole, &timed), checks(&interrupted, &timed));
    assert_eq!(a, b, "checks differ between the uninterrupted and the resumed run");
    let (fa, fb) = (figures(&whole, &timed), figures(&interrupted, &timed));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "different figure files"
    );
    for (name, bytes) in &fa {
        assert!(fb[name] == *bytes, "{name} differs between the runs");
    }
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&interrupted);
}
