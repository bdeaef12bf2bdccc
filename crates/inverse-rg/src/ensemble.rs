//! Parent ensembles and their rescaled descendants.

use std::time::Instant;

use mc_sampler::{Algorithm, RunConfig, chain_rng, run_chains};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, Observables, SufficientStats};
use rayon::prelude::*;

use crate::IrgError;
use crate::blocking::{BlockRule, block, coarse_lattice};
use crate::multilevel::{Coefficients, LevelMoments, Multilevel};
use crate::transposed::TransposedConv;
use crate::upscale::InverseRg;

/// Configurations of the small lattice at homogeneous couplings, per Markov chain in
/// order: the parents of every rescaled configuration.
#[derive(Debug, Clone)]
pub struct Parents {
    /// The lattice of the parents.
    pub lattice: Lattice,
    /// The couplings they were sampled at.
    pub target: Homogeneous,
    /// `chains[c][k]` is configuration `k` of chain `c` (site order).
    pub chains: Vec<Vec<Vec<f64>>>,
    /// CPU seconds of the updates that produced them (thermalisation included).
    pub cpu_seconds: f64,
}

/// How to sample parents: a plain parameter struct.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParentRun {
    /// Independent chains.
    pub n_chains: usize,
    /// Configurations kept per chain.
    pub n_configs: usize,
    /// Sweeps of the hybrid schedule between kept configurations.
    pub sweeps_between: u64,
    /// Thermalisation sweeps per chain.
    pub n_therm: u64,
    /// Seed (chain `c` uses `chain_rng(seed, c)`).
    pub seed: u64,
}

impl ParentRun {
    /// The run of the hybrid schedule these settings describe.
    pub(crate) fn hybrid(&self, save_configs: bool) -> RunConfig {
        RunConfig {
            algorithm: Algorithm::Hybrid,
            n_chains: self.n_chains,
            n_therm: self.n_therm,
            n_sweeps: self.n_configs as u64 * self.sweeps_between,
            measure_every: self.sweeps_between,
            seed: self.seed,
            save_configs,
            two_point: false,
            progress_every: 0,
        }
    }
}

impl Parents {
    /// Samples parents at `target` on `lattice` with the hybrid schedule (clusters, global
    /// moves and Metropolis; see `mc_sampler::Algorithm::Hybrid`).
    pub fn simulate(lattice: &Lattice, target: Homogeneous, run: ParentRun) -> Result<Self, IrgError> {
        if run.n_configs == 0 || run.sweeps_between == 0 {
            return Err(IrgError::Parameter(
                "parents need at least one configuration per chain and one sweep between configurations".into(),
            ));
        }
        let couplings = Couplings::homogeneous(lattice, target)?;
        let out = run_chains(&couplings, &run.hybrid(true), |_| {})?;
        let v = lattice.n_sites();
        let cpu_seconds = out.timing().update_seconds;
        let chains = out
            .chains
            .into_iter()
            .map(|c| {
                c.configs
                    .unwrap_or_default()
                    .chunks_exact(v)
                    .map(<[f64]>::to_vec)
                    .collect()
            })
            .collect();
        Ok(Self {
            lattice: *lattice,
            target,
            chains,
            cpu_seconds,
        })
    }

    /// All configurations, chain by chain.
    pub fn configs(&self) -> impl Iterator<Item = &[f64]> {
        self.chains.iter().flatten().map(Vec::as_slice)
    }

    /// Number of configurations.
    pub fn len(&self) -> usize {
        self.chains.iter().map(Vec::len).sum()
    }

    /// Whether there are no configurations.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The least-squares inverse of `rule` on these parents: a [`TransposedConv`] of
    /// `radius` fitted on the pairs (blocked parent, parent).
    pub fn fit_inverse(&self, rule: BlockRule, radius: usize) -> Result<TransposedConv, IrgError> {
        let coarse = coarse_lattice(&self.lattice)?;
        let blocked: Vec<Vec<f64>> = self
            .configs()
            .map(|phi| block(&self.lattice, phi, rule).map(|(_, c)| c))
            .collect::<Result<_, _>>()?;
        TransposedConv::fit(&coarse, blocked.iter().map(Vec::as_slice).zip(self.configs()), radius)
    }
}

