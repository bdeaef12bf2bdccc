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
//!
//! The heat bath builds that envelope in every update (`Envelope::new`).  Draws of many
//! fields with known shapes `(a, b)` (the units of a mini-batch: [`QuarticSampler::new`],
//! [`QuarticSampler::sample_fields`], [`QuarticSampler::sample_each`]) reach the same `A`
//! without the loop: per shape, `A₁`, `D = √(a² + 4b)` and `p = (A₁ + D)/3` are computed
//! once; per field, a lower bound of the root (exact at `h = 0` and for large `|h|`) and one
//! Halley step put `A` within 0.01% of the root for single wells and within 3% for the
//! double wells `a = −2b`; where it is still more than 2% off (deep double wells,
//! `a ≪ −√b`) the loop above finishes the job.  Any `A > 0` is exact, so these choices
//! change only the acceptance, which a test keeps within 5% of the converged envelope's.
//! A batch computes 64 envelopes, then runs their rejection loops on random words taken
//! 64 at a time from the bulk keystream.

use phi4_action::Quartic;
use rand::Rng;
use rand::distr::Distribution;
use rand_distr::StandardNormal;

use crate::fastexp::{APPROX_REL_ERR, exp_neg, exp_neg_approx, uniform53};
use crate::keystream::fill_u64;
use crate::{SamplerError, SimRng};

/// Fields whose envelopes a batch computes before it draws (one pass without random numbers,
/// then one pass of rejection loops).
const BATCH_CHUNK: usize = 64;

/// Fields larger than this in magnitude draw NaN in the batch API: beyond it `b h²` and the
/// acceptance exponent overflow and no draw would ever be accepted (a training run that
/// gets there has diverged, and says so).
pub(crate) const MAX_FIELD: f64 = 1e30;

/// The generator's words taken [`BATCH_CHUNK`] at a time by the bulk keystream
/// ([`fill_u64`]: the words `SimRng::fill` would give, about three times cheaper than
/// `next_u64` one by one).  Words left in the buffer when a batch ends are skipped.
struct BufferedWords<'a> {
    rng: &'a mut SimRng,
    words: [u64; BATCH_CHUNK],
    next: usize,
}

impl<'a> BufferedWords<'a> {
    fn new(rng: &'a mut SimRng) -> Self {
        Self {
            rng,
            words: [0; BATCH_CHUNK],
            next: BATCH_CHUNK,
        }
    }
}

impl rand::RngCore for BufferedWords<'_> {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        if self.next == BATCH_CHUNK {
            fill_u64(self.rng, &mut self.words);
            self.next = 0;
        }
        let word = self.words[self.next];
        self.next += 1;
        word
    }
    #[inline]
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dst)
    }
}

/// The Gaussian envelope of a quartic density: `N(mean, sd²)`, accept with
/// `exp(−b (x² − c2)²)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Envelope {
    mean: f64,
    sd: f64,
    b: f64,
    c2: f64,
}

/// A rough cube root of `x ≥ 0` from the exponent bits (within a few per cent): enough for
/// a starting point, since exactness never depends on where the search for `A` stops.
#[inline(always)]
fn rough_cbrt(x: f64) -> f64 {
    f64::from_bits(x.to_bits() / 3 + 0x2A9F_7893_782D_A1CE)
}

/// `A` by Newton's method from the upper bound `A₁ + (b h²/2)^{1/3}` (`bh2 = b h²`),
/// stopping at a 2% step or after four steps; never below `A₁`.
#[inline]
fn newton_from_above(a: f64, b: f64, a1: f64, bh2: f64) -> f64 {
    let cbrt = if bh2 > 0.0 { rough_cbrt(0.5 * bh2) } else { 0.0 };
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
    big_a.max(a1)
}

