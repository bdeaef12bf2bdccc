//! Free energies: `F_S = −ln Z_S` exactly for Gaussian actions and by thermodynamic
//! integration from a Gaussian reference otherwise, and the Bogoliubov bound
//! `𝓕 = ⟨A − S⟩_p + F_S ≥ F_A` with `F_A = F_S − ln⟨e^{−(A−S)}⟩_p` by reweighting.

use mc_sampler::stats::gamma_method;
use mc_sampler::{Algorithm, PersistentChains};
use phi4_action::gaussian::GaussianMrf;
use phi4_action::{Couplings, ParamBlock};

use crate::TrainError;
use crate::estimate::{Estimate, ReweightedDiff, reweighted_diff};

/// `F = −ln Z` of a Gaussian action (every `b_i = 0`), from the dense precision matrix;
/// `None` when some `b_i > 0`.
pub fn gaussian_free_energy(couplings: &Couplings) -> Option<f64> {
    GaussianMrf::from_couplings(couplings).map(|g| -g.ln_z())
}

/// Nodes and weights of the `n`-point Gauss–Legendre rule on `[0, 1]` (exact for
/// polynomials of degree `2n − 1`), nodes in increasing order.
///
/// # Panics
///
/// If `n` is 0.
pub fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    assert!(n > 0, "a quadrature rule needs at least one node");
    let mut rule = Vec::with_capacity(n);
    for i in 0..n {
        // Newton iteration on P_n from the Chebyshev-like first guess.
        let mut x = -(std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let kf = k as f64;
                let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
                p0 = p1;
                p1 = p2;
            }
            derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / derivative;
            x -= dx;
            if dx.abs() < 1e-15 {
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        rule.push((0.5 * (x + 1.0), 0.5 * weight));
    }
    rule
}

/// The exactly solvable reference action `S₀` that thermodynamic integration starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// `S` without its pairs (`w = 0`; the same `a`, `b`, `r`): a product of one-site
    /// quartic densities whose `ln Z` is a sum of one-dimensional integrals (by quadrature).
    /// The path `S_t = S₀ − t Σ w_ij φ_iφ_j` switches the pairs on and crosses at most the
    /// continuous ordering transition, so the integrand stays smooth on a finite lattice.
    IndependentSites,
    /// The Gaussian of [`gaussian_reference`].  The path switches the quartic term on while
    /// `a` falls; for a model in the ordered phase (`a` small or negative) the field amplitude
    /// swells at intermediate `t` and the integrand has a sharp feature that needs many nodes.
    Gaussian,
}

/// How thermodynamic integration and the bound sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegrationOptions {
    /// The reference action.
    pub reference: Reference,
    /// Schedule of the chains.
    pub algorithm: Algorithm,
    /// Chains at each node (and for the samples of `A − S`).
    pub n_chains: usize,
    /// Thermalisation sweeps at each node.
    pub n_therm: u64,
    /// Measurements per chain (one sweep apart).
    pub n_measure: usize,
    /// Nodes of the Gauss–Legendre rule in `t`; the error of the rule is estimated by a
    /// composite rule with as many nodes, half of them on each half of `[0, 1]` (sampled as
    /// well).
    pub n_nodes: usize,
    /// Seed of the chains (node `k` uses `seed + 1 + k`; the check rule continues the count).
    pub seed: u64,
}

impl IntegrationOptions {
    /// Independent-site reference, heat bath, 16 chains, 200 thermalisation sweeps and 400
    /// measurements per chain and node, 16 nodes (and 2 × 8 for the error of the rule).
    pub fn recommended(seed: u64) -> Self {
        Self {
            reference: Reference::IndependentSites,
            algorithm: Algorithm::HeatBath,
            n_chains: 16,
            n_therm: 200,
            n_measure: 400,
            n_nodes: 16,
            seed,
        }
    }
}

/// A free energy with the parts of its error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FreeEnergy {
    /// `F = −ln Z` and its total error (statistical and quadrature added in quadrature).
    pub value: Estimate,
    /// The statistical part of the error.
    pub stat_err: f64,
    /// The quadrature part: the difference of the `n`-node rule and the composite rule with
    /// `n/2` nodes on each half of `[0, 1]` (0 when exact).
    pub quadrature_err: f64,
    /// True when computed exactly (Gaussian action).
    pub exact: bool,
}

/// The Gaussian reference of thermodynamic integration for `couplings`: the same `w` and
/// `r`, `b = 0`, and `a⁰_i = max(a_i, (Σ_j |w_ij| + 1)/2)`, so that the precision matrix is
/// strictly diagonally dominant with every Gershgorin disc above 1.
pub fn gaussian_reference(couplings: &Couplings) -> Result<Couplings, TrainError> {
    let mut theta = couplings.params();
    let a_range = couplings.block(ParamBlock::A);
    for i in 0..couplings.n_sites() {
        let (_, ws) = couplings.neighbours(i);
        let row: f64 = ws.iter().map(|w| w.abs()).sum();
        theta[a_range.start + i] = couplings.a()[i].max(0.5 * (row + 1.0));
    }
    theta[couplings.block(ParamBlock::B)].fill(0.0);
    Ok(couplings.with_params(&theta)?)
}

