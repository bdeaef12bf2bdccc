//! Exact results for Gaussian (free-field, `b = 0`) actions.
//!
//! `S = ½ φᵀ M φ + rᵀ φ`.  On a periodic lattice with homogeneous couplings `M` is diagonal
//! in momentum space with eigenvalues
//! `λ_k = μ² + 2κ Σ_ν (1 − cos k_ν) − 4g′ cos k_x cos k_y + 2ic`, `k_ν = 2π n_ν / L_ν`
//! ([`FreeField`]); for any other Gaussian action [`GaussianMrf`] works with the dense
//! matrix.  These are the exact answers the samplers, reweighting and training are checked
//! against.

use std::f64::consts::PI;

use mrf_graph::Lattice;
use nalgebra::{DMatrix, DVector};
use num_complex::Complex64;

use crate::Couplings;

/// A homogeneous free field on a periodic lattice, possibly with a diagonal coupling `g′`
/// and an imaginary mass term `i c Σφ²`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreeField {
    /// The lattice.
    pub lattice: Lattice,
    /// Nearest-neighbour coupling κ.
    pub kappa: f64,
    /// Mass squared μ² (`a = (μ² + 4κ)/2`).
    pub mu2: f64,
    /// Diagonal coupling `g′` of `−g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j`.
    pub g_nnn: f64,
    /// Imaginary mass `c` of `i c Σφ²`.
    pub imag_mass: f64,
}

impl FreeField {
    /// The free field of homogeneous lattice couplings with `b = 0` and `r = 0`, if they are.
    pub fn from_couplings(c: &Couplings) -> Option<Self> {
        let (lattice, _) = c.lattice()?;
        let (h, g_nnn) = c.as_homogeneous_with_diagonal()?;
        (h.lambda == 0.0).then_some(Self {
            lattice,
            kappa: h.kappa,
            mu2: 2.0 * c.a()[0] - 4.0 * h.kappa,
            g_nnn,
            imag_mass: 0.0,
        })
    }

    /// Eigenvalues `λ_k` of `M`, indexed `k = n_y L_x + n_x`.
    pub fn eigenvalues(&self) -> Vec<Complex64> {
        let (lx, ly) = (self.lattice.lx(), self.lattice.ly());
        let mut out = Vec::with_capacity(lx * ly);
        for ny in 0..ly {
            let cy = (2.0 * PI * ny as f64 / ly as f64).cos();
            for nx in 0..lx {
                let cx = (2.0 * PI * nx as f64 / lx as f64).cos();
                let re = self.mu2 + 2.0 * self.kappa * (2.0 - cx - cy) - 4.0 * self.g_nnn * cx * cy;
                out.push(Complex64::new(re, 2.0 * self.imag_mass));
            }
        }
        out
    }

    /// Connected two-point function `G(dx, dy) = ⟨φ_x φ_{x+(dx,dy)}⟩`.
    pub fn two_point(&self, dx: isize, dy: isize) -> Complex64 {
        let (lx, ly) = (self.lattice.lx(), self.lattice.ly());
        let eig = self.eigenvalues();
        let mut sum = Complex64::new(0.0, 0.0);
        for ny in 0..ly {
            for nx in 0..lx {
                let phase = 2.0 * PI * (nx as f64 * dx as f64 / lx as f64 + ny as f64 * dy as f64 / ly as f64);
                sum += phase.cos() / eig[ny * lx + nx];
            }
        }
        sum / (lx * ly) as f64
    }

    /// `⟨φ²⟩ = G(0)`.
    pub fn phi2(&self) -> Complex64 {
        self.two_point(0, 0)
    }

    /// `⟨nn⟩ = (G(1,0) + G(0,1)) / 2`.
    pub fn nn(&self) -> Complex64 {
        (self.two_point(1, 0) + self.two_point(0, 1)) / 2.0
    }

    /// `V⟨m²⟩ = 1/λ_0`.
    pub fn v_m2(&self) -> Complex64 {
        1.0 / self.eigenvalues()[0]
    }

    /// `⟨m²⟩ = 1/(V λ_0)`.
    pub fn m2(&self) -> Complex64 {
        self.v_m2() / self.lattice.n_sites() as f64
    }

