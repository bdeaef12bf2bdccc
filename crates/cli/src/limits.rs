//! Bounds on what a command may ask for, checked from its flags before anything large is
//! allocated, and value parsers whose messages speak in the user's terms.
//!
//! The limits are stated in `--help`:
//! - a lattice has at most [`MAX_SITES`] sites (a 8192×8192 lattice);
//! - a run has at most [`MAX_CHAINS`] chains and [`MAX_SWEEPS`] sweeps per chain;
//! - a complete bipartite graph has at most [`MAX_BIPARTITE_EDGES`] edges;
//! - a `--scan` grid has at most [`MAX_SCAN_POINTS`] points;
//! - whatever a run keeps in memory (measurement series, stored configurations) must fit in
//!   the memory the system reports available.

use anyhow::{Result, bail};

/// The largest lattice, in sites (2²⁶, a 8192×8192 lattice: 512 MiB per field).
pub const MAX_SITES: usize = 1 << 26;
/// The most chains of one run.
pub const MAX_CHAINS: usize = 4096;
/// The most sweeps (thermalisation or measurement) per chain.
pub const MAX_SWEEPS: u64 = 1_000_000_000_000;
/// The most edges of a complete bipartite graph (visible × hidden).
pub const MAX_BIPARTITE_EDGES: usize = 1 << 24;

/// The most target points of one `qftml reweight` (the product of the `--scan` lengths).
pub const MAX_SCAN_POINTS: u128 = 100_000;

/// Refuses scans whose grid (the product of their numbers of points) exceeds
/// [`MAX_SCAN_POINTS`].
pub fn check_scan_points(lengths: impl IntoIterator<Item = usize>) -> Result<()> {
    let points = lengths.into_iter().fold(1u128, |acc, n| acc.saturating_mul(n as u128));
    if points > MAX_SCAN_POINTS {
        bail!(
            "the --scan grid has {points} points, more than the {MAX_SCAN_POINTS} qftml reweights at once; use fewer points"
        );
    }
    Ok(())
}

/// Bytes a chain keeps per site besides its stored configurations (field, caches, cluster
/// bookkeeping), an upper bound.
const BYTES_PER_SITE_PER_CHAIN: u128 = 96;

/// A whole number for a count flag (`--sweeps`, `--chains`, `--seed`, ...).
pub fn whole_number(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!("`{s}` is negative; give a whole number ≥ 0"));
    }
    t.parse::<u64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => format!("`{s}` is larger than {}", u64::MAX),
        _ => format!("`{s}` is not a whole number (e.g. 1000)"),
    })
}

/// A whole number for a `usize` count flag.
pub fn whole_usize(s: &str) -> Result<usize, String> {
    let n = whole_number(s)?;
    usize::try_from(n).map_err(|_| format!("`{s}` is too large for this machine"))
}

/// A finite real number for a coupling flag (`--kappa`, `--mu2`, ...); negative values,
/// including `-1e3`, are values, not flags.
pub fn finite(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number (e.g. -0.9515 or 1e-3)"))?;
    if !x.is_finite() {
        return Err(format!("`{s}` is not finite; give a finite number"));
    }
    Ok(x)
}

/// Refuses a coupling that is not finite, naming where it came from (`--mu2` or `mu2`
/// in the run config).
pub fn check_finite(flag: &str, value: Option<f64>) -> Result<()> {
    match value {
        Some(x) if !x.is_finite() => bail!("{flag} = {x} is not finite; give a finite number"),
        _ => Ok(()),
    }
}

/// Refuses a product `x·y` (computed without overflow) above `max`, with the message
/// `refusal` makes of it.
fn check_product(x: usize, y: usize, max: usize, refusal: impl FnOnce(u128) -> String) -> Result<()> {
    let product = x as u128 * y as u128;
    if product > max as u128 {
        bail!(refusal(product));
    }
    Ok(())
}

