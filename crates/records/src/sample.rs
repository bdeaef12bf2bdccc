//! `qftml sample`: its run config and its result.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{MeanErr, ObservableSet, Provenance};

/// The run config of `qftml sample` (a TOML file, and the `config` of its result): every
/// key optional, flags override.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Lattice size, `L` or `LxLy`.
    pub lattice: Option<String>,
    /// Hopping parameter κ.
    pub kappa: Option<f64>,
    /// Bare mass squared μ².
    pub mu2: Option<f64>,
    /// Quartic coupling λ.
    pub lambda: Option<f64>,
    /// Diagonal coupling g′.
    pub g_nnn: Option<f64>,
    /// A couplings file instead of κ, μ², λ, g′.
    pub couplings: Option<PathBuf>,
    /// Update schedule.
    pub algorithm: Option<String>,
    /// Measured sweeps per chain.
    pub sweeps: Option<u64>,
    /// Thermalisation sweeps per chain.
    pub therm: Option<u64>,
    /// Number of chains.
    pub chains: Option<usize>,
    /// Measure every this many sweeps.
    pub measure_every: Option<u64>,
    /// Seed of the run.
    pub seed: Option<u64>,
}

/// A Γ-method mean with its error and integrated autocorrelation time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaValue {
    /// Mean over all chains.
    #[serde(with = "crate::nullable")]
    pub mean: f64,
    /// Standard error, autocorrelation included.
    #[serde(with = "crate::nullable")]
    pub err: f64,
    /// Integrated autocorrelation time, in measurements.
    #[serde(with = "crate::nullable")]
    pub tau_int: f64,
    /// Error of `tau_int`.
    #[serde(with = "crate::nullable")]
    pub tau_int_err: f64,
}

/// The observables of a run: Γ-method averages, jackknife errors of the cumulants.
pub type SampleObservables = ObservableSet<GammaValue, MeanErr>;

/// Exact free-field values (from the eigenvalues of the quadratic form; the Binder cumulant
/// of a Gaussian is 0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExactFreeField {
    /// The observables `qftml sample` reports.
    #[serde(flatten)]
    pub run: ObservableSet<f64>,
    /// `V ⟨m²⟩`.
    pub v_m2: f64,
}

impl std::ops::Deref for ExactFreeField {
    type Target = ObservableSet<f64>;
    fn deref(&self) -> &ObservableSet<f64> {
        &self.run
    }
}

impl ExactFreeField {
    /// The value called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        crate::by_name(self.named(), name)
    }

    /// The values with their names, in report order.
    pub fn named(&self) -> [(&'static str, f64); 9] {
        let [o0, o1, o2, o3, o4, o5, o6, o7] = self.run.named();
        [o0, o1, o2, o3, o4, o5, o6, o7, ("v_m2", self.v_m2)]
    }
}

/// What a run cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of the chains, seconds.
    #[serde(with = "crate::nullable")]
    pub wall_s: f64,
    /// CPU time of the updates, seconds.
    #[serde(with = "crate::nullable")]
    pub update_cpu_s: f64,
    /// Nanoseconds per site update.
    #[serde(with = "crate::nullable")]
    pub ns_per_site_update: f64,
}

/// `qftml sample --json` (also `results.json` next to a stored ensemble).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// [`SampleRecord::SCHEMA`].
    pub schema: u32,
    /// Observables with Γ-method errors.
    pub observables: SampleObservables,
    /// Acceptance after thermalisation.
    #[serde(with = "crate::nullable")]
    pub acceptance: f64,
    /// Configurations measured, over all chains.
    pub n_configs: usize,
    /// Number of chains.
    pub n_chains: usize,
    /// Number of sites.
    pub n_sites: usize,
    /// The update schedule.
    pub algorithm: String,
    /// The frozen Metropolis step size, if the schedule uses Metropolis.
    pub step_size: Option<f64>,
    /// Mean cluster size, if the schedule uses clusters.
    pub mean_cluster_size: Option<f64>,
    /// What the run cost.
    pub timing: Timing,
    /// Exact values, when the action is a homogeneous free field.
    pub exact_free_field: Option<ExactFreeField>,
    /// Warnings about short chains or unreliable errors.
    pub warnings: Vec<String>,
    /// The resolved run config (reproduces the run with `--config`).
    pub config: SampleConfig,
    /// Where the result comes from.
    pub provenance: Provenance,
}

crate::record!(SampleRecord, "sample", schema 1);
