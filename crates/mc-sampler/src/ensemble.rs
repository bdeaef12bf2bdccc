//! Ensembles on disk: configurations with their exact actions and sufficient statistics, for
//! reweighting.
//!
//! A [`StoredEnsemble`] is a validated pair of an [`EnsembleHeader`] (lattice, pair set,
//! couplings, algorithm, seed, run lengths, provenance) and one [`StoredChain`] per Markov
//! chain: the configurations, the sampled action `S(φ)` of each (exact, as computed by
//! [`Couplings::action`]) and its five [`SufficientStats`] (`Σ_⟨ij⟩ φφ`, `Σ_⟨⟨ij⟩⟩ φφ`, `Σφ`,
//! `Σφ²`, `Σφ⁴`).  `S` and the sums are all reweighting needs for homogeneous targets, also
//! from inhomogeneous sampled couplings (where `T − S` uses the stored `S`), so reading an
//! ensemble back for reweighting measures nothing ([`StoredEnsemble::read_measurements`]
//! does not even keep the configurations).  The per-configuration [`Observables`] are
//! rebuilt from `S` and the sums ([`Observables::from_sums`]).  [`StoredEnsemble::from_parts`],
//! [`StoredEnsemble::read`] and [`StoredEnsemble::read_measurements`] run the same checks, so
//! a `StoredEnsemble` value always holds consistent data.
//!
//! # File format (version 2)
//!
//! All integers little-endian.
//!
//! | offset        | size | content                                                    |
//! |---------------|------|------------------------------------------------------------|
//! | 0             | 8    | magic bytes [`MAGIC`] = `b"QFTMLENS"`                      |
//! | 8             | 4    | format version, `u32` ([`FORMAT_VERSION`])                 |
//! | 12            | 8    | payload length `L` in bytes, `u64`                         |
//! | 20            | `L`  | payload (below)                                            |
//! | 20 + `L`      | 4    | CRC-32 (IEEE, `crc32fast`) of the payload, `u32`           |
//!
//! The file ends right after the checksum.  The payload is
//!
//! | offset   | size        | content                                                   |
//! |----------|-------------|-----------------------------------------------------------|
//! | 0        | 8           | record length `R`, `u64`                                  |
//! | 8        | `R`         | record: `bincode` 2 (serde), `config::standard()`         |
//! | 8 + `R`  | `8 · N · V` | configurations, `f64`, chain by chain, site `y·lx + x`    |
//!
//! where the record is `{ header: EnsembleHeader, chains: [{ actions: [f64], sums: [[f64;
//! 5]] }] }` with the fields in the order they are declared here and the sums in the order
//! of [`SufficientStats::NAMES`], and `N` is the number of stored configurations.
//! `bincode::config::standard()` writes integers as variable-length integers, `f64` as 8
//! little-endian bytes and sequences with a length prefix.  The configurations stand apart
//! from the record so that a reader can check them without decoding them one by one, or
//! stream them through the checksum without keeping them.
//!
//! Reading checks, in order: the magic bytes, the version (a newer version is
//! [`SamplerError::UnsupportedEnsembleVersion`]), that the file is exactly `20 + L + 4`
//! bytes long, the checksum, that the record decodes completely and the configuration
//! block has the announced size, and then the contents ([`StoredEnsemble::from_parts`]): the
//! couplings build and are normalisable, every chain has `n_configs × V` configuration
//! values and `n_configs` actions and sums, every number is finite, and on up to
//! [`CHECKED_CONFIGS_PER_CHAIN`] configurations per chain (evenly spaced, first and last
//! included) the action and the sums recomputed from the configuration match the stored
//! ones within `1e-9 · max(1, |value|)`.  Any failure is an error that says what is wrong.
//!
//! **Version 1** files (the record `{ header, chains: [{ configs, actions, observables }] }`
//! in the payload, with `action_density · V` as the action) are still read: every
//! configuration is measured once, its action must match the stored one within `1e-9`
//! relative, and the result is a version-2 ensemble (provenance entry `converted`).
//! `qftml sample` writes version 2; to convert a file for good, read it and write it back
//! ([`StoredEnsemble::read`], [`StoredEnsemble::write`]).
//!
//! Writing is atomic ([`records::write_atomic_with`]): the file is written to a temporary
//! file in the same directory, flushed to disk (`fsync`), then renamed over the target.
//!
//! # NumPy export
//!
//! [`StoredEnsemble::export_npy`] writes NPY version 1.0 files ([`write_npy`]):
//! `configs.npy` (`<f8`, shape `(n_configs, ly, lx)`, so `configs[k, y, x]` is site
//! `y·lx + x`), `observables.npy` (`<f8`, `(n_configs, 8)`, columns in the order of
//! [`Observables::NAMES`]), `actions.npy` (`<f8`, `(n_configs,)`), `sums.npy` (`<f8`,
//! `(n_configs, 5)`, columns in the order of [`SufficientStats::NAMES`]) and `chain.npy`
//! (`<i8`, `(n_configs,)`, the chain of each row).  Rows are chain by chain, in chain order.
//!
//! # Example
//!
//! ```
//! use mc_sampler::ensemble::{EnsembleHeader, StoredChain, StoredEnsemble};
//! use mrf_graph::Lattice;
//! use phi4_action::targets;
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let couplings = targets::a(&lattice).unwrap();
//! let header = EnsembleHeader::new(&couplings, "heatbath", 7, 1, 100, 20, 10)
//!     .unwrap()
//!     .with_provenance("version", env!("CARGO_PKG_VERSION"));
//! let mut configs = vec![0.5; 16];
//! configs.extend([-0.25; 16]);
//! let chain = StoredChain::measure(&couplings, configs).unwrap();
//! let ensemble = StoredEnsemble::from_parts(header, vec![chain]).unwrap();
//!
//! let bytes = ensemble.to_bytes();
//! let back = StoredEnsemble::from_bytes(&bytes).unwrap();
//! assert_eq!(back, ensemble);
//! assert_eq!(back.configs().count(), 2);
//! assert_eq!(back.observable("m").unwrap(), vec![vec![0.5, -0.25]]);
//! assert_eq!(back.chains()[0].actions[1], couplings.action(&[-0.25; 16]));
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use mrf_graph::Lattice;
use phi4_action::{Couplings, Observables, PairSet, SufficientStats};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SamplerError;

