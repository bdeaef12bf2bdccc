//! Exact, independent samples of Gaussian (free-field) actions.
//!
//! For `b = 0` the density `exp(−½ φᵀMφ − rᵀφ)` is a multivariate normal with mean
//! `−M⁻¹r` and covariance `M⁻¹`; with the Cholesky factor `M = L Lᵀ`,
//! `φ = −M⁻¹r + L⁻ᵀ z` with `z` standard normal is an exact draw.  These samples need no
//! Markov chain, so they test reweighting and training without trusting any sampler.

use nalgebra::{Cholesky, DVector, Dyn};
use phi4_action::gaussian::GaussianMrf;
use rand::Rng;
use rand_distr::StandardNormal;

/// Exact sampler of a Gaussian Markov random field.
#[derive(Debug, Clone)]
pub struct ExactGaussian {
    cholesky: Cholesky<f64, Dyn>,
    mean: DVector<f64>,
}

impl ExactGaussian {
    /// The sampler of `mrf` (dense: meant for lattices up to a few thousand sites).
    pub fn new(mrf: &GaussianMrf) -> Self {
        let cholesky = mrf
            .precision()
            .clone()
            .cholesky()
            .expect("validated Gaussian couplings are positive definite");
        Self {
            cholesky,
            mean: mrf.mean(),
        }
    }

    /// One independent configuration.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let n = self.mean.len();
        let z = DVector::from_iterator(n, (0..n).map(|_| rng.sample::<f64, _>(StandardNormal)));
        // Solve Lᵀ x = z, so x has covariance (L Lᵀ)⁻¹ = M⁻¹.
        let x = self
            .cholesky
            .l()
            .tr_solve_lower_triangular(&z)
            .expect("Cholesky factor is invertible");
        (x + &self.mean).iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use mrf_graph::Lattice;
    use phi4_action::gaussian::{FreeField, GaussianMrf};
    use phi4_action::{Couplings, Homogeneous};

    use super::ExactGaussian;
    use crate::chain_rng;

    /// Independent draws: the standard error is the plain one.  Tolerance 4σ.
    #[test]
    fn exact_draws_reproduce_free_field_moments() {
        let lattice = Lattice::new(6, 4).unwrap();
        let c = Couplings::homogeneous(
            &lattice,
            Homogeneous {
                kappa: 1.0,
                mu2: 0.5,
                lambda: 0.0,
            },
        )
        .unwrap();
        let exact = FreeField::from_couplings(&c).unwrap();
        let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&c).unwrap());
        let mut rng = chain_rng(7, 0);
        let n = 20_000;
        let (mut phi2, mut phi2_sq, mut vm2, mut vm2_sq) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let phi = sampler.sample(&mut rng);
            let p2 = phi.iter().map(|x| x * x).sum::<f64>() / 24.0;
            let m: f64 = phi.iter().sum::<f64>() / 24.0;
            phi2 += p2;
            phi2_sq += p2 * p2;
            vm2 += 24.0 * m * m;
            vm2_sq += (24.0 * m * m).powi(2);
        }
        let nf = n as f64;
        for (sum, sum_sq, truth) in [(phi2, phi2_sq, exact.phi2().re), (vm2, vm2_sq, exact.v_m2().re)] {
            let mean = sum / nf;
            let err = ((sum_sq / nf - mean * mean) / (nf - 1.0)).sqrt();
            assert!((mean - truth).abs() < 4.0 * err, "{mean} ± {err} vs exact {truth}");
        }
    }
}
