//! Unit types and layers: the single-unit energies, their normalisers, moments and exact
//! conditional draws.
//!
//! A unit `x` of a layer has the energy `E(x) = ℓ x + q x² + g x⁴` (visible layer:
//! `ℓ, q, g = r_i, a_i, b_i`; hidden layer: `s_j, m_j, n_j`) and, given the other layer,
//! the conditional density `p(x | t) ∝ exp(−E(x) + t x)` with the field `t` (for a visible
//! unit `t_i = Σ_j w_ij h_j`, for a hidden unit `t_j = Σ_i w_ij φ_i`).

use mc_sampler::{QuarticSampler, exp_neg};
use phi4_action::Quartic;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::RbmError;
use crate::quadrature::quartic_integral;

/// What values a unit takes and which terms of its energy are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum UnitKind {
    /// A real φ⁴ unit: `ℓ x + q x² + g x⁴` with `g > 0`, `q` of either sign.
    Phi4,
    /// A real Gaussian unit: `ℓ x + q x²` with `q > 0`, `g = 0`.
    Gaussian,
    /// A binary unit in `{0, 1}`: `ℓ x` only (`x² = x⁴ = x`).
    Bernoulli,
    /// An Ising spin in `{−1, +1}`: `ℓ x` only.  The limit `g → ∞` with `q = −2g` of a φ⁴
    /// unit, whose density `exp(−g (x² − 1)²)` concentrates on `±1`.
    Spin,
}

impl UnitKind {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Phi4 => "phi4",
            UnitKind::Gaussian => "gaussian",
            UnitKind::Bernoulli => "bernoulli",
            UnitKind::Spin => "spin",
        }
    }

    /// The kind called `name` ([`UnitKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [UnitKind::Phi4, UnitKind::Gaussian, UnitKind::Bernoulli, UnitKind::Spin]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// Whether units of this kind take two values (enumerable).
    pub fn is_binary(self) -> bool {
        matches!(self, UnitKind::Bernoulli | UnitKind::Spin)
    }

    /// The two values of a binary kind.
    pub fn binary_values(self) -> Option<[f64; 2]> {
        match self {
            UnitKind::Bernoulli => Some([0.0, 1.0]),
            UnitKind::Spin => Some([-1.0, 1.0]),
            _ => None,
        }
    }
}

/// One layer: a unit kind and the per-unit coefficients of `ℓ x + q x² + g x⁴`.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    kind: UnitKind,
    linear: Vec<f64>,
    quadratic: Vec<f64>,
    quartic: Vec<f64>,
}

/// Conditional moments `E[x], E[x²], E[x⁴]` of one unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// `E[x]`.
    pub mean: f64,
    /// `E[x²]`.
    pub second: f64,
    /// `E[x⁴]`.
    pub fourth: f64,
}

/// `ln(1 + eˣ)` without overflow.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `1 / (1 + e⁻ˣ)`, as `1/(1 + e)` or `e/(1 + e)` with `e = exp(−|x|)` (no cancellation
/// on either side), branch-free ([`exp_neg`]), so loops over slices vectorise.
#[inline(always)]
pub(crate) fn sigmoid(x: f64) -> f64 {
    let e = exp_neg(x.abs());
    let numerator = if x >= 0.0 { 1.0 } else { e };
    numerator / (1.0 + e)
}

/// A uniform in [0, 1) from the top 53 bits of a word.
#[inline]
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

impl Layer {
    /// A layer of `kind` with the given coefficients, validated: finite values; φ⁴ units
    /// need `g > 0`; Gaussian units `q > 0` and `g = 0`; binary units `q = g = 0`.
    /// `name` (`visible` or `hidden`) is used in error messages.
    pub fn new(
        name: &'static str,
        kind: UnitKind,
        linear: Vec<f64>,
        quadratic: Vec<f64>,
        quartic: Vec<f64>,
    ) -> Result<Self, RbmError> {
        let n = linear.len();
        if quadratic.len() != n || quartic.len() != n {
            return Err(RbmError::Shape(format!(
                "{name} layer: {n} linear, {} quadratic and {} quartic coefficients; give one of each per unit",
                quadratic.len(),
                quartic.len()
            )));
        }
        if n == 0 {
            return Err(RbmError::Shape(format!("the {name} layer needs at least one unit")));
        }
        let layer = Self {
            kind,
            linear,
            quadratic,
            quartic,
        };
        for unit in 0..n {
            layer.check_unit(name, unit)?;
        }
        Ok(layer)
    }

