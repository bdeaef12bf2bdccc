//! Ensembles on disk: configurations with their actions and observables, for reweighting.
//!
//! An [`Ensemble`] is a validated pair of an [`EnsembleHeader`] (lattice, pair set,
//! couplings, algorithm, seed, run lengths, provenance) and one [`Chain`] per Markov chain
//! (configurations, per-configuration actions and the eight [`Observables`]).  Both
//! [`Ensemble::from_parts`] and [`Ensemble::read`] run the same checks, so an `Ensemble`
//! value always holds consistent data.
//!
//! # File format (version 1)
//!
//! All integers little-endian.
//!
//! | offset        | size | content                                                    |
//! |---------------|------|------------------------------------------------------------|
//! | 0             | 8    | magic bytes [`MAGIC`] = `b"QFTMLENS"`                      |
//! | 8             | 4    | format version, `u32` ([`FORMAT_VERSION`])                 |
//! | 12            | 8    | payload length `L` in bytes, `u64`                         |
//! | 20            | `L`  | payload: `bincode` 2 (serde), `config::standard()`         |
//! | 20 + `L`      | 4    | CRC-32 (IEEE, `crc32fast`) of the payload, `u32`           |
//!
//! The file ends right after the checksum.  The payload is the record
//! `{ header: EnsembleHeader, chains: Vec<Chain> }` with the fields in the order they are
//! declared here; `bincode::config::standard()` writes integers as variable-length
//! integers, `f64` as 8 little-endian bytes and sequences with a length prefix.
//!
//! Reading checks, in order: the magic bytes, the version (a newer version is
//! [`SamplerError::UnsupportedEnsembleVersion`]), that the file is exactly
//! `20 + L + 4` bytes long, the checksum, that the payload decodes completely, and then the
//! contents ([`Ensemble::from_parts`]): the couplings build and are normalisable, every
//! chain has `n_configs × V` configuration values, `n_configs` actions and observables,
//! every number is finite, and on up to [`CHECKED_CONFIGS_PER_CHAIN`] configurations per
//! chain (evenly spaced, first and last included) the action and the observables recomputed
//! from the couplings match the stored ones within `1e-9 · max(1, |value|)`.  Any failure
//! is an error that says what is wrong.
//!
//! Writing is atomic: the file is written to a temporary file in the same directory,
//! flushed to disk (`fsync`), then renamed over the target.
//!
//! # NumPy export
//!
//! [`Ensemble::export_npy`] writes NPY version 1.0 files (header written here, no extra
//! dependency: the format is a 10-byte prefix and a Python dict literal):
//! `configs.npy` (`<f8`, shape `(n_configs, ly, lx)`, so `configs[k, y, x]` is site
//! `y·lx + x`), `observables.npy` (`<f8`, `(n_configs, 8)`, columns in the order of
//! [`Observables::NAMES`]), `actions.npy` (`<f8`, `(n_configs,)`) and `chain.npy` (`<i8`,
//! `(n_configs,)`, the chain of each row).  Rows are chain by chain, in chain order.
//!
//! # Example
//!
//! ```
//! use mc_sampler::ensemble::{Chain, Ensemble, EnsembleHeader};
//! use mrf_graph::Lattice;
//! use phi4_action::targets;
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let couplings = targets::a(&lattice).unwrap();
//! let header = EnsembleHeader::new(&couplings, "heatbath", 7, 1, 100, 20, 10)
//!     .unwrap()
//!     .with_provenance("version", env!("CARGO_PKG_VERSION"));
//! let mut chain = Chain::default();
//! chain.push(&couplings, &[0.5; 16]);
//! chain.push(&couplings, &[-0.25; 16]);
//! let ensemble = Ensemble::from_parts(header, vec![chain]).unwrap();
//!
//! let bytes = ensemble.to_bytes();
//! let back = Ensemble::from_bytes(&bytes).unwrap();
//! assert_eq!(back, ensemble);
//! assert_eq!(back.configs().count(), 2);
//! assert_eq!(back.observable("m").unwrap(), vec![vec![0.5, -0.25]]);
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mrf_graph::Lattice;
use phi4_action::{Couplings, Observables, PairSet};
use serde::{Deserialize, Serialize};

use crate::SamplerError;

#[cfg(test)]
mod tests;