/// Refuses a lattice of more than [`MAX_SITES`] sites.
pub fn check_sites(lx: usize, ly: usize) -> Result<()> {
    check_product(lx, ly, MAX_SITES, |sites| {
        format!(
            "--lattice {lx}x{ly} has {sites} sites, more than the {MAX_SITES} qftml handles (8192x8192); use a smaller --lattice"
        )
    })
}

/// Refuses a complete bipartite graph of more than [`MAX_BIPARTITE_EDGES`] edges.
pub fn check_bipartite(visible: usize, hidden: usize) -> Result<()> {
    check_product(visible, hidden, MAX_BIPARTITE_EDGES, |edges| {
        format!(
            "--visible {visible} --hidden {hidden} gives {edges} edges, more than the {MAX_BIPARTITE_EDGES} qftml handles; use fewer units"
        )
    })
}

/// What a Markov-chain run asks for, for [`check_run`].
#[derive(Debug, Clone, Copy)]
pub struct RunSize {
    pub n_sites: usize,
    pub n_chains: usize,
    pub n_therm: u64,
    pub n_sweeps: u64,
    pub measure_every: u64,
    /// Per-configuration series kept per measurement (observables).
    pub n_series: usize,
    /// Whether every measured configuration is kept (for `--out`).
    pub keep_configs: bool,
}

impl RunSize {
    /// Bytes the run holds at its peak, an upper bound (u128: no flag can overflow it).
    pub fn bytes(&self) -> u128 {
        let n_meas = (self.n_sweeps / self.measure_every.max(1)) as u128;
        let chains = self.n_chains as u128;
        let sites = self.n_sites as u128;
        let series = chains * n_meas * self.n_series as u128 * 8;
        // A stored configuration: the field plus its action and five sufficient statistics.
        let configs = if self.keep_configs {
            chains * n_meas * (sites + 6) * 8
        } else {
            0
        };
        series + configs + chains * sites * BYTES_PER_SITE_PER_CHAIN
    }
}

/// Refuses a run whose chains, sweeps or memory exceed the limits, saying which flag to
/// change.
pub fn check_run(size: &RunSize) -> Result<()> {
    if size.n_chains == 0 {
        bail!("--chains 0 runs nothing; give --chains 1 or more");
    }
    if size.measure_every == 0 {
        bail!("--measure-every 0 never measures; give --measure-every 1 or more");
    }
    if size.n_sweeps < size.measure_every {
        bail!(
            "--sweeps {} gives no measurement with --measure-every {}; give --sweeps of at least {}",
            size.n_sweeps,
            size.measure_every,
            size.measure_every
        );
    }
    if size.n_chains > MAX_CHAINS {
        bail!(
            "--chains {} is more than the {MAX_CHAINS} qftml runs at once; use fewer chains and longer runs",
            size.n_chains
        );
    }
    for (flag, n) in [("--sweeps", size.n_sweeps), ("--therm", size.n_therm)] {
        if n > MAX_SWEEPS {
            bail!("{flag} {n} is more than the {MAX_SWEEPS} sweeps qftml allows per chain; use fewer");
        }
    }
    let need = size.bytes();
    let available = available_memory();
    if need > available as u128 {
        let advice = if size.keep_configs {
            "lower --sweeps or --chains, raise --measure-every, or use a smaller --lattice \
             (every measured configuration is kept for --out)"
        } else {
            "lower --sweeps or --chains, or raise --measure-every"
        };
        bail!(
            "this run needs about {} of memory, more than the {} available: {advice}",
            human_bytes(need),
            human_bytes(available as u128)
        );
    }
    Ok(())
}

/// The memory the system reports available (`MemAvailable` on Linux), else 8 GiB.
pub fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(8 << 30, |kib| kib.saturating_mul(1024))
}

/// `bytes` with a binary unit, e.g. `1.5 GiB`.
pub fn human_bytes(bytes: u128) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value >= 1e4 {
        format!("{value:.3e} {}", units[unit])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