/// The observables of the parents and of their rescaled descendants, level by level.
#[derive(Debug, Clone)]
pub struct RescaledEnsemble {
    /// Linear size of each level (parents first): `L₀, 2L₀, 4L₀, …`.
    pub sizes: Vec<usize>,
    /// The parents' couplings.
    pub target: Homogeneous,
    /// Sums of every parent configuration, `parent_sums[c][k]` for configuration `k` of chain
    /// `c`: what reweighting in the parents' couplings needs.
    pub parent_sums: Vec<Vec<SufficientStats>>,
    /// `levels[l][c][k]`: the moments at level `l` of the descendant of configuration `k`
    /// of chain `c`, or under a multilevel schedule that parent's terms of the level's
    /// multilevel estimates (see [`crate::multilevel`]); either way their means over
    /// parents are the level's moments.
    pub levels: Vec<Vec<Vec<LevelMoments>>>,
    /// The schedule that decided which lineages reach which level.
    pub multilevel: Multilevel,
    /// How many lineages reached each level (parents first).
    pub lineages: Vec<usize>,
    /// The control-variate coefficients `B_l` of `(|m|, m², m⁴)` of levels `1..` (empty when
    /// every lineage reaches every level).
    pub coefficients: Vec<Coefficients>,
    /// Seconds spent producing and measuring each level (parents first: measuring them),
    /// summed over the lineages (each lineage runs on one thread, so this is their CPU
    /// time): what a multilevel ratio trades.
    pub level_cpu_seconds: Vec<f64>,
}

impl RescaledEnsemble {
    /// Seconds spent producing and measuring the rescaled configurations, all levels.
    pub fn cpu_seconds(&self) -> f64 {
        self.level_cpu_seconds.iter().sum()
    }

    /// Rescales every parent `steps` times with `inverse` (lineage of parent `n`, counted
    /// over chains in order, on `chain_rng(seed, n)`), in parallel over parents.
    /// `visit(parent, level, lattice, field)` sees every configuration (e.g. to keep a few
    /// as images); `progress(n)` is called with the number of lineages finished.
    pub fn rescale(
        parents: &Parents,
        inverse: &InverseRg,
        steps: usize,
        seed: u64,
        visit: impl Fn(usize, usize, &Lattice, &[f64]) + Sync,
        progress: impl Fn(u64) + Sync,
    ) -> Result<Self, IrgError> {
        let refine_mu2 = vec![inverse.target().mu2; steps];
        Self::rescale_at(parents, inverse, &refine_mu2, seed, visit, progress)
    }

    /// Like [`RescaledEnsemble::rescale`], but the refinement of level `l` (`1..=steps`,
    /// `steps = refine_mu2.len()`) runs at μ² = `refine_mu2[l − 1]` (κ and λ of the
    /// inverse's target): e.g. at the coupling the inverse flow says level `l` represents,
    /// so that the sweeps equilibrate the rescaled configuration instead of pulling it back
    /// to the parents' μ² (see the crate docs).
    pub fn rescale_at(
        parents: &Parents,
        inverse: &InverseRg,
        refine_mu2: &[f64],
        seed: u64,
        visit: impl Fn(usize, usize, &Lattice, &[f64]) + Sync,
        progress: impl Fn(u64) + Sync,
    ) -> Result<Self, IrgError> {
        Self::rescale_multilevel(parents, inverse, refine_mu2, Multilevel::NONE, seed, visit, progress)
    }

