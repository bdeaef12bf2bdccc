//! Finite-size scaling of rescaled ensembles at several μ²: Binder crossings (the fixed
//! point), `ν` from the slopes `dU/dμ²`, `γ/ν` from `χ` at the fixed point.

use mc_sampler::stats::bin_chains;

use crate::IrgError;
use crate::analysis::{Estimate, multi_jackknife, slope};
use crate::ensemble::RescaledEnsemble;

/// Quantities per configuration: `(|m|, m², m⁴)` of every level.
pub(crate) const PER_LEVEL: usize = 3;

/// The result of a scan: the fixed point and two exponents.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// Linear sizes of the levels used.
    pub sizes: Vec<usize>,
    /// `μ²` where the Binder cumulants of consecutive sizes cross, one per pair of levels.
    pub crossings: Vec<Estimate>,
    /// The fixed point: the one given to [`scaling`], else the crossing with the smallest
    /// error.  The inverse flow makes the
    /// Binder cumulants of the largest rescaled sizes nearly equal at every μ², so their
    /// crossing is ill-determined; the best-determined crossing is the fixed point.
    pub critical_mu2: Estimate,
    /// Which crossing that is: sizes `sizes[fixed_pair]` and `sizes[fixed_pair + 1]`.
    pub fixed_pair: usize,
    /// `U` of each size at the fixed point.
    pub binder_at_fixed_point: Vec<Estimate>,
    /// `χ = V (⟨m²⟩ − ⟨|m|⟩²)` of each size at the fixed point.
    pub chi_at_fixed_point: Vec<Estimate>,
    /// `dU/dμ²` of each size at the fixed point.
    pub binder_slopes: Vec<Estimate>,
    /// `V⟨m²⟩` of each size at the fixed point.
    pub v_m2_at_fixed_point: Vec<Estimate>,
    /// `⟨|m|⟩` of each size at the fixed point.
    pub m_abs_at_fixed_point: Vec<Estimate>,
    /// `β/ν`: minus the slope of `ln ⟨|m|⟩` against `ln L` at the fixed point.
    pub beta_over_nu: Estimate,
    /// `γ/ν`: slope of `ln χ` against `ln L` at the fixed point.
    pub gamma_over_nu: Estimate,
    /// `γ/ν` from `V⟨m²⟩` (the susceptibility without the subtraction), which has smaller
    /// corrections to scaling at the fixed point.
    pub gamma_over_nu_from_m2: Estimate,
    /// `ν` from finite-size scaling of the slopes, `dU/dμ² ∝ L^{1/ν}`.  The inverse
    /// transformation drives every μ² towards the fixed point, so for rescaled sizes these
    /// slopes grow far more slowly than for direct simulation and this is not an estimate
    /// of the exponent (see the crate docs); it is reported to show that.
    pub nu_from_binder_slopes: Estimate,
}

/// Bins of one ensemble.
pub(crate) struct EnsembleBins {
    mu2: f64,
    pub(crate) bins: Vec<Vec<f64>>,
}

pub(crate) fn ensemble_bins(e: &RescaledEnsemble, levels: &std::ops::Range<usize>) -> EnsembleBins {
    let mut quantities: Vec<Vec<Vec<f64>>> = Vec::new();
    for l in levels.clone() {
        for k in 0..PER_LEVEL {
            quantities.push(
                e.levels[l]
                    .iter()
                    .map(|c| c.iter().map(|o| o.to_array()[k]).collect())
                    .collect(),
            );
        }
    }
    let refs: Vec<Vec<&[f64]>> = quantities
        .iter()
        .map(|q| q.iter().map(Vec::as_slice).collect())
        .collect();
    let refs: Vec<&[&[f64]]> = refs.iter().map(Vec::as_slice).collect();
    EnsembleBins {
        mu2: e.target.mu2,
        bins: bin_chains(&refs, e.bin_size()),
    }
}

/// Least-squares line `y = a + s (x − x̄)`: returns `(a, s, x̄)`.
fn line(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    (my, slope(xs, ys), mx)
}

