//! `qftml train variational|data` across MPI ranks: the persistent chains split into
//! consecutive shares, one per rank.
//!
//! Every rank runs the same training loop on the same trainer.  In each step a rank sweeps
//! and measures its own chains only, and the per-chain sums of the gradient are gathered in
//! chain order on every rank ([`kl_train::ChainShare`]), so each rank reduces exactly the
//! numbers of one process, in the same order, and takes the same optimiser step: the
//! couplings are bit-identical to one process.  After the step every rank receives the
//! states of the chains the others moved, so checkpoints (written by rank 0) and bounds see
//! every chain, and a run resumes on any number of ranks.  Every step begins with an
//! agreement, so a rank that stopped (rank 0 failing to write, say) stops the others there.

use std::ops::Range;

use anyhow::Result;
use kl_train::{ChainShare, DataTrainer, EpochSummary, StepSummary, VariationalTrainer};
use mc_sampler::checkpoint::{self, ChainState};
use mpi::topology::SimpleCommunicator;

use crate::mpi_ranks::{Ranks, agree_on, all_gather_bytes, all_gather_f64, share};
use crate::mpi_share::{Placement, StepError};
use crate::train::{self, TrainArgs};

/// The kind of the chain states exchanged after each step.
const STATES_KIND: &str = "qftml-mpi-chain-states";

/// Runs `qftml train` on every rank; rank 0 prints and writes.
pub fn run(ranks: &Ranks, args: &TrainArgs) -> Result<()> {
    let mut place = SharedChains {
        rank: ranks.rank(),
        size: ranks.size(),
        n_chains: 0,
    };
    train::run_placed(args, &mut place)
}

/// This rank's place among the ranks (plain numbers, so it can move to the worker thread
/// that runs the training loop; MPI is called from that thread only, one call at a time).
struct SharedChains {
    rank: usize,
    size: usize,
    n_chains: usize,
}

impl SharedChains {
    fn world() -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// The chains of rank `r`.
    fn share_of(&self, r: usize) -> Range<usize> {
        share(self.n_chains, self.size, r)
    }

    /// The agreement that opens every step, and the check of the rank count.
    fn begin(&mut self, n_chains: usize) -> Result<(), StepError> {
        agree_on(&Self::world(), Ok(())).map_err(StepError::Stopped)?;
        if self.size > n_chains {
            return Err(StepError::Stopped(anyhow::anyhow!(
                "{} ranks are more than the {n_chains} chains; run on at most {n_chains} ranks, or raise --chains",
                self.size
            )));
        }
        self.n_chains = n_chains;
        Ok(())
    }

    /// Every rank's states of its own chains, installed with `install(first, states)` for
    /// the chains of the other ranks.
    fn exchange_states(
        &self,
        mine: &[ChainState],
        mut install: impl FnMut(usize, Vec<ChainState>) -> Result<(), kl_train::TrainError>,
    ) -> Result<(), StepError> {
        let bytes = checkpoint::to_bytes(STATES_KIND, &mine.to_vec());
        let parts = all_gather_bytes(&Self::world(), &bytes).map_err(StepError::Stopped)?;
        for (r, part) in parts.iter().enumerate() {
            if r == self.rank {
                continue;
            }
            let states: Vec<ChainState> = checkpoint::from_bytes(STATES_KIND, part)
                .map_err(|e| StepError::Stopped(anyhow::anyhow!("rank {r} sent unreadable chain states: {e}")))?;
            if states.len() != self.share_of(r).len() {
                return Err(StepError::Stopped(anyhow::anyhow!(
                    "rank {r} sent the states of {} chains",
                    states.len()
                )));
            }
            install(self.share_of(r).start, states).map_err(StepError::Train)?;
        }
        Ok(())
    }
}

impl ChainShare for SharedChains {
    fn local(&self) -> Range<usize> {
        self.share_of(self.rank)
    }

    fn all_chains(&mut self, mine: &[f64]) -> Vec<f64> {
        all_gather_f64(&Self::world(), mine)
    }
}

impl Placement for SharedChains {
    fn is_root(&self) -> bool {
        self.rank == 0
    }

    fn step_variational(&mut self, trainer: &mut VariationalTrainer) -> Result<EpochSummary, StepError> {
        self.step_with(trainer)
    }

    fn step_data(&mut self, trainer: &mut DataTrainer) -> Result<StepSummary, StepError> {
        self.step_with(trainer)
    }
}

impl SharedChains {
    /// One step of either trainer with the chains shared among the ranks; afterwards every
    /// rank holds every chain's state.
    fn step_with<T: kl_train::Trainer>(&mut self, trainer: &mut T) -> Result<T::Summary, StepError> {
        self.begin(trainer.chains().n_chains())?;
        let summary = trainer.step_shared(self).map_err(StepError::Train)?;
        let mine = trainer.chains().states()[self.local()].to_vec();
        self.exchange_states(&mine, |first, states| trainer.set_chain_states(first, states))?;
        Ok(summary)
    }
}
