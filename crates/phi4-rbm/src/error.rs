//! The error type of the crate.

/// Why a network, a training configuration or a data set was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RbmError {
    /// A parameter of a layer is not allowed for its unit type.
    #[error("{layer} unit {unit}: {reason}")]
    InvalidUnit {
        /// `visible` or `hidden`.
        layer: &'static str,
        /// Index of the unit.
        unit: usize,
        /// What is wrong and what to change.
        reason: String,
    },
    /// Sizes that must agree do not.
    #[error("size mismatch: {0}")]
    Shape(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Data that the network cannot take.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// Training produced non-finite parameters or states.
    #[error("training diverged at epoch {epoch}: {reason}; lower the learning rate or raise the weight decay")]
    Diverged {
        /// The epoch (counted from 1).
        epoch: u64,
        /// What became non-finite.
        reason: String,
    },
    /// A computation needs a model small enough to enumerate.
    #[error("cannot enumerate: {0}")]
    TooLarge(String),
}