    /// `⟨m⁴⟩ = 3⟨m²⟩²` (m is Gaussian).
    pub fn m4(&self) -> Complex64 {
        3.0 * self.m2() * self.m2()
    }

    /// `⟨|m|⟩ = √(2⟨m²⟩/π)` (real actions only).
    pub fn m_abs(&self) -> f64 {
        (2.0 * self.m2().re / PI).sqrt()
    }

    /// `χ = V(⟨m²⟩ − ⟨|m|⟩²) = (1 − 2/π)/λ_0` (real actions only).
    pub fn chi(&self) -> f64 {
        self.v_m2().re * (1.0 - 2.0 / PI)
    }

    /// `⟨S⟩/V = ½` for a real Gaussian action without linear term.
    pub fn action_density(&self) -> f64 {
        0.5
    }

    /// `ln Z = (V/2) ln 2π − ½ Σ_k ln λ_k`.
    pub fn ln_z(&self) -> Complex64 {
        let v = self.lattice.n_sites() as f64;
        let logs: Complex64 = self.eigenvalues().iter().map(|l| l.ln()).sum();
        Complex64::new(0.5 * v * (2.0 * PI).ln(), 0.0) - 0.5 * logs
    }
}

/// A real Gaussian Markov random field `S = ½ φᵀ M φ + rᵀ φ` with dense `M`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMrf {
    precision: DMatrix<f64>,
    r: DVector<f64>,
}

impl GaussianMrf {
    /// The Gaussian of couplings with `b = 0` everywhere (`M_ii = 2a_i`, `M_ij = −w_ij`).
    pub fn from_couplings(c: &Couplings) -> Option<Self> {
        if c.b().iter().any(|b| *b != 0.0) {
            return None;
        }
        let n = c.n_sites();
        let mut m = DMatrix::zeros(n, n);
        for i in 0..n {
            m[(i, i)] = 2.0 * c.a()[i];
        }
        for (&[i, j], &w) in c.pairs().iter().zip(c.w()) {
            m[(i as usize, j as usize)] -= w;
            m[(j as usize, i as usize)] -= w;
        }
        Some(Self {
            precision: m,
            r: DVector::from_column_slice(c.r()),
        })
    }

    /// Precision matrix `M`.
    pub fn precision(&self) -> &DMatrix<f64> {
        &self.precision
    }

    /// Covariance `M⁻¹`.
    pub fn covariance(&self) -> DMatrix<f64> {
        self.precision
            .clone()
            .cholesky()
            .expect("validated couplings are positive definite")
            .inverse()
    }

    /// Mean `−M⁻¹ r`.
    pub fn mean(&self) -> DVector<f64> {
        -self
            .precision
            .clone()
            .cholesky()
            .expect("validated couplings are positive definite")
            .solve(&self.r)
    }

    /// `ln det M`.
    pub fn ln_det_precision(&self) -> f64 {
        let l = self
            .precision
            .clone()
            .cholesky()
            .expect("validated couplings are positive definite");
        2.0 * l.l().diagonal().iter().map(|d| d.ln()).sum::<f64>()
    }

    /// `ln Z = (V/2) ln 2π − ½ ln det M + ½ rᵀ M⁻¹ r`.
    pub fn ln_z(&self) -> f64 {
        let n = self.r.len() as f64;
        let mean = self.mean();
        0.5 * n * (2.0 * PI).ln() - 0.5 * self.ln_det_precision() + 0.5 * mean.dot(&(&self.precision * &mean))
    }

    /// Exact `KL(self ‖ other) = ½[tr(M_q Σ_p) − V + Δμᵀ M_q Δμ + ln det M_p − ln det M_q]`.
    pub fn kl(&self, other: &GaussianMrf) -> f64 {
        let n = self.r.len() as f64;
        let dmu = other.mean() - self.mean();
        let trace = (&other.precision * self.covariance()).trace();
        0.5 * (trace - n + dmu.dot(&(&other.precision * &dmu)) + self.ln_det_precision() - other.ln_det_precision())
    }
}
