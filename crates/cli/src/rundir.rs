//! Run directories that are whole or untouched.
//!
//! A command with `--out DIR` writes its whole run into a staging directory next to `DIR`
//! (`.NAME.qftml-staging-PID-N`), ends it with a [`RunManifest`] (every file's size and
//! CRC-32, and the run's id), and only then swaps it into place:
//! - if `DIR` does not exist, one `rename`;
//! - if it does (an empty directory or an earlier run), an atomic exchange of the two
//!   directories (`renameat2(RENAME_EXCHANGE)` on Linux), after which the old run is removed.
//!
//! So at every instant `DIR` holds the complete old run or the complete new one.  Where the
//! exchange is not available (other systems, some file systems) the old run is first renamed
//! aside, leaving a moment in which `DIR` is missing but never mixed.
//!
//! Readers call [`verify`]: a directory whose files disagree with its manifest (a file
//! missing, truncated, altered, or from another run) is refused.  A staging directory left by
//! a killed run is never read, and the next run into the same `DIR` removes it once its
//! process is gone.  SIGINT and SIGTERM during a run remove the staging directory and leave
//! `DIR` untouched ([`install_signal_handler`]).
//!
//! `DIR` is replaced only when it is empty or a run directory (a manifest, or the ensemble
//! and results of an earlier version): a
//! directory of other files is refused, never moved away.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use records::{MANIFEST_FILE, ManifestFile, Provenance, RunManifest};

/// The staging directory being written, if any: what a signal must remove.  Held locked
/// while the staging directory is swapped into place.
static ACTIVE_STAGING: Mutex<Option<PathBuf>> = Mutex::new(None);
static STAGING_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Removes the active staging directory and exits with 130 on SIGINT, SIGTERM or SIGHUP.
/// Call once, early; a second call is a no-op.
pub fn install_signal_handler() {
    let _ = ctrlc::set_handler(|| {
        let mut active = ACTIVE_STAGING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = active.take() {
            // Renamed first, so that files the run is still creating by path cannot
            // reappear in it while it is removed.
            let trash = with_suffix(&dir, "-old");
            let doomed = if fs::rename(&dir, &trash).is_ok() { trash } else { dir };
            let _ = fs::remove_dir_all(&doomed);
            eprintln!("interrupted: the run was not written; --out is as it was before");
        } else {
            eprintln!("interrupted (the run, if any, was already written)");
        }
        std::process::exit(130);
    });
}

/// A run being written: files go into the staging directory through [`Staging::write`], [`Staging::commit`] lists every file
/// there in the manifest and swaps the directory in.
/// Dropped without a commit, the staging directory is removed.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    run_id: String,
    committed: bool,
}

impl Staging {
    /// Checks that `out` can be replaced and creates the staging directory next to it: call
    /// before the run, so a bad `--out` fails before any work is done.
    pub fn begin(out: &Path) -> Result<Self> {
        let name = out
            .file_name()
            .with_context(|| format!("--out {} has no directory name; give e.g. --out runs/r1", out.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {} for --out {}", parent.display(), out.display()))?;
        check_replaceable(out)?;
        remove_stale_staging(parent, &name);
        let pid = std::process::id();
        let unique = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(".{name}.qftml-staging-{pid}-{unique}"));
        // Created and registered under the lock, so a signal never misses it.
        let mut active = ACTIVE_STAGING.lock().unwrap_or_else(|e| e.into_inner());
        fs::create_dir(&dir).with_context(|| {
            format!(
                "cannot write next to --out {} (creating {}); choose a writable --out",
                out.display(),
                dir.display()
            )
        })?;
        *active = Some(dir.clone());
        drop(active);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Ok(Self {
            out: out.to_path_buf(),
            dir,
            run_id: format!("{nanos:x}-{pid:x}-{unique}"),
            committed: false,
        })
    }

    /// The run's id, as the manifest records it.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Writes the run's files into the staging directory with `write`.  A signal that
    /// arrives meanwhile waits until `write` returns (so nothing recreates the staging
    /// directory while the signal handler removes it).
    pub fn write<T>(&self, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let _active = ACTIVE_STAGING.lock().unwrap_or_else(|e| e.into_inner());
        write(&self.dir)
    }

    /// Writes the manifest and swaps the staging directory into `--out`.
    pub fn commit(mut self, command: &str, provenance: Provenance) -> Result<()> {
        // Held to the end: a signal waits until the run is in place (or the commit failed).
        let mut active = ACTIVE_STAGING.lock().unwrap_or_else(|e| e.into_inner());
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).with_context(|| format!("cannot read {}", self.dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        let files = names
            .iter()
            .map(|name| file_entry(&self.dir, name))
            .collect::<Result<Vec<_>>>()?;
        let manifest = RunManifest {
            schema: <RunManifest as records::Record>::SCHEMA,
            command: command.to_owned(),
            run_id: self.run_id.clone(),
            files,
            provenance,
        };
        let path = self.dir.join(MANIFEST_FILE);
        records::write_atomic(&path, records::to_json(&manifest))
            .with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(&self.dir);
        check_replaceable(&self.out)?;
        let old = swap_into_place(&self.dir, &self.out)?;
        self.committed = true;
        if let Some(old) = old {
            let _ = fs::remove_dir_all(old);
        }
        *active = None;
        drop(active);
        if let Some(parent) = self.out.parent() {
            sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            });
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let mut active = ACTIVE_STAGING.lock().unwrap_or_else(|e| e.into_inner());
            let _ = fs::remove_dir_all(&self.dir);
            *active = None;
        }
    }
}

