//! Homogeneous target actions, their sufficient statistics and coupling scans.

use std::fmt;
use std::str::FromStr;

use mrf_graph::Lattice;
use phi4_action::{ComplexAction, Couplings, Homogeneous, SufficientStats};

use crate::ReweightError;

/// A homogeneous lattice φ⁴ action with the talk's extra terms:
///
/// `T(φ) = −κ Σ_⟨ij⟩ φ_iφ_j − g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j + (μ² + 4κ)/2 Σφ² + λ/4 Σφ⁴ + r Σφ + i c Σφ²`.
///
/// Build it from [`Homogeneous`] and add terms builder-style; there is no default point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Hopping parameter κ.
    pub kappa: f64,
    /// Bare mass squared μ².
    pub mu2: f64,
    /// Quartic coupling λ.
    pub lambda: f64,
    /// Diagonal next-nearest coupling g′.
    pub g_nnn: f64,
    /// Homogeneous linear coupling r of `+ r Σφ`.
    pub linear: f64,
    /// Imaginary mass c of `+ i c Σφ²`.
    pub imag_mass: f64,
}

impl std::fmt::Display for Target {
    /// The couplings as a physicist writes them: `κ = 1, μ² = -0.9515, λ = 0.7, g′ = 0, c = 0`
    /// (the linear term only when it is not zero).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "κ = {}, μ² = {}, λ = {}, g′ = {}, c = {}",
            self.kappa, self.mu2, self.lambda, self.g_nnn, self.imag_mass
        )?;
        if self.linear != 0.0 {
            write!(f, ", r = {}", self.linear)?;
        }
        Ok(())
    }
}

impl Target {
    /// The real homogeneous action of `params`, without diagonal, linear or imaginary terms.
    pub fn new(params: Homogeneous) -> Self {
        Self {
            kappa: params.kappa,
            mu2: params.mu2,
            lambda: params.lambda,
            g_nnn: 0.0,
            linear: 0.0,
            imag_mass: 0.0,
        }
    }

    /// The same action with diagonal coupling `g_nnn`.
    pub fn with_g_nnn(mut self, g_nnn: f64) -> Self {
        self.g_nnn = g_nnn;
        self
    }

    /// The same action with imaginary mass `c`.
    pub fn with_imag_mass(mut self, c: f64) -> Self {
        self.imag_mass = c;
        self
    }

    /// The same action with linear coupling `r`.
    pub fn with_linear(mut self, r: f64) -> Self {
        self.linear = r;
        self
    }

    /// The same action with `coupling` set to `value`.
    pub fn with(mut self, coupling: Coupling, value: f64) -> Self {
        *coupling.field_mut(&mut self) = value;
        self
    }

    /// The point of homogeneous lattice couplings (uniform on each pair set, with or without
    /// diagonals, `r = 0`); `None` for any other couplings.
    pub fn from_couplings(couplings: &Couplings) -> Option<Self> {
        couplings
            .as_homogeneous_with_diagonal()
            .map(|(h, g_nnn)| Self::new(h).with_g_nnn(g_nnn))
    }

    /// The homogeneous (κ, μ², λ) part.
    pub fn homogeneous(&self) -> Homogeneous {
        Homogeneous {
            kappa: self.kappa,
            mu2: self.mu2,
            lambda: self.lambda,
        }
    }

    /// True when the action has an imaginary part.
    pub fn is_complex(&self) -> bool {
        self.imag_mass != 0.0
    }

    /// The real part as a target (imaginary mass set to zero).
    pub fn real_part(&self) -> Self {
        Self {
            imag_mass: 0.0,
            ..*self
        }
    }

    /// Coefficients of `[nn, nnn, phi1, phi2, phi4]` in the real part.
    pub(crate) fn coefficients(&self) -> [f64; 5] {
        [
            -self.kappa,
            -self.g_nnn,
            self.linear,
            (self.mu2 + 4.0 * self.kappa) / 2.0,
            self.lambda / 4.0,
        ]
    }

    /// Real part of the action of a configuration with sums `s`.
    #[inline]
    pub fn real_action(&self, s: &SufficientStats) -> f64 {
        dot(&self.coefficients(), s)
    }

    /// Imaginary part `c Σφ²` of the action of a configuration with sums `s`.
    #[inline]
    pub fn imag_action(&self, s: &SufficientStats) -> f64 {
        self.imag_mass * s.phi2
    }

    /// The real part as [`Couplings`] on `lattice` (validated: the error says why `exp(−Re T)`
    /// is not normalisable).
    pub fn couplings(&self, lattice: &Lattice) -> Result<Couplings, ReweightError> {
        phi4_action::targets::homogeneous(lattice, self.homogeneous(), self.g_nnn, self.linear)
            .map_err(|source| ReweightError::Target { target: *self, source })
    }

    /// The full (possibly complex) action on `lattice`.
    pub fn complex_action(&self, lattice: &Lattice) -> Result<ComplexAction, ReweightError> {
        ComplexAction::new(self.couplings(lattice)?, self.imag_mass)
            .map_err(|source| ReweightError::Target { target: *self, source })
    }
}