/// The first eight bytes of every ensemble file.
pub const MAGIC: [u8; 8] = *b"QFTMLENS";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// At most this many configurations per chain get their action and observables recomputed
/// when an ensemble is validated.
pub const CHECKED_CONFIGS_PER_CHAIN: usize = 8;

/// Relative tolerance of the recomputed actions and observables.
pub const RECOMPUTE_TOLERANCE: f64 = 1e-9;

/// Bytes before the payload: magic, version, payload length.
const PREFIX_LEN: usize = 8 + 4 + 8;
/// Bytes after the payload: the CRC-32.
const CRC_LEN: usize = 4;

/// The name of a pair set in ensemble headers: `nearest-neighbour`, `diagonal` or `both`.
pub fn pair_set_name(pair_set: PairSet) -> &'static str {
    match pair_set {
        PairSet::NearestNeighbour => "nearest-neighbour",
        PairSet::Diagonal => "diagonal",
        PairSet::Both => "both",
    }
}

/// The pair set named `name` (see [`pair_set_name`]).
pub fn parse_pair_set(name: &str) -> Result<PairSet, SamplerError> {
    match name {
        "nearest-neighbour" => Ok(PairSet::NearestNeighbour),
        "diagonal" => Ok(PairSet::Diagonal),
        "both" => Ok(PairSet::Both),
        other => Err(SamplerError::InvalidEnsemble(format!(
            "unknown pair set {other:?}; use \"nearest-neighbour\", \"diagonal\" or \"both\""
        ))),
    }
}

/// What was sampled and how: the header of an ensemble file.
///
/// The couplings are stored as plain vectors in the layout of [`Couplings`] on the lattice
/// pairs of `pair_set`; [`Ensemble::couplings`] rebuilds and validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleHeader {
    /// Lattice extent in x.
    pub lx: usize,
    /// Lattice extent in y.
    pub ly: usize,
    /// The coupled pairs: `nearest-neighbour`, `diagonal` or `both` ([`pair_set_name`]).
    pub pair_set: String,
    /// Pair couplings `w`, one per pair of `pair_set`.
    pub w: Vec<f64>,
    /// Quadratic couplings `a`, one per site.
    pub a: Vec<f64>,
    /// Quartic couplings `b`, one per site.
    pub b: Vec<f64>,
    /// Linear couplings `r`, one per site.
    pub r: Vec<f64>,
    /// The update algorithm (e.g. `metropolis`, `heatbath`, `cluster`, `hybrid`).
    pub algorithm: String,
    /// The seed of the run (chain `c` used stream `c`, see [`crate::chain_rng`]).
    pub seed: u64,
    /// Number of chains.
    pub n_chains: usize,
    /// Thermalisation sweeps per chain (not stored).
    pub n_therm: usize,
    /// Sweeps per chain after thermalisation.
    pub n_sweeps: usize,
    /// A configuration was stored every `measure_every` sweeps.
    pub measure_every: usize,
    /// Names of the stored observables, [`Observables::NAMES`].
    pub observable_names: Vec<String>,
    /// Free-form provenance: version, git revision, command line, time, …
    pub provenance: BTreeMap<String, String>,
}

impl EnsembleHeader {
    /// A header for `couplings`, which must live on a periodic lattice; provenance starts
    /// empty ([`EnsembleHeader::with_provenance`]).
    pub fn new(
        couplings: &Couplings,
        algorithm: &str,
        seed: u64,
        n_chains: usize,
        n_therm: usize,
        n_sweeps: usize,
        measure_every: usize,
    ) -> Result<Self, SamplerError> {
        let Some((lattice, pair_set)) = couplings.lattice() else {
            return Err(SamplerError::InvalidEnsemble(
                "ensembles store couplings on a periodic lattice; these couplings live on a general graph".into(),
            ));
        };
        Ok(Self {
            lx: lattice.lx(),
            ly: lattice.ly(),
            pair_set: pair_set_name(pair_set).into(),
            w: couplings.w().to_vec(),
            a: couplings.a().to_vec(),
            b: couplings.b().to_vec(),
            r: couplings.r().to_vec(),
            algorithm: algorithm.into(),
            seed,
            n_chains,
            n_therm,
            n_sweeps,
            measure_every,
            observable_names: Observables::NAMES.iter().map(|s| s.to_string()).collect(),
            provenance: BTreeMap::new(),
        })
    }

