//! One-dimensional integrals of the quartic density `exp(−a x² − b x⁴ + h x)`.
//!
//! A φ⁴ unit with field `h` contributes `−ln ∫ exp(−a x² − b x⁴ + h x) dx` to the marginal
//! free energy of the other layer, and its conditional moments `E[x]`, `E[x²]`, `E[x⁴]` to
//! the CD gradient.  The integrand is analytic and decays like `exp(−b x⁴)`, so the
//! trapezoidal rule on a grid that covers every region where it exceeds `e⁻⁵⁰` of its
//! maximum converges geometrically in the grid step.  The grid is placed from the
//! stationary points (the real roots of `4b x³ + 2a x − h = 0`, in closed form): it spans
//! the outermost maxima widened until the log-density has fallen by 50 below its maximum,
//! with a step of a quarter of the narrowest local width (`1/√|g''|`, or `b^{−1/4}` where
//! the curvature vanishes).  Against a brute-force Riemann sum on a fine grid `ln Z` agrees
//! to `1e-10` and the moments to `1e-9` (see the tests).  For `b = 0` the closed Gaussian form is used.

/// `ln ∫ exp(−a x² − b x⁴ + h x) dx` and the moments `E[x], E[x²], E[x⁴]` under the
/// normalised density.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuarticIntegral {
    /// The log normaliser.
    pub log_z: f64,
    /// `E[x]`.
    pub mean: f64,
    /// `E[x²]`.
    pub second: f64,
    /// `E[x⁴]`.
    pub fourth: f64,
}

/// Log-density drop at which the grid ends.
const TAIL: f64 = 50.0;
/// Grid steps per local width.
const STEPS_PER_WIDTH: f64 = 4.0;
/// Upper bound on the number of grid points.
const MAX_POINTS: usize = 20_000;

/// The integral of `exp(−a x² − b x⁴ + h x)`.  Requires finite coefficients and `b > 0`,
/// or `b = 0` with `a > 0` (the unit types guarantee it at construction).
pub fn quartic_integral(a: f64, b: f64, h: f64) -> QuarticIntegral {
    if b == 0.0 {
        let mean = h / (2.0 * a);
        let var = 0.5 / a;
        return QuarticIntegral {
            log_z: 0.5 * (std::f64::consts::PI / a).ln() + h * h / (4.0 * a),
            mean,
            second: mean * mean + var,
            fourth: mean.powi(4) + 6.0 * mean * mean * var + 3.0 * var * var,
        };
    }
    // By symmetry, integrate with h ≥ 0 and flip the odd moment.
    let sign = if h < 0.0 { -1.0 } else { 1.0 };
    let h = h.abs();
    let g = |x: f64| {
        let x2 = x * x;
        -a * x2 - b * x2 * x2 + h * x
    };
    let curvature_width = |x: f64| {
        let c = 2.0 * a + 12.0 * b * x * x;
        let quartic_width = b.powf(-0.25);
        if c > 0.0 {
            (1.0 / c.sqrt()).min(quartic_width)
        } else {
            quartic_width
        }
    };
    let roots = stationary_points(a, b, h);
    // With h ≥ 0 the global maximum is the largest root; a left maximum exists when there
    // are three real roots (the smallest one).
    let right = *roots.last().expect("a cubic has a real root");
    let left = if roots.len() == 3 { roots[0] } else { right };
    let g_max = g(right).max(g(left));
    let width = curvature_width(right).min(curvature_width(left));
    let edge = |start: f64, dir: f64| {
        let mut step = width;
        while g(start + dir * step) > g_max - TAIL {
            step *= 2.0;
        }
        start + dir * step
    };
    let (lo, hi) = (edge(left, -1.0), edge(right, 1.0));
    let n = (((hi - lo) / width * STEPS_PER_WIDTH).ceil() as usize).clamp(64, MAX_POINTS);
    let dx = (hi - lo) / n as f64;
    let (mut s0, mut s1, mut s2, mut s4) = (0.0, 0.0, 0.0, 0.0);
    for k in 0..=n {
        let x = lo + k as f64 * dx;
        let e = (g(x) - g_max).exp();
        let x2 = x * x;
        s0 += e;
        s1 += e * x;
        s2 += e * x2;
        s4 += e * x2 * x2;
    }
    // The end points carry weights of e^−50: the plain sum is the trapezoidal rule.
    QuarticIntegral {
        log_z: g_max + (s0 * dx).ln(),
        mean: sign * s1 / s0,
        second: s2 / s0,
        fourth: s4 / s0,
    }
}

/// The real roots of `4b x³ + 2a x − h = 0` (`b > 0`), ascending.
fn stationary_points(a: f64, b: f64, h: f64) -> Vec<f64> {
    // Depressed cubic x³ + p x + q = 0.
    let p = a / (2.0 * b);
    let q = -h / (4.0 * b);
    let disc = (q / 2.0).powi(2) + (p / 3.0).powi(3);
    let mut roots = if disc > 0.0 {
        let s = disc.sqrt();
        vec![(-q / 2.0 + s).cbrt() + (-q / 2.0 - s).cbrt()]
    } else {
        // Three real roots (p < 0): trigonometric form.
        let r = 2.0 * (-p / 3.0).sqrt();
        let arg = if r == 0.0 {
            0.0
        } else {
            (3.0 * q / (p * r)).clamp(-1.0, 1.0)
        };
        let theta = arg.acos() / 3.0;
        (0..3)
            .map(|k| r * (theta - 2.0 * std::f64::consts::PI * k as f64 / 3.0).cos())
            .collect()
    };
    // One Newton polish per root.
    for x in &mut roots {
        let f = 4.0 * b * *x * *x * *x + 2.0 * a * *x - h;
        let df = 12.0 * b * *x * *x + 2.0 * a;
        if df.abs() > 1e-300 {
            let step = f / df;
            if step.is_finite() {
                *x -= step;
            }
        }
    }
    roots.sort_by(f64::total_cmp);
    roots
}
