//! Per-configuration observables.

use crate::Couplings;

/// Observables of one configuration (`V` = number of sites).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observables {
    /// Magnetisation `m = Σφ_i / V`.
    pub m: f64,
    /// `|m|`.
    pub m_abs: f64,
    /// `m²`.
    pub m2: f64,
    /// `m⁴`.
    pub m4: f64,
    /// `Σφ_i² / V`.
    pub phi2: f64,
    /// `Σφ_i⁴ / V`.
    pub phi4: f64,
    /// Nearest-neighbour product `Σ_⟨ij⟩ φ_iφ_j / (2V)` on a lattice; on a general graph the
    /// mean of `φ_iφ_j` over its pairs.
    pub nn: f64,
    /// `S / V`.
    pub action_density: f64,
}

impl Observables {
    /// Names of the fields, in the order of [`Observables::to_array`].
    pub const NAMES: [&'static str; 8] = ["m", "m_abs", "m2", "m4", "phi2", "phi4", "nn", "action_density"];

    /// Measure a configuration `phi` of the theory `couplings`.
    pub fn measure(couplings: &Couplings, phi: &[f64]) -> Self {
        let v = phi.len() as f64;
        let (mut sum, mut sum2, mut sum4) = (0.0, 0.0, 0.0);
        for &x in phi {
            let x2 = x * x;
            sum += x;
            sum2 += x2;
            sum4 += x2 * x2;
        }
        let nn = match couplings.lattice() {
            Some((lattice, _)) => {
                let (lx, ly) = (lattice.lx(), lattice.ly());
                let mut s = 0.0;
                for y in 0..ly {
                    let row = &phi[y * lx..(y + 1) * lx];
                    let up = &phi[((y + 1) % ly) * lx..((y + 1) % ly + 1) * lx];
                    // x + 1 wraps only at the end of the row (no division per site).
                    for x in 0..lx - 1 {
                        s += row[x] * (row[x + 1] + up[x]);
                    }
                    s += row[lx - 1] * (row[0] + up[lx - 1]);
                }
                s / (2.0 * v)
            }
            None => {
                let pairs = couplings.pairs();
                let s: f64 = pairs.iter().map(|&[i, j]| phi[i as usize] * phi[j as usize]).sum();
                s / pairs.len().max(1) as f64
            }
        };
        let m = sum / v;
        Self {
            m,
            m_abs: m.abs(),
            m2: m * m,
            m4: m * m * m * m,
            phi2: sum2 / v,
            phi4: sum4 / v,
            nn,
            action_density: couplings.action(phi) / v,
        }
    }

    /// The values in the order of [`Observables::NAMES`].
    pub fn to_array(&self) -> [f64; 8] {
        [
            self.m,
            self.m_abs,
            self.m2,
            self.m4,
            self.phi2,
            self.phi4,
            self.nn,
            self.action_density,
        ]
    }
}
