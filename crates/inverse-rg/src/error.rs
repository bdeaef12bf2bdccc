//! The error type of the crate.

/// Errors of the inverse renormalization group.
#[derive(Debug, thiserror::Error)]
pub enum IrgError {
    /// A lattice that cannot be blocked or rescaled.
    #[error("{0}")]
    Lattice(String),
    /// A field of the wrong length or with non-finite values.
    #[error("{0}")]
    Field(String),
    /// The least-squares fit of the inverse has no unique solution.
    #[error("{0}")]
    Fit(String),
    /// A parameter out of range.
    #[error("{0}")]
    Parameter(String),
    /// Couplings that cannot be built.
    #[error(transparent)]
    Action(#[from] phi4_action::ActionError),
    /// A chain that cannot be built.
    #[error(transparent)]
    Sampler(#[from] mc_sampler::SamplerError),
    /// A lattice geometry that cannot be built.
    #[error(transparent)]
    Graph(#[from] mrf_graph::GraphError),
}
