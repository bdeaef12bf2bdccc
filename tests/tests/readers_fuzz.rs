//! Every binary file reader against random mutations of valid files: no panic, and no
//! misread.
//!
//! Two kinds of mutation, each a few thousand times with a fixed seed:
//! - **raw**: bit flips, byte overwrites, truncation, extension, a deleted or repeated
//!   chunk.  The checksummed formats (ensembles, checkpoints) must refuse every one of them.
//! - **resealed** (checksummed formats only): the same mutations applied to the payload,
//!   after which the length field and the CRC-32 are recomputed, so the decoder behind the
//!   checksum sees arbitrary bytes.  It must return an error or an object that is valid by
//!   its own rules (it re-encodes and decodes again to the same thing).
//!
//! `.npy` files carry no checksum: a flipped data byte is a different, valid array.  There
//! the reader must not panic, and whatever it returns must be consistent (the data hold
//! exactly the product of the shape's values, matching the file's size).

use std::panic::{AssertUnwindSafe, catch_unwind};

use mc_sampler::checkpoint::{self, ChainState};
use mc_sampler::ensemble::{EnsembleHeader, NpyArray, NpyValues, StoredChain, StoredEnsemble, read_npy, write_npy};
use mc_sampler::{Algorithm, Chain, chain_rng};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mutations per format and kind.
const N_MUTATIONS: usize = 3_000;
/// Bytes before the payload in the framed formats: magic (8), version (4), length (8).
const PREFIX_LEN: usize = 20;

fn talk_couplings(l: usize) -> Couplings {
    let params = Homogeneous {
        kappa: 1.0,
        mu2: -0.9515,
        lambda: 0.7,
    };
    Couplings::homogeneous(&Lattice::square(l).unwrap(), params).unwrap()
}

/// A small valid ensemble: 4×4, two chains of six configurations.
fn ensemble_bytes() -> Vec<u8> {
    let couplings = talk_couplings(4);
    let chains = (0..2)
        .map(|c| {
            let mut chain = Chain::new(&couplings, Algorithm::HeatBath, chain_rng(7, c)).unwrap();
            let mut configs = Vec::new();
            for _ in 0..6 {
                chain.sweep();
                configs.extend(chain.field());
            }
            StoredChain::measure(&couplings, configs).unwrap()
        })
        .collect();
    let header = EnsembleHeader::new(&couplings, "heatbath", 7, 2, 0, 6, 1)
        .unwrap()
        .with_provenance("test", "readers_fuzz");
    StoredEnsemble::from_parts(header, chains).unwrap().to_bytes()
}

/// A valid checkpoint of one chain's state.
fn checkpoint_bytes() -> Vec<u8> {
    let couplings = talk_couplings(4);
    let mut chain = Chain::new(&couplings, Algorithm::Hybrid, chain_rng(3, 0)).unwrap();
    chain.thermalise(20);
    checkpoint::to_bytes("chain", &chain.state())
}

/// One random mutation of `bytes` (never the identity: a no-op is redrawn).
fn mutate(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    loop {
        let mut out = bytes.to_vec();
        let n = out.len();
        match rng.random_range(0..7) {
            0 => {
                let at = rng.random_range(0..n);
                out[at] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                // Overwrite a byte, preferring the first 64 (headers and lengths).
                let at = if rng.random_bool(0.5) {
                    rng.random_range(0..n.min(64))
                } else {
                    rng.random_range(0..n)
                };
                out[at] = rng.random();
            }
            2 => out.truncate(rng.random_range(0..n)),
            3 => {
                let extra = rng.random_range(1..16);
                out.extend((0..extra).map(|_| rng.random::<u8>()));
            }
            4 => {
                let at = rng.random_range(0..n);
                let len = rng.random_range(1..=(n - at).min(32));
                out.drain(at..at + len);
            }
            5 => {
                let at = rng.random_range(0..n);
                let len = rng.random_range(1..=(n - at).min(32));
                let chunk = out[at..at + len].to_vec();
                out.splice(at..at, chunk);
            }
            _ => {
                // Eight bytes set to an extreme little-endian integer: a length or count field.
                let at = rng.random_range(0..n.saturating_sub(8).max(1));
                let value: u64 = [u64::MAX, u64::MAX / 2, 1 << 40, 0, 1 << 32][rng.random_range(0..5)];
                let end = (at + 8).min(n);
                out[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
        }
        if out != bytes {
            return out;
        }
    }
}

/// The payload of framed `bytes` mutated, then framed again with a correct length and CRC.
fn mutate_resealed(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let payload = &bytes[PREFIX_LEN..bytes.len() - 4];
    let payload = mutate(payload, rng);
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out
}

/// Runs `read` on `N_MUTATIONS` mutations of `valid` and calls `judge` on each outcome;
/// a panic names the mutation's index and kind.
fn fuzz<T>(
    what: &str,
    valid: &[u8],
    seed: u64,
    mutation: fn(&[u8], &mut ChaCha8Rng) -> Vec<u8>,
    read: impl Fn(&[u8]) -> Result<T, String>,
    judge: impl Fn(&[u8], T) -> Result<(), String>,
) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut accepted = 0;
    for k in 0..N_MUTATIONS {
        let bytes = mutation(valid, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| read(&bytes)))
            .unwrap_or_else(|_| panic!("{what}: mutation {k} made the reader panic"));
        if let Ok(value) = outcome {
            accepted += 1;
            if let Err(why) = judge(&bytes, value) {
                panic!("{what}: mutation {k} was misread: {why}");
            }
        }
    }
    accepted
}

fn read_ensemble(bytes: &[u8]) -> Result<StoredEnsemble, String> {
    StoredEnsemble::from_bytes(bytes).map_err(|e| e.to_string())
}

