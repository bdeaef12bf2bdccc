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

/// How thermodynamic integration and the bound sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegrationOptions {
    /// Schedule of the chains.
    pub algorithm: Algorithm,
    /// Chains at each node (and for the samples of `A − S`).
    pub n_chains: usize,
    /// Thermalisation sweeps at each node.
    pub n_therm: u64,
    /// Measurements per chain (one sweep apart).
    pub n_measure: usize,
    /// Nodes of the Gauss–Legendre rule in `t`; the error of the rule is estimated by the
    /// rule with half as many nodes (sampled as well).
    pub n_nodes: usize,
    /// Seed of the chains (node `k` uses `seed + 1 + k`; the half rule continues the count).
    pub seed: u64,
}

impl IntegrationOptions {
    /// Heat bath, 16 chains, 200 thermalisation sweeps and 400 measurements per chain and
    /// node, 10 nodes (and 5 for the error of the rule).
    pub fn recommended(seed: u64) -> Self {
        Self {
            algorithm: Algorithm::HeatBath,
            n_chains: 16,
            n_therm: 200,
            n_measure: 400,
            n_nodes: 10,
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
    /// The quadrature part: `|I_n − I_{n/2}|`, the difference of the rules with `n` and `n/2`
    /// nodes (0 when exact).
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

/// `F_S = −ln Z_S` by thermodynamic integration from the Gaussian reference `S₀`
/// ([`gaussian_reference`]): `S_t = S₀ + t (S − S₀)` and
/// `F_S = F_{S₀} + ∫₀¹ ⟨S − S₀⟩_t dt`, with `F_{S₀}` exact and the integral by Gauss–Legendre
/// in `t`, `⟨S − S₀⟩_t = ⟨Σ_i (a_i − a⁰_i) φ_i² + b_i φ_i⁴⟩_t` sampled at each node (Γ-method
/// errors).  The statistical errors of the nodes add with the squared weights; the error of
/// the rule is the difference from the rule with half the nodes.
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
    let reference = gaussian_reference(couplings)?;
    let f_reference = gaussian_free_energy(&reference).expect("the reference has b = 0");
    let a_ref = reference.a().to_vec();
    let (a, b) = (couplings.a().to_vec(), couplings.b().to_vec());
    let theta_ref = reference.params();
    let theta = couplings.params();
    let mut seed_offset = 0u64;
    let mut integrate = |n_nodes: usize| -> Result<(f64, f64), TrainError> {
        let (mut value, mut variance) = (0.0, 0.0);
        for (t, weight) in gauss_legendre(n_nodes) {
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
                let values = chains.measure_with(|_, phi| {
                    phi.iter()
                        .zip(a.iter().zip(&a_ref).zip(&b))
                        .map(|(x, ((a, a0), b))| {
                            let x2 = x * x;
                            (a - a0) * x2 + b * x2 * x2
                        })
                        .sum::<f64>()
                });
                series.iter_mut().zip(values).for_each(|(s, v)| s.push(v));
            }
            let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
            let g = gamma_method(&refs);
            value += weight * g.mean;
            variance += weight * weight * g.err * g.err;
        }
        Ok((value, variance))
    };
    let (full, variance) = integrate(options.n_nodes)?;
    let (half, _) = integrate(options.n_nodes.div_ceil(2))?;
    let (stat_err, quadrature_err) = (variance.sqrt(), (full - half).abs());
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
