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
use mc_sampler::ensemble::LatticeCouplings;
use phi4_action::Couplings;
use serde::{Deserialize, Serialize};

const FORMAT: &str = "qftml-couplings";
const VERSION: u32 = 1;

/// A couplings file: its format and version, then the couplings as an ensemble stores them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouplingsFile {
    pub format: String,
    pub version: u32,
    #[serde(flatten)]
    pub couplings: LatticeCouplings,
}

impl CouplingsFile {
    /// Read and validate the couplings file at `path`.
    pub fn read(path: &Path) -> Result<Couplings> {
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
        Ok(file.couplings.couplings()?)
    }

    /// The couplings file of `couplings` (which must live on a lattice), as JSON text.
    pub fn to_json(couplings: &Couplings) -> Result<String> {
        let file = Self {
            format: FORMAT.into(),
            version: VERSION,
            couplings: LatticeCouplings::of(couplings).context("only couplings on a lattice can be written")?,
        };
        Ok(serde_json::to_string(&file)?)
    }
}
