//! Markov chains: the update schedules, one chain, and many chains in parallel.

use std::time::Instant;

use mrf_graph::Lattice;
use phi4_action::{Couplings, Observables};
use rayon::prelude::*;

use crate::checkpoint::ChainState;
use crate::cluster::Wolff;
use crate::global::GlobalMoves;
use crate::layout::Layout;
use crate::metropolis::{self, LatticeKernel};
use crate::swendsen_wang::SwendsenWang;
use crate::{SamplerError, SimRng, chain_rng, heatbath};

/// An update schedule; one *sweep* of each is listed below (`V` = number of sites).
///
/// Every schedule is exact for every [`Couplings`] (inhomogeneous, diagonal pairs, any
/// graph, linear terms, either sign of `w`).  Cluster moves only flip signs, so the schedules
/// that use them also do local sweeps, which make them ergodic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// One single-site Metropolis sweep in checkerboard order; the step size is tuned
    /// during thermalisation and then frozen.
    Metropolis,
    /// One exact single-site heat-bath sweep in checkerboard order.
    HeatBath,
    /// `n_c` Wolff clusters (Brower–Tamayo bonds), then one heat-bath sweep.  `n_c` is set
    /// during thermalisation so that the clusters cover about `V` sites per sweep, and then
    /// frozen (a number of clusters that depended on the sizes of the clusters of the
    /// current sweep would bias the chain).
    Cluster,
    /// Four rounds of (one Metropolis sweep, then one pass of the exact global moves of
    /// [`crate::global`]), then one Swendsen–Wang update ([`crate::swendsen_wang`]).  A pass
    /// of the global moves is 4 dilatation proposals `φ → sφ` (`ln s` uniform in
    /// `[−ε_s, ε_s]` around the current value, accepted with `min(1, exp(−ΔS + V ln s))`,
    /// `s^V` being the Jacobian) followed by 4 uniform-shift proposals `φ → φ + c` (`c`
    /// uniform in `[−ε_c, ε_c]`), all evaluated in `O(1)` from sums of one `O(V)` pass and
    /// applied to the field at the end.  `ε_s`, `ε_c` and the Metropolis step are tuned
    /// towards 50% acceptance during thermalisation and then frozen.  In an ordered phase
    /// the clusters flip the signs of whole domains and the global moves relax the amplitude
    /// of `m`, which local updates move slowly.  At the talk's point on 64² `m²` decorrelates
    /// in about 5 such sweeps; the schedule spends about half of a sweep in the four rounds, which
    /// do more for `m²` per nanosecond than further cluster updates (see the crate docs).
    Hybrid,
    /// One Swendsen–Wang update of the embedded Ising model ([`crate::swendsen_wang`]: bonds
    /// on all pairs, every cluster flipped independently), then one Metropolis sweep.
    SwendsenWang,
}

impl Algorithm {
    /// All schedules.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Metropolis,
        Algorithm::HeatBath,
        Algorithm::Cluster,
        Algorithm::Hybrid,
        Algorithm::SwendsenWang,
    ];

    /// The name used on the command line and in output.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Metropolis => "metropolis",
            Algorithm::HeatBath => "heatbath",
            Algorithm::Cluster => "cluster",
            Algorithm::Hybrid => "hybrid",
            Algorithm::SwendsenWang => "sw",
        }
    }

    /// The schedule called `name` (see [`Algorithm::name`]).
    pub fn from_name(name: &str) -> Result<Self, SamplerError> {
        Self::ALL.into_iter().find(|a| a.name() == name).ok_or_else(|| {
            SamplerError::InvalidConfig(format!(
                "unknown algorithm {name:?}; use one of metropolis, heatbath, cluster, hybrid, sw"
            ))
        })
    }

    fn uses_global(self) -> bool {
        matches!(self, Algorithm::Hybrid)
    }

    fn uses_metropolis(self) -> bool {
        matches!(
            self,
            Algorithm::Metropolis | Algorithm::Hybrid | Algorithm::SwendsenWang
        )
    }

    fn uses_swendsen_wang(self) -> bool {
        matches!(self, Algorithm::SwendsenWang | Algorithm::Hybrid)
    }

    /// Sites a schedule aims to flip by clusters per sweep, as a fraction of `V`.
    fn cluster_work(self) -> Option<f64> {
        match self {
            Algorithm::Cluster => Some(1.0),
            Algorithm::Metropolis | Algorithm::HeatBath | Algorithm::Hybrid | Algorithm::SwendsenWang => None,
        }
    }
}

/// Counters of a chain since it was created or since [`Chain::reset_stats`] (stored in
/// checkpoints with the chain's state).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChainStats {
    /// Sweeps done.
    pub sweeps: u64,
    /// Metropolis proposals.
    pub proposals: u64,
    /// Accepted Metropolis proposals.
    pub accepted: u64,
    /// Clusters built (Wolff, or every cluster of a Swendsen–Wang update).
    pub clusters: u64,
    /// Clusters flipped (Wolff: all of them unless a linear term rejected some;
    /// Swendsen–Wang: about half).
    pub clusters_flipped: u64,
    /// Sites in all clusters built.
    pub cluster_sites: u64,
    /// Site updates: `V` per local sweep plus every site added to a cluster (the `O(V)` pass
    /// of the global moves is timed but adds no site updates).
    pub site_updates: u64,
    /// Wall-clock seconds spent in updates (not in measurements).
    pub update_seconds: f64,
}

