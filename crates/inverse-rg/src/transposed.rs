//! The inverse of a blocking: a transposed convolution with stride 2, fitted by least
//! squares.

use mrf_graph::Lattice;
use nalgebra::{DMatrix, DVector};

use crate::IrgError;
use crate::blocking::{check_field, fine_lattice};

/// A transposed convolution with stride 2 and periodic wrap, from a coarse field `c` on an
/// `Lx × Ly` lattice to a fine field on `2Lx × 2Ly`:
///
/// `φ(2X + p, 2Y + q) = Σ_{|dx|, |dy| ≤ r} K_{pq}(dx, dy) · c(X + dx, Y + dy)`,
///
/// coordinates modulo the extents.  In the usual form `φ(x) = Σ_I K(x − 2I) c(I)` the kernel
/// spans `4r + 2` fine sites per axis (6×6 for `r = 1`), so with `r ≥ 1` each fine site
/// couples to the neighbouring blocks.  The weights are stored parity by parity
/// (`p + 2q`), each as `(2r + 1)²` taps with `dx` fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct TransposedConv {
    radius: usize,
    weights: Vec<f64>,
}

impl TransposedConv {
    /// A kernel of `radius` `r` from its `4 (2r + 1)²` weights (layout in the type docs).
    pub fn new(radius: usize, weights: Vec<f64>) -> Result<Self, IrgError> {
        let taps = (2 * radius + 1) * (2 * radius + 1);
        if weights.len() != 4 * taps {
            return Err(IrgError::Parameter(format!(
                "a transposed convolution of radius {radius} has {} weights, not {}",
                4 * taps,
                weights.len()
            )));
        }
        if let Some(i) = weights.iter().position(|w| !w.is_finite()) {
            return Err(IrgError::Parameter(format!(
                "kernel weight {i} is {}; give finite weights",
                weights[i]
            )));
        }
        Ok(Self { radius, weights })
    }

    /// The radius `r` in coarse sites.
    pub fn radius(&self) -> usize {
        self.radius
    }

