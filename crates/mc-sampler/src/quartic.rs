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
//! A batch works on chunks of 64 fields, in passes over arrays: the roots `A` and the
//! envelopes (branch-free, so the compiler vectorises them; compiled a second time for
//! AVX-512 and chosen at run time, [`crate::simd`], with the same bits), the first trial's
//! normal and uniform of every field (128 words of the bulk keystream per chunk: the
//! normals in pairs by Box–Muller, [`box_muller`], with a logarithm, cosine and sine
//! accurate to a few ulp and without branches, so vectorised too), the first acceptance
//! tests (vectorised, with the cheap exponential and its error bound), and last the rare
//! undecided tests (exact exponential) and rejected fields (the scalar rejection loop, on
//! rand_distr's normal).

use phi4_action::Quartic;
use rand::distr::Distribution;
use rand::{Rng, RngCore};
use rand_distr::StandardNormal;

use crate::fastexp::{APPROX_REL_ERR, exp_neg, exp_neg_approx, horner, uniform53};
use crate::keystream::fill_u64;
use crate::simd::Isa;
use crate::{SamplerError, SimRng};

/// Fields whose envelopes and first trials a batch computes together (passes without
/// branches over arrays, which the compiler vectorises, between scalar passes that draw the
/// random numbers and finish the rare rejected trials).
const BATCH_CHUNK: usize = 64;

/// Random words taken from the bulk keystream at a time: a chunk's first trials (half for
/// the normals, in pairs, half for the uniforms), or the buffer of the rejected fields' trials.
const WORD_BLOCK: usize = 2 * BATCH_CHUNK;

/// Pairs of normals a chunk's first trials draw by [`box_muller`].
const HALF_CHUNK: usize = BATCH_CHUNK / 2;

/// Fields larger than this in magnitude draw NaN in the batch API: beyond it `b h²` and the
/// acceptance exponent overflow and no draw would ever be accepted (a training run that
/// gets there has diverged, and says so).
pub(crate) const MAX_FIELD: f64 = 1e30;

/// The generator's words taken [`WORD_BLOCK`] at a time by the bulk keystream
/// ([`fill_u64`]: the words `SimRng::fill` would give, about three times cheaper than
/// `next_u64` one by one).  Words left in the buffer when a batch ends are skipped.
struct BufferedWords<'a> {
    rng: &'a mut SimRng,
    words: [u64; WORD_BLOCK],
    next: usize,
}

impl<'a> BufferedWords<'a> {
    fn new(rng: &'a mut SimRng) -> Self {
        Self {
            rng,
            words: [0; WORD_BLOCK],
            next: WORD_BLOCK,
        }
    }
}

impl BufferedWords<'_> {
    /// Fills `out` with the generator's next words (after the buffered ones, which stay
    /// for later).
    #[inline]
    fn fill(&mut self, out: &mut [u64]) {
        fill_u64(self.rng, out);
    }
}

impl RngCore for BufferedWords<'_> {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        if self.next == WORD_BLOCK {
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

/// `2⁻⁵³`.
const TWO_POW_M53: f64 = 1.0 / 9_007_199_254_740_992.0;
/// `ln 2` in two parts (Cody–Waite): `LN2_HI` has 32 trailing zero bits, so its product
/// with a small integer is exact.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// `ln x` of `x = (⌊w / 2¹¹⌋ + 1) · 2⁻⁵³ ∈ (0, 1]`, a uniform with 53 random bits that is
/// never 0.  Branch-free, without fused multiply–adds (the same bits wherever it runs).
///
/// `x = 2^e m` with `m ∈ [√½, √2)`, `ln m = 2 atanh s = 2 (s + s³/3 + … + s²¹/21)` with
/// `s = (m − 1)/(m + 1)`, `|s| ≤ 0.1716`: the first omitted term is below `10⁻¹⁷` of
/// `ln m`; `m − 1` is exact, so `s` carries two roundings and the series a few more: the
/// result agrees with `f64::ln` to a few ulp (a test checks it).
#[inline(always)]
pub(crate) fn ln_uniform(w: u64) -> f64 {
    const MANTISSA: u64 = (1 << 52) - 1;
    const ONE: u64 = 0x3FF0_0000_0000_0000;
    // Adding `2⁵² + n` and subtracting `2⁵²` turns a small integer `n` into its `f64`.
    const MAGIC_BITS: u64 = 0x4330_0000_0000_0000;
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    let x = ((w >> 11) + 1) as f64 * TWO_POW_M53;
    let bits = x.to_bits();
    let m = f64::from_bits((bits & MANTISSA) | ONE);
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = (f64::from_bits(MAGIC_BITS | (bits >> 52)) - MAGIC) - if big { 1022.0 } else { 1023.0 };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let p = horner!(z;
        1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0,
        1.0 / 3.0
    );
    let ln_m = 2.0 * s + 2.0 * s * (z * p);
    e * LN2_HI + (e * LN2_LO + ln_m)
}

