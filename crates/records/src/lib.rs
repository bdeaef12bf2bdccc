//! The records qftml writes at its boundary, and the one atomic file write.
//!
//! Every `--json` output of the `qftml` binary is one of the typed records here, each with a
//! `schema` version ([`Record`]): the binary fills and prints it, its text printer reads it,
//! and `cargo xtask` reads the same struct back ([`parse`]), so no program reads a field by
//! its name as a string.  Numbers that may be NaN or infinite are written as `null` and read
//! back as NaN.  This crate knows no physics (it depends on serde only), so every layer, and
//! the xtask, can use it.  Files are written with [`write_atomic`] (temporary file, fsync,
//! rename).
//!
//! # Example
//!
//! ```
//! use records::{GraphRecord, Record, parse};
//!
//! let record = GraphRecord {
//!     schema: GraphRecord::SCHEMA,
//!     geometry: "square".into(),
//!     lattice: Some([4, 4]),
//!     n_sites: 16,
//!     n_edges: 32,
//!     n_maximal_cliques: 32,
//!     clique_sizes: [(2, 32)].into_iter().collect(),
//!     edges: vec![],
//!     cliques: vec![],
//! };
//! let text = serde_json::to_string(&record).unwrap();
//! assert_eq!(parse::<GraphRecord>(&text).unwrap(), record);
//! let future = text.replace("\"schema\":1", "\"schema\":2");
//! assert!(parse::<GraphRecord>(&future).unwrap_err().to_string().contains("schema 2"));
//! ```
#![deny(missing_docs)]

mod atomic;
mod common;
mod data;
mod graph;
mod manifest;
pub mod nullable;
mod observables;
mod reweight;
mod sample;

use std::fmt;

use serde::de::DeserializeOwned;

pub use atomic::{write_atomic, write_atomic_with};
pub use common::{Estimate, MeanErr, Provenance};
pub use data::DataRecord;
pub use graph::{ActionRecord, GEOMETRIES, Gradient, GraphRecord};
pub use manifest::{MANIFEST_FILE, ManifestFile, RunManifest};
pub use observables::{ObservableSet, ReweightedObservables};
pub use reweight::{
    DeltaF, HistogramRecord, JackknifeRecord, MultiHistogramRecord, OverlapRecord, PhaseRecord, ReweightMethod,
    ReweightPoint, ReweightRecord, StateOverlapRecord, TargetRecord,
};
pub use sample::{ExactFreeField, GammaValue, SampleConfig, SampleObservables, SampleRecord, Timing};

/// Implements [`Record`] for a struct with a `schema: u32` field:
/// `records::record!(SampleRecord, "sample", schema 1);`.  Views that read only some
/// fields of a record implement it the same way, with the record's name and schema.
#[macro_export]
macro_rules! record {
    ($ty:ty, $name:literal, schema $schema:literal) => {
        impl $crate::Record for $ty {
            const SCHEMA: u32 = $schema;
            const NAME: &'static str = $name;
            fn schema(&self) -> u32 {
                self.schema
            }
        }
    };
}

/// A result record with a schema version.
pub trait Record: serde::Serialize + DeserializeOwned {
    /// The schema version this build writes and reads.
    const SCHEMA: u32;
    /// The command whose output this is (`graph`, `action`, `sample`, `reweight`).
    const NAME: &'static str;
    /// The schema version of this value.
    fn schema(&self) -> u32;
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum RecordError {
    /// Not JSON, or not the record's shape.
    Json(serde_json::Error),
    /// Another schema version than this build reads.
    Schema {
        /// The record's command.
        name: &'static str,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Json(e) => write!(f, "not a qftml result record of this shape: {e}"),
            RecordError::Schema { name, found, supported } => write!(
                f,
                "the {name} record has schema {found}, but this build reads schema {supported}; \
                 rebuild qftml and its readers from the same source"
            ),
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordError::Json(e) => Some(e),
            RecordError::Schema { .. } => None,
        }
    }
}

/// The value called `name` in a list of named values (the `named()` lists of the records).
pub(crate) fn by_name<T: Copy, const N: usize>(named: [(&'static str, T); N], name: &str) -> Option<T> {
    named.into_iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Read a record from JSON text, checking its schema version.
pub fn parse<T: Record>(text: &str) -> Result<T, RecordError> {
    #[derive(serde::Deserialize)]
    struct Schema {
        schema: u32,
    }
    // The schema first, so that a record of another version is reported as such rather
    // than as a shape mismatch.
    let Schema { schema } = serde_json::from_str(text).map_err(RecordError::Json)?;
    if schema != T::SCHEMA {
        return Err(RecordError::Schema {
            name: T::NAME,
            found: schema,
            supported: T::SCHEMA,
        });
    }
    let record: T = serde_json::from_str(text).map_err(RecordError::Json)?;
    debug_assert_eq!(record.schema(), T::SCHEMA);
    Ok(record)
}

/// The record as pretty-printed JSON (non-finite numbers as `null`).
pub fn to_json<T: Record>(record: &T) -> String {
    serde_json::to_string_pretty(record).expect("records hold only strings, numbers and maps with string keys")
}
