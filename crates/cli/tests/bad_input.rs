//! Bad input and faults, as a table: each case gives its command line, the exit code it must
//! end with (1: refused by qftml, 2: refused by the argument parser) and a fragment of the
//! message.  No case may panic (exit 101) or abort (killed by a signal), and every case is
//! checked, so one run lists every case that misbehaves.

use std::path::{Path, PathBuf};
mod common;

/// Files the cases refer to, written once per test run.
struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn new() -> Self {
        let fixtures = Self {
            dir: common::scratch("bad-input"),
        };
        let run = fixtures.path("run");
        let sample = ["sample", "--lattice", "8", "--sweeps", "400", "--out", &run, "--json"];
        common::stdout(&[&sample[..], &common::TALK_POINT].concat());
        let ensemble = std::fs::read(fixtures.dir.join("run/ensemble.qfe")).unwrap();
        let mut flipped = ensemble.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x04;
        fixtures.write("flipped.qfe", &flipped);
        fixtures.write("truncated.qfe", &ensemble[..ensemble.len() / 3]);
        fixtures.write("text.qfe", b"this is not an ensemble\n");
        fixtures.write("empty.qfe", b"");
        std::fs::create_dir_all(fixtures.dir.join("no-manifest")).unwrap();
        fixtures.write("no-manifest/ensemble.qfe", &ensemble);
        std::fs::create_dir_all(fixtures.dir.join("mine")).unwrap();
        fixtures.write("mine/notes.txt", b"keep");
        fixtures.write("plain-file", b"x");

        let v = 64;
        let couplings = |w: usize, a: usize, b: f64| {
            format!(
                r#"{{"format": "qftml-couplings", "version": 1, "lattice": [8, 8], "pair_set": "nearest-neighbour",
                   "w": {:?}, "a": {:?}, "b": {:?}, "r": {:?}}}"#,
                vec![1.0; w],
                vec![1.52425; a],
                vec![b; v],
                vec![0.0; v]
            )
        };
        fixtures.write("couplings.json", couplings(2 * v, v, 0.175).as_bytes());
        fixtures.write("couplings-short.json", couplings(2 * v - 1, v, 0.175).as_bytes());
        fixtures.write("couplings-negative-b.json", couplings(2 * v, v, -0.1).as_bytes());
        fixtures.write(
            "couplings-nan.json",
            couplings(2 * v, v, 0.175).replacen("1.0,", "NaN,", 1).as_bytes(),
        );
        fixtures.write(
            "couplings-format.json",
            couplings(2 * v, v, 0.175)
                .replace("qftml-couplings", "other")
                .as_bytes(),
        );
        fixtures.write(
            "couplings-version.json",
            couplings(2 * v, v, 0.175)
                .replace("\"version\": 1", "\"version\": 9")
                .as_bytes(),
        );
        fixtures.write("couplings-broken.json", b"{\"format\": \"qftml-couplings\", ");
        fixtures.write("config-broken.toml", b"lattice = [");
        fixtures.write("config-unknown.toml", b"lattice = \"8\"\nkapa = 1.0\n");
        fixtures.write(
            "config-nan.toml",
            b"lattice = \"8\"\nkappa = 1.0\nmu2 = nan\nlambda = 0.7\n",
        );
        fixtures.write("config-type.toml", b"lattice = 8\n");
        std::fs::create_dir_all(fixtures.dir.join("sub")).unwrap();
        fixtures.write("sub/config-relative.toml", b"couplings = \"missing.json\"\n");
        fixtures.write("field-short.txt", b"0.1 0.2 0.3");
        fixtures.write("field-words.txt", b"zero one two");
        fixtures.write("field-nan.txt", format!("{}NaN", "0.5 ".repeat(v - 1)).as_bytes());
        fixtures.write("field-broken.json", b"[0.5, 0.25,");
        fixtures
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.join(name), bytes).unwrap();
    }
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One case: arguments (`@name` is the fixture file `name`), exit code, message fragment.
type Case = (&'static str, i32, &'static str);

const TALK: &str = "--kappa 1 --mu2 -0.9515 --lambda 0.7";