impl Envelope {
    /// The envelope of `exp(−a x² − b x⁴ + h x)`.  Requires `b > 0`, or `b = 0` and `a > 0`.
    /// (The heat bath's envelope: [`newton_from_above`] in every call.)
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
        let big_a = newton_from_above(a, b, a1, b * h * h);
        Self {
            mean: h / (2.0 * big_a),
            sd: (0.5 / big_a).sqrt(),
            b,
            c2: (big_a - a) / (2.0 * b),
        }
    }

    /// The envelope of `exp(−a x² − b x⁴ + h x)` from the constants of its shape, without a
    /// loop in the common case (see [`Shape`]): the lower bound of `A`, one Halley step,
    /// and [`newton_from_above`] only where that is still more than 2% from the root.
    #[inline(always)]
    fn in_field(shape: &Shape, h: f64) -> Self {
        let Shape {
            a,
            b,
            a1,
            p,
            half_inv_b,
        } = *shape;
        if b == 0.0 {
            return Self {
                mean: h * half_inv_b,
                sd: a1,
                b: 0.0,
                c2: 0.0,
            };
        }
        let bh2 = b * h * h;
        let k = 0.5 * bh2;
        // δ = A − A₁ ≥ ∛(k + p³) − p = k / (y² + y p + p²) with y = ∛(k + p³): the quotient
        // keeps a rough cube root from cancelling.
        let y = rough_cbrt(k + p * p * p);
        let start = a1 + k / ((y + p) * y + p * p);
        let f = ((2.0 * start - 2.0 * a) * start - 2.0 * b) * start - bh2;
        let df = (6.0 * start - 4.0 * a) * start - 2.0 * b;
        let ddf = 12.0 * start - 4.0 * a;
        let mut big_a = (start - 2.0 * f * df / (2.0 * df * df - f * ddf)).max(a1);
        let f = ((2.0 * big_a - 2.0 * a) * big_a - 2.0 * b) * big_a - bh2;
        let df = (6.0 * big_a - 4.0 * a) * big_a - 2.0 * b;
        // Deep double wells (a ≪ −√b) start far below the root: finish by the loop.
        let close = f.abs() <= 2e-2 * big_a * df;
        if !close {
            big_a = newton_from_above(a, b, a1, bh2);
        }
        let inv = 1.0 / big_a;
        Self {
            mean: 0.5 * h * inv,
            sd: (0.5 * inv).sqrt(),
            b,
            c2: (big_a - a) * half_inv_b,
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

/// What the envelope of a density needs besides its field: `a`, `b`, `A₁ =
/// (a + √(a² + 4b))/2`, `p = (A₁ + D)/3` with `D = √(a² + 4b)`, and `1/2b` (for `b = 0`:
/// the Gaussian's standard deviation `√(1/2a)` in place of `A₁` and `1/2a` in place of
/// `1/2b`).
///
/// The optimal `A` solves `δ (A₁ + δ)(D + δ) = k` with `δ = A − A₁`, `k = b h²/2` (the
/// cubic of the module docs, factorised with its roots `A₁` and `−b/A₁ = A₁ − D`).  Since
/// `(δ + p)³ = δ³ + (A₁ + D) δ² + 3p² δ + p³` and `3p² ≥ A₁ D`, `δ ≥ ∛(k + p³) − p`: a lower
/// bound that is exact at `h = 0` and asymptotically for large `|h|`.  One Halley step from
/// it lands within 0.01% of the root for single wells and within 3% for `a = −2b`
/// double wells (the Ising-like units).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shape {
    a: f64,
    b: f64,
    a1: f64,
    p: f64,
    half_inv_b: f64,
}

impl Shape {
    fn new(a: f64, b: f64) -> Self {
        if b == 0.0 {
            return Self {
                a,
                b,
                a1: (0.5 / a).sqrt(),
                p: 0.0,
                half_inv_b: 0.5 / a,
            };
        }
        let d = (a * a + 4.0 * b).sqrt();
        let a1 = 0.5 * (a + d);
        Self {
            a,
            b,
            a1,
            p: (a1 + d) / 3.0,
            half_inv_b: 0.5 / b,
        }
    }
}

/// Exact sampler of `p(x) ∝ exp(−a x² − b x⁴ + h x)` (see the module docs).
///
/// [`QuarticSampler::sample_fields`] and [`QuarticSampler::sample_in_field`] draw from the
/// same `a, b` in other fields `h` (the units of a mini-batch, or the sites of a lattice with
/// one shape): the constants of the shape are computed once, and each field's envelope
/// costs one Newton step instead of a loop.
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
    shape: Shape,
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
        let shape = Shape::new(a, b);
        Ok(Self {
            quartic: q,
            envelope: Envelope::in_field(&shape, h),
            shape,
        })
    }

    /// The density's coefficients.
    pub fn quartic(&self) -> Quartic {
        self.quartic
    }

    /// Probability that one envelope draw in the sampler's own field is accepted.
    #[cfg(test)]
    pub(crate) fn envelope_acceptance(&self) -> f64 {
        self.envelope.acceptance()
    }

    /// One exact draw from `exp(−a x² − b x⁴ + h x)` with this sampler's `a` and `b` and the
    /// field `h` given here (the sampler's own field is not used).  A non-finite `h`, or one
    /// beyond 10³⁰ in magnitude, gives NaN.
    #[inline]
    pub fn sample_in_field<R: Rng + ?Sized>(&self, h: f64, rng: &mut R) -> f64 {
        let in_range = h.abs() <= MAX_FIELD;
        if !in_range {
            return f64::NAN;
        }
        Envelope::in_field(&self.shape, h).sample(rng)
    }

    /// One exact draw per field: `out[k]` from `exp(−a x² − b x⁴ + fields[k] x)` (a
    /// non-finite field, or one beyond 10³⁰, gives NaN).  Extra entries of the longer slice are left alone.
    ///
    /// The envelopes of [`BATCH_CHUNK`] fields are computed first, then their rejection
    /// loops run on random words the generator produces in blocks of [`BATCH_CHUNK`]
    /// (unused words of the last block are skipped): the draws depend only on the
    /// generator's state, not on the batch being split differently elsewhere.
    pub fn sample_fields(&self, fields: &[f64], out: &mut [f64], rng: &mut SimRng) {
        let n = fields.len().min(out.len());
        out[..n].copy_from_slice(&fields[..n]);
        draw_in_place(|_| &self.shape, &mut out[..n], rng);
    }

    /// One exact draw per unit, each with its own sampler: `values[k]` holds the field of
    /// `samplers[k]` on entry and its draw on exit (see [`QuarticSampler::sample_fields`]).
    ///
    /// # Panics
    ///
    /// If the slices differ in length.
    pub fn sample_each(samplers: &[QuarticSampler], values: &mut [f64], rng: &mut SimRng) {
        assert_eq!(samplers.len(), values.len(), "one field per sampler");
        draw_in_place(|k| &samplers[k].shape, values, rng);
    }
}

/// `values[k]`: field in, draw out, with the shape `shape(k)`.
#[inline]
fn draw_in_place<'s>(shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
    let mut words = BufferedWords::new(rng);
    let mut envelopes = [Envelope {
        mean: 0.0,
        sd: 0.0,
        b: 0.0,
        c2: 0.0,
    }; BATCH_CHUNK];
    for (c, chunk) in values.chunks_mut(BATCH_CHUNK).enumerate() {
        for (k, (env, &h)) in envelopes.iter_mut().zip(chunk.iter()).enumerate() {
            *env = Envelope::in_field(shape(c * BATCH_CHUNK + k), h);
        }
        for (env, x) in envelopes.iter().zip(chunk.iter_mut()) {
            *x = if x.is_finite() {
                env.sample(&mut words)
            } else {
                f64::NAN
            };
        }
    }
}

impl Distribution<f64> for QuarticSampler {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.envelope.sample(rng)
    }
}
