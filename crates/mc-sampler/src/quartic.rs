//! Exact draws from the one-dimensional quartic density `p(x) ∝ exp(−a x² − b x⁴ + h x)`.
//!
//! This is the heat-bath conditional of every φ⁴ site and of every φ⁴ unit of the neural
//! networks.  For `b = 0` (which needs `a > 0`) it is the Gaussian `N(h/2a, 1/2a)`, drawn
//! directly.  For `b > 0` and any sign of `a` it is rejection sampling from a Gaussian
//! envelope, based on the identity
//!
//! `x⁴ = (x² − c²)² + 2c² x² − c⁴`,
//!
//! which gives `−a x² − b x⁴ + h x = −A x² + h x + b c⁴ − b (x² − c²)²` with
//! `A = a + 2b c²`.  Dropping the last term (it is `≤ 0`) leaves a Gaussian envelope
//! `N(h/2A, 1/2A)`; a draw `x` from it is accepted with probability `exp(−b (x² − c²)²)`.
//! This is exact for every real `c²` with `A > 0`.  The design brief's choice
//! `c² = max(0, −a/b)` (so `A = |a|`) is one such value, but it fails for `a = 0`
//! (`A = 0`) and its acceptance collapses for a large field `h` (the envelope sits at `h/2|a|`
//! while the density's mode moves like `(h/4b)^{1/3}`: about `e⁻²¹` at `a = 1.5, b = 0.175,
//! h = 10`).  We therefore pick the `c²` that minimises the envelope's mass: setting the
//! derivative to zero gives `c² = E_env[x²] = 1/2A + (h/2A)²`, i.e. `A` is the unique
//! positive root of `2A³ − 2aA² − 2bA − b h² = 0`.  Newton's method started from the upper
//! bound `A₁ + (b h²/2)^{1/3}`, `A₁ = (a + √(a² + 4b))/2`, decreases monotonically to the
//! root (the cubic is convex there), so every iterate is a valid `A > 0` and the sampler is
//! exact however many iterations are done (we stop at 2% or after four steps; the start
//! uses a cube root from the exponent bits, and from below the first step overshoots to
//! the right, after which the same argument applies).  The envelope is then centred on the mode, and
//! the acceptance stays above about `1/√3` for large `|h|` and near 1 for small `b`.

use phi4_action::Quartic;
use rand::Rng;
use rand::distr::Distribution;
use rand_distr::StandardNormal;

use crate::SamplerError;
use crate::fastexp::{APPROX_REL_ERR, exp_neg, exp_neg_approx, uniform53};

/// The Gaussian envelope of a quartic density: `N(mean, sd²)`, accept with
/// `exp(−b (x² − c2)²)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Envelope {
    mean: f64,
    sd: f64,
    b: f64,
    c2: f64,
}

impl Envelope {
    /// The envelope of `exp(−a x² − b x⁴ + h x)`.  Requires `b > 0`, or `b = 0` and `a > 0`.
    #[inline]
    pub(crate) fn new(a: f64, b: f64, h: f64) -> Self {
        if b == 0.0 {
            return Self {
                mean: h / (2.0 * a),
                sd: (0.5 / a).sqrt(),
                b: 0.0,
                c2: 0.0,
            };
        }
        let a1 = 0.5 * (a + (a * a + 4.0 * b).sqrt());
        let bh2 = b * h * h;
        // A rough cube root from the exponent bits (within a few per cent) is enough for a
        // starting point: exactness never depends on where Newton's method stops.
        let cbrt = if bh2 > 0.0 {
            f64::from_bits((0.5 * bh2).to_bits() / 3 + 0x2A9F_7893_782D_A1CE)
        } else {
            0.0
        };
        let mut big_a = a1 + cbrt;
        for _ in 0..4 {
            let g = ((2.0 * big_a - 2.0 * a) * big_a - 2.0 * b) * big_a - bh2;
            let dg = (6.0 * big_a - 4.0 * a) * big_a - 2.0 * b;
            let step = g / dg;
            // Stop once the step no longer matters for efficiency (a 2% change of A changes
            // the acceptance by far less).
            if step.is_nan() || step <= 2e-2 * big_a {
                if step > 0.0 {
                    big_a -= step;
                }
                break;
            }
            big_a -= step;
        }
        // Rounding cannot take A below A₁ > 0, which is itself a valid (if wider) envelope.
        let big_a = big_a.max(a1);
        Self {
            mean: h / (2.0 * big_a),
            sd: (0.5 / big_a).sqrt(),
            b,
            c2: (big_a - a) / (2.0 * b),
        }
    }

