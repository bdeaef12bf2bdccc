//! Where a training run's persistent chains live: all in this process, or shared among MPI
//! ranks (feature `mpi`, [`crate::mpi_train`]).  `qftml train` takes its steps through a
//! [`Placement`], so the same loop runs alone and on every rank; only the root writes files
//! and prints.

use anyhow::Result;
use kl_train::{DataTrainer, EpochSummary, StepSummary, TrainError, VariationalTrainer};

/// How the steps of a training run are taken.
pub trait Placement: Send {
    /// True where results are printed and files written (the only process, or rank 0).
    fn is_root(&self) -> bool;

    /// One epoch of the variational trainer; afterwards every chain's state is current here.
    fn step_variational(&mut self, trainer: &mut VariationalTrainer) -> Result<EpochSummary, StepError>;

    /// One step of the data trainer; afterwards every chain's state is current here.
    fn step_data(&mut self, trainer: &mut DataTrainer) -> Result<StepSummary, StepError>;
}

/// Why a step failed: the trainer refused it (the same on every rank), or the run stopped
/// elsewhere (another rank failed).
#[derive(Debug)]
pub enum StepError {
    /// The trainer's error.
    Train(TrainError),
    /// The run stopped; the message says where and why.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))] // only ranks stop one another
    Stopped(anyhow::Error),
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepError::Train(e) => write!(f, "{e}"),
            StepError::Stopped(e) => write!(f, "{e:#}"),
        }
    }
}

/// Every chain in this process.
pub struct Alone;

impl Placement for Alone {
    fn is_root(&self) -> bool {
        true
    }

    fn step_variational(&mut self, trainer: &mut VariationalTrainer) -> Result<EpochSummary, StepError> {
        trainer.step().map_err(StepError::Train)
    }

    fn step_data(&mut self, trainer: &mut DataTrainer) -> Result<StepSummary, StepError> {
        trainer.step().map_err(StepError::Train)
    }
}
