//! The figure cache: each finished figure's report section, kept in `cache/NAME.json`
//! under a content hash of everything that determines it, so that a rerun reuses what
//! is unchanged and an interrupted run resumes where it stopped.
//!
//! The key hashes the figure's name and mode, the bytes of the `qftml` binary that ran
//! it, the bytes of the `xtask` executable (which holds every figure's parameters and
//! seeds) and the bytes of the shipped data (`data/`). A rebuilt binary with any source
//! change, a changed parameter or seed, or a changed data file gives another key. The
//! entry also lists every output file with its SHA-256: an output that was deleted or
//! changed since makes the entry unusable, and the figure is made again. Figures that
//! could not be produced are never cached.
//!
//! Before a figure runs, its entry is deleted, so that a run killed in the middle of a
//! figure leaves no entry that could describe half-rewritten outputs.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::write_atomic;
use crate::report::FigureSection;

/// Format tag of a cache entry; bump it when the entry changes shape.
pub const FORMAT: &str = "qftml-figure-cache/1";

/// SHA-256 of a byte stream, as lowercase hex.
fn hex_digest(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of a file's bytes.
pub fn file_digest(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    hex_digest(file).with_context(|| format!("cannot read {}", path.display()))
}

/// SHA-256 over every file below `dir` (relative paths in sorted order, then contents);
/// `none` if the directory does not exist.
pub fn tree_digest(dir: &Path) -> Result<String> {
    if !dir.exists() {
        return Ok("none".to_owned());
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(file_digest(f)?.as_bytes());
    }
    Ok(hex(&hasher.finalize()))
}

/// The run-wide inputs of every figure's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInputs {
    /// SHA-256 of the `qftml` binary (`none` when no binary is used).
    pub qftml: String,
    /// SHA-256 of the running `xtask` executable.
    pub xtask: String,
    /// SHA-256 over the shipped data directory.
    pub data: String,
}

impl RunInputs {
    /// Hashes the binary at `qftml`, the running executable and `data_dir`.
    pub fn read(qftml: Option<&Path>, data_dir: &Path) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the running xtask executable")?;
        Ok(Self {
            qftml: qftml.map_or_else(|| Ok("none".to_owned()), file_digest)?,
            xtask: file_digest(&exe)?,
            data: tree_digest(data_dir)?,
        })
    }

    /// The key of figure `name` in `mode`.
    pub fn key(&self, name: &str, mode: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [FORMAT, name, mode, &self.qftml, &self.xtask, &self.data] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hex(&hasher.finalize())
    }
}

/// One output file and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Path relative to the output directory.
    pub path: String,
    /// SHA-256 of its bytes when the entry was written.
    pub sha256: String,
}

/// A finished figure as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// [`FORMAT`].
    pub format: String,
    /// The key it was made under.
    pub key: String,
    /// When the figure finished (RFC 3339).
    pub finished: String,
    /// `git rev-parse HEAD` (with `-dirty`) of the tree it was made from.
    pub revision: String,
    /// Every output file, with its digest.
    pub outputs: Vec<Output>,
    /// The report section.
    pub section: FigureSection,
}

/// Where figure `name`'s entry lives.
pub fn entry_path(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join("cache").join(format!("{name}.json"))
}

/// The entry of `name` if it was made under `key` and every output it lists is still
/// there, byte for byte; `None` otherwise (also for an unreadable entry).
pub fn load(out_dir: &Path, name: &str, key: &str) -> Option<Entry> {
    let text = std::fs::read_to_string(entry_path(out_dir, name)).ok()?;
    let entry: Entry = serde_json::from_str(&text).ok()?;
    if entry.format != FORMAT || entry.key != key || entry.section.name != name {
        return None;
    }
    let intact = entry
        .outputs
        .iter()
        .all(|o| file_digest(&out_dir.join(&o.path)).is_ok_and(|d| d == o.sha256));
    intact.then_some(entry)
}

/// Deletes the entry of `name` (nothing if there is none).
pub fn invalidate(out_dir: &Path, name: &str) -> Result<()> {
    let path = entry_path(out_dir, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Writes the entry of a finished figure; `outputs` are relative to `out_dir`.
pub fn store(
    out_dir: &Path,
    key: &str,
    finished: String,
    revision: String,
    outputs: &[String],
    section: &FigureSection,
) -> Result<()> {
    let outputs = outputs
        .iter()
        .map(|path| {
            Ok(Output {
                sha256: file_digest(&out_dir.join(path))?,
                path: path.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let entry = Entry {
        format: FORMAT.to_owned(),
        key: key.to_owned(),
        finished,
        revision,
        outputs,
        section: section.clone(),
    };
    let path = entry_path(out_dir, &section.name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&path, serde_json::to_string_pretty(&entry)? + "\n")
}