/// `(cos φ, sin φ)` of an angle `φ` uniform on the circle, from the 64 random bits `w`:
/// two bits pick the quadrant, one bit reflects `θ ↦ π/2 − θ` within it (a swap of cosine
/// and sine), and 53 bits give `θ ∈ [0, π/4)`.  On `[0, π/4]` the Taylor series to `θ¹⁵`
/// (sine) and `θ¹⁶` (cosine) leave errors below `10⁻¹⁶` of the result, so both agree
/// with `f64::sin_cos` to a few ulp (a test checks it).  Branch-free, no fused
/// multiply–adds.
#[inline(always)]
pub(crate) fn cos_sin_uniform(w: u64) -> (f64, f64) {
    let theta = ((w << 3) >> 11) as f64 * TWO_POW_M53 * std::f64::consts::FRAC_PI_4;
    let z = theta * theta;
    let mut s = -1.0 / 1_307_674_368_000.0;
    s = s * z + 1.0 / 6_227_020_800.0;
    s = s * z - 1.0 / 39_916_800.0;
    s = s * z + 1.0 / 362_880.0;
    s = s * z - 1.0 / 5_040.0;
    s = s * z + 1.0 / 120.0;
    s = s * z - 1.0 / 6.0;
    let sin = theta + theta * (z * s);
    let mut c = 1.0 / 20_922_789_888_000.0;
    c = c * z - 1.0 / 87_178_291_200.0;
    c = c * z + 1.0 / 479_001_600.0;
    c = c * z - 1.0 / 3_628_800.0;
    c = c * z + 1.0 / 40_320.0;
    c = c * z - 1.0 / 720.0;
    c = c * z + 1.0 / 24.0;
    c = c * z - 0.5;
    let cos = 1.0 + z * c;
    let (cos, sin) = if (w >> 61) & 1 == 1 { (sin, cos) } else { (cos, sin) };
    let (cos, sin) = if (w >> 62) & 1 == 1 { (-sin, cos) } else { (cos, sin) };
    if w >> 63 == 1 { (-cos, -sin) } else { (cos, sin) }
}