/// The table.  `{T}` is replaced by the talk's couplings flags.
const CASES: &[Case] = &[
    // graph: sizes and geometries
    ("graph", 2, "--geometry"),
    ("graph --geometry square", 1, "needs --lattice"),
    ("graph --geometry square --lattice 3", 1, "at least 4"),
    ("graph --geometry triangular --lattice 0", 1, "at least 4"),
    ("graph --geometry square --lattice abc", 2, "not a lattice size"),
    ("graph --geometry square --lattice 8x", 2, "not a lattice size"),
    ("graph --geometry square --lattice -8", 2, "not a lattice size"),
    ("graph --geometry square --lattice 100000", 1, "more than the"),
    ("graph --geometry square --lattice 4294967296x4", 1, "more than the"),
    (
        "graph --geometry square --lattice 99999999999999999999",
        2,
        "not a lattice size",
    ),
    ("graph --geometry hexagonal --lattice 8", 2, "invalid value"),
    (
        "graph --geometry bipartite --visible 0 --hidden 3",
        1,
        "at least one site",
    ),
    (
        "graph --geometry bipartite --visible 100000 --hidden 100000",
        1,
        "edges, more than",
    ),
    ("graph --geometry bipartite --visible -3 --hidden 3", 2, "negative"),
    ("graph --geometry bipartite --lattice 8", 1, "does not apply"),
    (
        "graph --geometry bipartite --visible 3",
        1,
        "needs --visible N and --hidden M",
    ),
    ("graph --geometry square --lattice 8 --visible 3", 1, "only apply to"),
    // action: couplings and configurations
    ("action --lattice 8 --mu2 nan", 2, "not finite"),
    ("action --lattice 8 --kappa inf", 2, "not finite"),
    ("action --lattice 8 --kappa -inf", 2, "not finite"),
    ("action --lattice 8 --lambda x", 2, "not a number"),
    ("action --lattice 8 --lambda -1", 1, "b"),
    ("action --lattice 8 --seed -1", 2, "negative"),
    ("action --lattice 8 --field @missing.txt", 1, "cannot read"),
    ("action --lattice 8 --field @field-short.txt", 1, "64"),
    ("action --lattice 8 --field @field-words.txt", 1, "field"),
    ("action --lattice 8 --field @field-nan.txt", 1, "finite"),
    (
        "action --lattice 8 --field @field-broken.json",
        1,
        "not a JSON array of numbers",
    ),
    // sample: what to sample
    ("sample", 1, "give --lattice"),
    ("sample --lattice 8", 1, "give all of --kappa, --mu2 and --lambda"),
    ("sample --lattice 8 --kappa 1 --mu2 -inf --lambda 0.7", 2, "not finite"),
    ("sample --lattice 8 --kappa 1 --mu2 nan --lambda 0.7", 2, "not finite"),
    ("sample --lattice 8 --kappa abc --mu2 0 --lambda 0", 2, "not a number"),
    ("sample --lattice 8 {T} --g-nnn inf", 2, "not finite"),
    ("sample --lattice 8 --kappa 1 --mu2 -0.9515 --lambda -1", 1, "--lambda"),
    ("sample --lattice 8 --kappa 1 --mu2 -1 --lambda 0", 1, "--mu2"),
    ("sample --lattice 3 {T}", 1, "at least 4"),
    ("sample --lattice 65535x65535 {T}", 1, "more than the"),
    ("sample --lattice 1000000 {T}", 1, "more than the"),
    ("sample --lattice 8 {T} --algorithm gibbs", 1, "gibbs"),
    // sample: run sizes
    ("sample --lattice 8 {T} --seed -1", 2, "negative"),
    ("sample --lattice 8 {T} --sweeps -5", 2, "negative"),
    ("sample --lattice 8 {T} --sweeps 1.5", 2, "not a whole number"),
    ("sample --lattice 8 {T} --sweeps 18446744073709551616", 2, "larger than"),
    (
        "sample --lattice 8 {T} --sweeps 18446744073709551615",
        1,
        "sweeps qftml allows",
    ),
    ("sample --lattice 8 {T} --therm 10000000000000", 1, "--therm"),
    ("sample --lattice 8 {T} --sweeps 1000000000", 1, "memory"),
    ("sample --lattice 4096 {T} --sweeps 100000 --out @big", 1, "memory"),
    ("sample --lattice 8 {T} --chains 0", 1, "--chains"),
    ("sample --lattice 8 {T} --chains 100000000", 1, "--chains"),
    ("sample --lattice 8 {T} --chains -2", 2, "negative"),
    ("sample --lattice 8 {T} --measure-every 0", 1, "--measure-every"),
    ("sample --lattice 8 {T} --sweeps 5 --measure-every 10", 1, "--sweeps"),
    ("sample --lattice 8 {T} --threads -1", 2, "negative"),
    // sample: files
    ("sample --couplings @missing.json", 1, "cannot read couplings"),
    ("sample --couplings @couplings-broken.json", 1, "not a couplings file"),
    ("sample --couplings @couplings-short.json", 1, "w"),
    ("sample --couplings @couplings-negative-b.json", 1, "b"),
    ("sample --couplings @couplings-nan.json", 1, "not a couplings file"),
    (
        "sample --couplings @couplings-format.json",
        1,
        "expected \"qftml-couplings\"",
    ),
    ("sample --couplings @couplings-version.json", 1, "version"),
    ("sample --couplings @couplings.json {T}", 1, "not both"),
    ("sample --couplings @couplings.json --lattice 16", 1, "disagrees"),
    ("sample --config @missing.toml", 1, "cannot read --config"),
    ("sample --config @config-broken.toml", 1, "not a valid sample config"),
    ("sample --config @config-unknown.toml", 1, "kapa"),
    ("sample --config @config-type.toml", 1, "not a valid sample config"),
    ("sample --config @config-nan.toml", 1, "--mu2 = NaN is not finite"),
    ("sample --config @sub/config-relative.toml", 1, "sub/missing.json"),
    ("sample --lattice 8 {T} --out @plain-file", 1, "not a directory"),
    ("sample --lattice 8 {T} --out @mine", 1, "not a qftml run directory"),
    ("sample --lattice 8 {T} --out /proc/qftml-run", 1, "--out"),
    // reweight: ensembles and targets
    ("reweight", 2, "--ensemble"),
    ("reweight --ensemble @missing", 1, "cannot"),
    ("reweight --ensemble @flipped.qfe", 1, "checksum"),
    ("reweight --ensemble @truncated.qfe", 1, "truncated"),
    ("reweight --ensemble @text.qfe", 1, "magic"),
    ("reweight --ensemble @empty.qfe", 1, "truncated"),
    ("reweight --ensemble @no-manifest", 1, "no manifest.json"),
    ("reweight --ensemble @mine", 1, "no manifest.json"),
    ("reweight --ensemble @run --mu2 abc", 2, "invalid value"),
    ("reweight --ensemble @run --scan mu2=0:1", 1, "--scan"),
    ("reweight --ensemble @run --scan spin=0:1:3", 1, "--scan"),
    (
        "reweight --ensemble @run --ensemble @run --imag-mass 0.1",
        1,
        "real targets only",
    ),
];

