//! Multilevel estimates over the levels of the lineages: few lineages reach the large
//! sizes, and every size's moments are telescoping sums with control variates.
//!
//! A lineage couples its levels: the refinement sweeps of a large lattice relax only short
//! wavelengths, so `|m|`, `m²` and `m⁴` of level `l` are almost a linear function of those of
//! level `l − 1` (correlation 0.997 for `|m|` between 256² and 512² at the talk's point with
//! 100 sweeps per step).  Multilevel Monte Carlo spends the lineages where the differences are
//! large and cheap: with a ratio `R`, parent `n` (counted over chains in order) is carried to
//! level `l` only if `n` is a multiple of `R^l`.  With `S_l` those parents, `f_l = |S_l| / N`
//! and a moment `g`, the estimate of `⟨g_l⟩` is the mean over every parent of
//!
//! `X_0 = g_0`,  `X_l = β_l X_{l−1} + r̄_l + [n ∈ S_l] (g_l − β_l g_{l−1} − r̄_l) / f_l`,
//!
//! with `r̄_l` the mean of the residual `g_l − β_l g_{l−1}` over `S_l`.  The mean of the terms
//! is `Ŷ_l = mean_{S_l}(g_l) − β_l (mean_{S_l}(g_{l−1}) − Ŷ_{l−1})`: the mean of the few large
//! lineages corrected by how far their parents' level lies from the estimate of that level
//! from many more lineages.  For any fixed `β_l` its expectation is `⟨g_l⟩` exactly; `β_l` is
//! the least-squares slope of `g_l` on `g_{l−1}` over `S_l` (the variance of the difference is
//! then `(1 − ρ²) Var g_l`).  Every parent carries `r̄_l` and each lineage its deviation from
//! it, so a jackknife sample that drops a bin of parents moves the estimate by the deviations
//! of the lineages in the bin, not by `r̄_l` times however many lineages the bin holds (with
//! the raw residuals the errors came out 20–30 % too large; a test compares them with the
//! spread of independent runs).  Because each parent's terms `X_l` have the
//! level's mean, everything built on per-parent moments (reweighting with the parents'
//! action, the jackknife over bins of parents, fits across levels) works unchanged; with
//! `R = 1` every lineage reaches every level and `X_l = g_l`.

use phi4_action::Observables;

use crate::IrgError;

/// The three moments of one configuration that the analyses use, or a parent's terms of
/// their multilevel estimates (see the module docs): their means over parents are
/// `⟨|m|⟩`, `⟨m²⟩` and `⟨m⁴⟩` of the level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelMoments {
    /// `|m|`.
    pub m_abs: f64,
    /// `m²`.
    pub m2: f64,
    /// `m⁴`.
    pub m4: f64,
}

impl LevelMoments {
    fn get(&self, k: usize) -> f64 {
        [self.m_abs, self.m2, self.m4][k]
    }

    fn from_array(a: [f64; 3]) -> Self {
        Self {
            m_abs: a[0],
            m2: a[1],
            m4: a[2],
        }
    }
}

impl From<&Observables> for LevelMoments {
    fn from(o: &Observables) -> Self {
        Self {
            m_abs: o.m_abs,
            m2: o.m2,
            m4: o.m4,
        }
    }
}

/// The fewest lineages the largest level may have under a multilevel schedule.
pub const MIN_TOP_LINEAGES: usize = 16;

/// The multilevel schedule: parent `n` reaches level `l` if `n` is a multiple of `ratio^l`
/// (`ratio = 1`: every parent reaches every level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multilevel {
    /// How many lineages of a level there are for each one carried to the next.
    pub ratio: usize,
}

impl Multilevel {
    /// Every lineage reaches every level.
    pub const NONE: Multilevel = Multilevel { ratio: 1 };

    /// The stride of level `level`: `ratio^level`, or `None` if it overflows.
    fn stride(&self, level: usize) -> Option<usize> {
        u32::try_from(level).ok().and_then(|l| self.ratio.checked_pow(l))
    }

    /// The deepest level (at most `steps`) that parent `n` reaches.
    pub fn depth(&self, n: usize, steps: usize) -> usize {
        if self.ratio <= 1 {
            return steps;
        }
        (1..=steps)
            .take_while(|&l| self.stride(l).is_some_and(|s| n.is_multiple_of(s)))
            .last()
            .unwrap_or(0)
    }