/// The record of a target: the same six couplings (`records` knows no physics, so it keeps
/// its own copy of the fields).
impl From<Target> for records::TargetRecord {
    fn from(t: Target) -> Self {
        Self {
            kappa: t.kappa,
            mu2: t.mu2,
            lambda: t.lambda,
            g_nnn: t.g_nnn,
            linear: t.linear,
            imag_mass: t.imag_mass,
        }
    }
}

/// `Σ_j (coef_j) stat_j` in the fixed order `[nn, nnn, phi1, phi2, phi4]`.
#[inline]
pub(crate) fn dot(coef: &[f64; 5], s: &SufficientStats) -> f64 {
    coef[0] * s.nn + coef[1] * s.nnn + coef[2] * s.phi1 + coef[3] * s.phi2 + coef[4] * s.phi4
}

/// A coupling of [`Target`] that can be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Coupling {
    /// κ (`kappa`).
    Kappa,
    /// μ² (`mu2`).
    Mu2,
    /// λ (`lambda`).
    Lambda,
    /// g′ (`g-nnn`).
    GNnn,
    /// r (`linear`).
    Linear,
    /// c (`imag-mass`).
    ImagMass,
}

impl Coupling {
    /// Every coupling, in a fixed order.
    pub const ALL: [Coupling; 6] = [
        Coupling::Kappa,
        Coupling::Mu2,
        Coupling::Lambda,
        Coupling::GNnn,
        Coupling::Linear,
        Coupling::ImagMass,
    ];

    /// The name used on the command line and in output (`kappa`, `mu2`, `lambda`, `g-nnn`,
    /// `linear`, `imag-mass`).
    pub fn name(self) -> &'static str {
        match self {
            Coupling::Kappa => "kappa",
            Coupling::Mu2 => "mu2",
            Coupling::Lambda => "lambda",
            Coupling::GNnn => "g-nnn",
            Coupling::Linear => "linear",
            Coupling::ImagMass => "imag-mass",
        }
    }

    /// The value of this coupling in `target`.
    pub fn get(self, target: &Target) -> f64 {
        match self {
            Coupling::Kappa => target.kappa,
            Coupling::Mu2 => target.mu2,
            Coupling::Lambda => target.lambda,
            Coupling::GNnn => target.g_nnn,
            Coupling::Linear => target.linear,
            Coupling::ImagMass => target.imag_mass,
        }
    }

    fn field_mut(self, target: &mut Target) -> &mut f64 {
        match self {
            Coupling::Kappa => &mut target.kappa,
            Coupling::Mu2 => &mut target.mu2,
            Coupling::Lambda => &mut target.lambda,
            Coupling::GNnn => &mut target.g_nnn,
            Coupling::Linear => &mut target.linear,
            Coupling::ImagMass => &mut target.imag_mass,
        }
    }
}

impl fmt::Display for Coupling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Coupling {
    type Err = ReweightError;

    /// Accepts the names of [`Coupling::name`], with `_` or `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().replace('_', "-");
        Coupling::ALL
            .into_iter()
            .find(|c| c.name() == norm)
            .ok_or_else(|| ReweightError::BadScan {
                spec: s.to_string(),
                reason: "unknown coupling".into(),
            })
    }
}

/// A linear scan of one coupling: `n` equally spaced values from `from` to `to` inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scan {
    /// The scanned coupling.
    pub coupling: Coupling,
    /// First value.
    pub from: f64,
    /// Last value.
    pub to: f64,
    /// Number of points (≥ 1; with 1 only `from`).
    pub n: usize,
}

impl Scan {
    /// The scanned values.
    pub fn values(&self) -> Vec<f64> {
        match self.n {
            0 => Vec::new(),
            1 => vec![self.from],
            n => (0..n)
                .map(|k| self.from + (self.to - self.from) * k as f64 / (n - 1) as f64)
                .collect(),
        }
    }
}

impl FromStr for Scan {
    type Err = ReweightError;

    /// Parses `NAME=FROM:TO:N`, e.g. `g-nnn=0:1:11`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ReweightError::BadScan {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let (name, range) = s.split_once('=').ok_or_else(|| bad("expected NAME=FROM:TO:N"))?;
        let coupling: Coupling = name.parse().map_err(|_| bad("unknown coupling"))?;
        let parts: Vec<&str> = range.split(':').collect();
        let [from, to, n] = parts[..] else {
            return Err(bad("expected NAME=FROM:TO:N"));
        };
        let from: f64 = from.trim().parse().map_err(|_| bad("FROM is not a number"))?;
        let to: f64 = to.trim().parse().map_err(|_| bad("TO is not a number"))?;
        let n: usize = n.trim().parse().map_err(|_| bad("N is not a positive integer"))?;
        if n == 0 || !from.is_finite() || !to.is_finite() {
            return Err(bad("need finite FROM, TO and N >= 1"));
        }
        Ok(Scan { coupling, from, to, n })
    }
}

/// The targets of a scan around `base`: one scan gives a line; several give their grid
/// (the first scan varies slowest).  Couplings not scanned keep their `base` values.
pub fn trajectory(base: Target, scans: &[Scan]) -> Vec<Target> {
    let mut points = vec![base];
    for scan in scans {
        let values = scan.values();
        points = points
            .iter()
            .flat_map(|p| values.iter().map(move |&v| p.with(scan.coupling, v)))
            .collect();
    }
    points
}
