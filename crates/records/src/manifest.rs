//! The manifest of a run directory.

use serde::{Deserialize, Serialize};

use crate::Provenance;

/// The file name of the manifest inside a run directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What makes a run directory whole: every file the run wrote, with its size and CRC-32,
/// and the run's id.  Written last into the staging directory, before the directory is
/// swapped into place; a reader refuses a directory whose files disagree with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// Schema version ([`Record::SCHEMA`](crate::Record::SCHEMA)).
    pub schema: u32,
    /// The command that wrote the directory (`sample`, `train`, ...).
    pub command: String,
    /// A unique id of the run (time and process).
    pub run_id: String,
    /// The files of the run, in the order they were written.
    pub files: Vec<ManifestFile>,
    /// Where the run comes from.
    pub provenance: Provenance,
}

/// One file of a run directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The file name, relative to the run directory.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The CRC-32 (IEEE) of its contents.
    pub crc32: u32,
}

crate::record!(RunManifest, "manifest", schema 1);
