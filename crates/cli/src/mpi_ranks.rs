//! Running `qftml` across MPI ranks (feature `mpi`): the world of ranks, agreement on
//! success or failure, and the gathers that bring per-chain results to rank 0 in chain
//! order.
//!
//! Under an MPI launcher (`mpirun`, `srun`) every rank runs the same command.  `sample` and
//! `train` spread their chains over the ranks ([`crate::mpi_sample`], [`crate::mpi_train`]);
//! every other command runs on rank 0 while the others wait.  Rank 0 prints and writes
//! every output file.  Each distributed step ends with [`Ranks::agree`]: if any rank failed,
//! every rank stops there with the message of the lowest failing rank, so no rank waits in a
//! collective that another has left, and nothing is written.  Results are gathered as
//! per-chain records in rank order, and the ranks hold consecutive chains, so rank 0 sees
//! them in chain order and reduces them exactly as one process would.
//!
//! The environment variable `QFTML_MPI_FAIL_RANK=r` makes rank `r` fail after its share of
//! the work (a test of the failure path).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow, bail};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::{Color, SimpleCommunicator};
use mpi::traits::*;

/// Environment variables that an MPI launcher sets in every rank it starts.
const LAUNCHER_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"];

/// The environment variable that makes one rank fail on purpose.
pub const FAIL_RANK_VAR: &str = "QFTML_MPI_FAIL_RANK";

/// The ranks of a run: the MPI world, kept initialised while the value lives.
pub struct Ranks {
    _universe: Universe,
    world: SimpleCommunicator,
}

impl Ranks {
    /// The world, when this process was started by an MPI launcher; `None` otherwise (then
    /// `qftml` runs as one process and never initialises MPI).
    pub fn from_launcher() -> Option<Self> {
        if !LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some()) {
            return None;
        }
        // MPI is called by one thread at a time (the main thread, or the worker that runs a
        // training loop while the main thread waits); rayon's parallel loops never call it.
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)?;
        let world = universe.world();
        Some(Self {
            _universe: universe,
            world,
        })
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    /// Number of ranks.
    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// True on rank 0, which prints and writes.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The communicator of the ranks that share `group` (ranks ordered as in the world).
    pub fn split(&self, group: usize) -> SimpleCommunicator {
        self.world
            .split_by_color(Color::with_value(group as i32))
            .expect("every rank has a colour")
    }

    /// `Err` on this rank when `QFTML_MPI_FAIL_RANK` names it.
    pub fn injected_failure(&self) -> Result<()> {
        match std::env::var(FAIL_RANK_VAR) {
            Ok(r) if r.trim() == self.rank().to_string() => {
                bail!("injected failure on rank {} ({FAIL_RANK_VAR})", self.rank())
            }
            _ => Ok(()),
        }
    }

    /// Collective: every rank passes its outcome; all get `Ok` if every rank succeeded, and
    /// otherwise the same error: the message of the lowest failing rank (named, unless every
    /// rank failed).
    pub fn agree<T>(&self, outcome: Result<T>) -> Result<T> {
        agree_on(&self.world, outcome)
    }

    /// Collective: `f` runs on rank 0 only, and every rank gets its outcome.
    pub fn on_root(&self, f: impl FnOnce() -> Result<()>) -> Result<()> {
        let outcome = if self.is_root() { f() } else { Ok(()) };
        self.agree(outcome)
    }

    /// Collective, last: agrees on the run's outcome; rank 0 prints the error, if any.
    pub fn finish(&self, outcome: Result<()>) -> ExitCode {
        let outcome = match outcome {
            Err(e) if AGREED_FAILURE.load(Ordering::SeqCst) => Err(e),
            outcome => self.agree(outcome),
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                if self.is_root() {
                    eprintln!("error: {err:#}");
                }
                ExitCode::FAILURE
            }
        }
    }

    /// Collective: the byte strings of all ranks, concatenated in rank order, on rank 0
    /// (`None` elsewhere).
    pub fn gather_bytes(&self, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
        gather_bytes_on(&self.world, bytes)
    }
}

/// Set once the ranks have agreed on a failure: every rank knows, so [`Ranks::finish`] need
/// not agree again (the rank that failed alone may already have left).
static AGREED_FAILURE: AtomicBool = AtomicBool::new(false);

/// [`Ranks::agree`] on any communicator.
pub fn agree_on<T>(comm: &SimpleCommunicator, outcome: Result<T>) -> Result<T> {
    let failed = u8::from(outcome.is_err());
    let mut all = vec![0u8; comm.size() as usize];
    comm.all_gather_into(&failed, &mut all[..]);
    let Some(first) = all.iter().position(|&f| f == 1) else {
        return outcome;
    };
    let mut message = match &outcome {
        Err(e) if comm.rank() as usize == first => format!("{e:#}").into_bytes(),
        _ => Vec::new(),
    };
    let mut len = message.len() as u64;
    let root = comm.process_at_rank(first as i32);
    root.broadcast_into(&mut len);
    message.resize(len as usize, 0);
    root.broadcast_into(&mut message[..]);
    let text = String::from_utf8_lossy(&message).into_owned();
    AGREED_FAILURE.store(true, Ordering::SeqCst);
    if all.iter().all(|&f| f == 1) {
        Err(anyhow!(text))
    } else {
        Err(anyhow!("rank {first}: {text}"))
    }
}

