//! Blocking transformations with scale factor `b = 2`: each 2×2 block of the fine lattice
//! becomes one site of the coarse lattice.

use mrf_graph::Lattice;

use crate::IrgError;

/// How the four sites of a 2×2 block become one coarse site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlockRule {
    /// `φ′ = ζ · ¼ Σ_block φ`: the block average times the field rescaling factor `ζ`
    /// (`rescale`).  `ζ = 1` is the plain average, which keeps the magnetisation.
    Average {
        /// The field rescaling factor `ζ` (positive).
        rescale: f64,
    },
    /// `φ′ = A · sign(Σ_block φ)`: the majority sign with amplitude `A` (`amplitude`).  A
    /// block whose sum is exactly zero takes the sign of its first site (lowest `x`, then
    /// lowest `y`), and `+` if that is zero too.
    MajoritySign {
        /// The amplitude `A` of the coarse field (positive).
        amplitude: f64,
    },
}

impl BlockRule {
    fn check(self) -> Result<(), IrgError> {
        let (name, value) = match self {
            BlockRule::Average { rescale } => ("field rescaling factor", rescale),
            BlockRule::MajoritySign { amplitude } => ("majority-sign amplitude", amplitude),
        };
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(IrgError::Parameter(format!(
                "the {name} is {value}; give a positive finite number"
            )))
        }
    }
}

/// The coarse lattice of `fine` under `b = 2` blocking: half the extents.  Extents must be
/// even and at least 8 (the coarse lattice, like every lattice, needs extents ≥ 4).
pub fn coarse_lattice(fine: &Lattice) -> Result<Lattice, IrgError> {
    let (lx, ly) = (fine.lx(), fine.ly());
    if lx % 2 != 0 || ly % 2 != 0 || lx < 8 || ly < 8 {
        return Err(IrgError::Lattice(format!(
            "a {lx}×{ly} lattice cannot be blocked with b = 2; use even extents of at least 8"
        )));
    }
    Ok(Lattice::new(lx / 2, ly / 2)?)
}

/// The lattice of twice the extents of `coarse`.
pub fn fine_lattice(coarse: &Lattice) -> Result<Lattice, IrgError> {
    Ok(Lattice::new(2 * coarse.lx(), 2 * coarse.ly())?)
}

/// Checks that `phi` is a finite field on `lattice`.
pub(crate) fn check_field(lattice: &Lattice, phi: &[f64], what: &str) -> Result<(), IrgError> {
    if phi.len() != lattice.n_sites() {
        return Err(IrgError::Field(format!(
            "the {what} has {} values but the {}×{} lattice has {} sites",
            phi.len(),
            lattice.lx(),
            lattice.ly(),
            lattice.n_sites()
        )));
    }
    if let Some(i) = phi.iter().position(|x| !x.is_finite()) {
        return Err(IrgError::Field(format!(
            "the {what} has a non-finite value {} at site {i}",
            phi[i]
        )));
    }
    Ok(())
}

/// Blocks the field `phi` on `fine` (site `i = y·Lx + x`) with `rule`; returns the coarse
/// lattice and field.  Coarse site `(X, Y)` is the block of fine sites `(2X + p, 2Y + q)`,
/// `p, q ∈ {0, 1}`.
pub fn block(fine: &Lattice, phi: &[f64], rule: BlockRule) -> Result<(Lattice, Vec<f64>), IrgError> {
    rule.check()?;
    let coarse = coarse_lattice(fine)?;
    check_field(fine, phi, "field")?;
    let (lx, cx, cy) = (fine.lx(), coarse.lx(), coarse.ly());
    let mut out = Vec::with_capacity(cx * cy);
    for y in 0..cy {
        for x in 0..cx {
            let i = 2 * y * lx + 2 * x;
            let sites = [phi[i], phi[i + 1], phi[i + lx], phi[i + lx + 1]];
            let sum = sites[0] + sites[1] + sites[2] + sites[3];
            out.push(match rule {
                BlockRule::Average { rescale } => rescale * 0.25 * sum,
                BlockRule::MajoritySign { amplitude } => {
                    let sign = if sum != 0.0 { sum } else { sites[0] };
                    if sign < 0.0 { -amplitude } else { amplitude }
                }
            });
        }
    }
    Ok((coarse, out))
}