impl ChainStats {
    /// Metropolis acceptance rate, or the cluster flip rate for schedules without
    /// Metropolis, or 1 for the heat bath (whose draws are always accepted).
    pub fn acceptance(&self) -> f64 {
        if self.proposals > 0 {
            self.accepted as f64 / self.proposals as f64
        } else if self.clusters > 0 {
            self.clusters_flipped as f64 / self.clusters as f64
        } else {
            1.0
        }
    }

    /// Mean number of sites per Wolff cluster, if any were built.
    pub fn mean_cluster_size(&self) -> Option<f64> {
        (self.clusters > 0).then(|| self.cluster_sites as f64 / self.clusters as f64)
    }

    /// Nanoseconds per site update.
    pub fn ns_per_site_update(&self) -> f64 {
        1e9 * self.update_seconds / self.site_updates.max(1) as f64
    }
}

/// One Markov chain over `p(φ) ∝ exp(−S(φ; θ))`.
///
/// It owns a copy of the couplings, the field (initially `φ = 0`) and its generator.
///
/// ```
/// use mc_sampler::{chain_rng, Algorithm, Chain};
/// use mrf_graph::Lattice;
/// use phi4_action::{gaussian::FreeField, Couplings, Homogeneous};
///
/// let lattice = Lattice::new(4, 4).unwrap();
/// let c = Couplings::homogeneous(&lattice, Homogeneous { kappa: 1.0, mu2: 1.0, lambda: 0.0 }).unwrap();
/// let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(42, 0)).unwrap();
/// chain.thermalise(100); // tunes the step size
/// chain.reset_stats();
/// let phi2: f64 = (0..1000).map(|_| { chain.sweep(); chain.measure().phi2 }).sum::<f64>() / 1000.0;
/// let exact = FreeField::from_couplings(&c).unwrap().phi2().re;
/// assert!((phi2 - exact).abs() < 0.05, "{phi2} vs {exact}");
/// assert!((chain.stats().acceptance() - 0.5).abs() < 0.1);
/// ```
#[derive(Debug, Clone)]
pub struct Chain {
    couplings: Couplings,
    layout: Layout,
    algorithm: Algorithm,
    field: Vec<f64>,
    sites: Vec<f64>,
    rng: SimRng,
    lattice_kernel: Option<LatticeKernel>,
    general_words: metropolis::Words,
    wolff: Option<Wolff>,
    sw: Option<SwendsenWang>,
    global: Option<GlobalMoves>,
    step: f64,
    clusters_per_sweep: usize,
    split_rows: bool,
    /// Storage indices of the sites that are not clamped, when some are.
    free: Option<Vec<u32>>,
    stats: ChainStats,
}

/// Rounds of (Metropolis sweep, global-move pass) per sweep of [`Algorithm::Hybrid`].
const HYBRID_LOCAL_ROUNDS: usize = 4;

/// Metropolis step sizes are kept in this range while tuning.
const STEP_RANGE: (f64, f64) = (1e-4, 1e4);
/// Acceptance rate the step-size tuning aims at.
const TARGET_ACCEPTANCE: f64 = 0.5;

/// The step-size rule of thermalisation, `δ ← δ·exp(rate − ½)`, from the (proposals,
/// accepted) counters before and after a sweep.
pub(crate) fn tune(step: f64, before: (u64, u64), after: (u64, u64)) -> f64 {
    let done = after.0 - before.0;
    if done == 0 {
        return step;
    }
    let rate = (after.1 - before.1) as f64 / done as f64;
    (step * (rate - TARGET_ACCEPTANCE).exp()).clamp(STEP_RANGE.0, STEP_RANGE.1)
}

/// A first guess of the Metropolis step: about twice the width of a site's conditional at
/// zero field.
pub(crate) fn initial_step(layout: &Layout) -> f64 {
    let a_mean = layout.a.iter().sum::<f64>() / layout.n_sites() as f64;
    if a_mean > 0.0 {
        (2.0 / a_mean).sqrt().clamp(0.1, 10.0)
    } else {
        1.0
    }
}

impl Chain {
    /// A chain of `algorithm` for `couplings`, starting from `φ = 0`, drawing from `rng`.
    pub fn new(couplings: &Couplings, algorithm: Algorithm, rng: SimRng) -> Result<Self, SamplerError> {
        let layout = Layout::new(couplings);
        let n = layout.n_sites();
        let lattice_kernel = layout
            .fast
            .filter(|_| algorithm.uses_metropolis())
            .map(LatticeKernel::new);
        let wolff = algorithm.cluster_work().map(|_| Wolff::new(n));
        let sw = algorithm.uses_swendsen_wang().then(|| SwendsenWang::new(&layout));
        let global = algorithm.uses_global().then(|| GlobalMoves::new(&layout));
        let step = initial_step(&layout);
        Ok(Self {
            couplings: couplings.clone(),
            layout,
            algorithm,
            field: vec![0.0; n],
            sites: vec![0.0; n],
            rng,
            lattice_kernel,
            general_words: metropolis::Words::default(),
            wolff,
            sw,
            global,
            step,
            clusters_per_sweep: 1,
            split_rows: false,
            free: None,
            stats: ChainStats::default(),
        })
    }