    /// The header with one more provenance entry (replacing an entry of the same key).
    pub fn with_provenance(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.provenance.insert(key.into(), value.into());
        self
    }

    /// The lattice, validated.
    pub fn lattice(&self) -> Result<Lattice, SamplerError> {
        Lattice::new(self.lx, self.ly)
            .map_err(|e| SamplerError::InvalidEnsemble(format!("lattice {}x{}: {e}", self.lx, self.ly)))
    }

    /// The couplings, rebuilt and validated.
    pub fn couplings(&self) -> Result<Couplings, SamplerError> {
        let lattice = self.lattice()?;
        let pair_set = parse_pair_set(&self.pair_set)?;
        Couplings::on_lattice(
            &lattice,
            pair_set,
            self.w.clone(),
            self.a.clone(),
            self.b.clone(),
            self.r.clone(),
        )
        .map_err(|e| SamplerError::InvalidEnsemble(format!("couplings: {e}")))
    }
}

/// The stored measurements of one Markov chain.
///
/// `configs` holds `n_configs × V` values, configuration `k` at `configs[k V..(k + 1) V]`
/// (site index `i = y · lx + x`); `actions[k]` is `S(φ_k)` and `observables[k]` the
/// [`Observables`] of configuration `k`, in the order of [`Observables::NAMES`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Chain {
    /// Configurations, flattened.
    pub configs: Vec<f64>,
    /// Total action of each configuration.
    pub actions: Vec<f64>,
    /// Observables of each configuration.
    pub observables: Vec<[f64; 8]>,
}

impl Chain {
    /// Append configuration `phi` with its action and observables measured under
    /// `couplings`.
    pub fn push(&mut self, couplings: &Couplings, phi: &[f64]) {
        assert_eq!(
            phi.len(),
            couplings.n_sites(),
            "configuration length must equal the number of sites"
        );
        let observables = Observables::measure(couplings, phi);
        self.push_measured(phi, couplings.action(phi), observables);
    }

    /// Append configuration `phi` with an action and observables measured by the caller.
    pub fn push_measured(&mut self, phi: &[f64], action: f64, observables: Observables) {
        self.configs.extend_from_slice(phi);
        self.actions.push(action);
        self.observables.push(observables.to_array());
    }

    /// Number of stored configurations.
    pub fn n_configs(&self) -> usize {
        self.actions.len()
    }
}

/// Serialised form: borrowed for writing, owned for reading (same field order).
#[derive(Serialize)]
struct RecordRef<'a> {
    header: &'a EnsembleHeader,
    chains: &'a [Chain],
}

#[derive(Deserialize)]
struct Record {
    header: EnsembleHeader,
    chains: Vec<Chain>,
}

/// A validated ensemble: header, chains and the couplings they were sampled with.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
    header: EnsembleHeader,
    chains: Vec<Chain>,
    couplings: Couplings,
    lattice: Lattice,
}

