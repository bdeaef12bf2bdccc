//! A branch-free `exp(−x)` for `x ≥ 0` that LLVM vectorises, and uniforms from raw bits.
//!
//! Acceptance tests `u < exp(−ΔS)` run once per site update, so `exp` has to be cheap and
//! branch-free: libm's `exp` is neither.  [`exp_neg`] (the accurate test of every kernel) uses the
//! classic reduction `exp(y) = 2^k exp(r)`, `|r| ≤ ln2/2`, with a two-part `ln 2`
//! (Cody–Waite) and the degree-12 Taylor polynomial of `exp(r)`, whose truncation error
//! `|r|¹³/13! < 2·10⁻¹⁶` is below one ulp: the result agrees with `f64::exp` to a few ulp,
//! so the acceptance probabilities are those of the action to double precision.  There is
//! no fused multiply–add, so results are identical on every x86-64 and aarch64 machine.

/// `(…(c₀·r + c₁)·r + …)·r + cₙ` for the coefficients `c₀, c₁, …, cₙ` (highest power
/// first): Horner's scheme, written out step by step where it stands, so the polynomials of
/// the kernels compile to the same multiplies and adds (no fused multiply–add) as by hand.
/// The type (`f64` or `f32`) is that of `r`.
macro_rules! horner {
    ($r:expr; $first:expr $(, $c:expr)* $(,)?) => {{
        let r = $r;
        let p = $first;
        $( let p = p * r + $c; )*
        p
    }};
}
pub(crate) use horner;

/// `1.5 · 2⁵²`: adding it rounds a small `f64` to an integer held in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// Largest argument: `exp(−708)` is still a normal number.
const MAX_ARG: f64 = 708.0;

/// The range reduction of both exponentials: `exp(−x) = 2^k · e^r` with `|r| ≤ ln 2 / 2`,
/// as `(r, 2^k)`, for `x` clamped to `[0, 708]`.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    let y = -(x.clamp(0.0, MAX_ARG));
    let t = y * std::f64::consts::LOG2_E + ROUND_MAGIC;
    let k = t.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i64;
    let kf = t - ROUND_MAGIC;
    let r = (y - kf * LN2_HI) - kf * LN2_LO;
    (r, f64::from_bits(((k + 1023) as u64) << 52))
}

/// `exp(−x)` for `x ≥ 0` (negative arguments are treated as 0, giving 1; arguments above
/// 708 give `exp(−708)`, far below any 32-bit uniform), to a few ulp of `f64::exp`.
/// Branch-free, so loops over slices vectorise.
#[inline(always)]
pub fn exp_neg(x: f64) -> f64 {
    let (r, scale) = reduce(x);
    // Taylor coefficients 1/n!.
    let p = horner!(r;
        1.0 / 479_001_600.0, 1.0 / 39_916_800.0, 1.0 / 3_628_800.0, 1.0 / 362_880.0, 1.0 / 40_320.0,
        1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0
    );
    p * scale
}

/// Relative error bound of [`exp_neg_approx`] against [`exp_neg`] (the truncation error of
/// the degree-5 polynomial is below `3·10⁻⁶`; the bound leaves a margin of three).
pub(crate) const APPROX_REL_ERR: f64 = 1e-5;

/// A cheaper `exp(−x)`, same reduction, degree-5 polynomial: relative error below
/// [`APPROX_REL_ERR`].  Used to decide most heat-bath rejection tests
/// ([`crate::QuarticSampler`]); the rare tests it cannot decide are redone with [`exp_neg`].
#[inline(always)]
pub(crate) fn exp_neg_approx(x: f64) -> f64 {
    let (r, scale) = reduce(x);
    horner!(r; 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0) * scale
}

/// Uniform in `[0, 1)` with 53 random bits.
#[inline(always)]
pub(crate) fn uniform53(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}