    /// Clamps the sites `sites` (site indices) at their current values: from now on sweeps
    /// update only the other sites, so the chain samples the conditional distribution of the
    /// free sites given the clamped ones (set their values first with [`Chain::set_field`]).
    /// An empty list releases every site.  Clamping needs a single-site schedule (heat bath);
    /// cluster and global moves would move clamped sites.
    pub fn set_clamped(&mut self, sites: &[usize]) -> Result<(), SamplerError> {
        let n = self.n_sites();
        if let Some(&i) = sites.iter().find(|&&i| i >= n) {
            return Err(SamplerError::InvalidConfig(format!(
                "cannot clamp site {i}: the lattice has {n} sites (0..{n})"
            )));
        }
        if sites.is_empty() {
            self.free = None;
            return Ok(());
        }
        if self.algorithm != Algorithm::HeatBath {
            return Err(SamplerError::InvalidConfig(format!(
                "clamped sites need the heatbath schedule, not {}; cluster and global moves would move them",
                self.algorithm.name()
            )));
        }
        let mut clamped = vec![false; n];
        sites.iter().for_each(|&i| clamped[i] = true);
        let free = (0..n as u32)
            .filter(|&s| !clamped[self.layout.perm[s as usize] as usize])
            .collect();
        self.free = Some(free);
        Ok(())
    }

    /// The clamped sites (site indices, ascending), empty when none are.
    pub fn clamped(&self) -> Vec<usize> {
        let Some(free) = &self.free else { return Vec::new() };
        let mut is_free = vec![false; self.n_sites()];
        free.iter()
            .for_each(|&s| is_free[self.layout.perm[s as usize] as usize] = true);
        (0..self.n_sites()).filter(|&i| !is_free[i]).collect()
    }

    /// A chain of `couplings` in the state `state` (from [`Chain::state`], e.g. read from a
    /// checkpoint): it continues exactly as the chain that was saved.
    pub fn from_state(couplings: &Couplings, state: ChainState) -> Result<Self, SamplerError> {
        let algorithm = Algorithm::from_name(&state.algorithm)?;
        let mut chain = Self::new(couplings, algorithm, state.rng)?;
        chain.set_field(&state.field)?;
        chain.set_step_size(state.step)?;
        chain.set_clusters_per_sweep(state.clusters_per_sweep)?;
        match (&mut chain.global, state.global_steps) {
            (Some(g), Some([scale, shift])) if scale > 0.0 && shift > 0.0 && scale.is_finite() && shift.is_finite() => {
                g.eps_scale = scale;
                g.eps_shift = shift;
            }
            (None, None) => {}
            _ => {
                return Err(SamplerError::InvalidConfig(format!(
                    "the saved chain's global-move steps {:?} do not fit the {} schedule",
                    state.global_steps, state.algorithm
                )));
            }
        }
        chain.set_clamped(&state.clamped)?;
        chain.stats = state.stats;
        Ok(chain)
    }

    /// The state of the chain: everything its future depends on (see [`crate::checkpoint`]).
    pub fn state(&self) -> ChainState {
        ChainState {
            algorithm: self.algorithm.name().to_string(),
            field: self.field(),
            rng: self.rng.clone(),
            step: self.step,
            clusters_per_sweep: self.clusters_per_sweep,
            global_steps: self.global.as_ref().map(|g| [g.eps_scale, g.eps_shift]),
            clamped: self.clamped(),
            stats: self.stats,
        }
    }

    /// Replaces the couplings in place by `couplings`, which must live on the same graph:
    /// the field, the generator, the tuned step sizes and the counters are kept, the
    /// kernels' caches are refreshed, and nothing is reallocated while the couplings stay
    /// of the same kind (homogeneous or not, with or without a linear term).  The chain then
    /// samples `exp(−S(φ; θ′))`; the result is bit-identical to a new chain built for
    /// `couplings` with this chain's field, generator and step sizes.
    pub fn set_couplings(&mut self, couplings: &Couplings) -> Result<(), SamplerError> {
        self.couplings.assign(couplings)?;
        self.refresh();
        Ok(())
    }

    /// Replaces the parameters in place by `θ = [w | a | b | r]` (the layout of
    /// [`Couplings::params`]), validated by [`Couplings::set_params`] (no dense check while
    /// every `b_i > 0`); on error the chain is unchanged.  See [`Chain::set_couplings`].
    pub fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError> {
        self.couplings.set_params(theta)?;
        self.refresh();
        Ok(())
    }

    /// Brings every coupling-derived cache up to date with `self.couplings`.
    fn refresh(&mut self) {
        self.layout.refresh(&self.couplings);
        let fast = self.layout.fast.filter(|_| self.algorithm.uses_metropolis());
        match (&mut self.lattice_kernel, fast) {
            (Some(kernel), Some(p)) => kernel.set_params(p),
            (slot, p) => {
                *slot = p.map(|p| {
                    let mut kernel = LatticeKernel::new(p);
                    kernel.split_rows = self.split_rows;
                    kernel
                });
            }
        }
        if let Some(sw) = &mut self.sw {
            sw.refresh(&self.layout);
        }
        if let Some(global) = &mut self.global {
            global.refresh(&self.layout);
        }
    }