/// What the fits need from the means of every ensemble.
struct Fits<'a> {
    mu2: Vec<f64>,
    sizes: &'a [usize],
    /// The crossing that defines the fixed point.
    pair: usize,
    /// A fixed point given from outside (it replaces the crossing).
    at: Option<f64>,
}

impl Fits<'_> {
    /// `(U, ln χ, ln V⟨m²⟩, ln ⟨|m|⟩)` of level `l` from the means of one ensemble.
    fn point(&self, means: &[f64], l: usize) -> [f64; 4] {
        let (m_abs, m2, m4) = (means[PER_LEVEL * l], means[PER_LEVEL * l + 1], means[PER_LEVEL * l + 2]);
        let v = (self.sizes[l] * self.sizes[l]) as f64;
        [
            1.0 - m4 / (3.0 * m2 * m2),
            (v * (m2 - m_abs * m_abs).max(0.0)).ln(),
            (v * m2).ln(),
            m_abs.ln(),
        ]
    }

    /// Lines in μ² of `U`, `ln χ`, `ln V⟨m²⟩` and `ln ⟨|m|⟩` for level `l`.
    fn lines(&self, all: &[Vec<f64>], l: usize) -> [(f64, f64, f64); 4] {
        let points: Vec<[f64; 4]> = all.iter().map(|m| self.point(m, l)).collect();
        std::array::from_fn(|k| line(&self.mu2, &points.iter().map(|p| p[k]).collect::<Vec<f64>>()))
    }

    fn crossing(&self, all: &[Vec<f64>], l: usize) -> f64 {
        let (a0, s0, mx) = self.lines(all, l)[0];
        let (a1, s1, _) = self.lines(all, l + 1)[0];
        mx - (a1 - a0) / (s1 - s0)
    }

    fn critical(&self, all: &[Vec<f64>]) -> f64 {
        self.at.unwrap_or_else(|| self.crossing(all, self.pair))
    }

    /// `(U, χ, dU/dμ², V⟨m²⟩, ⟨|m|⟩)` of level `l` at the fixed point.
    fn at_fixed_point(&self, all: &[Vec<f64>], l: usize) -> [f64; 5] {
        let mc = self.critical(all);
        let [(a, s, mx), (b, t, _), (c, r, _), (d, q, _)] = self.lines(all, l);
        [
            a + s * (mc - mx),
            (b + t * (mc - mx)).exp(),
            s,
            (c + r * (mc - mx)).exp(),
            (d + q * (mc - mx)).exp(),
        ]
    }

    fn exponent(&self, all: &[Vec<f64>], k: usize) -> f64 {
        let logs: Vec<f64> = self.sizes.iter().map(|&l| (l as f64).ln()).collect();
        let ys: Vec<f64> = (0..self.sizes.len())
            .map(|l| self.at_fixed_point(all, l)[k].abs().ln())
            .collect();
        slope(&logs, &ys)
    }
}

