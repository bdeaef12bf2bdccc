//! When a reweighted number is not to be trusted, and what to do about it.

use std::fmt;

/// Why a reweighted point is not to be trusted.  Each variant says what would fix it
/// (its `Display`), and has a short stable [`Flag::code`] for machine readers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flag {
    /// The Pareto tail of the importance weights is too heavy: `k̂ > threshold`.
    HeavyTail {
        /// Pareto k̂ of the weights.
        k_hat: f64,
        /// The threshold `min(0.45, 1 − 1/log₁₀ N)`.
        threshold: f64,
    },
    /// Too few configurations carry the weight: Kish ESS below the minimum.
    FewEffective {
        /// Kish effective sample size.
        ess: f64,
        /// The minimum.
        min: f64,
    },
    /// The effective sample fraction is below the minimum.
    SmallEssFraction {
        /// ESS over the number of samples (for multi-histogram, over the largest ensemble).
        fraction: f64,
        /// The minimum.
        min: f64,
    },
    /// The average phase of a complex target is consistent with zero (sign problem): the
    /// point has no central value.
    PhaseUnresolved {
        /// `|⟨e^{−iθ}⟩|`.
        abs: f64,
        /// Its jackknife error.
        err: f64,
        /// Probability that a zero phase gives a value at least this far from zero.
        p_value: f64,
        /// The per-point threshold the p-value had to beat.
        alpha: f64,
        /// Number of points tested together (the scan length).
        n_points: usize,
    },
    /// Multi-histogram: the sampled states exchange too little weight (overlap-matrix
    /// spectral gap below the minimum), so their free-energy differences are unreliable.
    PoorStateOverlap {
        /// `1 − λ₂` of the overlap matrix.
        overlap: f64,
        /// The minimum.
        min: f64,
    },
    /// Some estimate or error is NaN or infinite.
    NotFinite,
}

impl Flag {
    /// A short stable name: `heavy-tail`, `few-effective`, `ess-fraction`, `phase`,
    /// `state-overlap`, `not-finite`.
    pub fn code(&self) -> &'static str {
        match self {
            Flag::HeavyTail { .. } => "heavy-tail",
            Flag::FewEffective { .. } => "few-effective",
            Flag::SmallEssFraction { .. } => "ess-fraction",
            Flag::PhaseUnresolved { .. } => "phase",
            Flag::PoorStateOverlap { .. } => "state-overlap",
            Flag::NotFinite => "not-finite",
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Flag::HeavyTail { k_hat, threshold } => write!(
                f,
                "weights heavy-tailed (k̂ = {k_hat:.2} > {threshold:.2}): the error bar cannot be trusted; \
                 sample closer to the target or add an intermediate ensemble"
            ),
            Flag::FewEffective { ess, min } => write!(
                f,
                "effective sample size {ess:.1} < {min}: too few configurations carry the weight; \
                 sample closer to the target"
            ),
            Flag::SmallEssFraction { fraction, min } => write!(
                f,
                "effective sample fraction {fraction:.4} < {min}: the target lies in the tail of the sampled \
                 distribution; sample closer to the target or add an intermediate ensemble"
            ),
            Flag::PhaseUnresolved {
                abs,
                err,
                p_value,
                alpha,
                n_points,
            } => write!(
                f,
                "average phase {abs:.3e} ± {err:.1e} is consistent with zero (p = {p_value:.1e} > {alpha:.1e} \
                 for {n_points} point{}): sign problem, no central value; lower the imaginary part or the \
                 volume, or sample more (the phase error falls as 1/√N)",
                if n_points == 1 { "" } else { "s" }
            ),
            Flag::PoorStateOverlap { overlap, min } => write!(
                f,
                "sampled ensembles barely overlap (overlap-matrix gap 1 − λ₂ = {overlap:.3} < {min}): \
                 add an ensemble at intermediate couplings"
            ),
            Flag::NotFinite => f.write_str("some estimates are not finite; sample closer to the target"),
        }
    }
}

