//! The bytes of an ensemble file: prefix, payload and checksum (the [module docs](super)),
//! the version-2 payload, and the version-1 payload, converted on read.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use phi4_action::SufficientStats;
use serde::{Deserialize, Serialize};

use super::{EnsembleHeader, LatticeCouplings, SpotConfig, StoredChain, StoredEnsemble, checked_indices};
use crate::SamplerError;
use crate::frame::{self, FrameError};

/// The first eight bytes of every ensemble file.
pub const MAGIC: [u8; 8] = *b"QFTMLENS";

/// The format version this build writes.  It also reads version 1, converting on read.
pub const FORMAT_VERSION: u32 = 2;

pub(super) use crate::frame::{CRC_LEN, PREFIX_LEN};
/// Bytes of the record length at the start of a version-2 payload.
const RECORD_LEN_LEN: usize = 8;
/// Configuration bytes converted or hashed at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// The measurements of one chain in the version-2 record (borrowed for writing).
#[derive(Serialize)]
struct ChainRecordRef<'a> {
    actions: &'a [f64],
    sums: Vec<[f64; 5]>,
}

#[derive(Deserialize)]
struct ChainRecord {
    actions: Vec<f64>,
    sums: Vec<[f64; 5]>,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    header: &'a EnsembleHeader,
    chains: Vec<ChainRecordRef<'a>>,
}

#[derive(Deserialize)]
struct Record {
    header: EnsembleHeader,
    chains: Vec<ChainRecord>,
}

fn encode_record(header: &EnsembleHeader, chains: &[StoredChain]) -> Vec<u8> {
    let record = RecordRef {
        header,
        chains: chains
            .iter()
            .map(|c| ChainRecordRef {
                actions: &c.actions,
                sums: c.sums.iter().map(SufficientStats::to_array).collect(),
            })
            .collect(),
    };
    bincode::serde::encode_to_vec(record, bincode::config::standard())
        .expect("encoding plain numbers, strings and maps into memory cannot fail")
}

/// A writer that hashes what it writes.
struct Hashing<'w, W: Write> {
    inner: &'w mut W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Hashing<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

/// Write a version-2 file for `header` and `chains` (not validated here) to `w`.
pub(super) fn write_v2(w: &mut impl Write, header: &EnsembleHeader, chains: &[StoredChain]) -> io::Result<()> {
    let record = encode_record(header, chains);
    let n_values: usize = chains.iter().map(|c| c.configs.len()).sum();
    let payload_len = RECORD_LEN_LEN + record.len() + 8 * n_values;
    w.write_all(&MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_le_bytes())?;
    w.write_all(&(payload_len as u64).to_le_bytes())?;
    let mut h = Hashing {
        inner: w,
        crc: crc32fast::Hasher::new(),
    };
    h.put(&(record.len() as u64).to_le_bytes())?;
    h.put(&record)?;
    let mut buf = Vec::with_capacity(CHUNK_BYTES);
    for block in chains.iter().flat_map(|c| c.configs.chunks(CHUNK_BYTES / 8)) {
        buf.clear();
        block.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
        h.put(&buf)?;
    }
    let crc = h.crc.finalize();
    w.write_all(&crc.to_le_bytes())
}

fn corrupt<T>(path: &Path, reason: String) -> Result<T, SamplerError> {
    Err(SamplerError::CorruptEnsemble {
        path: path.into(),
        reason,
    })
}

/// Magic, version, length and checksum of the file contents `bytes` ([`crate::frame`]): the
/// version and the payload.
fn split<'a>(bytes: &'a [u8], path: &Path) -> Result<(u32, &'a [u8]), SamplerError> {
    frame::decode(&MAGIC, "ensemble file", bytes, |v| v == 1 || v == FORMAT_VERSION).map_err(|e| match e {
        FrameError::Corrupt(reason) => SamplerError::CorruptEnsemble {
            path: path.into(),
            reason,
        },
        FrameError::UnsupportedVersion(found) => SamplerError::UnsupportedEnsembleVersion {
            path: path.into(),
            found,
            supported: FORMAT_VERSION,
        },
    })
}

/// Decode `T` from all of `bytes` with bincode's standard configuration.
fn decode_all<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str, path: &Path) -> Result<T, SamplerError> {
    let (value, used): (T, usize) = match bincode::serde::decode_from_slice(bytes, bincode::config::standard()) {
        Ok(decoded) => decoded,
        Err(e) => return corrupt(path, format!("the {what} does not decode: {e}")),
    };
    if used != bytes.len() {
        return corrupt(
            path,
            format!(
                "{} bytes of the {what} are left over after decoding",
                bytes.len() - used
            ),
        );
    }
    Ok(value)
}