impl Ensemble {
    /// Validate a header and its chains into an ensemble: see the [module docs](self) for
    /// the checks.  `header.n_chains` must equal `chains.len()`.
    pub fn from_parts(header: EnsembleHeader, chains: Vec<Chain>) -> Result<Self, SamplerError> {
        let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(msg));
        if header.observable_names != Observables::NAMES {
            return invalid(format!(
                "observable names {:?} differ from {:?}; re-measure with this version",
                header.observable_names,
                Observables::NAMES
            ));
        }
        let lattice = header.lattice()?;
        let couplings = header.couplings()?;
        if header.measure_every == 0 {
            return invalid("measure_every is 0; configurations are stored every >= 1 sweeps".into());
        }
        if chains.is_empty() {
            return invalid("an ensemble needs at least one chain".into());
        }
        if header.n_chains != chains.len() {
            return invalid(format!(
                "the header says {} chains but {} are stored",
                header.n_chains,
                chains.len()
            ));
        }
        let v = lattice.n_sites();
        for (c, chain) in chains.iter().enumerate() {
            check_chain(&couplings, v, c, chain)?;
        }
        Ok(Self {
            header,
            chains,
            couplings,
            lattice,
        })
    }

    /// The header and the chains.
    pub fn into_parts(self) -> (EnsembleHeader, Vec<Chain>) {
        (self.header, self.chains)
    }

    /// The header.
    pub fn header(&self) -> &EnsembleHeader {
        &self.header
    }

    /// The chains.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The lattice.
    pub fn lattice(&self) -> Lattice {
        self.lattice
    }

    /// Number of sites `V`.
    pub fn n_sites(&self) -> usize {
        self.lattice.n_sites()
    }

    /// Total number of configurations over all chains.
    pub fn n_configs(&self) -> usize {
        self.chains.iter().map(Chain::n_configs).sum()
    }

    /// The couplings the ensemble was sampled with, rebuilt from the header.  Validated when
    /// the ensemble was built, so this does not fail for an `Ensemble` value.
    pub fn couplings(&self) -> Result<Couplings, SamplerError> {
        Ok(self.couplings.clone())
    }

    /// The configurations of chain `chain`, each of length `V`.
    ///
    /// # Panics
    ///
    /// If `chain >= n_chains`.
    pub fn chain_configs(&self, chain: usize) -> std::slice::ChunksExact<'_, f64> {
        self.chains[chain].configs.chunks_exact(self.n_sites())
    }

    /// All configurations, chain by chain.
    pub fn configs(&self) -> impl Iterator<Item = &[f64]> + '_ {
        (0..self.chains.len()).flat_map(move |c| self.chain_configs(c))
    }

    /// The series of observable `name` (one of [`Observables::NAMES`]) per chain, ready for
    /// [`crate::stats::gamma_method`]; `None` for an unknown name.
    pub fn observable(&self, name: &str) -> Option<Vec<Vec<f64>>> {
        let q = Observables::NAMES.iter().position(|n| *n == name)?;
        Some(
            self.chains
                .iter()
                .map(|c| c.observables.iter().map(|o| o[q]).collect())
                .collect(),
        )
    }

    /// The file contents: prefix, payload, checksum (see the [module docs](self)).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&self.header, &self.chains)
    }

    /// Decode and validate file contents (errors name the file `<memory>`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SamplerError> {
        decode(bytes, Path::new("<memory>"))
    }

    /// Write the ensemble to `path`, atomically (temporary file, fsync, rename).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), SamplerError> {
        let bytes = self.to_bytes();
        write_atomic(path.as_ref(), |w| w.write_all(&bytes))
    }

    /// Read and validate an ensemble file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, SamplerError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| SamplerError::Io {
            action: "read",
            path: path.into(),
            source,
        })?;
        decode(&bytes, path)
    }

    /// Write `configs.npy`, `observables.npy`, `actions.npy` and `chain.npy` into the
    /// directory `dir` (created if missing); see the [module docs](self).
    pub fn export_npy(&self, dir: impl AsRef<Path>) -> Result<(), SamplerError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|source| SamplerError::Io {
            action: "create",
            path: dir.into(),
            source,
        })?;
        let n = self.n_configs();
        let (lx, ly) = (self.lattice.lx(), self.lattice.ly());
        let configs = self.chains.iter().flat_map(|c| c.configs.iter().copied());
        write_npy(dir.join("configs.npy"), &[n, ly, lx], NpyValues::F64(Box::new(configs)))?;
        let obs = self.chains.iter().flat_map(|c| c.observables.iter().flatten().copied());
        write_npy(
            dir.join("observables.npy"),
            &[n, Observables::NAMES.len()],
            NpyValues::F64(Box::new(obs)),
        )?;
        let actions = self.chains.iter().flat_map(|c| c.actions.iter().copied());
        write_npy(dir.join("actions.npy"), &[n], NpyValues::F64(Box::new(actions)))?;
        let chain = self
            .chains
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n(i as i64, c.n_configs()));
        write_npy(dir.join("chain.npy"), &[n], NpyValues::I64(Box::new(chain)))
    }
}

/// The file contents for a header and chains, without validation.
fn encode(header: &EnsembleHeader, chains: &[Chain]) -> Vec<u8> {
    let payload = bincode::serde::encode_to_vec(RecordRef { header, chains }, bincode::config::standard())
        .expect("encoding plain numbers, strings and maps into memory cannot fail");
    let mut bytes = Vec::with_capacity(PREFIX_LEN + payload.len() + CRC_LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&payload);
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes
}