    /// Applies `f` to the couplings and the current field (site order): a per-configuration
    /// measurement of anything (e.g. `∂S/∂θ`, a target action `A(φ)`) without copying the
    /// field out.
    pub fn measure_with<M>(&mut self, f: impl FnOnce(&Couplings, &[f64]) -> M) -> M {
        self.layout.to_sites(&self.field, &mut self.sites);
        f(&self.couplings, &self.sites)
    }

    /// The couplings.
    pub fn couplings(&self) -> &Couplings {
        &self.couplings
    }

    /// The schedule.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Number of sites `V`.
    pub fn n_sites(&self) -> usize {
        self.field.len()
    }

    /// Number of colour classes of the sweep order (2 for even periodic nearest-neighbour
    /// lattices).
    pub fn n_colours(&self) -> usize {
        self.layout.n_colours
    }

    /// Splits each Metropolis half sweep of a large lattice (at least 128² sites) into row
    /// blocks run on the current rayon pool: one chain on several cores.  The rows of a
    /// sublattice are independent given the other, and their random words come from
    /// random-access positions of the chain's stream, so the chain is bit-identical with
    /// and without splitting, on any number of threads.  [`run_chains`] turns it on when
    /// there are fewer chains than threads.  Only the vectorised lattice kernel splits.
    pub fn set_split_rows(&mut self, on: bool) {
        self.split_rows = on;
        if let Some(kernel) = &mut self.lattice_kernel {
            kernel.split_rows = on;
        }
    }

    /// True when Metropolis sweeps use the vectorised homogeneous-lattice kernel.
    pub fn uses_lattice_kernel(&self) -> bool {
        self.lattice_kernel.is_some()
    }

    /// Replace the field (site order `i = y·Lx + x`), e.g. to continue a persistent chain.
    pub fn set_field(&mut self, phi: &[f64]) -> Result<(), SamplerError> {
        if phi.len() != self.n_sites() {
            return Err(SamplerError::InvalidConfig(format!(
                "the field has {} values but the couplings have {} sites",
                phi.len(),
                self.n_sites()
            )));
        }
        if let Some(i) = phi.iter().position(|x| !x.is_finite()) {
            return Err(SamplerError::InvalidConfig(format!(
                "phi[{i}] = {} is not finite",
                phi[i]
            )));
        }
        self.layout.store_sites(phi, &mut self.field);
        Ok(())
    }