/// `−ln ∫ exp(−a x² − b x⁴ − r x) dx` by composite Simpson quadrature over the range where
/// the integrand is within `e^{−60}` of its maximum (`b > 0`, or `b = 0` and `a > 0`).
pub fn site_free_energy(a: f64, b: f64, r: f64) -> f64 {
    let log_density = |x: f64| {
        let x2 = x * x;
        -a * x2 - b * x2 * x2 - r * x
    };
    // The range: double R until the log density at ±R is 60 below the largest value seen.
    let mut radius = 1.0;
    let mut peak = f64::NEG_INFINITY;
    loop {
        let n = 4000;
        peak = (0..=n)
            .map(|k| log_density(-radius + 2.0 * radius * k as f64 / n as f64))
            .fold(peak, f64::max);
        if log_density(radius).max(log_density(-radius)) < peak - 60.0 || radius > 1e6 {
            break;
        }
        radius *= 2.0;
    }
    let n = 20_000;
    let h = 2.0 * radius / n as f64;
    let sum: f64 = (0..=n)
        .map(|k| {
            let weight = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            weight * (log_density(-radius + h * k as f64) - peak).exp()
        })
        .sum();
    -(peak + (sum * h / 3.0).ln())
}

/// The independent-site reference of `couplings` (`w = 0`, same `a`, `b`, `r`) and its exact
/// free energy; an error when some site has `b_i = 0` and `a_i ≤ 0` (then only the pairs make
/// the action normalisable: use [`Reference::Gaussian`]).
pub fn independent_sites(couplings: &Couplings) -> Result<(Couplings, f64), TrainError> {
    if let Some(i) = (0..couplings.n_sites()).find(|&i| couplings.b()[i] == 0.0 && couplings.a()[i] <= 0.0) {
        return Err(TrainError::InvalidConfig(format!(
            "site {i} has b = 0 and a = {} <= 0, so the independent-site reference is not normalisable; use the \
             Gaussian reference",
            couplings.a()[i]
        )));
    }
    let mut theta = couplings.params();
    theta[couplings.block(ParamBlock::W)].fill(0.0);
    let reference = couplings.with_params(&theta)?;
    let f = (0..couplings.n_sites())
        .map(|i| site_free_energy(couplings.a()[i], couplings.b()[i], couplings.r()[i]))
        .sum();
    Ok((reference, f))
}

/// `F_S = −ln Z_S` by thermodynamic integration from an exactly solvable reference `S₀`
/// ([`Reference`]): `S_t = S₀ + t (S − S₀)` (every coupling interpolated linearly, so
/// `∂S_t/∂t = S − S₀`) and `F_S = F_{S₀} + ∫₀¹ ⟨S − S₀⟩_t dt`, with `F_{S₀}` exact and the
/// integral by Gauss–Legendre in `t`, `⟨S − S₀⟩_t` sampled at each node (Γ-method errors).
/// The statistical errors of the nodes add with the squared weights; the error of the rule
/// is its difference from the composite rule with `n/2` nodes on each half of `[0, 1]`
/// (which also carries the noise of both rules, so it is conservative).
pub fn thermodynamic_integration(
    couplings: &Couplings,
    options: &IntegrationOptions,
) -> Result<FreeEnergy, TrainError> {
    if options.n_nodes < 2 || options.n_measure < 2 || options.n_chains == 0 {
        return Err(TrainError::InvalidConfig(format!(
            "thermodynamic integration needs at least 2 nodes, 2 measurements and 1 chain (got {} nodes, {} \
             measurements, {} chains)",
            options.n_nodes, options.n_measure, options.n_chains
        )));
    }
    let (reference, f_reference) = match options.reference {
        Reference::IndependentSites => independent_sites(couplings)?,
        Reference::Gaussian => {
            let reference = gaussian_reference(couplings)?;
            let f = gaussian_free_energy(&reference).expect("the reference has b = 0");
            (reference, f)
        }
    };
    let theta_ref = reference.params();
    let theta = couplings.params();
    let mut seed_offset = 0u64;
    let mut integrate = |rule: Vec<(f64, f64)>| -> Result<(f64, f64), TrainError> {
        let (mut value, mut variance) = (0.0, 0.0);
        for (t, weight) in rule {
            seed_offset += 1;
            let theta_t: Vec<f64> = theta_ref.iter().zip(&theta).map(|(r, s)| r + t * (s - r)).collect();
            let s_t = couplings.with_params(&theta_t)?;
            let mut chains = PersistentChains::new(
                &s_t,
                options.algorithm,
                options.seed.wrapping_add(seed_offset),
                options.n_chains,
            )?;
            chains.thermalise(options.n_therm);
            let mut series = vec![Vec::with_capacity(options.n_measure); options.n_chains];
            for _ in 0..options.n_measure {
                chains.sweep(1);
                let values = chains.measure_with(|_, phi| couplings.action(phi) - reference.action(phi));
                series.iter_mut().zip(values).for_each(|(s, v)| s.push(v));
            }
            let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
            let g = gamma_method(&refs);
            value += weight * g.mean;
            variance += weight * weight * g.err * g.err;
        }
        Ok((value, variance))
    };
    let (full, variance) = integrate(gauss_legendre(options.n_nodes))?;
    // The check: the same number of nodes as a composite rule, n/2 on each half of [0, 1].
    let half = gauss_legendre(options.n_nodes.div_ceil(2));
    let composite = half
        .iter()
        .map(|&(t, w)| (0.5 * t, 0.5 * w))
        .chain(half.iter().map(|&(t, w)| (0.5 + 0.5 * t, 0.5 * w)))
        .collect();
    let (check, _) = integrate(composite)?;
    let (stat_err, quadrature_err) = (variance.sqrt(), (full - check).abs());
    Ok(FreeEnergy {
        value: Estimate {
            mean: f_reference + full,
            err: stat_err.hypot(quadrature_err),
        },
        stat_err,
        quadrature_err,
        exact: false,
    })
}