#[test]
fn every_bad_input_is_refused_with_a_clear_message() {
    let fixtures = Fixtures::new();
    let talk: Vec<&str> = TALK.split(' ').collect();
    let mut failures = Vec::new();
    for &(line, code, fragment) in CASES {
        let args: Vec<String> = line
            .split_whitespace()
            .flat_map(|word| match word {
                "{T}" => talk.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                w if w.starts_with('@') => vec![fixtures.path(&w[1..])],
                w => vec![w.to_owned()],
            })
            .collect();
        let out = common::qftml(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let problem = match out.status.code() {
            None => Some("killed by a signal (abort)".to_owned()),
            Some(101) => Some("panicked".to_owned()),
            Some(c) if c != code => Some(format!("exit code {c}, expected {code}")),
            Some(_) if !stderr.contains(fragment) => Some(format!("message lacks `{fragment}`")),
            Some(_) if stderr.contains("panicked") || stderr.contains("{ ") => {
                Some("a panic or a Debug dump in the message".to_owned())
            }
            Some(_) => None,
        };
        if let Some(p) = problem {
            failures.push(format!("qftml {line}: {p}\n    stderr: {}", stderr.trim()));
        }
    }
    assert!(Path::new(&fixtures.path("run")).is_dir());
    assert!(
        failures.is_empty(),
        "{} of {} cases misbehave:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(CASES.len() >= 60);
}