    /// The field in site order.
    pub fn field(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.n_sites()];
        self.layout.to_sites(&self.field, &mut out);
        out
    }

    /// The generator (its state, e.g. for a checkpoint).
    pub fn rng(&self) -> &SimRng {
        &self.rng
    }

    /// Exchanges the chain's generator with `rng`: a chain reused for another configuration
    /// (with [`Chain::set_field`]) then draws from that configuration's stream, exactly as a
    /// new chain built on it would, and the stream's state comes back by a second exchange.
    pub fn swap_rng(&mut self, rng: &mut SimRng) {
        std::mem::swap(&mut self.rng, rng);
    }

    /// The Metropolis step size `δ` (proposals `φ + δ(u − ½)`), if the schedule uses
    /// Metropolis.
    pub fn step_size(&self) -> Option<f64> {
        self.algorithm.uses_metropolis().then_some(self.step)
    }

    /// Set the Metropolis step size (e.g. from a tuned chain); it must be positive.
    pub fn set_step_size(&mut self, step: f64) -> Result<(), SamplerError> {
        if !(step.is_finite() && step > 0.0) {
            return Err(SamplerError::InvalidConfig(format!(
                "Metropolis step size {step} must be a positive finite number"
            )));
        }
        self.step = step;
        Ok(())
    }

    /// Wolff clusters per sweep (schedules with clusters; set by [`Chain::thermalise`]).
    pub fn clusters_per_sweep(&self) -> Option<usize> {
        self.algorithm.cluster_work().map(|_| self.clusters_per_sweep)
    }

    /// Set the number of Wolff clusters per sweep (at least 1).
    pub fn set_clusters_per_sweep(&mut self, n: usize) -> Result<(), SamplerError> {
        if n == 0 {
            return Err(SamplerError::InvalidConfig(
                "clusters per sweep must be at least 1".into(),
            ));
        }
        self.clusters_per_sweep = n;
        Ok(())
    }

    /// Counters since creation or the last [`Chain::reset_stats`].
    pub fn stats(&self) -> ChainStats {
        self.stats
    }

    /// Zero the counters.
    pub fn reset_stats(&mut self) {
        self.stats = ChainStats::default();
    }

    /// One sweep of the schedule (see [`Algorithm`]).  The step size is not changed.
    pub fn sweep(&mut self) {
        let start = Instant::now();
        self.sweep_inner();
        self.stats.update_seconds += start.elapsed().as_secs_f64();
    }

    /// `n` sweeps during which the Metropolis step size (and the step sizes of the global
    /// moves of the hybrid schedule) are tuned towards 50% acceptance after every sweep
    /// (`δ ← δ·exp(rate − ½)`), and the number of Wolff clusters per
    /// sweep is set from the mean cluster size of the second half of these sweeps.  The tuning stops when this
    /// returns, so the chain after thermalisation is a homogeneous Markov chain.
    pub fn thermalise(&mut self, n: u64) {
        self.thermalise_observed(n, |_| {});
    }

    /// [`Chain::thermalise`], calling `after_sweep(k)` after sweep `k` (outside the timed
    /// updates), so that progress reports cannot change the tuning.
    fn thermalise_observed(&mut self, n: u64, mut after_sweep: impl FnMut(u64)) {
        let mut seconds = 0.0;
        // The number of clusters follows the mean size of the clusters of the last sweep
        // (from a cold start they are single sites, and they grow as the field orders; the
        // count at most doubles from one sweep to the next), and is set at the end from the
        // mean over the second half of these sweeps of each sweep's mean size.  Pooling the
        // clusters of the second half instead would weight its first sweeps, with many
        // small clusters before equilibrium, far above the late ones.
        let late = n / 2;
        let (mut late_sum, mut late_sweeps) = (0.0, 0u64);
        for k in 0..n {
            let before = (self.stats.clusters, self.stats.cluster_sites);
            let (proposals, accepted) = (self.stats.proposals, self.stats.accepted);
            let global_before = self.global.as_ref().map(|g| (g.scale_counts, g.shift_counts));
            let start = Instant::now();
            self.sweep_inner();
            self.step = tune(
                self.step,
                (proposals, accepted),
                (self.stats.proposals, self.stats.accepted),
            );
            if let (Some(g), Some((scale, shift))) = (&mut self.global, global_before) {
                g.eps_scale = tune(g.eps_scale, scale, g.scale_counts);
                g.eps_shift = tune(g.eps_shift, shift, g.shift_counts);
            }
            if let Some(fraction) = self.algorithm.cluster_work() {
                let built = self.stats.clusters - before.0;
                let mut mean = (self.stats.cluster_sites - before.1) as f64 / built.max(1) as f64;
                if k >= late {
                    late_sum += mean;
                    late_sweeps += 1;
                    mean = late_sum / late_sweeps as f64;
                }
                // The whole number of clusters nearest to `wanted / mean` in ratio: their
                // work is within a factor √2 of `wanted`.
                let wanted = fraction * self.n_sites() as f64;
                let q = wanted / mean.max(1.0);
                let lo = q.floor().max(1.0);
                let mut count = if q * q < lo * (lo + 1.0) { lo } else { lo + 1.0 };
                if k < late {
                    // At most doubled per sweep: after a sweep of tiny clusters (the first one
                    // from φ = 0 has single sites) the next field can have large ones, and
                    // V clusters of them would cost many sweeps' work.
                    count = count.min(2.0 * self.clusters_per_sweep as f64);
                }
                self.clusters_per_sweep = count.clamp(1.0, wanted.max(1.0)) as usize;
            }
            seconds += start.elapsed().as_secs_f64();
            after_sweep(k);
        }
        self.stats.update_seconds += seconds;
    }

    fn sweep_inner(&mut self) {
        let n = self.n_sites() as u64;
        match self.algorithm {
            Algorithm::Metropolis => self.metropolis_sweep(),
            Algorithm::HeatBath => match &self.free {
                Some(free) => {
                    heatbath::sweep_free(&self.layout, &mut self.field, &mut self.rng, free);
                    self.stats.site_updates += free.len() as u64;
                }
                None => {
                    heatbath::sweep(&self.layout, &mut self.field, &mut self.rng);
                    self.stats.site_updates += n;
                }
            },
            Algorithm::Cluster => {
                self.cluster_sweep();
                heatbath::sweep(&self.layout, &mut self.field, &mut self.rng);
                self.stats.site_updates += n;
            }
            Algorithm::Hybrid => {
                for _ in 0..HYBRID_LOCAL_ROUNDS {
                    self.metropolis_sweep();
                    self.global_update();
                }
                self.sw_sweep();
            }
            Algorithm::SwendsenWang => {
                self.sw_sweep();
                self.metropolis_sweep();
            }
        }
        self.stats.sweeps += 1;
    }

    fn global_update(&mut self) {
        if let Some(g) = &mut self.global {
            g.update(&self.layout, &mut self.field, &mut self.rng);
        }
    }

    fn metropolis_sweep(&mut self) {
        let accepted = match &mut self.lattice_kernel {
            Some(kernel) => kernel.sweep(&mut self.field, &mut self.rng, self.step),
            None => metropolis::sweep_general_with(
                &self.layout,
                &mut self.field,
                &mut self.rng,
                self.step,
                &mut self.general_words,
            ),
        };
        let n = self.n_sites() as u64;
        self.stats.proposals += n;
        self.stats.accepted += accepted;
        self.stats.site_updates += n;
    }

    /// One Wolff cluster update (see [`crate::cluster`]); returns the number of sites in the
    /// cluster.  Any chain can do it, whatever its schedule; it is exact but flips signs
    /// only, so it must be combined with sweeps.
    pub fn cluster_update(&mut self) -> usize {
        let start = Instant::now();
        let n = self.n_sites();
        let wolff = self.wolff.get_or_insert_with(|| Wolff::new(n));
        let step = wolff.update(&self.layout, &mut self.field, &mut self.rng);
        self.stats.clusters += 1;
        self.stats.clusters_flipped += step.flipped as u64;
        self.stats.cluster_sites += step.size as u64;
        self.stats.site_updates += step.size as u64;
        self.stats.update_seconds += start.elapsed().as_secs_f64();
        step.size
    }

    /// One Swendsen–Wang update (see [`crate::swendsen_wang`]); returns the number of
    /// clusters.  Any chain can do it, whatever its schedule; it is exact but flips signs
    /// only, so it must be combined with sweeps.
    pub fn swendsen_wang_update(&mut self) -> usize {
        let start = Instant::now();
        if self.sw.is_none() {
            self.sw = Some(SwendsenWang::new(&self.layout));
        }
        let clusters = self.sw_sweep();
        self.stats.update_seconds += start.elapsed().as_secs_f64();
        clusters
    }

    fn sw_sweep(&mut self) -> usize {
        let Some(sw) = &mut self.sw else { return 0 };
        let step = sw.update(&self.layout, &mut self.field, &mut self.rng);
        let n = self.field.len() as u64;
        self.stats.clusters += step.clusters as u64;
        self.stats.clusters_flipped += step.flipped as u64;
        self.stats.cluster_sites += n;
        self.stats.site_updates += n;
        step.clusters
    }

    /// The fixed number of Wolff updates of a sweep.
    fn cluster_sweep(&mut self) {
        let Some(wolff) = &mut self.wolff else { return };
        let mut added = 0;
        for _ in 0..self.clusters_per_sweep {
            let step = wolff.update(&self.layout, &mut self.field, &mut self.rng);
            added += step.size;
            self.stats.clusters += 1;
            self.stats.clusters_flipped += step.flipped as u64;
        }
        self.stats.cluster_sites += added as u64;
        self.stats.site_updates += added as u64;
    }

    /// The observables of the current field.
    pub fn measure(&mut self) -> Observables {
        self.layout.to_sites(&self.field, &mut self.sites);
        Observables::measure(&self.couplings, &self.sites)
    }

    /// Consume the chain, giving back its field (site order) and generator.
    pub fn into_parts(self) -> (Vec<f64>, SimRng) {
        let phi = self.field();
        (phi, self.rng)
    }
}

