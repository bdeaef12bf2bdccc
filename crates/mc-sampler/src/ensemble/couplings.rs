//! Couplings on a periodic lattice as they are stored: in an ensemble header and in a
//! couplings file.

use mrf_graph::Lattice;
use phi4_action::{Couplings, PairSet};
use serde::{Deserialize, Serialize};

use crate::SamplerError;

/// Couplings θ on a periodic lattice as plain vectors in the layout of [`Couplings`] on the
/// lattice pairs of `pair_set`; [`LatticeCouplings::couplings`] rebuilds and validates them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatticeCouplings {
    /// Lattice extents `[lx, ly]`.
    pub lattice: [usize; 2],
    /// The coupled pairs, by [`PairSet::name`]: `nearest-neighbour`, `diagonal` or `both`.
    pub pair_set: String,
    /// Pair couplings `w`, one per pair of `pair_set`.
    pub w: Vec<f64>,
    /// Quadratic couplings `a`, one per site.
    pub a: Vec<f64>,
    /// Quartic couplings `b`, one per site.
    pub b: Vec<f64>,
    /// Linear couplings `r`, one per site.
    pub r: Vec<f64>,
}

impl LatticeCouplings {
    /// The stored form of `couplings`, or `None` when they live on a general graph.
    pub fn of(couplings: &Couplings) -> Option<Self> {
        let (lattice, pair_set) = couplings.lattice()?;
        Some(Self {
            lattice: [lattice.lx(), lattice.ly()],
            pair_set: pair_set.name().into(),
            w: couplings.w().to_vec(),
            a: couplings.a().to_vec(),
            b: couplings.b().to_vec(),
            r: couplings.r().to_vec(),
        })
    }

    /// `lx · ly`, or `None` when it overflows.
    pub fn n_sites(&self) -> Option<usize> {
        self.lattice[0].checked_mul(self.lattice[1])
    }

    /// The lattice, validated.
    pub fn lattice(&self) -> Result<Lattice, SamplerError> {
        let [lx, ly] = self.lattice;
        Lattice::new(lx, ly).map_err(|e| SamplerError::InvalidCouplings(format!("lattice {lx}x{ly}: {e}")))
    }

    /// The couplings, rebuilt and validated.
    pub fn couplings(&self) -> Result<Couplings, SamplerError> {
        let lattice = self.lattice()?;
        let pair_set = PairSet::from_name(&self.pair_set).ok_or_else(|| {
            SamplerError::InvalidCouplings(format!(
                "unknown pair set {:?}; use {}",
                self.pair_set,
                PairSet::names_for_message()
            ))
        })?;
        Couplings::on_lattice(
            &lattice,
            pair_set,
            self.w.clone(),
            self.a.clone(),
            self.b.clone(),
            self.r.clone(),
        )
        .map_err(|e| SamplerError::InvalidCouplings(format!("couplings: {e}")))
    }
}
