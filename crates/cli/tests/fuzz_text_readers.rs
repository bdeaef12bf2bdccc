//! The text readers of the binary (couplings files, TOML run configs) against random
//! mutations of valid files: every run ends with success or a clear error (exit 0 or 1),
//! never a panic (101) or an abort (a signal).

mod common;

use common::scratch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N_MUTATIONS: usize = 150;

/// One random edit of `text`: a character deleted, doubled or replaced by one that matters
/// to the format, or the text cut short.
fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = rng.random_range(0..chars.len());
    let specials = [
        '"', ',', '[', ']', '{', '}', '=', '-', '.', 'e', '9', '0', 'n', ' ', '\n', '#',
    ];
    match rng.random_range(0..4) {
        0 => {
            chars.remove(at);
        }
        1 => chars.insert(at, chars[at]),
        2 => chars[at] = specials[rng.random_range(0..specials.len())],
        _ => chars.truncate(at),
    }
    chars.into_iter().collect()
}

fn fuzz(name: &str, valid: &str, seed: u64, args: impl Fn(&str) -> Vec<String>) {
    let dir = scratch(&format!("fuzz-{name}"));
    let file = dir.join(name);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut accepted, mut refused) = (0, 0);
    for k in 0..N_MUTATIONS {
        std::fs::write(&file, mutate(valid, &mut rng)).unwrap();
        let argv = args(file.to_str().unwrap());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = common::qftml(&argv);
        match out.status.code() {
            Some(0) => accepted += 1,
            Some(1) => refused += 1,
            other => panic!(
                "{name} mutation {k} ended with {other:?}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&file).unwrap()
            ),
        }
    }
    eprintln!("{name}: {accepted} mutations accepted, {refused} refused");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_couplings_files_are_read_or_refused() {
    let v = 16;
    let valid = format!(
        r#"{{"format": "qftml-couplings", "version": 1, "lattice": [4, 4], "pair_set": "nearest-neighbour",
  "w": {:?}, "a": {:?}, "b": {:?}, "r": {:?}}}"#,
        vec![1.0; 2 * v],
        vec![1.52425; v],
        vec![0.175; v],
        vec![0.0; v]
    );
    fuzz("couplings.json", &valid, 1, |f| {
        ["sample", "--couplings", f, "--sweeps", "20", "--therm", "5", "--json"]
            .map(String::from)
            .to_vec()
    });
}

#[test]
fn mutated_run_configs_are_read_or_refused() {
    let valid = "lattice = \"4\"\nkappa = 1.0\nmu2 = -0.9515\nlambda = 0.7\nalgorithm = \"heatbath\"\n\
                 sweeps = 20\ntherm = 5\nchains = 2\nseed = 3\n";
    fuzz("config.toml", valid, 2, |f| {
        ["sample", "--config", f, "--json"].map(String::from).to_vec()
    });
}