/// Point-to-point two-point function along the axes of a periodic lattice,
/// `G(r) = (1/2V) Σ_i φ_i (φ_{i + r x̂} + φ_{i + r ŷ})` for `r = 0, …, out.len() − 1`
/// (not connected: subtract `⟨m⟩²` after averaging, where it is not zero).  Costs
/// `O(V · out.len())`.  Distances should stay below `min(Lx, Ly)`; larger ones wrap.
pub fn two_point_axes(lattice: &Lattice, phi: &[f64], out: &mut [f64]) {
    let (lx, ly) = (lattice.lx(), lattice.ly());
    let v = (lx * ly) as f64;
    for (r, g) in out.iter_mut().enumerate() {
        let mut s = 0.0;
        for y in 0..ly {
            let row = &phi[y * lx..(y + 1) * lx];
            let far = &phi[((y + r) % ly) * lx..][..lx];
            // x + r wraps once per row, at x = lx − r (no division per site).
            let r_x = r % lx;
            for x in 0..lx - r_x {
                s += row[x] * (row[x + r_x] + far[x]);
            }
            for x in lx - r_x..lx {
                s += row[x] * (row[x + r_x - lx] + far[x]);
            }
        }
        *g = s / (2.0 * v);
    }
}

/// A run of independent chains.  A plain parameter struct: every field must be given.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// The update schedule.
    pub algorithm: Algorithm,
    /// Number of independent chains (each with its own stream [`chain_rng`]`(seed, chain)`).
    pub n_chains: usize,
    /// Thermalisation sweeps per chain (the Metropolis and global-move step sizes are tuned only here).
    pub n_therm: u64,
    /// Sweeps per chain after thermalisation.
    pub n_sweeps: u64,
    /// Measure every this many sweeps (`n_sweeps / measure_every` measurements per chain).
    pub measure_every: u64,
    /// Seed of the run.
    pub seed: u64,
    /// Keep every measured configuration.
    pub save_configs: bool,
    /// Measure the two-point function [`two_point_axes`] for `r = 0..=min(Lx, Ly)/2`
    /// (lattice couplings only; costs `O(V·L)` per measurement).
    pub two_point: bool,
    /// Call the progress callback every this many sweeps of a chain (0: never).
    pub progress_every: u64,
}

impl RunConfig {
    fn validate(&self, couplings: &Couplings) -> Result<(), SamplerError> {
        let bad = |msg: String| Err(SamplerError::InvalidConfig(msg));
        if self.n_chains == 0 {
            return bad("n_chains is 0; run at least one chain".into());
        }
        if self.measure_every == 0 {
            return bad("measure_every is 0; measure every 1 or more sweeps".into());
        }
        if self.n_sweeps < self.measure_every {
            return bad(format!(
                "n_sweeps = {} gives no measurement with measure_every = {}; raise n_sweeps",
                self.n_sweeps, self.measure_every
            ));
        }
        if self.two_point && couplings.lattice().is_none() {
            return bad("two_point needs couplings on a lattice; set two_point = false for a general graph".into());
        }
        let n_meas = self.n_sweeps / self.measure_every;
        if self.save_configs && (n_meas as u128) * (couplings.n_sites() as u128) * (self.n_chains as u128) > 1 << 31 {
            return bad(format!(
                "saving {n_meas} configurations of {} sites for {} chains needs more than 16 GiB; \
                 raise measure_every or set save_configs = false",
                couplings.n_sites(),
                self.n_chains
            ));
        }
        Ok(())
    }
}

