//! Inverse renormalization group for lattice φ⁴.
//!
//! (crate docs in progress)
#![deny(missing_docs)]

pub mod analysis;
mod blocking;
mod ensemble;
mod error;
mod transposed;
mod flow;
mod scaling;
mod upscale;

pub use blocking::{BlockRule, block, coarse_lattice, fine_lattice};
pub use ensemble::{ParentRun, Parents, RescaledEnsemble};
pub use error::IrgError;
pub use flow::{DirectCurve, Flow, inverse_flow};
pub use scaling::{Scaling, scaling};
pub use transposed::TransposedConv;
pub use upscale::{InverseRg, LocalUpdate, Refinement};

#[cfg(test)]
mod tests;