mod couplings;
mod format;
mod npy;
#[cfg(test)]
mod tests;

pub use couplings::LatticeCouplings;
pub use format::{FORMAT_VERSION, MAGIC};
pub use npy::{NpyArray, NpyValues, read_npy, write_npy};

/// At most this many configurations per chain get their action and sums recomputed when an
/// ensemble is validated.
pub const CHECKED_CONFIGS_PER_CHAIN: usize = 8;

/// Relative tolerance of the recomputed actions and sums.
pub const RECOMPUTE_TOLERANCE: f64 = 1e-9;

/// What was sampled and how: the header of an ensemble file.
///
/// The couplings are stored as a [`LatticeCouplings`]; [`StoredEnsemble::couplings`] holds
/// them rebuilt and validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleHeader {
    /// The sampled couplings.
    pub couplings: LatticeCouplings,
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
        lattice_of(couplings)?;
        Ok(Self {
            couplings: LatticeCouplings::of(couplings).expect("couplings on a lattice"),
            algorithm: algorithm.into(),
            seed,
            n_chains,
            n_therm,
            n_sweeps,
            measure_every,
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
        self.couplings.lattice().map_err(as_invalid_ensemble)
    }

    /// The couplings, rebuilt and validated.
    pub fn couplings(&self) -> Result<Couplings, SamplerError> {
        self.couplings.couplings().map_err(as_invalid_ensemble)
    }
}