/// Consistency of one chain: lengths, finiteness, and recomputed actions and observables on
/// a sample of configurations.
fn check_chain(couplings: &Couplings, v: usize, c: usize, chain: &Chain) -> Result<(), SamplerError> {
    let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(format!("chain {c}: {msg}")));
    let n = chain.actions.len();
    if chain.observables.len() != n {
        return invalid(format!(
            "{} actions but {} rows of observables",
            n,
            chain.observables.len()
        ));
    }
    if chain.configs.len() != n * v {
        return invalid(format!(
            "{} configuration values, but {n} configurations of {v} sites need {}",
            chain.configs.len(),
            n * v
        ));
    }
    if let Some(i) = chain.configs.iter().position(|x| !x.is_finite()) {
        return invalid(format!(
            "configuration {}, site {} is {}",
            i / v,
            i % v,
            chain.configs[i]
        ));
    }
    if let Some(k) = chain.actions.iter().position(|x| !x.is_finite()) {
        return invalid(format!("the action of configuration {k} is {}", chain.actions[k]));
    }
    if let Some(k) = chain.observables.iter().position(|o| o.iter().any(|x| !x.is_finite())) {
        return invalid(format!(
            "an observable of configuration {k} is not finite: {:?}",
            chain.observables[k]
        ));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= RECOMPUTE_TOLERANCE * a.abs().max(b.abs()).max(1.0);
    for k in checked_indices(n) {
        let phi = &chain.configs[k * v..(k + 1) * v];
        let action = couplings.action(phi);
        if !close(action, chain.actions[k]) {
            return invalid(format!(
                "configuration {k} has action {action} under the stored couplings, but {} is stored: \
                 the configurations, actions or couplings do not belong together",
                chain.actions[k]
            ));
        }
        let measured = Observables::measure(couplings, phi).to_array();
        for (q, (m, s)) in measured.iter().zip(&chain.observables[k]).enumerate() {
            if !close(*m, *s) {
                return invalid(format!(
                    "configuration {k} has {} = {m}, but {s} is stored: the configurations and \
                     observables do not belong together",
                    Observables::NAMES[q]
                ));
            }
        }
    }
    Ok(())
}

/// Up to [`CHECKED_CONFIGS_PER_CHAIN`] evenly spaced indices of `0..n`, first and last
/// included.
fn checked_indices(n: usize) -> Vec<usize> {
    let m = CHECKED_CONFIGS_PER_CHAIN;
    if n <= m {
        return (0..n).collect();
    }
    (0..m).map(|j| j * (n - 1) / (m - 1)).collect()
}