/// Wall-clock cost of a chain's updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Seconds spent in updates (thermalisation and measurement sweeps, not measurements).
    pub update_seconds: f64,
    /// Site updates done in that time (`V` per local sweep plus sites added to clusters).
    pub site_updates: u64,
}

impl Timing {
    /// Nanoseconds per site update.
    pub fn ns_per_site_update(&self) -> f64 {
        1e9 * self.update_seconds / self.site_updates.max(1) as f64
    }
}

/// The output of one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOutput {
    /// Chain index (its stream).
    pub chain: u64,
    /// Observables of every measurement, in order.
    pub observables: Vec<Observables>,
    /// The measured configurations, flattened (`observables.len() × V`, site order), when
    /// `save_configs` was set.
    pub configs: Option<Vec<f64>>,
    /// [`two_point_axes`] of every measurement, flattened (`observables.len() × (r_max + 1)`),
    /// when `two_point` was set.
    pub two_point: Option<Vec<f64>>,
    /// The last configuration (site order).
    pub last_field: Vec<f64>,
    /// Acceptance after thermalisation (see [`ChainStats::acceptance`]).
    pub acceptance: f64,
    /// The frozen Metropolis step size, if the schedule uses Metropolis.
    pub step_size: Option<f64>,
    /// Mean cluster size (Wolff or Swendsen–Wang) after thermalisation, if the schedule uses
    /// clusters.
    pub mean_cluster_size: Option<f64>,
    /// The frozen number of Wolff clusters per sweep, if the schedule uses clusters.
    pub clusters_per_sweep: Option<usize>,
    /// Cost of all updates of the chain, thermalisation included.
    pub timing: Timing,
}

impl ChainOutput {
    /// The time series of observable `k` (index into [`Observables::NAMES`]).
    pub fn series(&self, k: usize) -> Vec<f64> {
        self.observables.iter().map(|o| o.to_array()[k]).collect()
    }
}

/// The output of [`run_chains`]: one entry per chain, in chain order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// Per-chain results, ordered by chain index.
    pub chains: Vec<ChainOutput>,
    /// Largest distance of the two-point function (`min(Lx, Ly)/2`), if measured.
    pub two_point_r_max: Option<usize>,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
}

impl RunOutput {
    /// Measurements per chain.
    pub fn n_measurements(&self) -> usize {
        self.chains.first().map_or(0, |c| c.observables.len())
    }

    /// Update cost summed over chains (CPU time, not wall time).
    pub fn timing(&self) -> Timing {
        Timing {
            update_seconds: self.chains.iter().map(|c| c.timing.update_seconds).sum(),
            site_updates: self.chains.iter().map(|c| c.timing.site_updates).sum(),
        }
    }

    /// Mean acceptance over chains.
    pub fn acceptance(&self) -> f64 {
        self.chains.iter().map(|c| c.acceptance).sum::<f64>() / self.chains.len().max(1) as f64
    }
}

/// A per-configuration measurement made by the parallel runner ([`run_chains_with`]): it
/// sees the couplings and every measured configuration (site order) and keeps what it
/// needs, e.g. running sums of `∂S/∂θ`, `A(φ)` and their products, so nothing needs the
/// configurations stored.
pub trait Measure {
    /// Records one configuration.
    fn record(&mut self, couplings: &Couplings, phi: &[f64]);
}

/// No measurement beyond the built-in observables.
impl Measure for () {
    fn record(&mut self, _: &Couplings, _: &[f64]) {}
}

/// The values `f(θ, φ)` of every measured configuration, in order.
#[derive(Debug, Clone)]
pub struct Series<F, M> {
    f: F,
    /// One value per measured configuration.
    pub values: Vec<M>,
}

impl<F, M> Series<F, M>
where
    F: FnMut(&Couplings, &[f64]) -> M,
{
    /// A series of `f`, empty.
    pub fn new(f: F) -> Self {
        Self { f, values: Vec::new() }
    }
}

impl<F, M> Measure for Series<F, M>
where
    F: FnMut(&Couplings, &[f64]) -> M,
{
    fn record(&mut self, couplings: &Couplings, phi: &[f64]) {
        self.values.push((self.f)(couplings, phi));
    }
}

/// Run `config.n_chains` independent chains of `couplings` in parallel (rayon).
///
/// Chain `c` draws from [`chain_rng`]`(config.seed, c)` only, and the results are
/// collected in chain order, so the output (timings aside) is bit-identical for any number
/// of threads.  `progress(n)` is called from the worker threads with the number of sweeps
/// a chain has done since its last call (thermalisation included), every
/// `config.progress_every` sweeps; the total over a run is
/// `n_chains · (n_therm + n_sweeps)`.
pub fn run_chains<F>(couplings: &Couplings, config: &RunConfig, progress: F) -> Result<RunOutput, SamplerError>
where
    F: Fn(u64) + Sync,
{
    run_chains_with(couplings, config, |_| (), progress).map(|(out, _)| out)
}