/// Invalid stored couplings as an invalid ensemble.
fn as_invalid_ensemble(e: SamplerError) -> SamplerError {
    match e {
        SamplerError::InvalidCouplings(reason) => SamplerError::InvalidEnsemble(reason),
        e => e,
    }
}

/// The error of `action` on `path`.
pub(crate) fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SamplerError + 'a {
    move |source| SamplerError::Io {
        action,
        path: path.into(),
        source,
    }
}

fn lattice_of(couplings: &Couplings) -> Result<(Lattice, PairSet), SamplerError> {
    couplings.lattice().ok_or_else(|| {
        SamplerError::InvalidEnsemble(
            "ensembles store couplings on a periodic lattice; these couplings live on a general graph".into(),
        )
    })
}

/// The stored measurements of one Markov chain.
///
/// `configs` holds `n_configs × V` values, configuration `k` at `configs[k V..(k + 1) V]`
/// (site index `i = y · lx + x`); `actions[k]` is `S(φ_k)` and `sums[k]` the
/// [`SufficientStats`] of configuration `k`.  `configs` is empty when the ensemble was read
/// with [`StoredEnsemble::read_measurements`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredChain {
    /// Configurations, flattened.
    pub configs: Vec<f64>,
    /// Total action of each configuration.
    pub actions: Vec<f64>,
    /// Sufficient statistics of each configuration.
    pub sums: Vec<SufficientStats>,
}

impl StoredChain {
    /// A chain of the configurations `configs` (flattened, `n × V` values) sampled from
    /// `couplings`, which must live on a periodic lattice: each configuration's action and
    /// sums are measured once, here (in parallel; the result does not depend on the number
    /// of threads).
    pub fn measure(couplings: &Couplings, configs: Vec<f64>) -> Result<Self, SamplerError> {
        let (lattice, _) = lattice_of(couplings)?;
        let v = lattice.n_sites();
        if !configs.len().is_multiple_of(v) {
            return Err(SamplerError::InvalidEnsemble(format!(
                "{} configuration values are not a whole number of configurations of {v} sites",
                configs.len()
            )));
        }
        let (actions, sums) = configs
            .par_chunks_exact(v)
            .map(|phi| (couplings.action(phi), SufficientStats::measure(&lattice, phi)))
            .unzip();
        Ok(Self { configs, actions, sums })
    }

    /// Number of stored configurations.
    pub fn n_configs(&self) -> usize {
        self.actions.len()
    }

    /// The [`Observables`] of every configuration, rebuilt from its action and sums.
    pub fn observables(&self, n_sites: usize) -> impl Iterator<Item = Observables> + '_ {
        self.sums
            .iter()
            .zip(&self.actions)
            .map(move |(s, &a)| Observables::from_sums(s, n_sites, a))
    }
}

/// A configuration read for a spot check while the others streamed past.
pub(crate) struct SpotConfig {
    pub chain: usize,
    pub index: usize,
    pub phi: Vec<f64>,
}

/// A validated ensemble: header, chains and the couplings they were sampled with.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEnsemble {
    header: EnsembleHeader,
    chains: Vec<StoredChain>,
    couplings: Couplings,
    lattice: Lattice,
    has_configs: bool,
}

