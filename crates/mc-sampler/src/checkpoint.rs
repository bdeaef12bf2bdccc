//! Checkpoints: the exact state of Markov chains (and of whatever steers them), so that a run
//! can stop and resume bit-identically.
//!
//! A checkpoint holds a *kind* (what the payload is, e.g. `"chains"` for
//! [`PersistentChains`](crate::PersistentChains) or a trainer's own state) and a payload of
//! any serde type; [`ChainState`] is the state of one [`Chain`](crate::Chain): field,
//! generator (key, stream and word position), tuned step sizes and counters.  Restoring a
//! chain from its state and continuing gives exactly the bits of the chain that never
//! stopped.
//!
//! # File format (version 1)
//!
//! The family of the ensemble file: all integers little-endian.
//!
//! | offset   | size | content                                                   |
//! |----------|------|-----------------------------------------------------------|
//! | 0        | 8    | magic bytes [`MAGIC`] = `b"QFTMLCKP"`                     |
//! | 8        | 4    | format version, `u32` ([`FORMAT_VERSION`])                |
//! | 12       | 8    | payload length `L` in bytes, `u64`                        |
//! | 20       | `L`  | payload: `bincode` 2 (serde), `config::standard()`        |
//! | 20 + `L` | 4    | CRC-32 (IEEE, `crc32fast`) of the payload, `u32`          |
//!
//! The payload is the record `{ kind: String, payload: T }`.  Reading checks the magic,
//! the version, the length, the checksum, the kind and that the payload decodes completely;
//! any failure is an error that says what is wrong.  [`save`] writes atomically (temporary
//! file, fsync, rename), so a checkpoint on disk is always a whole one.
//!
//! # Example
//!
//! ```
//! use mc_sampler::{chain_rng, checkpoint, Algorithm, Chain};
//! use mrf_graph::Lattice;
//! use phi4_action::targets;
//!
//! let couplings = targets::a(&Lattice::new(4, 4).unwrap()).unwrap();
//! let mut chain = Chain::new(&couplings, Algorithm::Metropolis, chain_rng(1, 0)).unwrap();
//! chain.thermalise(20);
//! let bytes = checkpoint::to_bytes("chain", &chain.state());
//! let mut resumed = Chain::from_state(&couplings, checkpoint::from_bytes("chain", &bytes).unwrap()).unwrap();
//! chain.sweep();
//! resumed.sweep();
//! assert_eq!(chain.field(), resumed.field());
//! ```

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ChainStats, SamplerError, SimRng, frame};

/// The first eight bytes of every checkpoint file.
pub const MAGIC: [u8; 8] = *b"QFTMLCKP";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The state of one [`Chain`](crate::Chain): everything its future depends on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChainState {
    /// The schedule ([`Algorithm::name`](crate::Algorithm::name)).
    pub algorithm: String,
    /// The field in site order.
    pub field: Vec<f64>,
    /// The generator: key, stream and position in the stream.
    pub rng: SimRng,
    /// The Metropolis step size.
    pub step: f64,
    /// Wolff clusters per sweep.
    pub clusters_per_sweep: usize,
    /// Proposal half-widths of the global moves (dilatation, shift), if the schedule uses them.
    pub global_steps: Option<[f64; 2]>,
    /// Clamped sites (site indices), empty when none are.
    pub clamped: Vec<usize>,
    /// Counters: sweeps, proposals, acceptances, clusters, site updates, seconds.
    pub stats: ChainStats,
}

#[derive(serde::Serialize)]
struct RecordRef<'a, T> {
    kind: &'a str,
    payload: &'a T,
}

#[derive(serde::Deserialize)]
struct Record<T> {
    kind: String,
    payload: T,
}

/// The file contents of a checkpoint of `kind` holding `payload`.
pub fn to_bytes<T: Serialize>(kind: &str, payload: &T) -> Vec<u8> {
    let body = bincode::serde::encode_to_vec(RecordRef { kind, payload }, bincode::config::standard())
        .expect("encoding plain numbers, strings and vectors into memory cannot fail");
    frame::encode(&MAGIC, FORMAT_VERSION, &body)
}

/// Decodes and checks checkpoint bytes of `kind` (errors name the file `<memory>`).
pub fn from_bytes<T: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<T, SamplerError> {
    decode(kind, bytes, Path::new("<memory>"))
}

/// Writes a checkpoint of `kind` to `path`, atomically.
pub fn save<T: Serialize>(path: impl AsRef<Path>, kind: &str, payload: &T) -> Result<(), SamplerError> {
    let bytes = to_bytes(kind, payload);
    let path = path.as_ref();
    records::write_atomic(path, bytes).map_err(crate::ensemble::io_error("write", path))
}

/// Reads and checks a checkpoint of `kind` from `path`.
pub fn load<T: DeserializeOwned>(path: impl AsRef<Path>, kind: &str) -> Result<T, SamplerError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(crate::ensemble::io_error("read", path))?;
    decode(kind, &bytes, path)
}

fn decode<T: DeserializeOwned>(kind: &str, bytes: &[u8], path: &Path) -> Result<T, SamplerError> {
    let corrupt = |reason: String| SamplerError::CorruptCheckpoint {
        path: path.into(),
        reason,
    };
    let (_, body) = frame::decode(&MAGIC, "checkpoint", bytes, |v| v == FORMAT_VERSION).map_err(|e| match e {
        frame::FrameError::Corrupt(reason) => corrupt(reason),
        frame::FrameError::UnsupportedVersion(version) => corrupt(format!(
            "format version {version}, but this build reads version {FORMAT_VERSION}; resume with the qftml version that wrote it"
        )),
    })?;
    let (record, used): (Record<T>, usize) = match bincode::serde::decode_from_slice(body, bincode::config::standard())
    {
        Ok(ok) => ok,
        Err(e) => return Err(corrupt(format!("the payload does not decode: {e}"))),
    };
    if used != body.len() {
        return Err(corrupt(format!(
            "{} bytes of the payload are left over after decoding",
            body.len() - used
        )));
    }
    if record.kind != kind {
        return Err(corrupt(format!(
            "it is a checkpoint of {:?}, not of {kind:?}; pass a checkpoint written by the same command",
            record.kind
        )));
    }
    Ok(record.payload)
}