/// [`run_chains`] with a measurement hook: chain `c` records every measured configuration
/// into its own `make(c)` ([`Measure`]), and the measurements come back in chain order
/// beside the run's output, ready for a reduction that does not depend on the number of
/// threads.
///
/// ```
/// use mc_sampler::{run_chains_with, Algorithm, RunConfig, Series};
/// use mrf_graph::Lattice;
/// use phi4_action::targets;
///
/// let a = targets::a(&Lattice::new(4, 4).unwrap()).unwrap();
/// let config = RunConfig {
///     algorithm: Algorithm::HeatBath, n_chains: 2, n_therm: 10, n_sweeps: 20, measure_every: 1,
///     seed: 1, save_configs: false, two_point: false, progress_every: 0,
/// };
/// // The action of every measured configuration, recomputed by the hook.
/// let (out, series) = run_chains_with(&a, &config, |_| Series::new(|c: &phi4_action::Couplings, phi: &[f64]| c.action(phi)), |_| {}).unwrap();
/// let stored: Vec<f64> = out.chains[1].observables.iter().map(|o| o.action_density * 16.0).collect();
/// assert!(series[1].values.iter().zip(&stored).all(|(s, t)| (s - t).abs() < 1e-9));
/// ```
pub fn run_chains_with<A, Mk, F>(
    couplings: &Couplings,
    config: &RunConfig,
    make: Mk,
    progress: F,
) -> Result<(RunOutput, Vec<A>), SamplerError>
where
    A: Measure + Send,
    Mk: Fn(u64) -> A + Sync,
    F: Fn(u64) + Sync,
{
    run_chain_range_with(couplings, config, 0..config.n_chains as u64, make, progress)
}

/// [`run_chains_with`] for the chains `chains` of the run only (a part of
/// `0..config.n_chains`), e.g. the share of one process when the chains of a run are spread
/// over several: chain `c` is exactly chain `c` of the whole run, and the outputs come back
/// in chain order, so the outputs of consecutive ranges, concatenated, are those of the
/// whole run.
pub fn run_chain_range_with<A, Mk, F>(
    couplings: &Couplings,
    config: &RunConfig,
    chains: std::ops::Range<u64>,
    make: Mk,
    progress: F,
) -> Result<(RunOutput, Vec<A>), SamplerError>
where
    A: Measure + Send,
    Mk: Fn(u64) -> A + Sync,
    F: Fn(u64) + Sync,
{
    config.validate(couplings)?;
    if chains.end > config.n_chains as u64 {
        return Err(SamplerError::InvalidConfig(format!(
            "chains {}..{} are not chains of a run of {} chains; give a range inside 0..{}",
            chains.start, chains.end, config.n_chains, config.n_chains
        )));
    }
    let start = Instant::now();
    let (chains, measured): (Vec<_>, Vec<_>) = chains
        .into_par_iter()
        .map(|c| {
            let mut m = make(c);
            run_one(couplings, config, c, &progress, &mut m).map(|out| (out, m))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let two_point_r_max = config
        .two_point
        .then(|| couplings.lattice().map(|(l, _)| l.lx().min(l.ly()) / 2))
        .flatten();
    Ok((
        RunOutput {
            chains,
            two_point_r_max,
            wall_seconds: start.elapsed().as_secs_f64(),
        },
        measured,
    ))
}

fn run_one<F, A>(
    couplings: &Couplings,
    config: &RunConfig,
    c: u64,
    progress: &F,
    measure: &mut A,
) -> Result<ChainOutput, SamplerError>
where
    F: Fn(u64) + Sync,
    A: Measure,
{
    let mut chain = Chain::new(couplings, config.algorithm, chain_rng(config.seed, c))?;
    chain.set_split_rows(config.n_chains < rayon::current_num_threads());
    let n = chain.n_sites();
    let mut pending = 0u64;
    let mut tick = |k: u64| {
        pending += k;
        if config.progress_every > 0 && pending >= config.progress_every {
            progress(pending);
            pending = 0;
        }
    };
    chain.thermalise_observed(config.n_therm, |_| tick(1));
    let therm_stats = chain.stats();
    chain.reset_stats();

    let n_meas = (config.n_sweeps / config.measure_every) as usize;
    let mut observables = Vec::with_capacity(n_meas);
    let mut configs = config.save_configs.then(|| Vec::with_capacity(n_meas * n));
    let lattice = couplings.lattice().map(|(l, _)| l);
    let r_len = lattice.map_or(0, |l| l.lx().min(l.ly()) / 2 + 1);
    let mut two_point = config.two_point.then(|| Vec::with_capacity(n_meas * r_len));
    let mut g = vec![0.0; r_len];
    for sweep in 1..=config.n_sweeps {
        chain.sweep();
        if sweep % config.measure_every == 0 {
            observables.push(chain.measure());
            measure.record(couplings, &chain.sites);
            if let Some(configs) = &mut configs {
                configs.extend_from_slice(&chain.sites);
            }
            if let (Some(tp), Some(l)) = (&mut two_point, lattice) {
                two_point_axes(&l, &chain.sites, &mut g);
                tp.extend_from_slice(&g);
            }
        }
        tick(1);
    }
    if pending > 0 && config.progress_every > 0 {
        progress(pending);
    }
    let stats = chain.stats();
    Ok(ChainOutput {
        chain: c,
        observables,
        configs,
        two_point,
        last_field: chain.field(),
        acceptance: stats.acceptance(),
        step_size: chain.step_size(),
        mean_cluster_size: stats.mean_cluster_size(),
        clusters_per_sweep: chain.clusters_per_sweep(),
        timing: Timing {
            update_seconds: stats.update_seconds + therm_stats.update_seconds,
            site_updates: stats.site_updates + therm_stats.site_updates,
        },
    })
}