/// Finite-size scaling of rescaled ensembles at two or more μ² (the same κ, λ, parent
/// lattice and number of levels), over the levels `levels`: `U` and `ln χ` of each size
/// are fitted by straight lines in μ², consecutive sizes cross where their lines meet, the
/// two largest sizes define the fixed point, and the exponents come from fits in `ln L` at
/// the fixed point.  Errors: jackknife over bins of parents in each ensemble, summed over
/// the independent ensembles.  Keep the μ² range inside the scaling window of the largest
/// size, where `U` is close to linear.
///
/// With `fixed_point` given (e.g. the direct finite-size-scaling critical μ², or the fixed
/// point of the inverse flow), the quantities "at the fixed point" and the exponents are
/// evaluated there instead of at the best crossing, and the error of `fixed_point` is added
/// in quadrature (half the change of each quantity between `μ² ± err`).
pub fn scaling(
    ensembles: &[RescaledEnsemble],
    levels: std::ops::Range<usize>,
    fixed_point: Option<Estimate>,
) -> Result<Scaling, IrgError> {
    let Some(first) = ensembles.first() else {
        return Err(IrgError::Parameter(
            "no ensembles to analyse; give at least two values of μ²".into(),
        ));
    };
    if ensembles.len() < 2 {
        return Err(IrgError::Parameter(
            "finite-size scaling needs ensembles at two or more values of μ²".into(),
        ));
    }
    if levels.len() < 2 || levels.end > first.sizes.len() {
        return Err(IrgError::Parameter(format!(
            "finite-size scaling needs at least two of the {} sizes; got levels {levels:?}",
            first.sizes.len()
        )));
    }
    for e in ensembles {
        if e.sizes != first.sizes || e.target.kappa != first.target.kappa || e.target.lambda != first.target.lambda {
            return Err(IrgError::Parameter(
                "the ensembles of a scan need the same κ, λ and sizes; only μ² may differ".into(),
            ));
        }
    }
    let mut mu2: Vec<f64> = ensembles.iter().map(|e| e.target.mu2).collect();
    let spread =
        mu2.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - mu2.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    if spread <= 0.0 {
        return Err(IrgError::Parameter(
            "the ensembles of a scan need different values of μ²".into(),
        ));
    }
    let bins: Vec<EnsembleBins> = ensembles.iter().map(|e| ensemble_bins(e, &levels)).collect();
    let bin_refs: Vec<&[Vec<f64>]> = bins.iter().map(|e| e.bins.as_slice()).collect();
    if let Some(e) = bins.iter().find(|e| e.bins.len() < 2) {
        return Err(IrgError::Parameter(format!(
            "the ensemble at μ² = {} has fewer than two bins of parents; give more parent configurations",
            e.mu2
        )));
    }
    mu2 = bins.iter().map(|e| e.mu2).collect();
    let sizes: Vec<usize> = first.sizes[levels.clone()].to_vec();
    let mut fits = Fits {
        mu2,
        sizes: &sizes,
        pair: 0,
        at: fixed_point.map(|e| e.mean),
    };
    let n = sizes.len();
    let crossings: Vec<Estimate> = (0..n - 1)
        .map(|l| multi_jackknife(&bin_refs, |all| fits.crossing(all, l)))
        .collect();
    fits.pair = (0..n - 1)
        .filter(|&l| crossings[l].err.is_finite())
        .min_by(|&a, &b| crossings[a].err.total_cmp(&crossings[b].err))
        .unwrap_or(n - 2);
    let fits = fits;
    // The jackknife over parents, plus the shift between the ends of `fixed_point ± err`.
    let estimate = |f: &dyn Fn(&Fits<'_>, &[Vec<f64>]) -> f64| {
        let mut e = multi_jackknife(&bin_refs, |all| f(&fits, all));
        if let Some(fp) = fixed_point.filter(|fp| fp.err > 0.0) {
            let means: Vec<Vec<f64>> = bins.iter().map(|b| crate::flow::mean_of_bins(&b.bins)).collect();
            let shifted = |mu2: f64| {
                let moved = Fits {
                    at: Some(mu2),
                    mu2: fits.mu2.clone(),
                    ..fits
                };
                f(&moved, &means)
            };
            let half = 0.5 * (shifted(fp.mean + fp.err) - shifted(fp.mean - fp.err));
            e.err = e.err.hypot(half);
        }
        e
    };
    let per_size = |k: usize| -> Vec<Estimate> {
        (0..n)
            .map(|l| estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| f.at_fixed_point(all, l)[k]))
            .collect()
    };
    Ok(Scaling {
        crossings,
        critical_mu2: estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| f.critical(all)),
        fixed_pair: fits.pair,
        binder_at_fixed_point: per_size(0),
        chi_at_fixed_point: per_size(1),
        binder_slopes: per_size(2),
        v_m2_at_fixed_point: per_size(3),
        m_abs_at_fixed_point: per_size(4),
        beta_over_nu: estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| -f.exponent(all, 4)),
        gamma_over_nu: estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| f.exponent(all, 1)),
        gamma_over_nu_from_m2: estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| f.exponent(all, 3)),
        nu_from_binder_slopes: estimate(&|f: &Fits<'_>, all: &[Vec<f64>]| 1.0 / f.exponent(all, 2)),
        sizes,
    })
}
