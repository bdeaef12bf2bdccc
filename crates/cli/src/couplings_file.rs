//! Couplings files: inhomogeneous couplings θ on a lattice, as JSON.
//!
//! ```json
//! { "format": "qftml-couplings", "version": 1, "lattice": [8, 8], "pair_set": "nearest-neighbour",
//!   "w": [...2V...], "a": [...V...], "b": [...V...], "r": [...V...] }
//! ```
//! Pairs are ordered as in `phi4_action::PairSet` (for each site `(i, i+x̂), (i, i+ŷ)`,
//! then the diagonals).

use std::path::Path;

use anyhow::{Context, Result, bail};
use mrf_graph::Lattice;
use phi4_action::{Couplings, PairSet};
use serde::{Deserialize, Serialize};

const FORMAT: &str = "qftml-couplings";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouplingsFile {
    pub format: String,
    pub version: u32,
    pub lattice: [usize; 2],
    pub pair_set: String,
    pub w: Vec<f64>,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub r: Vec<f64>,
}

impl CouplingsFile {
    /// The record of lattice couplings.
    #[allow(dead_code)]
    pub fn of(c: &Couplings) -> Result<Self> {
        let (lattice, pair_set) = c
            .lattice()
            .context("only couplings on a periodic lattice can be written")?;
        Ok(Self {
            format: FORMAT.into(),
            version: VERSION,
            lattice: [lattice.lx(), lattice.ly()],
            pair_set: pair_set.name().into(),
            w: c.w().to_vec(),
            a: c.a().to_vec(),
            b: c.b().to_vec(),
            r: c.r().to_vec(),
        })
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read couplings {}", path.display()))?;
        let file: Self = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a couplings file (JSON with format, version, lattice, pair_set, w, a, b, r)",
                path.display()
            )
        })?;
        if file.format != FORMAT {
            bail!("{} has format {:?}, expected {FORMAT:?}", path.display(), file.format);
        }
        if file.version != VERSION {
            bail!(
                "{} has version {}, this qftml reads version {VERSION}",
                path.display(),
                file.version
            );
        }
        Ok(file)
    }

    /// The validated couplings.
    pub fn couplings(&self) -> Result<Couplings> {
        let lattice = Lattice::new(self.lattice[0], self.lattice[1])?;
        let pair_set = PairSet::from_name(&self.pair_set).with_context(|| {
            format!(
                "unknown pair set {:?}; use {}",
                self.pair_set,
                PairSet::names_for_message()
            )
        })?;
        Couplings::on_lattice(
            &lattice,
            pair_set,
            self.w.clone(),
            self.a.clone(),
            self.b.clone(),
            self.r.clone(),
        )
        .context("invalid couplings file")
    }
}