    /// One exact draw.
    #[inline]
    pub(crate) fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        loop {
            let z: f64 = rng.sample(StandardNormal);
            let x = self.mean + self.sd * z;
            if self.b == 0.0 {
                return x;
            }
            let d = x * x - self.c2;
            let (u, t) = (uniform53(rng.next_u64()), self.b * d * d);
            // The cheap exponential decides unless u is within its error of the threshold.
            let p = exp_neg_approx(t);
            let accept = if (u - p).abs() > 2.0 * APPROX_REL_ERR * p {
                u < p
            } else {
                u < exp_neg(t)
            };
            if accept {
                return x;
            }
        }
    }

    /// Probability that one envelope draw is accepted, by quadrature (for tests and docs).
    #[cfg(test)]
    pub(crate) fn acceptance(&self) -> f64 {
        let (lo, hi) = (self.mean - 12.0 * self.sd, self.mean + 12.0 * self.sd);
        let n = 200_000;
        let dx = (hi - lo) / n as f64;
        let (mut target, mut env) = (0.0, 0.0);
        for k in 0..n {
            let x = lo + (k as f64 + 0.5) * dx;
            let d = x * x - self.c2;
            let e = (-(x - self.mean).powi(2) / (2.0 * self.sd * self.sd)).exp();
            env += e;
            target += e * (-self.b * d * d).exp();
        }
        target / env
    }
}

/// Exact sampler of `p(x) ∝ exp(−a x² − b x⁴ + h x)` (see the module docs).
///
/// ```
/// use mc_sampler::{chain_rng, QuarticSampler};
/// use phi4_action::Quartic;
/// use rand::distr::Distribution;
///
/// // A double well tilted by a field.
/// let sampler = QuarticSampler::new(Quartic { a: -1.0, b: 0.25, h: 0.5 }).unwrap();
/// let mut rng = chain_rng(1, 0);
/// let xs: Vec<f64> = (0..1000).map(|_| sampler.sample(&mut rng)).collect();
/// assert!(xs.iter().all(|x| x.is_finite()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuarticSampler {
    quartic: Quartic,
    envelope: Envelope,
}

impl QuarticSampler {
    /// The sampler of `q`; the density must be normalisable: finite coefficients and
    /// `b > 0`, or `b = 0` with `a > 0`.
    pub fn new(q: Quartic) -> Result<Self, SamplerError> {
        let Quartic { a, b, h } = q;
        if !(a.is_finite() && b.is_finite() && h.is_finite()) {
            return Err(SamplerError::InvalidQuartic {
                a,
                b,
                h,
                reason: "every coefficient must be a finite number",
            });
        }
        if b < 0.0 || (b == 0.0 && a <= 0.0) {
            return Err(SamplerError::InvalidQuartic {
                a,
                b,
                h,
                reason: "exp(-a x^2 - b x^4 + h x) is normalisable only for b > 0, or b = 0 with a > 0",
            });
        }
        Ok(Self {
            quartic: q,
            envelope: Envelope::new(a, b, h),
        })
    }

    /// The density's coefficients.
    pub fn quartic(&self) -> Quartic {
        self.quartic
    }
}

impl Distribution<f64> for QuarticSampler {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.envelope.sample(rng)
    }
}