/// [`Ranks::gather_bytes`] on any communicator (rank 0 of `comm` receives).
pub fn gather_bytes_on(comm: &SimpleCommunicator, bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    let counts = all_counts(comm, bytes.len())?;
    let root = comm.process_at_rank(0);
    if comm.rank() != 0 {
        root.gather_varcount_into(bytes);
        return Ok(None);
    }
    let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
    let displs = displacements(&counts);
    let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
    root.gather_varcount_into_root(bytes, &mut partition);
    Ok(Some(all))
}

/// Collective: every rank's byte string, in rank order, on every rank.
pub fn all_gather_bytes(comm: &SimpleCommunicator, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let counts = all_counts(comm, bytes.len())?;
    let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
    let displs = displacements(&counts);
    let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
    comm.all_gather_varcount_into(bytes, &mut partition);
    let mut parts = Vec::with_capacity(counts.len());
    let mut rest = &all[..];
    for &c in &counts {
        let (head, tail) = rest.split_at(c as usize);
        parts.push(head.to_vec());
        rest = tail;
    }
    Ok(parts)
}

/// Collective: every rank's values concatenated in rank order, on every rank.
pub fn all_gather_f64(comm: &SimpleCommunicator, values: &[f64]) -> Vec<f64> {
    let count = i32::try_from(values.len()).expect("fewer than 2^31 values per rank");
    let mut counts = vec![0i32; comm.size() as usize];
    comm.all_gather_into(&count, &mut counts[..]);
    let mut all = vec![0.0; counts.iter().map(|&c| c as usize).sum()];
    let displs = displacements(&counts);
    let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
    comm.all_gather_varcount_into(values, &mut partition);
    all
}

/// Every rank's count, refused alike on every rank when the total does not fit one MPI
/// message.
fn all_counts(comm: &SimpleCommunicator, len: usize) -> Result<Vec<i32>> {
    let count = i64::try_from(len).unwrap_or(i64::MAX);
    let mut counts = vec![0i64; comm.size() as usize];
    comm.all_gather_into(&count, &mut counts[..]);
    let total: i64 = counts.iter().sum();
    if total > i64::from(i32::MAX) {
        bail!(
            "the gathered results are {total} bytes, more than one MPI message carries (2 GiB); \
             store fewer configurations (raise --measure-every)"
        );
    }
    Ok(counts.iter().map(|&c| c as i32).collect())
}

/// Where each rank's part starts in a gathered buffer.
fn displacements(counts: &[i32]) -> Vec<i32> {
    counts
        .iter()
        .scan(0i32, |acc, &c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect()
}

/// Little-endian encoding of per-chain records for the gathers.
#[derive(Default)]
pub struct Encoder {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
}

impl Encoder {
    /// Appends `x`.
    pub fn u64(&mut self, x: u64) {
        self.bytes.extend_from_slice(&x.to_le_bytes());
    }

    /// Appends `f64`.
    pub fn f64(&mut self, x: f64) {
        self.u64(x.to_bits());
    }

    /// Appends `f64s`.
    pub fn f64s(&mut self, xs: &[f64]) {
        self.u64(xs.len() as u64);
        xs.iter().for_each(|&x| self.f64(x));
    }

    /// Appends `opt_f64s`.
    pub fn opt_f64s(&mut self, xs: Option<&[f64]>) {
        self.u64(u64::from(xs.is_some()));
        if let Some(xs) = xs {
            self.f64s(xs);
        }
    }

    /// Appends `opt_f64`.
    pub fn opt_f64(&mut self, x: Option<f64>) {
        self.u64(u64::from(x.is_some()));
        self.f64(x.unwrap_or(0.0));
    }
}

/// Reads what [`Encoder`] wrote.  The bytes come from this program on another rank, so a
/// short read is a bug, reported as an error.
pub struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A reader of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            bail!("a rank's results were cut short ({} of {n} bytes)", self.bytes.len());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// Reads what `Encoder::u64` appended.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// Reads what `Encoder::f64` appended.
    pub fn f64(&mut self) -> Result<f64> {
        self.u64().map(f64::from_bits)
    }

    /// Reads what `Encoder::f64s` appended.
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = usize::try_from(self.u64()?)?;
        let raw = self.take(
            n.checked_mul(8)
                .ok_or_else(|| anyhow!("a rank's results are malformed"))?,
        )?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// Reads what `Encoder::opt_f64s` appended.
    pub fn opt_f64s(&mut self) -> Result<Option<Vec<f64>>> {
        if self.u64()? == 1 {
            self.f64s().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads what `Encoder::opt_f64` appended.
    pub fn opt_f64(&mut self) -> Result<Option<f64>> {
        let some = self.u64()? == 1;
        let x = self.f64()?;
        Ok(some.then_some(x))
    }
}

/// The consecutive share `k` of `n` items split over `parts`: as equal as can be, the first
/// `n mod parts` shares one longer.
pub fn share(n: usize, parts: usize, k: usize) -> std::ops::Range<usize> {
    mc_sampler::metropolis::RowStrip::rows_of(n, parts, k)
}
