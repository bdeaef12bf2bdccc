//! The target actions of the talk.
//!
//! - `A`: `w = 1, a = 1.52425, b = 0.175` (κ = 1, μ² = −0.9515, λ = 0.7);
//! - `A₄(g′) = A − g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j` (the talk trains against g′ = 1, then reweights along g′);
//! - `A₅(g′, c) = A₄(g′) + i c Σ_i φ_i²` (c = 0.15 in the talk).

use mrf_graph::Lattice;

use crate::{ActionError, ComplexAction, Couplings, Homogeneous, PairSet, ParamBlock};

/// The talk's homogeneous point: κ = 1, μ² = −0.9515, λ = 0.7.
pub const POINT_A: Homogeneous = Homogeneous {
    kappa: 1.0,
    mu2: -0.9515,
    lambda: 0.7,
};

/// The couplings of `A` exactly as the talk writes them: `w = 1, a = 1.52425, b = 0.175`
/// (computing `a = (μ² + 4κ)/2` in floating point gives 1.5242499999999999).
pub const WAB_A: (f64, f64, f64) = (1.0, 1.52425, 0.175);

/// The talk's diagonal coupling for `A₄`.
pub const G_NNN_A4: f64 = 1.0;

/// The talk's imaginary mass for `A₅`.
pub const IMAG_MASS_A5: f64 = 0.15;

/// Target `A` on `lattice`.
pub fn a(lattice: &Lattice) -> Result<Couplings, ActionError> {
    a_with_diagonal(lattice, None)
}

fn a_with_diagonal(lattice: &Lattice, g_nnn: Option<f64>) -> Result<Couplings, ActionError> {
    let (w, a, b) = WAB_A;
    let v = lattice.n_sites();
    let mut ws = vec![w; 2 * v];
    let pair_set = match g_nnn {
        Some(g) => {
            ws.extend(std::iter::repeat_n(g, 2 * v));
            PairSet::Both
        }
        None => PairSet::NearestNeighbour,
    };
    Couplings::on_lattice(lattice, pair_set, ws, vec![a; v], vec![b; v], vec![0.0; v])
}

/// Target `A₄(g′)`: `A` plus `−g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j`.
pub fn a4(lattice: &Lattice, g_nnn: f64) -> Result<Couplings, ActionError> {
    a_with_diagonal(lattice, Some(g_nnn))
}

/// Target `A₅(g′, c)`: `A₄(g′) + i c Σ_i φ_i²`.
pub fn a5(lattice: &Lattice, g_nnn: f64, imag_mass: f64) -> Result<ComplexAction, ActionError> {
    ComplexAction::new(a4(lattice, g_nnn)?, imag_mass)
}

/// Homogeneous lattice φ⁴ at `params` with the diagonal coupling `g_nnn` (pairs
/// [`PairSet::Both`] when it is not zero, nearest neighbours otherwise) and the uniform
/// linear coupling `linear`: the one builder of homogeneous points that the sampler's
/// command line and the reweighting targets share.
pub fn homogeneous(lattice: &Lattice, params: Homogeneous, g_nnn: f64, linear: f64) -> Result<Couplings, ActionError> {
    let couplings = if g_nnn != 0.0 {
        Couplings::homogeneous_with_diagonal(lattice, params, g_nnn)?
    } else {
        Couplings::homogeneous(lattice, params)?
    };
    if linear == 0.0 {
        return Ok(couplings);
    }
    let mut theta = couplings.params();
    theta[couplings.block(ParamBlock::R)].fill(linear);
    couplings.with_params(&theta)
}
