//! The error type of the crate.

/// Errors from samplers, statistics and ensemble files.
#[derive(Debug, thiserror::Error)]
pub enum SamplerError {
    /// A kernel cannot sample this action exactly.
    #[error("the {algorithm} update cannot sample this action exactly: {reason}")]
    UnsupportedAction {
        /// The algorithm.
        algorithm: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// A run configuration is invalid.
    #[error("invalid run configuration: {0}")]
    InvalidConfig(String),
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `rename to`, …).
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not a readable checkpoint: wrong magic, version or kind, truncated,
    /// corrupted, undecodable.
    #[error("{path} is not a valid checkpoint: {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// New couplings or parameters for a chain are invalid.
    #[error(transparent)]
    Action(#[from] phi4_action::ActionError),
    /// A file is not a readable ensemble: wrong magic, truncated, corrupted, undecodable.
    #[error("{path} is not a valid ensemble file: {reason}")]
    CorruptEnsemble {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An ensemble file was written in a format version this build cannot read.
    #[error(
        "{path} has ensemble format version {found}, but this build reads version {supported}; \
         read it with the qftml version that wrote it"
    )]
    UnsupportedEnsembleVersion {
        /// The file.
        path: std::path::PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The contents of an ensemble are inconsistent (lengths, non-finite numbers, stored
    /// actions that do not match the couplings, invalid couplings).
    #[error("invalid ensemble: {0}")]
    InvalidEnsemble(String),
    /// Stored couplings (an ensemble header, a couplings file) do not make a valid action.
    #[error("invalid couplings: {0}")]
    InvalidCouplings(String),
    /// A `.npy` file is malformed or of a kind this crate does not read.
    #[error("{path} is not a .npy file this crate reads: {reason}")]
    InvalidNpy {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A one-dimensional quartic density `exp(−a x² − b x⁴ + h x)` cannot be normalised.
    #[error("cannot sample exp(-a x^2 - b x^4 + h x) with a = {a}, b = {b}, h = {h}: {reason}")]
    InvalidQuartic {
        /// Quadratic coefficient.
        a: f64,
        /// Quartic coefficient.
        b: f64,
        /// Linear coefficient.
        h: f64,
        /// What to change.
        reason: &'static str,
    },
}
