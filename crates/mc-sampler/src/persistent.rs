//! Persistent chains that learning steers: many chains of one action, kept alive while the
//! couplings change between sweeps, measured through a hook and reduced in chain order.

use std::ops::Range;

use phi4_action::Couplings;
use rayon::prelude::*;

use crate::checkpoint::ChainState;
use crate::{Algorithm, Chain, SamplerError, chain_rng};

/// `n` chains of the same couplings, chain `c` drawing from [`chain_rng`]`(seed, c)`.
///
/// Sweeps run in parallel over the rayon pool; measurements come back in chain order, so
/// every reduction over them (and so every gradient) is bit-identical on any number of
/// threads.  Changing the couplings keeps each chain's field, generator and tuned steps:
/// this is the persistent chain of stochastic-gradient training.
///
/// ```
/// use mc_sampler::{Algorithm, PersistentChains};
/// use mrf_graph::Lattice;
/// use phi4_action::{Couplings, Homogeneous};
///
/// let lattice = Lattice::new(4, 4).unwrap();
/// let c = Couplings::homogeneous(&lattice, Homogeneous { kappa: 0.5, mu2: 1.0, lambda: 0.2 }).unwrap();
/// let mut chains = PersistentChains::new(&c, Algorithm::HeatBath, 3, 4).unwrap();
/// chains.thermalise(50);
/// let mut theta = c.params();
/// theta[c.block(phi4_action::ParamBlock::A)].iter_mut().for_each(|a| *a += 0.1);
/// chains.set_params(&theta).unwrap();
/// chains.sweep(10);
/// // ⟨∂S/∂a_0⟩ = ⟨φ_0²⟩ over the chains, in chain order.
/// let phi0_sq: Vec<f64> = chains.measure_with(|_, phi| phi[0] * phi[0]);
/// assert_eq!(phi0_sq.len(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct PersistentChains {
    chains: Vec<Chain>,
}

impl PersistentChains {
    /// `n_chains` chains of `algorithm` for `couplings`, starting from `φ = 0`.
    pub fn new(couplings: &Couplings, algorithm: Algorithm, seed: u64, n_chains: usize) -> Result<Self, SamplerError> {
        if n_chains == 0 {
            return Err(SamplerError::InvalidConfig(
                "n_chains is 0; run at least one chain".into(),
            ));
        }
        let chains = (0..n_chains as u64)
            .map(|c| Chain::new(couplings, algorithm, chain_rng(seed, c)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { chains })
    }

    /// Chains restored from their states (e.g. a checkpoint of [`PersistentChains::states`]).
    pub fn from_states(couplings: &Couplings, states: Vec<ChainState>) -> Result<Self, SamplerError> {
        if states.is_empty() {
            return Err(SamplerError::InvalidConfig("no chain states to restore".into()));
        }
        let chains = states
            .into_iter()
            .map(|s| Chain::from_state(couplings, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { chains })
    }

    /// The state of every chain, in chain order.
    pub fn states(&self) -> Vec<ChainState> {
        self.chains.iter().map(Chain::state).collect()
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.chains.len()
    }

    /// The chains, in chain order.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The current couplings (the same in every chain).
    pub fn couplings(&self) -> &Couplings {
        self.chains[0].couplings()
    }

    /// `n` thermalisation sweeps of every chain (step sizes tuned, see [`Chain::thermalise`]).
    pub fn thermalise(&mut self, n: u64) {
        self.chains.par_iter_mut().for_each(|c| c.thermalise(n));
    }

    /// `n` sweeps of every chain (step sizes frozen).
    pub fn sweep(&mut self, n: u64) {
        self.sweep_range(0..self.chains.len(), n);
    }

    /// `n` sweeps of the chains `chains` only (e.g. the share of one process when the chains
    /// are spread over several; the others do not move).  Panics if `chains` is not inside
    /// `0..n_chains`.
    pub fn sweep_range(&mut self, chains: Range<usize>, n: u64) {
        self.chains[chains]
            .par_iter_mut()
            .for_each(|c| (0..n).for_each(|_| c.sweep()));
    }

    /// [`PersistentChains::measure_with`] of the chains `chains` only, in chain order.
    /// Panics if `chains` is not inside `0..n_chains`.
    pub fn measure_range_with<M, F>(&mut self, chains: Range<usize>, f: F) -> Vec<M>
    where
        M: Send,
        F: Fn(&Couplings, &[f64]) -> M + Sync,
    {
        self.chains[chains].par_iter_mut().map(|c| c.measure_with(&f)).collect()
    }

    /// Replaces chains `first..first + states.len()` by chains restored from `states` (e.g.
    /// the chains another process moved), with the current couplings.  On error no chain
    /// changes.
    pub fn set_states(&mut self, first: usize, states: Vec<ChainState>) -> Result<(), SamplerError> {
        if first + states.len() > self.chains.len() {
            return Err(SamplerError::InvalidConfig(format!(
                "{} chain states from chain {first} on do not fit {} chains",
                states.len(),
                self.chains.len()
            )));
        }
        let couplings = self.couplings().clone();
        let restored = states
            .into_iter()
            .map(|s| Chain::from_state(&couplings, s))
            .collect::<Result<Vec<_>, _>>()?;
        for (slot, chain) in self.chains[first..].iter_mut().zip(restored) {
            *slot = chain;
        }
        Ok(())
    }

    /// Replaces the parameters of every chain by `θ` (validated once; see
    /// [`Chain::set_params`]).  On error no chain changes.
    pub fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError> {
        let (first, rest) = self.chains.split_first_mut().expect("at least one chain");
        first.set_params(theta)?;
        let couplings = first.couplings();
        for c in rest {
            c.set_couplings(couplings)?;
        }
        Ok(())
    }

    /// Replaces the couplings of every chain (same graph; see [`Chain::set_couplings`]).
    /// All chains share one graph, so a refused update refuses at the first chain and none
    /// changes.
    pub fn set_couplings(&mut self, couplings: &Couplings) -> Result<(), SamplerError> {
        self.chains.iter_mut().try_for_each(|c| c.set_couplings(couplings))
    }

    /// `f(θ, φ)` of the current configuration of every chain, in chain order (computed in
    /// parallel).
    pub fn measure_with<M, F>(&mut self, f: F) -> Vec<M>
    where
        M: Send,
        F: Fn(&Couplings, &[f64]) -> M + Sync,
    {
        self.measure_range_with(0..self.chains.len(), f)
    }

    /// Splits each Metropolis half sweep of large lattices over the rayon pool (see
    /// [`Chain::set_split_rows`]); bit-identical either way.
    pub fn set_split_rows(&mut self, on: bool) {
        self.chains.iter_mut().for_each(|c| c.set_split_rows(on));
    }
}