/// The record length, the record and the configuration block of a version-2 payload.
fn split_v2<'a>(payload: &'a [u8], path: &Path) -> Result<(&'a [u8], &'a [u8]), SamplerError> {
    let Some((len, rest)) = payload.split_first_chunk::<RECORD_LEN_LEN>() else {
        return corrupt(path, "the payload is too short to hold its record length".into());
    };
    let len = u64::from_le_bytes(*len);
    if len > rest.len() as u64 {
        return corrupt(
            path,
            format!(
                "the record length {len} exceeds the {} bytes of the payload after it",
                rest.len()
            ),
        );
    }
    Ok(rest.split_at(len as usize))
}

/// Number of configuration values the record announces.
fn n_values(header: &EnsembleHeader, chains: &[ChainRecord]) -> Option<usize> {
    let v = header.couplings.n_sites()?;
    chains
        .iter()
        .try_fold(0usize, |acc, c| acc.checked_add(c.actions.len().checked_mul(v)?))
}

fn check_block_len(
    header: &EnsembleHeader,
    chains: &[ChainRecord],
    bytes: usize,
    path: &Path,
) -> Result<(), SamplerError> {
    match n_values(header, chains) {
        Some(n) if n.checked_mul(8) == Some(bytes) => Ok(()),
        n => corrupt(
            path,
            format!(
                "the configuration block has {bytes} bytes, but the record announces {} values of 8 bytes",
                n.map_or("too many".to_string(), |n| n.to_string())
            ),
        ),
    }
}

fn to_chain(c: ChainRecord, configs: Vec<f64>) -> StoredChain {
    StoredChain {
        configs,
        actions: c.actions,
        sums: c.sums.into_iter().map(SufficientStats::from_array).collect(),
    }
}

/// Decode and validate the contents of an ensemble file of either version.
pub(super) fn decode(bytes: &[u8], path: &Path) -> Result<StoredEnsemble, SamplerError> {
    let (version, payload) = split(bytes, path)?;
    if version == 1 {
        return v1::decode(payload, path);
    }
    let (record, block) = split_v2(payload, path)?;
    let record: Record = decode_all(record, "record", path)?;
    check_block_len(&record.header, &record.chains, block.len(), path)?;
    let v = record
        .header
        .couplings
        .n_sites()
        .expect("lx · ly checked with the block length");
    let mut values = block
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")));
    let chains = record
        .chains
        .into_iter()
        .map(|c| {
            let configs = values.by_ref().take(c.actions.len() * v).collect();
            to_chain(c, configs)
        })
        .collect();
    StoredEnsemble::from_parts(record.header, chains)
}

/// Read the header and the per-configuration measurements of a version-2 file, streaming
/// the configurations through the checksum without keeping them (except the few that are
/// spot-checked).  Anything unusual (another version, a wrong length, a bad checksum,
/// non-finite configuration values) is handed to [`decode`] on the whole file, so that
/// errors and version-1 conversion are those of a full read.
pub(super) fn read_measurements(path: &Path) -> Result<StoredEnsemble, SamplerError> {
    let io_err = |source| super::io_error("read", path)(source);
    let full = || -> Result<StoredEnsemble, SamplerError> {
        let ensemble = decode(&std::fs::read(path).map_err(io_err)?, path)?;
        Ok(ensemble.without_configs())
    };
    let mut file = File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut prefix = [0u8; PREFIX_LEN + RECORD_LEN_LEN];
    if file_len < (PREFIX_LEN + RECORD_LEN_LEN + CRC_LEN) as u64 {
        return full();
    }
    file.read_exact(&mut prefix).map_err(io_err)?;
    let version = u32::from_le_bytes(prefix[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(prefix[12..20].try_into().expect("8 bytes"));
    let record_len = u64::from_le_bytes(prefix[20..28].try_into().expect("8 bytes"));
    if prefix[..8] != MAGIC
        || version != FORMAT_VERSION
        || (PREFIX_LEN as u64 + CRC_LEN as u64).checked_add(len) != Some(file_len)
        || record_len > len - RECORD_LEN_LEN as u64
    {
        return full();
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&prefix[PREFIX_LEN..]);
    let mut record = vec![0u8; record_len as usize];
    file.read_exact(&mut record).map_err(io_err)?;
    crc.update(&record);
    let Ok(Record { header, chains }) = decode_all::<Record>(&record, "record", path) else {
        return full();
    };
    let block_len = (len - RECORD_LEN_LEN as u64 - record_len) as usize;
    if check_block_len(&header, &chains, block_len, path).is_err() {
        return full();
    }
    // The configurations to spot-check, by their first byte in the block.
    let v = header
        .couplings
        .n_sites()
        .expect("lx · ly checked with the block length");
    let mut spots: Vec<(usize, SpotConfig)> = Vec::new();
    let mut start = 0;
    for (c, chain) in chains.iter().enumerate() {
        for k in checked_indices(chain.actions.len()) {
            let phi = Vec::with_capacity(v);
            spots.push((
                8 * (start + k * v),
                SpotConfig {
                    chain: c,
                    index: k,
                    phi,
                },
            ));
        }
        start += chain.actions.len() * v;
    }
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut offset = 0;
    let mut finite = true;
    while offset < block_len {
        let n = CHUNK_BYTES.min(block_len - offset);
        let chunk = &mut buf[..n];
        file.read_exact(chunk).map_err(io_err)?;
        crc.update(chunk);
        finite &= chunk
            .chunks_exact(8)
            .all(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")).is_finite());
        for (first, spot) in &mut spots {
            let (lo, hi) = ((*first).max(offset), (*first + 8 * v).min(offset + n));
            if lo < hi {
                let words = chunk[lo - offset..hi - offset].chunks_exact(8);
                spot.phi
                    .extend(words.map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))));
            }
        }
        offset += n;
    }
    let mut stored = [0u8; CRC_LEN];
    file.read_exact(&mut stored).map_err(io_err)?;
    if !finite || u32::from_le_bytes(stored) != crc.finalize() {
        return full();
    }
    let chains = chains.into_iter().map(|c| to_chain(c, Vec::new())).collect();
    StoredEnsemble::from_measurements(header, chains, spots.into_iter().map(|(_, s)| s).collect())
}

