//! The trainers' checkpoint payloads keep their byte layout: checkpoints written by an
//! earlier build (stored under `tests/fixtures/`) still restore, and a run resumed from
//! them continues bit for bit like a run that was never interrupted.
//!
//! The fixtures are the states after the first half of each run below.  Writing them again
//! (only after a deliberate, versioned change of the layout) is
//! `QFTML_WRITE_CHECKPOINT_FIXTURES=1 cargo test -p kl-train --test checkpoint_layout`.

use std::path::PathBuf;

use kl_train::{DataConfig, DataTrainer, TrainConfig, Trainer, VariationalTrainer};
use mc_sampler::checkpoint;
use mrf_graph::Lattice;
use phi4_action::targets;

/// Steps before the checkpoint, and in all.
const HALF: usize = 6;
const ALL: usize = 12;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The stored checkpoint of `name`, or (when asked to) `state` written as that fixture.
fn stored_or_written(name: &str, kind: &str, state: &impl serde::Serialize) -> Vec<u8> {
    let path = fixture(name);
    if std::env::var_os("QFTML_WRITE_CHECKPOINT_FIXTURES").is_some() {
        std::fs::write(&path, checkpoint::to_bytes(kind, state)).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bits(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Runs `straight` for [`ALL`] steps; the stored checkpoint `name` (or, when asked to, its
/// state after [`HALF`] steps written as it) restores, by `restore`, to a trainer that
/// continues bit for bit like `straight`.
fn assert_stored_checkpoint_resumes<T: Trainer>(name: &str, mut straight: T, restore: impl FnOnce(T::State) -> T) {
    let mut half = None;
    for step in 0..ALL {
        if step == HALF {
            half = Some(straight.state());
        }
        straight.step().unwrap();
    }
    let bytes = stored_or_written(name, T::CHECKPOINT_KIND, &half.unwrap());
    let state: T::State = checkpoint::from_bytes(T::CHECKPOINT_KIND, &bytes).unwrap();
    let mut resumed = restore(state);
    for _ in HALF..ALL {
        resumed.step().unwrap();
    }
    assert_eq!(bits(straight.params()), bits(resumed.params()));
    assert_eq!(straight.history(), resumed.history());
}

#[test]
fn a_stored_variational_checkpoint_resumes_bit_identically() {
    let lattice = Lattice::square(4).unwrap();
    let target = targets::a(&lattice).unwrap();
    let config = TrainConfig::recommended(5);
    assert_stored_checkpoint_resumes(
        "variational-4x4.ckpt",
        VariationalTrainer::new(&target, config).unwrap(),
        |state| VariationalTrainer::from_state(&target, config, state).unwrap(),
    );
}

#[test]
fn a_stored_data_checkpoint_resumes_bit_identically() {
    let lattice = Lattice::square(4).unwrap();
    let n_sites = lattice.n_sites();
    // Any fixed data serve: the test is about the layout, not about what is learned.
    let data: Vec<f64> = (0..200 * n_sites)
        .map(|i| (0.37 * i as f64).sin() + 0.2 * (1.3 * (i % n_sites) as f64).cos())
        .collect();
    let config = DataConfig {
        batch: 32,
        n_chains: 4,
        n_therm: 20,
        ..DataConfig::recommended(9)
    };
    assert_stored_checkpoint_resumes(
        "data-4x4.ckpt",
        DataTrainer::new(&lattice, &data, config).unwrap(),
        |state| DataTrainer::from_state(&lattice, &data, config, state).unwrap(),
    );
}