/// Two independent standard normals from two random words (Box–Muller): the radius
/// `√(−2 ln u)` from `u ∈ (0, 1]` ([`ln_uniform`]) and a uniform angle
/// ([`cos_sin_uniform`]).  Exact to the resolution of 53-bit uniforms: the only departure
/// from the normal law is that the radius stops at `√(106 ln 2) ≈ 8.57`, beyond which the
/// two-dimensional normal has mass `2⁻⁵³`.  Branch-free, so a chunk's normals are computed
/// in one vectorised pass.
#[inline(always)]
pub(crate) fn box_muller(radius: u64, angle: u64) -> (f64, f64) {
    let r = (-2.0 * ln_uniform(radius)).sqrt();
    let (cos, sin) = cos_sin_uniform(angle);
    (r * cos, r * sin)
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
        let (mut big_a, close) = shape.root_estimate(h);
        if !close {
            big_a = shape.root_by_newton(h);
        }
        Self::from_root(shape, h, big_a)
    }

    /// The envelope with `A = big_a` (any `A > 0` is exact; for `b = 0` the Gaussian
    /// itself, whatever `big_a`).  Branch-free.
    #[inline(always)]
    fn from_root(shape: &Shape, h: f64, big_a: f64) -> Self {
        let gaussian = shape.b == 0.0;
        let inv = 1.0 / big_a;
        Self {
            mean: if gaussian { h * shape.half_inv_b } else { 0.5 * h * inv },
            sd: if gaussian { shape.a1 } else { (0.5 * inv).sqrt() },
            b: shape.b,
            c2: if gaussian {
                0.0
            } else {
                (big_a - shape.a) * shape.half_inv_b
            },
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

    /// `A` in the field `h` from the lower bound and one Halley step, and whether it is
    /// within 2% of the root (always true for `b = 0`, where `A` is not used).  Branch-free.
    #[inline(always)]
    fn root_estimate(&self, h: f64) -> (f64, bool) {
        let Self { a, b, a1, p, .. } = *self;
        let bh2 = b * h * h;
        let k = 0.5 * bh2;
        // δ = A − A₁ ≥ ∛(k + p³) − p = k / (y² + y p + p²) with y = ∛(k + p³): the quotient
        // keeps a rough cube root from cancelling.
        let y = rough_cbrt(k + p * p * p);
        let start = a1 + k / ((y + p) * y + p * p);
        let f = ((2.0 * start - 2.0 * a) * start - 2.0 * b) * start - bh2;
        let df = (6.0 * start - 4.0 * a) * start - 2.0 * b;
        let ddf = 12.0 * start - 4.0 * a;
        let big_a = (start - 2.0 * f * df / (2.0 * df * df - f * ddf)).max(a1);
        let f = ((2.0 * big_a - 2.0 * a) * big_a - 2.0 * b) * big_a - bh2;
        let df = (6.0 * big_a - 4.0 * a) * big_a - 2.0 * b;
        // Deep double wells (a ≪ −√b) start far below the root: the caller finishes by
        // the loop.
        let close = f.abs() <= 2e-2 * big_a * df;
        (big_a, close || b == 0.0)
    }

    /// `A` in the field `h` by [`newton_from_above`].
    #[cold]
    fn root_by_newton(&self, h: f64) -> f64 {
        newton_from_above(self.a, self.b, self.a1, self.b * h * h)
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
    /// The envelopes of [`BATCH_CHUNK`] fields are computed first, then their first
    /// trials on a block of [`WORD_BLOCK`] words of the generator, then the rejection
    /// loops of the rejected fields on words the generator produces in blocks of
    /// [`WORD_BLOCK`] (unused words are skipped): the draws depend only on the
    /// generator's state and the fields.
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

/// `values[k]`: field in, draw out, with the shape `shape(k)`: [`draw_chunks`] compiled for
/// AVX-512 where the CPU has it and this thread did not switch the vector kernels off
/// ([`crate::simd`]), portable otherwise (the same operations, so the same bits).
#[inline]
fn draw_in_place<'s>(shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
    draw_in_place_with(Isa::current(), shape, values, rng);
}

/// [`draw_in_place`] with the instruction set `isa`.
#[inline]
fn draw_in_place_with<'s>(isa: Isa, shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
    match isa.avx512() {
        #[cfg(target_arch = "x86_64")]
        Some(token) => avx512::draw_chunks(token, shape, values, rng),
        _ => draw_chunks(shape, values, rng),
    }
}

/// [`QuarticSampler::sample_fields`] in place with the instruction set `isa` (for tests).
#[cfg(test)]
pub(crate) fn draw_with(isa: Isa, sampler: &QuarticSampler, values: &mut [f64], rng: &mut SimRng) {
    draw_in_place_with(isa, |_| &sampler.shape, values, rng);
}

/// The body of [`draw_in_place`].
///
/// Per chunk of [`BATCH_CHUNK`] fields: the roots `A` (branch-free, vectorised), Newton's
/// loop for the few that are not close yet, the envelopes (vectorised); the normal and the
/// uniform of every field's first trial, in field order; the first acceptance tests
/// (vectorised, with the cheap exponential); then, in field order, the exact exponential
/// for the tests the cheap one cannot decide and the full rejection loop
/// ([`Envelope::sample`]) for the fields whose first trial was rejected.
#[inline(always)]
fn draw_chunks<'s>(shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
    let mut words = BufferedWords::new(rng);
    let mut root = [0.0; BATCH_CHUNK];
    let mut close = [true; BATCH_CHUNK];
    let (mut mean, mut sd, mut quartic, mut c2) = (
        [0.0; BATCH_CHUNK],
        [0.0; BATCH_CHUNK],
        [0.0; BATCH_CHUNK],
        [0.0; BATCH_CHUNK],
    );
    let mut block = [0u64; WORD_BLOCK];
    let mut normal = [0.0; BATCH_CHUNK];
    let mut uniform = [0.0; BATCH_CHUNK];
    let mut exponent = [0.0; BATCH_CHUNK];
    // 0: accepted (or an invalid field, which stays NaN), 1: rejected, 2: undecided.
    let mut verdict = [0u8; BATCH_CHUNK];
    for (c, chunk) in values.chunks_mut(BATCH_CHUNK).enumerate() {
        let base = c * BATCH_CHUNK;
        for (k, &h) in chunk.iter().enumerate() {
            // Invalid fields (NaN, infinite, beyond MAX_FIELD) compute in h = 0 and draw NaN.
            let h = if h.abs() <= MAX_FIELD { h } else { 0.0 };
            (root[k], close[k]) = shape(base + k).root_estimate(h);
        }
        for (k, &h) in chunk.iter().enumerate() {
            if !close[k] {
                root[k] = shape(base + k).root_by_newton(h);
            }
        }
        for (k, &h) in chunk.iter().enumerate() {
            let h = if h.abs() <= MAX_FIELD { h } else { 0.0 };
            let env = Envelope::from_root(shape(base + k), h, root[k]);
            (mean[k], sd[k], quartic[k], c2[k]) = (env.mean, env.sd, env.b, env.c2);
        }
        // The first trials' random numbers, for the whole chunk at once (also for a short
        // last chunk: the words it does not use are skipped).
        words.fill(&mut block);
        let (pairs, uniforms) = block.split_at(BATCH_CHUNK);
        let (radii, angles) = pairs.split_at(HALF_CHUNK);
        let (first, second) = normal.split_at_mut(HALF_CHUNK);
        for k in 0..HALF_CHUNK {
            (first[k], second[k]) = box_muller(radii[k], angles[k]);
        }
        for (u, &w) in uniform.iter_mut().zip(uniforms) {
            *u = uniform53(w);
        }
        for (k, x) in chunk.iter_mut().enumerate() {
            let valid = x.abs() <= MAX_FIELD;
            let draw = mean[k] + sd[k] * normal[k];
            let d = draw * draw - c2[k];
            let t = quartic[k] * d * d;
            let p = exp_neg_approx(t);
            let u = uniform[k];
            let decided = (u - p).abs() > 2.0 * APPROX_REL_ERR * p;
            exponent[k] = t;
            verdict[k] = if !valid || (decided && u < p) {
                0
            } else if decided {
                1
            } else {
                2
            };
            *x = if valid { draw } else { f64::NAN };
        }
        for (k, x) in chunk.iter_mut().enumerate() {
            if verdict[k] == 0 || (verdict[k] == 2 && uniform[k] < exp_neg(exponent[k])) {
                continue;
            }
            let env = Envelope {
                mean: mean[k],
                sd: sd[k],
                b: quartic[k],
                c2: c2[k],
            };
            *x = env.sample(&mut words);
        }
    }
}

/// [`draw_chunks`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use super::{Shape, SimRng};
    use crate::simd::Avx512;

    /// [`super::draw_chunks`] with AVX-512 enabled; the token proves the CPU has it.
    #[inline]
    pub(super) fn draw_chunks<'s>(_: Avx512, shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
        // SAFETY: the token proves that the CPU has the features `draw_chunks_avx512` enables.
        unsafe { draw_chunks_avx512(shape, values, rng) }
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
    fn draw_chunks_avx512<'s>(shape: impl Fn(usize) -> &'s Shape, values: &mut [f64], rng: &mut SimRng) {
        super::draw_chunks(shape, values, rng)
    }
}

impl Distribution<f64> for QuarticSampler {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.envelope.sample(rng)
    }
}