impl StoredEnsemble {
    /// Validate a header and its chains into an ensemble: see the [module docs](self) for
    /// the checks.  `header.n_chains` must equal `chains.len()`.
    pub fn from_parts(header: EnsembleHeader, chains: Vec<StoredChain>) -> Result<Self, SamplerError> {
        let ensemble = Self::checked_measurements(header, chains, true)?;
        let v = ensemble.n_sites();
        for (c, chain) in ensemble.chains.iter().enumerate() {
            let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(format!("chain {c}: {msg}")));
            let n = chain.n_configs();
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
            for k in checked_indices(n) {
                ensemble.spot_check(c, k, &chain.configs[k * v..(k + 1) * v])?;
            }
        }
        Ok(ensemble)
    }

    /// Validate a header and chains without configurations, with the configurations read
    /// for the spot checks.
    pub(crate) fn from_measurements(
        header: EnsembleHeader,
        chains: Vec<StoredChain>,
        spots: Vec<SpotConfig>,
    ) -> Result<Self, SamplerError> {
        let ensemble = Self::checked_measurements(header, chains, false)?;
        for spot in &spots {
            ensemble.spot_check(spot.chain, spot.index, &spot.phi)?;
        }
        Ok(ensemble)
    }

    /// Everything but the configurations: header, couplings, chain count, lengths and
    /// finiteness of the actions and sums.
    fn checked_measurements(
        header: EnsembleHeader,
        chains: Vec<StoredChain>,
        has_configs: bool,
    ) -> Result<Self, SamplerError> {
        let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(msg));
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
        for (c, chain) in chains.iter().enumerate() {
            let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(format!("chain {c}: {msg}")));
            let n = chain.actions.len();
            if chain.sums.len() != n {
                return invalid(format!("{n} actions but {} sets of sums", chain.sums.len()));
            }
            if let Some(k) = chain.actions.iter().position(|x| !x.is_finite()) {
                return invalid(format!("the action of configuration {k} is {}", chain.actions[k]));
            }
            if let Some(k) = chain.sums.iter().position(|s| !s.is_finite()) {
                return invalid(format!("a sum of configuration {k} is not finite: {:?}", chain.sums[k]));
            }
        }
        Ok(Self {
            header,
            chains,
            couplings,
            lattice,
            has_configs,
        })
    }

    /// Configuration `k` of chain `c` against its stored action and sums.
    fn spot_check(&self, c: usize, k: usize, phi: &[f64]) -> Result<(), SamplerError> {
        let invalid = |msg: String| Err(SamplerError::InvalidEnsemble(format!("chain {c}: {msg}")));
        let close = |a: f64, b: f64| (a - b).abs() <= RECOMPUTE_TOLERANCE * a.abs().max(b.abs()).max(1.0);
        let chain = &self.chains[c];
        let action = self.couplings.action(phi);
        if !close(action, chain.actions[k]) {
            return invalid(format!(
                "configuration {k} has action {action} under the stored couplings, but {} is stored: \
                 the configurations, actions or couplings do not belong together",
                chain.actions[k]
            ));
        }
        let measured = SufficientStats::measure(&self.lattice, phi).to_array();
        let stored = chain.sums[k].to_array();
        for (q, (m, s)) in measured.iter().zip(&stored).enumerate() {
            if !close(*m, *s) {
                return invalid(format!(
                    "configuration {k} has {} = {m}, but {s} is stored: the configurations and sums do \
                     not belong together",
                    SufficientStats::NAMES[q]
                ));
            }
        }
        Ok(())
    }

    /// The same ensemble without its configurations (as [`StoredEnsemble::read_measurements`]
    /// gives it).
    pub fn without_configs(mut self) -> Self {
        self.chains.iter_mut().for_each(|c| c.configs = Vec::new());
        self.has_configs = false;
        self
    }

    /// The header and the chains.
    pub fn into_parts(self) -> (EnsembleHeader, Vec<StoredChain>) {
        (self.header, self.chains)
    }

    /// The header.
    pub fn header(&self) -> &EnsembleHeader {
        &self.header
    }

    /// The chains.
    pub fn chains(&self) -> &[StoredChain] {
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
        self.chains.iter().map(StoredChain::n_configs).sum()
    }

    /// The couplings the ensemble was sampled with, rebuilt from the header and validated
    /// when the ensemble was built.
    pub fn couplings(&self) -> &Couplings {
        &self.couplings
    }

    /// True when the configurations are held (not after
    /// [`StoredEnsemble::read_measurements`]).
    pub fn has_configs(&self) -> bool {
        self.has_configs
    }

    /// The configurations of chain `chain`, each of length `V` (none without
    /// configurations, see [`StoredEnsemble::has_configs`]).
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

    /// The series of observable `name` (one of [`Observables::NAMES`]) per chain, rebuilt
    /// from the actions and sums, ready for [`crate::stats::gamma_method`]; `None` for an
    /// unknown name.
    pub fn observable(&self, name: &str) -> Option<Vec<Vec<f64>>> {
        let q = Observables::NAMES.iter().position(|n| *n == name)?;
        let v = self.n_sites();
        Some(
            self.chains
                .iter()
                .map(|c| c.observables(v).map(|o| o.to_array()[q]).collect())
                .collect(),
        )
    }

    /// The file contents: prefix, payload, checksum (see the [module docs](self)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        format::write_v2(&mut bytes, &self.header, &self.chains).expect("writing into memory cannot fail");
        bytes
    }

    /// Decode and validate file contents of either version (errors name the file
    /// `<memory>`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SamplerError> {
        format::decode(bytes, Path::new("<memory>"))
    }

    /// Write the ensemble to `path` in format version 2, atomically (temporary file, fsync,
    /// rename).
    ///
    /// # Panics
    ///
    /// If the ensemble holds no configurations ([`StoredEnsemble::has_configs`]).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), SamplerError> {
        assert!(
            self.has_configs,
            "an ensemble read without its configurations cannot be written"
        );
        let path = path.as_ref();
        records::write_atomic_with(path, |w| format::write_v2(w, &self.header, &self.chains))
            .map_err(io_error("write", path))
    }

    /// Read and validate an ensemble file (version 2, or version 1 converted).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, SamplerError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(io_error("read", path))?;
        format::decode(&bytes, path)
    }

    /// Read and validate an ensemble file, keeping the header, actions and sums but not the
    /// configurations: what reweighting needs.  The whole file is still checked (length,
    /// checksum, finiteness, the spot checks of the [module docs](self)), streaming, so the
    /// memory needed does not grow with the configurations.
    pub fn read_measurements(path: impl AsRef<Path>) -> Result<Self, SamplerError> {
        format::read_measurements(path.as_ref())
    }

    /// Write `configs.npy`, `observables.npy`, `actions.npy`, `sums.npy` and `chain.npy`
    /// into the directory `dir` (created if missing); see the [module docs](self).
    ///
    /// # Panics
    ///
    /// If the ensemble holds no configurations ([`StoredEnsemble::has_configs`]).
    pub fn export_npy(&self, dir: impl AsRef<Path>) -> Result<(), SamplerError> {
        assert!(
            self.has_configs,
            "an ensemble read without its configurations cannot be exported"
        );
        let dir = dir.as_ref();
        let n = self.n_configs();
        let (lx, ly, v) = (self.lattice.lx(), self.lattice.ly(), self.n_sites());
        let configs = self.chains.iter().flat_map(|c| c.configs.iter().copied());
        write_npy(dir.join("configs.npy"), &[n, ly, lx], NpyValues::F64(Box::new(configs)))?;
        let obs = self
            .chains
            .iter()
            .flat_map(|c| c.observables(v).flat_map(|o| o.to_array()));
        write_npy(
            dir.join("observables.npy"),
            &[n, Observables::NAMES.len()],
            NpyValues::F64(Box::new(obs)),
        )?;
        let actions = self.chains.iter().flat_map(|c| c.actions.iter().copied());
        write_npy(dir.join("actions.npy"), &[n], NpyValues::F64(Box::new(actions)))?;
        let sums = self
            .chains
            .iter()
            .flat_map(|c| c.sums.iter().flat_map(|s| s.to_array()));
        write_npy(
            dir.join("sums.npy"),
            &[n, SufficientStats::NAMES.len()],
            NpyValues::F64(Box::new(sums)),
        )?;
        let chain = self
            .chains
            .iter()
            .enumerate()
            .flat_map(|(i, c)| std::iter::repeat_n(i as i64, c.n_configs()));
        write_npy(dir.join("chain.npy"), &[n], NpyValues::I64(Box::new(chain)))
    }
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
