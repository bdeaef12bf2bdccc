//! Per-configuration observables.

use crate::sum::{Lanes, add_lanes, block, lane_sum_map, total};
use crate::{Couplings, SufficientStats};

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
        // Eight interleaved partial sums each (crate::sum): a fixed order, several times
        // faster than serial chains.
        let sum = lane_sum_map(phi, |x| x);
        let sum2 = lane_sum_map(phi, |x| x * x);
        let sum4 = lane_sum_map(phi, |x| x * x * (x * x));
        let nn = match couplings.lattice() {
            Some((lattice, _)) => {
                let (lx, ly) = (lattice.lx(), lattice.ly());
                let mut acc = Lanes::default();
                for y in 0..ly {
                    let row = &phi[y * lx..(y + 1) * lx];
                    let up = &phi[((y + 1) % ly) * lx..][..lx];
                    // x + 1 wraps only at the end of the row.
                    add_lanes(
                        &mut acc,
                        lx - 1,
                        |k| {
                            let (here, right, up) = (block(row, k), block(row, k + 1), block(up, k));
                            std::array::from_fn(|l| here[l] * (right[l] + up[l]))
                        },
                        |x| row[x] * (row[x + 1] + up[x]),
                    );
                    acc[(lx - 1) % 8] += row[lx - 1] * (row[0] + up[lx - 1]);
                }
                total(&acc) / (2.0 * v)
            }
            None => {
                let pairs = couplings.pairs();
                let term = |k: usize| {
                    let [i, j] = pairs[k];
                    phi[i as usize] * phi[j as usize]
                };
                let mut acc = Lanes::default();
                add_lanes(&mut acc, pairs.len(), |k| std::array::from_fn(|l| term(k + l)), term);
                total(&acc) / pairs.len().max(1) as f64
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

    /// The observables of a lattice configuration with sums `sums`, `n_sites` sites and
    /// action `action`: the one place where observables are rebuilt from sums (reading
    /// stored ensembles, reweighting).  Equal to [`Observables::measure`] up to the order of
    /// the summation.
    #[inline]
    pub fn from_sums(sums: &SufficientStats, n_sites: usize, action: f64) -> Self {
        let v = n_sites as f64;
        let m = sums.phi1 / v;
        Self {
            m,
            m_abs: m.abs(),
            m2: m * m,
            m4: m * m * m * m,
            phi2: sums.phi2 / v,
            phi4: sums.phi4 / v,
            nn: sums.nn / (2.0 * v),
            action_density: action / v,
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