/// `out` may be replaced: it is missing, an empty directory, or a run directory.
fn check_replaceable(out: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect --out {}", out.display())),
    };
    if !meta.is_dir() {
        bail!(
            "--out {} exists and is not a directory; choose another --out",
            out.display()
        );
    }
    let mut entries = fs::read_dir(out).with_context(|| format!("cannot read --out {}", out.display()))?;
    // A run directory: with a manifest, or as older versions wrote it (ensemble and results).
    let earlier_run =
        out.join(MANIFEST_FILE).is_file() || (out.join("ensemble.qfe").is_file() && out.join("results.json").is_file());
    if entries.next().is_none() || earlier_run {
        return Ok(());
    }
    bail!(
        "--out {} exists and is not a qftml run directory (no {MANIFEST_FILE}); \
         choose a new or empty --out, so that nothing of yours is replaced",
        out.display()
    )
}

/// Moves `staging` to `out`; returns where the old run went, if there was one.
fn swap_into_place(staging: &Path, out: &Path) -> Result<Option<PathBuf>> {
    if fs::symlink_metadata(out).is_err() {
        fs::rename(staging, out).with_context(|| format!("cannot move the run into --out {}", out.display()))?;
        return Ok(None);
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, staging, CWD, out, RenameFlags::EXCHANGE).is_ok() {
            return Ok(Some(staging.to_path_buf()));
        }
    }
    let aside = with_suffix(staging, "-old");
    fs::rename(out, &aside).with_context(|| format!("cannot move the old run in --out {} aside", out.display()))?;
    fs::rename(staging, out).with_context(|| format!("cannot move the run into --out {}", out.display()))?;
    Ok(Some(aside))
}

/// Removes staging directories of `name` left by processes that no longer run (told by
/// `/proc`; without it nothing can be told dead, and a stale staging directory is never read
/// anyway).
fn remove_stale_staging(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.qftml-staging-");
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// `path` with `suffix` appended to its last component.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Size and CRC-32 of `dir/name`.
fn file_entry(dir: &Path, name: &str) -> Result<ManifestFile> {
    let path = dir.join(name);
    let (bytes, crc32) = checksum(&path).with_context(|| format!("cannot read back {}", path.display()))?;
    Ok(ManifestFile {
        name: name.to_owned(),
        bytes,
        crc32,
    })
}

fn checksum(path: &Path) -> std::io::Result<(u64, u32)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hasher.finalize()))
}

/// Checks a run directory against its manifest: every listed file present, of the listed
/// size and checksum.  Returns the manifest.
pub fn verify(dir: &Path) -> Result<RunManifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} has no {MANIFEST_FILE}: it is not a complete qftml run (an interrupted run, or one written \
             by an older qftml); run `qftml sample --out` again, or pass its ensemble.qfe file itself",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let manifest: RunManifest =
        records::parse(&text).with_context(|| format!("{} is corrupted; the run cannot be trusted", path.display()))?;
    for f in &manifest.files {
        if f.name.contains(['/', '\\']) || f.name == ".." {
            bail!(
                "{} lists a file outside the run ({}); it is corrupted",
                path.display(),
                f.name
            );
        }
        let file = dir.join(&f.name);
        let (bytes, crc32) = checksum(&file).with_context(|| {
            format!(
                "{} lists {} but it cannot be read: the run directory is incomplete",
                path.display(),
                f.name
            )
        })?;
        if (bytes, crc32) != (f.bytes, f.crc32) {
            bail!(
                "{} is not the file of run {} ({bytes} bytes, CRC-32 {crc32:#010x}; the manifest says {} bytes, \
                 {:#010x}): the directory mixes runs or was altered; run `qftml sample --out` again",
                file.display(),
                manifest.run_id,
                f.bytes,
                f.crc32
            );
        }
    }
    Ok(manifest)
}
