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
//! `X_0 = g_0`,  `X_l = B_l X_{l−1} + r̄_l + [n ∈ S_l] (g_l − B_l g_{l−1} − r̄_l) / f_l`,
//!
//! with `g = (|m|, m², m⁴)`, `B_l` a 3×3 matrix and `r̄_l` the mean of the residual
//! `g_l − B_l g_{l−1}` over `S_l`.  The mean of the terms is
//! `Ŷ_l = mean_{S_l}(g_l) − B_l (mean_{S_l}(g_{l−1}) − Ŷ_{l−1})`: the mean of the few large
//! lineages corrected by how far their parents' level lies from the estimate of that level
//! from many more lineages.  For any fixed `B_l` its expectation is `⟨g_l⟩` exactly; `B_l` is
//! the least-squares fit of `g_l` on `g_{l−1}` over `S_l`, which leaves the residual of every
//! linear combination of the moments (e.g. the one that carries `χ`) the least variance.
//! Every parent carries `r̄_l` and each lineage its deviation from it, so a jackknife sample
//! that drops a bin of parents moves the estimate by the deviations of the lineages in the
//! bin, not by `r̄_l` times however many lineages the bin holds (with the raw residuals the
//! errors came out 20–30 % too large; a test compares them with the spread of independent
//! runs).  Because each parent's terms `X_l` have the level's mean, everything built on
//! per-parent moments (reweighting with the parents' action, the jackknife over bins of
//! parents, fits across levels) works unchanged; with
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
    /// `[|m|, m², m⁴]`.
    pub fn to_array(self) -> [f64; 3] {
        [self.m_abs, self.m2, self.m4]
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

/// The control-variate coefficients `B_l` (levels `1..`) and every parent's terms `X_l`
/// (`terms[n][l]`) from the raw moments of each lineage (`raw[n]` holds
/// levels `0..=depth(n)`), for `steps` steps under `schedule`.
pub(crate) fn terms(
    raw: &[Vec<LevelMoments>],
    steps: usize,
    schedule: Multilevel,
) -> (Vec<Coefficients>, Vec<Vec<LevelMoments>>) {
    let n = raw.len();
    if schedule.ratio <= 1 {
        return (Vec::new(), raw.to_vec());
    }
    let counts = schedule.lineages(n, steps);
    let members = |l: usize| raw.iter().filter(move |r| r.len() > l);
    let coefficients: Vec<Coefficients> = (1..=steps)
        .map(|l| regression(members(l).map(|r| (r[l - 1].to_array(), r[l].to_array()))))
        .collect();
    let residual = |r: &[LevelMoments], l: usize| -> [f64; 3] {
        let predicted = apply(&coefficients[l - 1], r[l - 1].to_array());
        let fine = r[l].to_array();
        std::array::from_fn(|k| fine[k] - predicted[k])
    };
    let mean_residual: Vec<[f64; 3]> = (1..=steps)
        .map(|l| {
            let count = members(l).count() as f64;
            let mut sum = [0.0; 3];
            for r in members(l) {
                let d = residual(r, l);
                for k in 0..3 {
                    sum[k] += d[k];
                }
            }
            sum.map(|x| x / count)
        })
        .collect();
    let terms = raw
        .iter()
        .map(|r| {
            let mut out = Vec::with_capacity(steps + 1);
            out.push(r[0]);
            for l in 1..=steps {
                let fraction = counts[l] as f64 / n as f64;
                let mean = mean_residual[l - 1];
                let mut x = apply(&coefficients[l - 1], out[l - 1].to_array());
                for k in 0..3 {
                    x[k] += mean[k];
                }
                if r.len() > l {
                    let d = residual(r, l);
                    for k in 0..3 {
                        x[k] += (d[k] - mean[k]) / fraction;
                    }
                }
                out.push(LevelMoments::from_array(x));
            }
            out
        })
        .collect();
    (coefficients, terms)
}

/// Control-variate coefficients of one level: `B[k][j]` multiplies moment `j` of the level
/// below in the prediction of moment `k` (moments `|m|, m², m⁴`).
pub type Coefficients = [[f64; 3]; 3];

fn apply(b: &Coefficients, x: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|k| (0..3).map(|j| b[k][j] * x[j]).sum())
}

/// Least-squares coefficients `B = C_yx C_xx⁻¹` of the moments `y` of a level on all three
/// moments `x` of the level below (with an intercept): the residual `y − B x` then has the
/// least variance for every linear combination of the moments at once, e.g. for
/// `m² − 2⟨|m|⟩|m|`, which carries `χ` (at 512² with ratio 3 this gives errors 3–10 % smaller
/// than regressing each moment on its own counterpart).  `C_xx` is scaled to unit diagonal
/// before it is inverted (the moments differ by orders of magnitude); where it cannot be
/// inverted (fewer than five lineages, or moments without spread) each moment is regressed
/// on its own counterpart, and where even that is not defined `B = 1`, the plain
/// telescoping sum.
fn regression(pairs: impl Iterator<Item = ([f64; 3], [f64; 3])> + Clone) -> Coefficients {
    let identity: Coefficients = std::array::from_fn(|k| std::array::from_fn(|j| f64::from(u8::from(k == j))));
    let mut count = 0.0;
    let (mut mx, mut my) = ([0.0; 3], [0.0; 3]);
    for (x, y) in pairs.clone() {
        count += 1.0;
        for k in 0..3 {
            mx[k] += x[k];
            my[k] += y[k];
        }
    }
    if count < 2.0 {
        return identity;
    }
    for k in 0..3 {
        mx[k] /= count;
        my[k] /= count;
    }
    let mut cxx = nalgebra::Matrix3::<f64>::zeros();
    let mut cyx = nalgebra::Matrix3::<f64>::zeros();
    for (x, y) in pairs {
        for k in 0..3 {
            for j in 0..3 {
                cxx[(k, j)] += (x[k] - mx[k]) * (x[j] - mx[j]);
                cyx[(k, j)] += (y[k] - my[k]) * (x[j] - mx[j]);
            }
        }
    }
    if count >= 5.0 {
        let scale = nalgebra::Vector3::from_fn(|k, _| cxx[(k, k)].sqrt());
        if scale.iter().all(|&s| s > 0.0 && s.is_finite()) {
            let d = nalgebra::Matrix3::from_diagonal(&scale.map(|s| 1.0 / s));
            if let Some(inv) = (d * cxx * d).try_inverse() {
                let b = cyx * d * inv * d;
                if b.iter().all(|v| v.is_finite()) {
                    return std::array::from_fn(|k| std::array::from_fn(|j| b[(k, j)]));
                }
            }
        }
    }
    std::array::from_fn(|k| {
        std::array::from_fn(|j| match (k == j, cxx[(k, k)] > 0.0) {
            (true, true) => cyx[(k, k)] / cxx[(k, k)],
            (true, false) => 1.0,
            (false, _) => 0.0,
        })
    })
}