/// Version 1 (`{ header, chains: [{ configs, actions, observables }] }`, actions stored as
/// `action_density · V`): read, measured once into version 2.
mod v1 {
    use super::*;

    #[derive(Deserialize)]
    struct Header {
        couplings: LatticeCouplings,
        algorithm: String,
        seed: u64,
        n_chains: usize,
        n_therm: usize,
        n_sweeps: usize,
        measure_every: usize,
        #[allow(dead_code)]
        observable_names: Vec<String>,
        provenance: BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    struct Chain {
        configs: Vec<f64>,
        actions: Vec<f64>,
        observables: Vec<[f64; 8]>,
    }

    #[derive(Deserialize)]
    struct Record {
        header: Header,
        chains: Vec<Chain>,
    }

    /// Relative tolerance of a version-1 action (`action_density · V`) against the
    /// recomputed `S`.
    const V1_TOLERANCE: f64 = 1e-9;

    pub(super) fn decode(payload: &[u8], path: &Path) -> Result<StoredEnsemble, SamplerError> {
        let Record { header: h, chains } = decode_all(payload, "payload", path)?;
        let mut provenance = h.provenance;
        provenance.insert(
            "converted".into(),
            "read from ensemble format version 1; actions and sums measured from the configurations".into(),
        );
        let header = EnsembleHeader {
            couplings: h.couplings,
            algorithm: h.algorithm,
            seed: h.seed,
            n_chains: h.n_chains,
            n_therm: h.n_therm,
            n_sweeps: h.n_sweeps,
            measure_every: h.measure_every,
            provenance,
        };
        let couplings = header.couplings()?;
        let invalid = |c: usize, msg: String| Err(SamplerError::InvalidEnsemble(format!("chain {c}: {msg}")));
        let mut stored = Vec::with_capacity(chains.len());
        for (c, chain) in chains.into_iter().enumerate() {
            let n = chain.actions.len();
            if chain.observables.len() != n || chain.configs.len() != n * couplings.n_sites() {
                return invalid(
                    c,
                    format!(
                        "{n} actions, {} rows of observables and {} configuration values do not belong together",
                        chain.observables.len(),
                        chain.configs.len()
                    ),
                );
            }
            let measured = StoredChain::measure(&couplings, chain.configs)?;
            for (k, (&old, &new)) in chain.actions.iter().zip(&measured.actions).enumerate() {
                if !old.is_finite() || (old - new).abs() > V1_TOLERANCE * old.abs().max(new.abs()).max(1.0) {
                    return invalid(
                        c,
                        format!(
                            "configuration {k} has action {new} under the stored couplings, but {old} is stored: \
                             the configurations, actions or couplings do not belong together"
                        ),
                    );
                }
            }
            stored.push(measured);
        }
        StoredEnsemble::from_parts(header, stored)
    }
}
