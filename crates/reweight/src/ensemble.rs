//! In-memory ensembles: per chain, the sampled action and the sufficient statistics of every
//! configuration.

use mc_sampler::ensemble::StoredEnsemble;
use mc_sampler::stats::gamma_method;
use mrf_graph::Lattice;
use phi4_action::{Couplings, Observables, SufficientStats};

use crate::ReweightError;
use crate::target::{Target, dot};

/// What is known about the action `S` the configurations were sampled from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SampledAction {
    /// A homogeneous real action: `T − S` is then evaluated from the differences of the
    /// couplings (exactly zero when the target equals `S`), and the ensemble can enter
    /// multi-histogram reweighting.
    Homogeneous(Target),
    /// Any other action (e.g. trained inhomogeneous couplings): `T − S` uses the recorded
    /// per-configuration `S`.
    Recorded,
}

/// The sampled action and the sums of every configuration of one Markov chain (or of one
/// batch of independent draws), in sampling order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSums {
    action: Vec<f64>,
    stats: Vec<SufficientStats>,
}

impl ChainSums {
    /// A chain from the sampled action `S(φ)` and the sums of every configuration.
    pub fn new(action: Vec<f64>, stats: Vec<SufficientStats>) -> Result<Self, ReweightError> {
        if action.len() != stats.len() {
            return Err(ReweightError::ChainLength {
                actions: action.len(),
                stats: stats.len(),
            });
        }
        if let Some(index) = action.iter().position(|s| !s.is_finite()) {
            return Err(ReweightError::NotFinite {
                what: "sampled action",
                index,
            });
        }
        if let Some(index) = stats.iter().position(|s| !s.is_finite()) {
            return Err(ReweightError::NotFinite {
                what: "sufficient statistics",
                index,
            });
        }
        Ok(Self { action, stats })
    }

    /// A chain from configurations sampled from `sampled` on `lattice` (measures `S` and the
    /// sums; the configurations themselves are not kept).
    pub fn from_configs<'a>(
        sampled: &Couplings,
        lattice: &Lattice,
        configs: impl IntoIterator<Item = &'a [f64]>,
    ) -> Result<Self, ReweightError> {
        let (mut action, mut stats) = (Vec::new(), Vec::new());
        for phi in configs {
            if phi.len() != lattice.n_sites() {
                return Err(ReweightError::ConfigSize {
                    expected: lattice.n_sites(),
                    got: phi.len(),
                });
            }
            action.push(sampled.action(phi));
            stats.push(SufficientStats::measure(lattice, phi));
        }
        Self::new(action, stats)
    }

    /// Number of configurations.
    pub fn len(&self) -> usize {
        self.action.len()
    }

    /// True when the chain has no configurations.
    pub fn is_empty(&self) -> bool {
        self.action.is_empty()
    }

    /// The sampled action per configuration.
    pub fn action(&self) -> &[f64] {
        &self.action
    }

    /// The sums per configuration.
    pub fn stats(&self) -> &[SufficientStats] {
        &self.stats
    }
}

/// Prior complex log-weights of a reweighted ensemble (see [`ReweightEnsemble::reweighted`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prior {
    /// Per chain: `−(Re T₁ − S)` per configuration.
    pub log_weight: Vec<Vec<f64>>,
    /// Per chain: `Im T₁` per configuration.
    pub phase: Vec<Vec<f64>>,
}

/// Samples of one action on one lattice, reduced to what reweighting needs: one or more
/// chains of sampled actions and sums ([`ChainSums`]), with their sampled action.
#[derive(Debug, Clone, PartialEq)]
pub struct ReweightEnsemble {
    pub(crate) lattice: Lattice,
    pub(crate) sampled: SampledAction,
    pub(crate) chains: Vec<ChainSums>,
    /// The (possibly complex) action the weights currently represent; `None` means the sampled
    /// action itself.
    pub(crate) reference: Option<Target>,
    pub(crate) prior: Option<Prior>,
    /// Largest Γ-method τ_int of the observables and the sampled action.
    pub(crate) tau_int: f64,
}

impl ReweightEnsemble {
    /// The ensemble of a stored one ([`StoredEnsemble::read_measurements`] is enough: the
    /// configurations are not used): its stored actions and sums, nothing measured again.
    /// Homogeneous sampled couplings ([`Target::from_couplings`]) give
    /// [`SampledAction::Homogeneous`], any others [`SampledAction::Recorded`].
    pub fn from_stored(stored: &StoredEnsemble) -> Result<Self, ReweightError> {
        let sampled = match Target::from_couplings(stored.couplings()) {
            Some(t) => SampledAction::Homogeneous(t),
            None => SampledAction::Recorded,
        };
        let chains = stored
            .chains()
            .iter()
            .map(|c| ChainSums::new(c.actions.clone(), c.sums.clone()))
            .collect::<Result<_, _>>()?;
        Self::new(stored.lattice(), sampled, chains)
    }

