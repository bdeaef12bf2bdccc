//! The record of `qftml data`.

use serde::{Deserialize, Serialize};

use crate::Provenance;

/// What `qftml data` wrote: exact independent samples of a known distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// Schema version ([`Record::SCHEMA`](crate::Record::SCHEMA)).
    pub schema: u32,
    /// The distribution: `free-field` or `independent`.
    pub distribution: String,
    /// The `.npy` file written.
    pub file: String,
    /// Its shape: samples, then lattice rows and columns.
    pub shape: Vec<usize>,
    /// The seed of the draws.
    pub seed: u64,
    /// The exact per-site mean, averaged over sites.
    pub exact_mean: f64,
    /// The exact per-site variance, averaged over sites.
    pub exact_variance: f64,
    /// The exact covariance of nearest neighbours, averaged over pairs (0 for independent sites).
    pub exact_nn_covariance: f64,
    /// Where the data come from.
    pub provenance: Provenance,
}

crate::record!(DataRecord, "data", schema 1);
