//! Lattice φ⁴ actions as Markov random fields.
//!
//! The inhomogeneous φ⁴ action of the talk,
//! `S(φ; θ) = − Σ_⟨ij⟩ w_ij φ_i φ_j + Σ_i a_i φ_i² + Σ_i b_i φ_i⁴ + Σ_i r_i φ_i`,
//! defines the Boltzmann density `p(φ; θ) = exp(−S)/Z`, a Markov random field on the graph of
//! its pairs (sign convention: `w > 0` is ferromagnetic).  Homogeneous lattice φ⁴,
//! `−κ Σ φ_iφ_j + (μ² + 4κ)/2 Σ φ² + λ/4 Σ φ⁴`, is the point `w = κ, a = (μ² + 4κ)/2,
//! b = λ/4, r = 0` ([`Homogeneous`]).  This crate holds the couplings `θ` on any pair set
//! ([`Couplings`], validated at construction so that `exp(−S)` is normalisable), the
//! talk's targets `A`, `A₄(g′)`, `A₅(g′, c)` ([`targets`]), the total action, the O(1)
//! change of a single-site move, the single-site conditional
//! `p(φ_i | rest) ∝ exp(−a_i φ² − b_i φ⁴ + h_i φ)` ([`Quartic`]), the sufficient statistics
//! `∂S/∂θ`, per-configuration observables ([`Observables`], also rebuilt from the five sums
//! of [`SufficientStats`]) and exact Gaussian results for
//! the free field ([`gaussian`]).  It does no IO and uses no random numbers.
//!
//! # Example
//!
//! ```
//! use mrf_graph::Lattice;
//! use phi4_action::{targets, Homogeneous};
//!
//! let lattice = Lattice::new(4, 4).unwrap();
//! let a = targets::a(&lattice).unwrap();
//! let point: Homogeneous = a.as_homogeneous().unwrap();
//! assert!((point.mu2 - (-0.9515)).abs() < 1e-12 && point.lambda == 0.7);
//!
//! let phi: Vec<f64> = (0..16).map(|i| 0.1 * i as f64 - 0.7).collect();
//! let s = a.action(&phi);
//! // A single-site move costs O(1) and equals the difference of two total actions.
//! let mut moved = phi.clone();
//! moved[5] = 1.3;
//! assert!((a.delta_action(&phi, 5, 1.3) - (a.action(&moved) - s)).abs() < 1e-12);
//! // The conditional of a site is exp(−a x² − b x⁴ + h x) with h = Σ_j w_ij φ_j − r_i.
//! let q = a.conditional(&phi, 5);
//! assert_eq!((q.a, q.b), (1.52425, 0.175));
//! ```
#![deny(missing_docs)]

mod couplings;
pub mod gaussian;
mod observables;
mod pair_set;
mod sufficient;
mod sum;
pub mod targets;

pub use couplings::{ComplexAction, Couplings, Homogeneous, PairSet, ParamBlock, Quartic};
pub use observables::Observables;
pub use sufficient::SufficientStats;

/// Errors from building couplings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    /// A coupling array has the wrong length.
    #[error("{param} has {got} entries but the graph needs {expected}")]
    LengthMismatch {
        /// Name of the parameter (`w`, `a`, `b`, `r`, `theta`).
        param: &'static str,
        /// Required length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// A coupling is NaN or infinite.
    #[error("{param}[{index}] = {value} is not finite; every coupling must be a finite number")]
    NotFinite {
        /// Name of the parameter.
        param: &'static str,
        /// Index of the entry.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A quartic coupling is negative, so `exp(−S)` cannot be normalised.
    #[error("b[{index}] = {value} is negative, so exp(-S) is not normalisable; every b must be >= 0")]
    NegativeQuartic {
        /// Site.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Some `b_i = 0` and the quadratic form on those sites is not positive definite.
    #[error(
        "b = 0 on {n_free} site(s) (first: b[{first}]) and the quadratic form of a and w there is not \
         positive definite ({detail}); raise a (e.g. mu2 > 0) or make b > 0"
    )]
    NotNormalisable {
        /// Number of sites with `b = 0`.
        n_free: usize,
        /// First such site.
        first: usize,
        /// What the check found.
        detail: String,
    },
    /// New couplings for existing ones live on a different graph of pairs.
    #[error("the new couplings live on a different graph (sites or pairs differ); build a new chain for them")]
    DifferentGraph,
    /// The graph of the pairs is malformed.
    #[error(transparent)]
    Graph(#[from] mrf_graph::GraphError),
}

#[cfg(test)]
mod tests;