    /// Like [`RescaledEnsemble::rescale_at`], but parent `n` is carried only as far as the
    /// multilevel schedule `schedule` says ([`Multilevel::depth`]), and every level's
    /// moments become multilevel estimates (see [`crate::multilevel`]).  The lineage of
    /// parent `n` draws from the same stream as without the schedule, so the lineages that
    /// are carried have the same bits.
    pub fn rescale_multilevel(
        parents: &Parents,
        inverse: &InverseRg,
        refine_mu2: &[f64],
        schedule: Multilevel,
        seed: u64,
        visit: impl Fn(usize, usize, &Lattice, &[f64]) + Sync,
        progress: impl Fn(u64) + Sync,
    ) -> Result<Self, IrgError> {
        let steps = refine_mu2.len();
        schedule.check(parents.len(), steps)?;
        if let Some(bad) = refine_mu2.iter().find(|m| !m.is_finite()) {
            return Err(IrgError::Parameter(format!(
                "a refinement μ² is {bad}; give finite couplings"
            )));
        }
        if parents.is_empty() {
            return Err(IrgError::Parameter(
                "there are no parent configurations to rescale".into(),
            ));
        }
        let mut lattices = vec![parents.lattice];
        for _ in 0..steps {
            let last = lattices.last().expect("at least the parent lattice");
            lattices.push(crate::blocking::fine_lattice(last)?);
        }
        let mut couplings = vec![Couplings::homogeneous(&parents.lattice, parents.target)?];
        for (l, &mu2) in lattices[1..].iter().zip(refine_mu2) {
            let target = Homogeneous {
                mu2,
                ..inverse.target()
            };
            couplings.push(Couplings::homogeneous(l, target)?);
        }
        let flat: Vec<&[f64]> = parents.configs().collect();
        let lineages: Vec<(Vec<Observables>, Vec<f64>)> = flat
            .par_iter()
            .enumerate()
            .map_init(Vec::new, |chains, (n, phi)| {
                let mut seconds = Vec::with_capacity(steps + 1);
                let mut last = Instant::now();
                let obs = inverse.lineage_with(
                    &parents.lattice,
                    phi,
                    &couplings[..=schedule.depth(n, steps)],
                    chain_rng(seed, n as u64),
                    chains,
                    |level, l, f| {
                        visit(n, level, l, f);
                        let now = Instant::now();
                        seconds.push((now - last).as_secs_f64());
                        last = now;
                    },
                )?;
                progress(1);
                Ok((obs, seconds))
            })
            .collect::<Result<_, IrgError>>()?;
        let mut level_cpu_seconds = vec![0.0; steps + 1];
        for (_, seconds) in &lineages {
            for (total, s) in level_cpu_seconds.iter_mut().zip(seconds) {
                *total += s;
            }
        }
        let raw: Vec<Vec<LevelMoments>> = lineages
            .iter()
            .map(|(obs, _)| obs.iter().map(LevelMoments::from).collect())
            .collect();
        let (coefficients, terms) = crate::multilevel::terms(&raw, steps, schedule);
        let mut levels = vec![Vec::with_capacity(parents.chains.len()); steps + 1];
        let mut it = terms.into_iter();
        for chain in &parents.chains {
            let mut per_level = vec![Vec::with_capacity(chain.len()); steps + 1];
            for _ in chain {
                let moments = it.next().expect("one lineage per parent");
                for (l, o) in moments.into_iter().enumerate() {
                    per_level[l].push(o);
                }
            }
            for (l, series) in per_level.into_iter().enumerate() {
                levels[l].push(series);
            }
        }
        let parent_sums = parents
            .chains
            .iter()
            .map(|c| {
                c.iter()
                    .map(|phi| SufficientStats::measure(&parents.lattice, phi))
                    .collect()
            })
            .collect();
        Ok(Self {
            sizes: lattices.iter().map(Lattice::lx).collect(),
            target: parents.target,
            parent_sums,
            levels,
            multilevel: schedule,
            lineages: schedule.lineages(parents.len(), steps),
            coefficients,
            level_cpu_seconds,
        })
    }
}