    /// The sampled action as a homogeneous target, when it is one.
    pub fn sampled_target(&self) -> Option<Target> {
        match self.sampled {
            SampledAction::Homogeneous(t) => Some(t),
            SampledAction::Recorded => None,
        }
    }

    /// An ensemble of `chains` sampled from `sampled` on `lattice`.
    ///
    /// With [`SampledAction::Homogeneous`] the recorded actions are checked against the
    /// couplings (relative tolerance 1e-9), so a mislabelled ensemble is an error.
    pub fn new(lattice: Lattice, sampled: SampledAction, chains: Vec<ChainSums>) -> Result<Self, ReweightError> {
        if chains.is_empty() || chains.iter().all(ChainSums::is_empty) {
            return Err(ReweightError::Empty);
        }
        if let SampledAction::Homogeneous(s) = sampled {
            if s.is_complex() {
                return Err(ReweightError::ComplexSampled { imag_mass: s.imag_mass });
            }
            s.couplings(&lattice)?;
            let coef = s.coefficients();
            for (chain, c) in chains.iter().enumerate() {
                for (index, (&recorded, st)) in c.action.iter().zip(&c.stats).enumerate() {
                    let computed = dot(&coef, st);
                    let scale = (coef[0] * st.nn).abs()
                        + (coef[1] * st.nnn).abs()
                        + (coef[2] * st.phi1).abs()
                        + (coef[3] * st.phi2).abs()
                        + (coef[4] * st.phi4).abs();
                    if (recorded - computed).abs() > 1e-9 * scale + 1e-12 {
                        return Err(ReweightError::ActionMismatch {
                            chain,
                            index,
                            recorded,
                            computed,
                        });
                    }
                }
            }
        }
        let tau_int = observables_tau_int(&lattice, &chains);
        let ensemble = Self {
            lattice,
            sampled,
            chains,
            reference: None,
            prior: None,
            tau_int,
        };
        check_distinct(&[&ensemble])?;
        Ok(ensemble)
    }

    /// The largest integrated autocorrelation time (Γ-method, chains as replicas) of the
    /// per-configuration observables `m, |m|, m², m⁴, φ², φ⁴, nn` and of the sampled action.
    /// Every reweighted point uses at least this for its bin size.
    pub fn tau_int(&self) -> f64 {
        self.tau_int
    }

    /// The lattice.
    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }

    /// The sampled action.
    pub fn sampled(&self) -> SampledAction {
        self.sampled
    }

    /// The chains.
    pub fn chains(&self) -> &[ChainSums] {
        &self.chains
    }

    /// Total number of configurations.
    pub fn n_configs(&self) -> usize {
        self.chains.iter().map(ChainSums::len).sum()
    }

    /// True when the weights represent the sampled action (no [`ReweightEnsemble::reweighted`]
    /// step).
    pub fn is_unweighted(&self) -> bool {
        self.prior.is_none()
    }

    /// The same configurations carrying the weights `e^{−(T − S)}` of `target`, so that
    /// reweighting the result to `T₂` multiplies by `e^{−(T₂ − T)}`: a chain of reweightings
    /// `S → T → T₂`.  The result equals the direct `S → T₂` up to rounding.
    pub fn reweighted(&self, target: &Target) -> Result<Self, ReweightError> {
        target.couplings(&self.lattice)?;
        let mut log_weight = Vec::with_capacity(self.chains.len());
        let mut phase = Vec::with_capacity(self.chains.len());
        for chain in 0..self.chains.len() {
            let (lw, th) = self.log_weights(chain, target);
            log_weight.push(lw);
            phase.push(th);
        }
        Ok(Self {
            lattice: self.lattice,
            sampled: self.sampled,
            chains: self.chains.clone(),
            reference: Some(*target),
            prior: Some(Prior { log_weight, phase }),
            tau_int: self.tau_int,
        })
    }

    /// Per configuration of `chain`: the log-weight `−(Re T − S)` and the phase angle `Im T`
    /// of `target` relative to the sampled measure.
    pub(crate) fn log_weights(&self, chain: usize, target: &Target) -> (Vec<f64>, Vec<f64>) {
        let c = &self.chains[chain];
        // The action the current weights represent, and T minus it from coupling differences.
        let (reference_coef, reference_c) = match (self.reference, self.sampled) {
            (Some(r), _) | (None, SampledAction::Homogeneous(r)) => (Some(r.coefficients()), r.imag_mass),
            (None, SampledAction::Recorded) => (None, 0.0),
        };
        let t_coef = target.coefficients();
        let lw: Vec<f64> = match reference_coef {
            Some(rc) => {
                let diff: [f64; 5] = std::array::from_fn(|j| t_coef[j] - rc[j]);
                c.stats.iter().map(|s| -dot(&diff, s)).collect()
            }
            None => c
                .stats
                .iter()
                .zip(&c.action)
                .map(|(s, &a)| -(dot(&t_coef, s) - a))
                .collect(),
        };
        let dc = target.imag_mass - reference_c;
        let th: Vec<f64> = c.stats.iter().map(|s| dc * s.phi2).collect();
        match &self.prior {
            Some(p) => (
                lw.iter().zip(&p.log_weight[chain]).map(|(a, b)| a + b).collect(),
                th.iter().zip(&p.phase[chain]).map(|(a, b)| a + b).collect(),
            ),
            None => (lw, th),
        }
    }
}