    /// How many of `n_parents` parents reach each level `0..=steps`.
    pub fn lineages(&self, n_parents: usize, steps: usize) -> Vec<usize> {
        (0..=steps)
            .map(|l| match self.stride(l) {
                Some(s) if n_parents > 0 => (n_parents - 1) / s + 1,
                _ => 0,
            })
            .collect()
    }

    /// Checks that `n_parents` parents leave at least [`MIN_TOP_LINEAGES`] lineages at level
    /// `steps` (a ratio of 1 is always fine).
    pub fn check(&self, n_parents: usize, steps: usize) -> Result<(), IrgError> {
        if self.ratio == 0 {
            return Err(IrgError::Parameter(
                "the multilevel ratio is 0; give 1 (every lineage reaches every size) or more".into(),
            ));
        }
        if self.ratio == 1 {
            return Ok(());
        }
        let top = self.lineages(n_parents, steps)[steps];
        if top < MIN_TOP_LINEAGES {
            let needed = self
                .stride(steps)
                .and_then(|s| s.checked_mul(MIN_TOP_LINEAGES - 1))
                .map_or_else(|| "more than 2^64".to_string(), |n| (n + 1).to_string());
            return Err(IrgError::Parameter(format!(
                "with the multilevel ratio {} only {top} of {n_parents} lineages reach the largest size \
                 (at least {MIN_TOP_LINEAGES} are needed); give at least {needed} parents, a smaller ratio \
                 or fewer steps",
                self.ratio
            )));
        }
        Ok(())
    }
}

/// The control-variate slopes `β_l` (levels `1..`, one per moment `|m|, m², m⁴`) and every
/// parent's terms `X_l` (`terms[n][l]`) from the raw moments of each lineage (`raw[n]` holds
/// levels `0..=depth(n)`), for `steps` steps under `schedule`.
pub(crate) fn terms(
    raw: &[Vec<LevelMoments>],
    steps: usize,
    schedule: Multilevel,
) -> (Vec<[f64; 3]>, Vec<Vec<LevelMoments>>) {
    let n = raw.len();
    if schedule.ratio <= 1 {
        return (Vec::new(), raw.to_vec());
    }
    let counts = schedule.lineages(n, steps);
    let slopes: Vec<[f64; 3]> = (1..=steps)
        .map(|l| {
            let members: Vec<&Vec<LevelMoments>> = raw.iter().filter(|r| r.len() > l).collect();
            std::array::from_fn(|k| slope(members.iter().map(|r| (r[l - 1].get(k), r[l].get(k)))))
        })
        .collect();
    let residual = |r: &[LevelMoments], l: usize, k: usize| r[l].get(k) - slopes[l - 1][k] * r[l - 1].get(k);
    // The mean residual of each level over its lineages: every parent carries it, and the
    // lineages carry their deviations from it.  The estimate is the same as with the raw
    // residuals, but a jackknife sample that drops a bin no longer moves it by the bin's
    // share of the mean residual times the number of lineages the bin happens to hold.
    let mean_residual: Vec<[f64; 3]> = (1..=steps)
        .map(|l| {
            std::array::from_fn(|k| {
                let members = raw.iter().filter(|r| r.len() > l);
                members.clone().map(|r| residual(r, l, k)).sum::<f64>() / members.count() as f64
            })
        })
        .collect();
    let terms = raw
        .iter()
        .map(|r| {
            let mut out = Vec::with_capacity(steps + 1);
            out.push(r[0]);
            for l in 1..=steps {
                let fraction = counts[l] as f64 / n as f64;
                let below = out[l - 1];
                let x = std::array::from_fn(|k| {
                    let mean = mean_residual[l - 1][k];
                    let carried = slopes[l - 1][k] * below.get(k) + mean;
                    match r.get(l) {
                        Some(_) => carried + (residual(r, l, k) - mean) / fraction,
                        None => carried,
                    }
                });
                out.push(LevelMoments::from_array(x));
            }
            out
        })
        .collect();
    (slopes, terms)
}

/// The least-squares slope of `y` on `x`; 1 (the plain telescoping sum) where it is not
/// defined (fewer than two points or no spread in `x`).
fn slope(points: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y) in points.clone() {
        n += 1.0;
        sx += x;
        sy += y;
    }
    if n < 2.0 {
        return 1.0;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    if sxx > 0.0 { sxy / sxx } else { 1.0 }
}