fn read_checkpoint(bytes: &[u8]) -> Result<ChainState, String> {
    checkpoint::from_bytes::<ChainState>("chain", bytes).map_err(|e| e.to_string())
}

fn refuse<T>(_: &[u8], _: T) -> Result<(), String> {
    Err("a corrupted checksummed file was accepted".into())
}

#[test]
fn the_unmutated_files_are_read() {
    let ensemble = read_ensemble(&ensemble_bytes()).unwrap();
    assert_eq!(ensemble.n_configs(), 12);
    read_checkpoint(&checkpoint_bytes()).unwrap();
}

#[test]
fn ensembles_refuse_every_raw_mutation() {
    let accepted = fuzz("ensemble (raw)", &ensemble_bytes(), 1, mutate, read_ensemble, refuse);
    assert_eq!(accepted, 0);
}

#[test]
fn ensembles_behind_a_valid_checksum_are_refused_or_valid() {
    let accepted = fuzz(
        "ensemble (resealed)",
        &ensemble_bytes(),
        2,
        mutate_resealed,
        read_ensemble,
        |_, ensemble| {
            let again = read_ensemble(&ensemble.to_bytes())?;
            (again.to_bytes() == ensemble.to_bytes())
                .then_some(())
                .ok_or_else(|| "the accepted ensemble does not round-trip".to_owned())
        },
    );
    eprintln!("resealed ensembles accepted: {accepted} of {N_MUTATIONS}");
}

#[test]
fn checkpoints_refuse_every_raw_mutation() {
    let accepted = fuzz(
        "checkpoint (raw)",
        &checkpoint_bytes(),
        3,
        mutate,
        read_checkpoint,
        refuse,
    );
    assert_eq!(accepted, 0);
}

#[test]
fn checkpoints_behind_a_valid_checksum_are_refused_or_restore() {
    let couplings = talk_couplings(4);
    let accepted = fuzz(
        "checkpoint (resealed)",
        &checkpoint_bytes(),
        4,
        mutate_resealed,
        read_checkpoint,
        |_, state| {
            // A decoded state must restore into a chain or be refused by it, never panic.
            let restored = catch_unwind(AssertUnwindSafe(|| Chain::from_state(&couplings, state.clone())))
                .map_err(|_| "restoring the decoded state panicked".to_owned())?;
            if let Ok(mut chain) = restored {
                catch_unwind(AssertUnwindSafe(|| chain.sweep()))
                    .map_err(|_| "a sweep of the restored chain panicked".to_owned())?;
            }
            Ok(())
        },
    );
    eprintln!("resealed checkpoints accepted: {accepted} of {N_MUTATIONS}");
}

/// The IDX and `.npy` readers of `datasets` on mutated files (ten 8×8 digits; a NumPy-written
/// array): no panic, and an accepted file's values fill its shape.
#[test]
fn data_files_are_refused_or_read_consistently() {
    let digits = datasets::Dataset::load_images(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../data/digits8x8-images-idx3-ubyte.gz"),
        None,
    )
    .unwrap()
    .first(10);
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 8, 0, 0, 0, 8];
    idx.extend(digits.values().iter().map(|&x| x as u8));
    let path = std::path::Path::new("fuzz.idx");
    datasets::idx::parse(&idx, path).unwrap();
    let consistent = |shape: &[usize], n: usize| {
        let expected: usize = shape.iter().product();
        (expected == n)
            .then_some(())
            .ok_or_else(|| format!("shape {shape:?} but {n} values"))
    };
    let accepted = fuzz(
        "idx",
        &idx,
        6,
        mutate,
        |b| datasets::idx::parse(b, path).map_err(|e| e.to_string()),
        |_, a| consistent(&a.shape, a.data.len()),
    );
    eprintln!("mutated IDX files accepted: {accepted} of {N_MUTATIONS}");
    let npy = datasets::npy::encode_f64(&[3, 4], &(0..12).map(f64::from).collect::<Vec<_>>());
    let accepted = fuzz(
        "datasets npy",
        &npy,
        7,
        mutate,
        |b| datasets::npy::parse(b, path).map_err(|e| e.to_string()),
        |_, a| consistent(&a.shape, a.data.len()),
    );
    eprintln!("mutated npy files accepted by datasets: {accepted} of {N_MUTATIONS}");
}

#[test]
fn npy_files_are_refused_or_read_consistently() {
    let dir = std::env::temp_dir().join(format!("qftml-readers-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let valid_path = dir.join("valid.npy");
    let values: Vec<f64> = (0..48).map(|k| k as f64 * 0.25 - 3.0).collect();
    write_npy(
        &valid_path,
        &[3, 4, 4],
        NpyValues::F64(Box::new(values.iter().copied())),
    )
    .unwrap();
    let valid = std::fs::read(&valid_path).unwrap();
    let mutated_path = dir.join("mutated.npy");
    let accepted = fuzz(
        "npy",
        &valid,
        5,
        mutate,
        |bytes| {
            std::fs::write(&mutated_path, bytes).unwrap();
            read_npy(&mutated_path).map_err(|e| e.to_string())
        },
        |bytes, array| {
            let (shape, n_values) = match &array {
                NpyArray::F64 { shape, data } => (shape, data.len()),
                NpyArray::I64 { shape, data } => (shape, data.len()),
            };
            let expected: usize = shape.iter().product();
            if n_values != expected {
                return Err(format!("shape {shape:?} but {n_values} values"));
            }
            if 8 * n_values > bytes.len() {
                return Err(format!("{n_values} values from a {}-byte file", bytes.len()));
            }
            Ok(())
        },
    );
    std::fs::remove_dir_all(&dir).ok();
    eprintln!("mutated npy files accepted: {accepted} of {N_MUTATIONS}");
}