/// `F_S`: exact for a Gaussian `S`, otherwise [`thermodynamic_integration`].
pub fn free_energy(couplings: &Couplings, options: &IntegrationOptions) -> Result<FreeEnergy, TrainError> {
    match gaussian_free_energy(couplings) {
        Some(f) => Ok(FreeEnergy {
            value: Estimate { mean: f, err: 0.0 },
            stat_err: 0.0,
            quadrature_err: 0.0,
            exact: true,
        }),
        None => thermodynamic_integration(couplings, options),
    }
}

/// The Bogoliubov bound of a model `p ∝ e^{−S}` against a target `q ∝ e^{−A}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// `𝓕 = ⟨A − S⟩_p + F_S ≥ F_A`.
    pub bound: Estimate,
    /// `F_A = F_S − ln⟨e^{−(A−S)}⟩_p`, by reweighting.
    pub f_target: Estimate,
    /// `𝓕 − F_A = ⟨A − S⟩_p + ln⟨e^{−(A−S)}⟩_p = KL(p‖q)` (needs no `F_S`).
    pub gap: Estimate,
    /// `F_S`.
    pub f_model: FreeEnergy,
    /// The samples of `A − S` under `p` the bound is built from.
    pub diff: ReweightedDiff,
}

/// The bound of the model sampled by `chains` (their couplings are `S`) against `target`:
/// the chains (cloned; `chains` does not move) are thermalised for `options.n_therm` sweeps
/// and measured `options.n_measure` times per chain; `F_S` comes from [`free_energy`].
/// The error of `𝓕` and of `F_A` adds the error of `F_S` in quadrature (independent
/// samples); the gap has only the error of the reweighting.
pub fn bound(chains: &PersistentChains, target: &Couplings, options: &IntegrationOptions) -> Result<Bound, TrainError> {
    let model = chains.couplings().clone();
    check_target(&model, target)?;
    let mut chains = chains.clone();
    chains.sweep(options.n_therm);
    let mut series = vec![Vec::with_capacity(options.n_measure); chains.n_chains()];
    for _ in 0..options.n_measure {
        chains.sweep(1);
        let values = chains.measure_with(|s, phi| target.action(phi) - s.action(phi));
        series.iter_mut().zip(values).for_each(|(s, v)| s.push(v));
    }
    let diff = reweighted_diff(&series);
    let f_model = free_energy(&model, options)?;
    let f_err = f_model.value.err;
    Ok(Bound {
        bound: Estimate {
            mean: diff.mean_diff.mean + f_model.value.mean,
            err: diff.mean_diff.err.hypot(f_err),
        },
        f_target: Estimate {
            mean: f_model.value.mean - diff.ln_mean_weight.mean,
            err: diff.ln_mean_weight.err.hypot(f_err),
        },
        gap: diff.kl,
        f_model,
        diff,
    })
}

/// The model and the target must live on the same sites.
pub(crate) fn check_target(model: &Couplings, target: &Couplings) -> Result<(), TrainError> {
    let lattice = |c: &Couplings| c.lattice().map(|(l, _)| (l.lx(), l.ly()));
    if model.n_sites() != target.n_sites() || lattice(model) != lattice(target) {
        return Err(TrainError::InvalidConfig(format!(
            "the model has {} sites (lattice {:?}) but the target has {} (lattice {:?}); give both the same lattice",
            model.n_sites(),
            lattice(model),
            target.n_sites(),
            lattice(target)
        )));
    }
    Ok(())
}