/// When a point is flagged as untrustworthy.
///
/// The recommended values ([`Thresholds::RECOMMENDED`]) flag a point when
/// - **`k̂ > min(0.45, 1 − 1/log₁₀ N)`** ([`Flag::HeavyTail`]): the Pareto tail diagnostic of
///   the importance weights ([`pareto_k_hat`](crate::pareto_k_hat)).  Weights `e^{−(T−S)}` are
///   heavy-tailed long before the ESS looks small: for Gaussian actions the tail index is
///   exactly `max_k(1 − λ_k^T/λ_k^S)` over the eigenvalues of the two quadratic forms, so
///   reweighting towards a broader distribution (smaller μ², larger g′) has `k ≥ 0.5`
///   (infinite weight variance) as soon as some mode's eigenvalue halves.  Vehtari et al.'s
///   0.7 is the limit for *Pareto-smoothed* weights; the estimates here use the raw weights,
///   whose variance (and so the central limit theorem behind every error bar) needs
///   `k < 1/2`, and the limit sits a little below that because k̂ from the largest
///   `3√N` weights scatters by about ±0.05–0.1.  Measured on 8×8 free-field scans of μ² and
///   g′ from 4000 exact draws (20 seeds, 2180 points): with 0.7, 28 unflagged points lay
///   4–13.6σ from the exact value (k̂ 0.47–0.68, exact k 0.6–0.84); with 0.5, four at
///   4.0–4.6σ (k̂ 0.47–0.50); with 0.45 (and the ESS fraction below), none beyond 3.8σ, at
///   the price of flagging 3–5 % of the points whose weights have finite variance;
/// - **`ESS < 50`** ([`Flag::FewEffective`]): the jackknife over bins then has only a handful
///   of bins that matter and its error is itself unreliable;
/// - **`ESS/N < 0.1`** ([`Flag::SmallEssFraction`]): for log-normal weights
///   `ESS/N ≈ e^{−Var(T−S)}`, so this is `Var(T − S) ≳ 2.3`, where the peak of `T − S` under
///   `T` sits about 1.5 standard deviations out in the tail of its distribution under `S`.  The
///   measured ESS overestimates the true one when the target lives in a tail the sample
///   hardly reaches (8×8 free field, μ² = 1 → 3: measured 0.052, exact 0.020), and with a
///   limit of 0.05 five unflagged points of such narrowing scans (20 seeds) lay 4.1–4.8σ off;
///   with 0.1, none;
/// - **the average phase is consistent with zero** ([`Flag::PhaseUnresolved`], complex targets):
///   Hotelling's test of `⟨e^{−iθ}⟩ = 0` on its real and imaginary parts with their jackknife
///   covariance over `B` bins, `p = (1 + T²/(B−1))^{−(B−2)/2}` (exact for Gaussian bin means),
///   against the Šidák threshold `α_point = 1 − (1 − α)^{1/n}` for a scan of `n` points and a
///   family-wise `α = 10⁻³`: over a whole scan of pure-noise points, the chance that any one
///   of them passes is 10⁻³.  (A plain 3σ test on `|⟨e^{−iθ}⟩|` lets 1.1 % of noise points
///   through, a handful per scan of hundreds.)  Such a point reports no observables;
/// - **the sampled ensembles barely overlap** ([`Flag::PoorStateOverlap`], multi-histogram):
///   the gap `1 − λ₂` of the MBAR overlap matrix is below 0.03 (for two states `1 − λ₂` is
///   twice the off-diagonal overlap; 0.03 is the usual minimum overlap of neighbouring states);
/// - some estimate is not finite ([`Flag::NotFinite`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimal Kish effective sample size.
    pub min_ess: f64,
    /// Minimal `ess / N`.
    pub min_ess_fraction: f64,
    /// Upper limit on the Pareto k̂ of the raw weights (the sample-size rule `1 − 1/log₁₀ N`
    /// applies below it).
    pub max_k_hat: f64,
    /// Family-wise probability that any pure-noise point of a scan passes the phase test.
    pub phase_alpha: f64,
    /// Minimal gap `1 − λ₂` of the multi-histogram overlap matrix.
    pub min_state_overlap: f64,
}

impl Thresholds {
    /// The documented defaults: `k̂ ≤ 0.45`, `ess ≥ 50`, `ess/N ≥ 0.1`, phase test at a
    /// family-wise `α = 10⁻³`, overlap gap ≥ 0.03.
    pub const RECOMMENDED: Thresholds = Thresholds {
        min_ess: 50.0,
        min_ess_fraction: 0.1,
        max_k_hat: 0.45,
        phase_alpha: 1e-3,
        min_state_overlap: 0.03,
    };

    /// The k̂ threshold for `n` weights: `min(max_k_hat, 1 − 1/log₁₀ n)`.
    pub fn k_hat_threshold(&self, n: usize) -> f64 {
        crate::psis::k_hat_threshold(n).min(self.max_k_hat)
    }

    /// The per-point threshold of the phase test for a scan of `n_points`:
    /// `1 − (1 − α)^{1/n}` (Šidák).
    pub fn phase_alpha_per_point(&self, n_points: usize) -> f64 {
        -((-self.phase_alpha).ln_1p() / n_points.max(1) as f64).exp_m1()
    }

    /// The weight-based flags of a point: tail, ESS, ESS fraction (`n_reference` is the sample
    /// count the fraction is taken of).
    pub(crate) fn weight_flags(&self, k_hat: f64, ess: f64, n_samples: usize, n_reference: usize) -> Vec<Flag> {
        let mut flags = Vec::new();
        let threshold = self.k_hat_threshold(n_samples);
        if k_hat > threshold {
            flags.push(Flag::HeavyTail { k_hat, threshold });
        }
        // NaN counts as failing.
        if ess.is_nan() || ess < self.min_ess {
            flags.push(Flag::FewEffective { ess, min: self.min_ess });
        }
        let fraction = ess / n_reference as f64;
        if fraction.is_nan() || fraction < self.min_ess_fraction {
            flags.push(Flag::SmallEssFraction {
                fraction,
                min: self.min_ess_fraction,
            });
        }
        flags
    }
}

/// Hotelling's p-value that a two-component mean is zero, from its value `v` and the
/// jackknife covariance `c` over `n_bins` bins: `(1 + T²/(B−1))^{−(B−2)/2}`, `T² = vᵀc⁻¹v`.
pub(crate) fn hotelling_p_value(v: [f64; 2], c: [[f64; 2]; 2], n_bins: usize) -> f64 {
    let det = c[0][0] * c[1][1] - c[0][1] * c[1][0];
    let t2 = if det > 0.0 {
        (c[1][1] * v[0] * v[0] - 2.0 * c[0][1] * v[0] * v[1] + c[0][0] * v[1] * v[1]) / det
    } else {
        // A degenerate covariance (e.g. an imaginary part that is identically zero): test the
        // components that vary.
        let mut t2 = 0.0;
        for (x, var) in v.iter().zip([c[0][0], c[1][1]]) {
            if var > 0.0 {
                t2 += x * x / var;
            } else if *x != 0.0 {
                t2 = f64::INFINITY;
            }
        }
        t2
    };
    if n_bins < 3 || t2.is_nan() {
        return 1.0;
    }
    let b = n_bins as f64;
    (-(b - 2.0) / 2.0 * (t2 / (b - 1.0)).ln_1p()).exp()
}
