//! Persistent chains shared among processes: each process sweeps and measures its own
//! consecutive chains, and the per-chain records of an epoch are exchanged in chain order,
//! so every process reduces exactly the numbers one process would, in the same order, and
//! takes the same optimiser step.  How the records travel (threads, MPI) is the caller's;
//! nothing here knows.

use std::ops::Range;

/// Where a trainer's chains are swept, and how their records are exchanged.
pub trait ChainShare {
    /// The chains this process sweeps and measures (consecutive, inside `0..n_chains`).
    fn local(&self) -> Range<usize>;

    /// Every chain's records in chain order, from this process's `mine` (the records of its
    /// [`ChainShare::local`] chains back to back, each of the same length).  Every process
    /// calls it once per step, at the same point.
    fn all_chains(&mut self, mine: &[f64]) -> Vec<f64>;
}

/// Every chain in this process: nothing to exchange.
#[derive(Debug, Clone, Copy)]
pub struct AllChains(pub usize);

impl ChainShare for AllChains {
    fn local(&self) -> Range<usize> {
        0..self.0
    }

    fn all_chains(&mut self, mine: &[f64]) -> Vec<f64> {
        mine.to_vec()
    }
}

/// The local range of `share`, checked against `n_chains`.
pub(crate) fn checked_local(share: &dyn ChainShare, n_chains: usize) -> Result<Range<usize>, crate::TrainError> {
    let local = share.local();
    if local.start > local.end || local.end > n_chains {
        return Err(crate::TrainError::InvalidConfig(format!(
            "chains {}..{} are not a share of {n_chains} chains",
            local.start, local.end
        )));
    }
    Ok(local)
}

/// Exchanges the records of the local chains (`records[local]`, each `len` values) and
/// returns every chain's, in chain order; an exchange of the wrong length is an error.
pub(crate) fn exchange(
    share: &mut dyn ChainShare,
    local: Range<usize>,
    mine: Vec<f64>,
    n_chains: usize,
    len: usize,
) -> Result<Vec<f64>, crate::TrainError> {
    let all = if local == (0..n_chains) {
        mine
    } else {
        share.all_chains(&mine)
    };
    if all.len() != n_chains * len {
        return Err(crate::TrainError::InvalidConfig(format!(
            "the chain exchange returned {} values for {n_chains} chains of {len}",
            all.len()
        )));
    }
    Ok(all)
}