/// A 64-bit content hash of one configuration: the bits of its recorded action and sums
/// (SplitMix64 finaliser over each word).  Independently sampled configurations of a
/// continuous field never share all six numbers.
fn fingerprint(action: f64, s: &SufficientStats) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    [action, s.nn, s.nnn, s.phi1, s.phi2, s.phi4]
        .iter()
        .fold(0x9e37_79b9_7f4a_7c15, |h, x| {
            mix(h ^ x.to_bits()).wrapping_add(0x9e37_79b9_7f4a_7c15)
        })
}

/// Refuse configurations that appear in two different chains, of one ensemble or of several
/// (by content hash, [`fingerprint`]): the same samples counted twice shrink the error bars
/// without adding information.
pub(crate) fn check_distinct(ensembles: &[&ReweightEnsemble]) -> Result<(), ReweightError> {
    // (hash, ensemble, chain), sorted by hash.
    let mut keys: Vec<(u64, usize, usize)> = Vec::with_capacity(ensembles.iter().map(|e| e.n_configs()).sum());
    for (e, ensemble) in ensembles.iter().enumerate() {
        for (c, chain) in ensemble.chains.iter().enumerate() {
            keys.extend(
                chain
                    .action
                    .iter()
                    .zip(&chain.stats)
                    .map(|(&a, s)| (fingerprint(a, s), e, c)),
            );
        }
    }
    keys.sort_unstable();
    // Pairs of (ensemble, chain) that hold the same configuration, in hash order.
    let shared = keys.windows(2).filter_map(|pair| {
        let ((h0, e0, c0), (h1, e1, c1)) = (pair[0], pair[1]);
        (h0 == h1 && (e0, c0) != (e1, c1)).then_some(((e0, c0), (e1, c1)))
    });
    let Some(first) = shared.clone().next() else {
        return Ok(());
    };
    let ((ensemble_a, chain_a), (ensemble_b, chain_b)) = first;
    Err(ReweightError::SharedConfigurations {
        ensemble_a,
        chain_a,
        ensemble_b,
        chain_b,
        count: shared.filter(|p| *p == first).count(),
    })
}

fn observables_tau_int(lattice: &Lattice, chains: &[ChainSums]) -> f64 {
    let v = lattice.n_sites();
    // m, |m|, m², m⁴, φ², φ⁴, nn of every configuration (the action density is the sampled
    // action, below).
    let per_config: Vec<Vec<[f64; 8]>> = chains
        .iter()
        .map(|c| {
            c.stats
                .iter()
                .map(|s| Observables::from_sums(s, v, 0.0).to_array())
                .collect()
        })
        .collect();
    let mut tau = 0.5_f64;
    for q in 0..7 {
        let series: Vec<Vec<f64>> = per_config.iter().map(|c| c.iter().map(|o| o[q]).collect()).collect();
        let refs: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
        tau = tau.max(finite_or_half(gamma_method(&refs).tau_int));
    }
    let refs: Vec<&[f64]> = chains.iter().map(|c| c.action.as_slice()).collect();
    tau.max(finite_or_half(gamma_method(&refs).tau_int))
}

fn finite_or_half(tau: f64) -> f64 {
    if tau.is_finite() { tau } else { 0.5 }
}