    fn check_unit(&self, name: &'static str, unit: usize) -> Result<(), RbmError> {
        let (l, q, g) = (self.linear[unit], self.quadratic[unit], self.quartic[unit]);
        let fail = |reason: String| {
            Err(RbmError::InvalidUnit {
                layer: name,
                unit,
                reason,
            })
        };
        if !(l.is_finite() && q.is_finite() && g.is_finite()) {
            return fail(format!("coefficients ({l}, {q}, {g}) must be finite numbers"));
        }
        match self.kind {
            UnitKind::Phi4 if g <= 0.0 => fail(format!(
                "a phi4 unit needs a positive quartic coefficient, got {g}; use a gaussian unit for 0"
            )),
            UnitKind::Gaussian if g != 0.0 => fail(format!("a gaussian unit has no quartic term, got {g}")),
            UnitKind::Gaussian if q <= 0.0 => fail(format!(
                "a gaussian unit needs a positive quadratic coefficient (1/2 variance), got {q}"
            )),
            UnitKind::Bernoulli | UnitKind::Spin if q != 0.0 || g != 0.0 => fail(format!(
                "a {} unit has only a linear term (x^2 and x^4 are fixed), got quadratic {q} and quartic {g}",
                self.kind.name()
            )),
            _ => Ok(()),
        }
    }

    /// `n` units of `kind` with the same coefficients (validated like [`Layer::new`]).
    pub fn uniform(
        name: &'static str,
        kind: UnitKind,
        n: usize,
        linear: f64,
        quadratic: f64,
        quartic: f64,
    ) -> Result<Self, RbmError> {
        Self::new(name, kind, vec![linear; n], vec![quadratic; n], vec![quartic; n])
    }

    /// Binary `{0, 1}` units with linear coefficients `linear`.
    pub fn bernoulli(name: &'static str, linear: Vec<f64>) -> Result<Self, RbmError> {
        let n = linear.len();
        Self::new(name, UnitKind::Bernoulli, linear, vec![0.0; n], vec![0.0; n])
    }

    /// Ising spins `±1` with linear coefficients `linear`.
    pub fn spin(name: &'static str, linear: Vec<f64>) -> Result<Self, RbmError> {
        let n = linear.len();
        Self::new(name, UnitKind::Spin, linear, vec![0.0; n], vec![0.0; n])
    }

    /// Gaussian units `ℓ x + q x²`.
    pub fn gaussian(name: &'static str, linear: Vec<f64>, quadratic: Vec<f64>) -> Result<Self, RbmError> {
        let n = linear.len();
        Self::new(name, UnitKind::Gaussian, linear, quadratic, vec![0.0; n])
    }

    /// φ⁴ units `ℓ x + q x² + g x⁴`.
    pub fn phi4(
        name: &'static str,
        linear: Vec<f64>,
        quadratic: Vec<f64>,
        quartic: Vec<f64>,
    ) -> Result<Self, RbmError> {
        Self::new(name, UnitKind::Phi4, linear, quadratic, quartic)
    }

    /// The unit kind.
    pub fn kind(&self) -> UnitKind {
        self.kind
    }
    /// Number of units.
    pub fn len(&self) -> usize {
        self.linear.len()
    }
    /// Always false: a layer has at least one unit.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Linear coefficients `ℓ`.
    pub fn linear(&self) -> &[f64] {
        &self.linear
    }
    /// Quadratic coefficients `q`.
    pub fn quadratic(&self) -> &[f64] {
        &self.quadratic
    }
    /// Quartic coefficients `g`.
    pub fn quartic(&self) -> &[f64] {
        &self.quartic
    }

    pub(crate) fn coefficients_mut(&mut self) -> [&mut Vec<f64>; 3] {
        [&mut self.linear, &mut self.quadratic, &mut self.quartic]
    }

