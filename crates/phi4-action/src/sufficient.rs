//! The five per-configuration sums every homogeneous lattice action is linear in.

use mrf_graph::Lattice;

/// The per-configuration sums that every homogeneous lattice action is linear in.
///
/// `T(φ) = −κ nn − g′ nnn + (μ² + 4κ)/2 phi2 + λ/4 phi4 + r phi1 (+ i c phi2)`, so once these
/// five numbers are known per configuration, the action of any homogeneous point costs O(1)
/// per configuration, and so do the observables ([`crate::Observables::from_sums`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SufficientStats {
    /// `Σ_⟨ij⟩ φ_iφ_j` over nearest-neighbour pairs (2V pairs).
    pub nn: f64,
    /// `Σ_⟨⟨ij⟩⟩ φ_iφ_j` over diagonal next-nearest pairs (2V pairs).
    pub nnn: f64,
    /// `Σ_i φ_i`.
    pub phi1: f64,
    /// `Σ_i φ_i²`.
    pub phi2: f64,
    /// `Σ_i φ_i⁴`.
    pub phi4: f64,
}

impl SufficientStats {
    /// Names of the sums, in the order of [`SufficientStats::to_array`].
    pub const NAMES: [&'static str; 5] = ["nn", "nnn", "phi1", "phi2", "phi4"];

    /// Measure a configuration `phi` of `lattice` (site index `y * Lx + x`, periodic).
    ///
    /// # Panics
    ///
    /// If `phi` does not have one value per site.
    pub fn measure(lattice: &Lattice, phi: &[f64]) -> Self {
        assert_eq!(
            phi.len(),
            lattice.n_sites(),
            "configuration has the wrong number of sites"
        );
        let (lx, ly) = (lattice.lx(), lattice.ly());
        let (mut nn, mut nnn, mut phi1, mut phi2, mut phi4) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for y in 0..ly {
            let row = &phi[y * lx..(y + 1) * lx];
            let up = &phi[((y + 1) % ly) * lx..((y + 1) % ly + 1) * lx];
            let down = &phi[((y + ly - 1) % ly) * lx..((y + ly - 1) % ly + 1) * lx];
            for x in 0..lx {
                let xr = (x + 1) % lx;
                let v = row[x];
                let v2 = v * v;
                nn += v * (row[xr] + up[x]);
                nnn += v * (up[xr] + down[xr]);
                phi1 += v;
                phi2 += v2;
                phi4 += v2 * v2;
            }
        }
        Self::from_array([nn, nnn, phi1, phi2, phi4])
    }

    /// The sums in the order of [`SufficientStats::NAMES`].
    pub fn to_array(&self) -> [f64; 5] {
        [self.nn, self.nnn, self.phi1, self.phi2, self.phi4]
    }

    /// The sums from an array in the order of [`SufficientStats::NAMES`].
    pub fn from_array([nn, nnn, phi1, phi2, phi4]: [f64; 5]) -> Self {
        Self {
            nn,
            nnn,
            phi1,
            phi2,
            phi4,
        }
    }

    /// True when every sum is a finite number.
    pub fn is_finite(&self) -> bool {
        self.to_array().iter().all(|x| x.is_finite())
    }
}