    /// The weights, parity by parity (see the type docs).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    fn taps(&self) -> usize {
        (2 * self.radius + 1) * (2 * self.radius + 1)
    }

    fn check_lattice(&self, coarse: &Lattice) -> Result<(), IrgError> {
        let span = 2 * self.radius + 1;
        if coarse.lx() < span || coarse.ly() < span {
            return Err(IrgError::Lattice(format!(
                "a kernel of radius {} needs a coarse lattice of at least {span}×{span}, not {}×{}; \
                 use a smaller radius or a larger lattice",
                self.radius,
                coarse.lx(),
                coarse.ly()
            )));
        }
        Ok(())
    }

    /// The coarse sites each tap of `(X, Y)` reads, in tap order.
    fn neighbourhood(&self, coarse: &Lattice, x: usize, y: usize, out: &mut Vec<usize>) {
        let (lx, ly, r) = (coarse.lx(), coarse.ly(), self.radius);
        out.clear();
        for dy in 0..=2 * r {
            let yy = (y + ly + dy - r) % ly;
            for dx in 0..=2 * r {
                let xx = (x + lx + dx - r) % lx;
                out.push(yy * lx + xx);
            }
        }
    }

    /// Calls `visit(fine_site, kernel, coarse_sites)` for every fine site of the lattice of
    /// twice the extents of `coarse`: the taps of its parity and the coarse sites they read.
    fn for_each_output(&self, coarse: &Lattice, mut visit: impl FnMut(usize, &[f64], &[usize])) {
        let (fx, taps) = (2 * coarse.lx(), self.taps());
        let mut hood = Vec::with_capacity(taps);
        for y in 0..coarse.ly() {
            for x in 0..coarse.lx() {
                self.neighbourhood(coarse, x, y, &mut hood);
                for parity in 0..4 {
                    let kernel = &self.weights[parity * taps..(parity + 1) * taps];
                    visit((2 * y + parity / 2) * fx + 2 * x + parity % 2, kernel, &hood);
                }
            }
        }
    }

    /// The fine field of the coarse field `c` on `coarse`; returns the fine lattice and field.
    pub fn apply(&self, coarse: &Lattice, c: &[f64]) -> Result<(Lattice, Vec<f64>), IrgError> {
        self.check_lattice(coarse)?;
        check_field(coarse, c, "coarse field")?;
        let fine = fine_lattice(coarse)?;
        let mut out = vec![0.0; fine.n_sites()];
        self.for_each_output(coarse, |fine_site, kernel, hood| {
            out[fine_site] = kernel.iter().zip(hood).map(|(w, &j)| w * c[j]).sum();
        });
        Ok((fine, out))
    }

    /// The adjoint map, fine → coarse: `⟨apply(c), f⟩ = ⟨c, adjoint(f)⟩` for every coarse
    /// `c` and fine `f` on `2Lx × 2Ly`.
    pub fn adjoint(&self, coarse: &Lattice, f: &[f64]) -> Result<Vec<f64>, IrgError> {
        self.check_lattice(coarse)?;
        let fine = fine_lattice(coarse)?;
        check_field(&fine, f, "fine field")?;
        let mut out = vec![0.0; coarse.n_sites()];
        self.for_each_output(coarse, |fine_site, kernel, hood| {
            for (w, &j) in kernel.iter().zip(hood) {
                out[j] += w * f[fine_site];
            }
        });
        Ok(out)
    }

    /// The least-squares kernel of `radius` that maps each coarse field to its fine field:
    /// it minimises `Σ_pairs Σ_x (φ(x) − apply(c)(x))²` over the pairs `(c, φ)` (coarse on
    /// `coarse`, fine on `2Lx × 2Ly`, e.g. blocked and original configurations).  The normal
    /// equations share one Gram matrix of the coarse neighbourhoods across the four
    /// parities and are solved by Cholesky; the error says when the pairs do not determine
    /// the kernel.
    pub fn fit<'a>(
        coarse: &Lattice,
        pairs: impl IntoIterator<Item = (&'a [f64], &'a [f64])>,
        radius: usize,
    ) -> Result<Self, IrgError> {
        let conv = Self {
            radius,
            weights: vec![0.0; 4 * (2 * radius + 1) * (2 * radius + 1)],
        };
        conv.check_lattice(coarse)?;
        let fine = fine_lattice(coarse)?;
        let taps = conv.taps();
        let mut gram = DMatrix::<f64>::zeros(taps, taps);
        let mut rhs = DMatrix::<f64>::zeros(taps, 4);
        let mut hood = Vec::with_capacity(taps);
        let mut features = vec![0.0; taps];
        let mut n_pairs = 0usize;
        for (c, f) in pairs {
            check_field(coarse, c, "coarse field")?;
            check_field(&fine, f, "fine field")?;
            n_pairs += 1;
            for y in 0..coarse.ly() {
                for x in 0..coarse.lx() {
                    conv.neighbourhood(coarse, x, y, &mut hood);
                    features.iter_mut().zip(&hood).for_each(|(v, &j)| *v = c[j]);
                    for a in 0..taps {
                        for b in 0..=a {
                            gram[(a, b)] += features[a] * features[b];
                        }
                        for parity in 0..4 {
                            rhs[(a, parity)] += features[a] * f[(2 * y + parity / 2) * fine.lx() + 2 * x + parity % 2];
                        }
                    }
                }
            }
        }
        if n_pairs == 0 {
            return Err(IrgError::Fit(
                "no (coarse, fine) pairs to fit the inverse to; give at least one".into(),
            ));
        }
        gram.fill_upper_triangle_with_lower_triangle();
        let chol = gram.cholesky().ok_or_else(|| {
            IrgError::Fit(format!(
                "the {n_pairs} coarse fields do not determine a kernel of radius {radius} (singular normal \
                 equations); give more varied configurations or a smaller radius"
            ))
        })?;
        let solution = chol.solve(&rhs);
        let mut weights = Vec::with_capacity(4 * taps);
        for parity in 0..4 {
            let column: DVector<f64> = solution.column(parity).into_owned();
            weights.extend(column.iter().copied());
        }
        Self::new(radius, weights)
    }
}