    pub(crate) fn validate(&self, name: &'static str) -> Result<(), RbmError> {
        (0..self.len()).try_for_each(|u| self.check_unit(name, u))
    }

    /// `E(x) = ℓ x + q x² + g x⁴` of unit `u`.
    #[inline]
    pub fn energy(&self, u: usize, x: f64) -> f64 {
        let x2 = x * x;
        self.linear[u] * x + self.quadratic[u] * x2 + self.quartic[u] * x2 * x2
    }

    /// `ln Σ_x exp(−E(x) + t x)` (sum or integral) of unit `u` in the field `t`.
    pub fn log_z(&self, u: usize, t: f64) -> f64 {
        let field = t - self.linear[u];
        match self.kind {
            UnitKind::Bernoulli => softplus(field),
            UnitKind::Spin => field.abs() + softplus(-2.0 * field.abs()),
            UnitKind::Gaussian | UnitKind::Phi4 => quartic_integral(self.quadratic[u], self.quartic[u], field).log_z,
        }
    }

    /// The conditional moments of unit `u` in the field `t`.
    pub fn moments(&self, u: usize, t: f64) -> Moments {
        let field = t - self.linear[u];
        match self.kind {
            UnitKind::Bernoulli => {
                let p = sigmoid(field);
                Moments {
                    mean: p,
                    second: p,
                    fourth: p,
                }
            }
            UnitKind::Spin => Moments {
                mean: field.tanh(),
                second: 1.0,
                fourth: 1.0,
            },
            UnitKind::Gaussian | UnitKind::Phi4 => {
                let i = quartic_integral(self.quadratic[u], self.quartic[u], field);
                Moments {
                    mean: i.mean,
                    second: i.second,
                    fourth: i.fourth,
                }
            }
        }
    }

    /// `E[x]` of unit `u` in the field `t` (closed form except for φ⁴ units).
    pub fn mean(&self, u: usize, t: f64) -> f64 {
        let field = t - self.linear[u];
        match self.kind {
            UnitKind::Bernoulli => sigmoid(field),
            UnitKind::Spin => field.tanh(),
            UnitKind::Gaussian => field / (2.0 * self.quadratic[u]),
            UnitKind::Phi4 => quartic_integral(self.quadratic[u], self.quartic[u], field).mean,
        }
    }

    /// One exact draw of unit `u` in the field `t`.  A non-finite field gives NaN (the
    /// trainer turns it into [`RbmError::Diverged`]).
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, u: usize, t: f64, rng: &mut R) -> f64 {
        let field = t - self.linear[u];
        match self.kind {
            UnitKind::Bernoulli => f64::from(u8::from(uniform(rng) < sigmoid(field))),
            UnitKind::Spin => {
                if uniform(rng) < sigmoid(2.0 * field) {
                    1.0
                } else {
                    -1.0
                }
            }
            UnitKind::Gaussian => {
                let q = self.quadratic[u];
                let z: f64 = rng.sample(StandardNormal);
                field / (2.0 * q) + (0.5 / q).sqrt() * z
            }
            UnitKind::Phi4 => match self.quartic_sampler(u) {
                Some(sampler) => sampler.sample_in_field(field, rng),
                None => f64::NAN,
            },
        }
    }

    /// The exact sampler of φ⁴ unit `u` (its `a`, `b`; the field is given per draw with
    /// [`QuarticSampler::sample_in_field`], which subtracts nothing: pass `t − linear[u]`),
    /// or `None` if the unit's coefficients are not a normalisable quartic.
    #[inline]
    pub fn quartic_sampler(&self, u: usize) -> Option<QuarticSampler> {
        QuarticSampler::new(Quartic {
            a: self.quadratic[u],
            b: self.quartic[u],
            h: 0.0,
        })
        .ok()
    }

    /// Whether `x` is a value unit `u` can take (binary units: exactly their two values).
    pub fn admits(&self, x: f64) -> bool {
        match self.kind.binary_values() {
            Some([lo, hi]) => x == lo || x == hi,
            None => x.is_finite(),
        }
    }
}
