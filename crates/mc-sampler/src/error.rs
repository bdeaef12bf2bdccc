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
}