fn decode(bytes: &[u8], path: &Path) -> Result<Ensemble, SamplerError> {
    let corrupt = |reason: String| {
        Err(SamplerError::CorruptEnsemble {
            path: path.into(),
            reason,
        })
    };
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return corrupt(format!(
            "wrong magic bytes {:?} (expected {:?}): not a qftml ensemble file",
            String::from_utf8_lossy(&bytes[..magic_len]),
            String::from_utf8_lossy(&MAGIC)
        ));
    }
    if bytes.len() < PREFIX_LEN + CRC_LEN {
        return corrupt(format!(
            "only {} bytes, fewer than the {} of an empty ensemble file: the file is truncated",
            bytes.len(),
            PREFIX_LEN + CRC_LEN
        ));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(SamplerError::UnsupportedEnsembleVersion {
            path: path.into(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (PREFIX_LEN as u64 + CRC_LEN as u64).saturating_add(len);
    if (bytes.len() as u64) < expected {
        return corrupt(format!(
            "the header announces a {len}-byte payload, so the file should have {expected} bytes, but it \
             has {}: the file is truncated (or its length field is corrupted)",
            bytes.len()
        ));
    }
    if (bytes.len() as u64) > expected {
        return corrupt(format!(
            "the header announces a {len}-byte payload, so the file should have {expected} bytes, but it \
             has {}: trailing data after the checksum (or a corrupted length field)",
            bytes.len()
        ));
    }
    let payload = &bytes[PREFIX_LEN..PREFIX_LEN + len as usize];
    let stored = u32::from_le_bytes(bytes[PREFIX_LEN + len as usize..].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return corrupt(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupted"
        ));
    }
    let (record, used): (Record, usize) = match bincode::serde::decode_from_slice(payload, bincode::config::standard())
    {
        Ok(decoded) => decoded,
        Err(e) => return corrupt(format!("the payload does not decode: {e}")),
    };
    if used != payload.len() {
        return corrupt(format!(
            "{} bytes of the payload are left over after decoding",
            payload.len() - used
        ));
    }
    Ensemble::from_parts(record.header, record.chains)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `path` atomically: a temporary file in the same directory, fsync, rename, and a
/// best-effort fsync of the directory.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), SamplerError> {
    let io_err = |action, path: &Path, source| SamplerError::Io {
        action,
        path: path.into(),
        source,
    };
    let Some(name) = path.file_name() else {
        return Err(io_err(
            "write",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        ));
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let unique = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp: PathBuf = dir.join(format!(
        ".{}.{}-{unique}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write", path, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename a temporary file to", path, e));
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Values for [`write_npy`], streamed in C (row-major) order.
pub enum NpyValues<'a> {
    /// Little-endian `f64` (`<f8`).
    F64(Box<dyn Iterator<Item = f64> + 'a>),
    /// Little-endian `i64` (`<i8`).
    I64(Box<dyn Iterator<Item = i64> + 'a>),
}

/// A `.npy` array read back by [`read_npy`].
#[derive(Debug, Clone, PartialEq)]
pub enum NpyArray {
    /// `<f8` data.
    F64 {
        /// The shape.
        shape: Vec<usize>,
        /// Values in C order.
        data: Vec<f64>,
    },
    /// `<i8` data.
    I64 {
        /// The shape.
        shape: Vec<usize>,
        /// Values in C order.
        data: Vec<i64>,
    },
}

/// The NPY 1.0 header for a C-ordered array: magic, version, header length and the dict,
/// padded with spaces and a final newline to a multiple of 64 bytes.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + (64 - unpadded % 64) % 64 + 1;
    let mut out = Vec::with_capacity(10 + header_len);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(
        &u16::try_from(header_len)
            .expect("npy header fits in 64 KiB")
            .to_le_bytes(),
    );
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// Write a C-ordered array of shape `shape` as an NPY 1.0 file, atomically.  A number of
/// values other than the product of `shape` is an error (and leaves no file).
pub fn write_npy(path: impl AsRef<Path>, shape: &[usize], values: NpyValues<'_>) -> Result<(), SamplerError> {
    let expected: usize = shape.iter().product();
    let mut count = 0usize;
    write_atomic(path.as_ref(), |w| {
        let descr = match values {
            NpyValues::F64(_) => "<f8",
            NpyValues::I64(_) => "<i8",
        };
        w.write_all(&npy_header(descr, shape))?;
        match values {
            NpyValues::F64(mut it) => it.try_for_each(|x| {
                count += 1;
                w.write_all(&x.to_le_bytes())
            })?,
            NpyValues::I64(mut it) => it.try_for_each(|x| {
                count += 1;
                w.write_all(&x.to_le_bytes())
            })?,
        }
        if count != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{count} values for shape {shape:?}, which needs {expected}"),
            ));
        }
        Ok(())
    })
}

/// Read a C-ordered `<f8` or `<i8` `.npy` file (format versions 1.0 to 3.0).
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray, SamplerError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|source| SamplerError::Io {
        action: "read",
        path: path.into(),
        source,
    })?;
    parse_npy(&bytes).map_err(|reason| SamplerError::InvalidNpy {
        path: path.into(),
        reason,
    })
}

fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let end = start + header_len;
    let header = bytes.get(start..end).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not UTF-8")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}':"))
            .ok_or(format!("no '{key}' in the header"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed 'descr'")?;
    if !field("fortran_order")?.starts_with("False") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed 'shape'")?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad dimension {s:?}")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[end..];
    if data.len() != 8 * n {
        return Err(format!(
            "shape {shape:?} needs {} data bytes, found {}",
            8 * n,
            data.len()
        ));
    }
    let words = data.chunks_exact(8).map(|c| <[u8; 8]>::try_from(c).expect("8 bytes"));
    match descr {
        "<f8" => Ok(NpyArray::F64 {
            shape,
            data: words.map(f64::from_le_bytes).collect(),
        }),
        "<i8" => Ok(NpyArray::I64 {
            shape,
            data: words.map(i64::from_le_bytes).collect(),
        }),
        other => Err(format!("unsupported dtype {other:?} (only '<f8' and '<i8')")),
    }
}
