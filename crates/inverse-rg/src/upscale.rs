//! One inverse step `L → 2L` and the lineage of a parent configuration through all steps.

use mc_sampler::{Algorithm, Chain, SimRng};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, Observables};
use rand_distr::{Distribution, StandardNormal};

use crate::IrgError;
use crate::blocking::check_field;
use crate::transposed::TransposedConv;

/// What is done to the output of the transposed convolution to make it a configuration of
/// the larger lattice: a field rescaling, a stochastic component and a short local
/// re-equilibration at the target couplings.  A plain parameter struct: every field must be
/// given (see the crate docs for the measurements behind the recommended values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refinement {
    /// Factor multiplying the convolution's output (1 keeps it).
    pub rescale: f64,
    /// Standard deviation of independent Gaussian noise added to every fine site (0: none).
    pub noise: f64,
    /// Local sweeps at the target couplings on the fine lattice (0: none).  A sweep costs
    /// `O(V)`; a few sweeps restore the short-distance fluctuations that a linear map
    /// cannot produce, and leave the long-wavelength modes inherited from the coarse
    /// configuration.
    pub sweeps: u64,
    /// The local update of those sweeps.
    pub local: LocalUpdate,
}

/// The local update of the re-equilibration sweeps; both are exact for the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalUpdate {
    /// Exact single-site heat bath.
    HeatBath,
    /// Checkerboard Metropolis (the vectorised lattice kernel) with a step size tuned once,
    /// on a 16×16 lattice at the target couplings, and then frozen for every configuration.
    Metropolis,
}

impl LocalUpdate {
    fn algorithm(self) -> Algorithm {
        match self {
            LocalUpdate::HeatBath => Algorithm::HeatBath,
            LocalUpdate::Metropolis => Algorithm::Metropolis,
        }
    }
}

impl Refinement {
    /// The deterministic map alone: no rescaling, no noise, no sweeps.
    pub const NONE: Refinement = Refinement {
        rescale: 1.0,
        noise: 0.0,
        sweeps: 0,
        local: LocalUpdate::HeatBath,
    };

    fn check(&self) -> Result<(), IrgError> {
        if !(self.rescale.is_finite() && self.rescale > 0.0) {
            return Err(IrgError::Parameter(format!(
                "the field rescaling after upscaling is {}; give a positive finite number",
                self.rescale
            )));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(IrgError::Parameter(format!(
                "the noise standard deviation is {}; give a finite number ≥ 0",
                self.noise
            )));
        }
        Ok(())
    }
}

/// The inverse transformation: a fitted [`TransposedConv`] followed by a [`Refinement`] at
/// the target couplings `target` (homogeneous κ, μ², λ on every size).
#[derive(Debug, Clone)]
pub struct InverseRg {
    conv: TransposedConv,
    refinement: Refinement,
    target: Homogeneous,
    step: Option<f64>,
}

/// Sweeps that tune the Metropolis step of the refinement.
const STEP_TUNING_SWEEPS: u64 = 200;

impl InverseRg {
    /// The inverse transformation of `conv` and `refinement` at the couplings `target`.
    pub fn new(conv: TransposedConv, refinement: Refinement, target: Homogeneous) -> Result<Self, IrgError> {
        refinement.check()?;
        let tuning = Couplings::homogeneous(&Lattice::new(16, 16)?, target)?;
        let step = match refinement.local {
            LocalUpdate::HeatBath => None,
            LocalUpdate::Metropolis => {
                let mut chain = Chain::new(&tuning, Algorithm::Metropolis, mc_sampler::chain_rng(0, 0))?;
                chain.thermalise(STEP_TUNING_SWEEPS);
                chain.step_size()
            }
        };
        Ok(Self {
            conv,
            refinement,
            target,
            step,
        })
    }

    /// The transposed convolution.
    pub fn conv(&self) -> &TransposedConv {
        &self.conv
    }

    /// The refinement after the convolution.
    pub fn refinement(&self) -> Refinement {
        self.refinement
    }

    /// The frozen Metropolis step of the refinement (with [`LocalUpdate::Metropolis`]).
    pub fn metropolis_step(&self) -> Option<f64> {
        self.step
    }

    /// The target couplings.
    pub fn target(&self) -> Homogeneous {
        self.target
    }

    /// The couplings of the target on `lattice`.
    pub fn couplings(&self, lattice: &Lattice) -> Result<Couplings, IrgError> {
        Ok(Couplings::homogeneous(lattice, self.target)?)
    }

    /// One inverse step of the configuration `phi` on `coarse`: the convolution, the
    /// rescaling, the noise (drawn from `rng`) and the sweeps (`fine_couplings` must be the
    /// target on the fine lattice, see [`InverseRg::couplings`]).  Returns the fine
    /// configuration and gives the generator back.
    pub fn upscale(
        &self,
        coarse: &Lattice,
        phi: &[f64],
        fine_couplings: &Couplings,
        rng: SimRng,
    ) -> Result<(Vec<f64>, SimRng), IrgError> {
        self.upscale_with(coarse, phi, fine_couplings, rng, &mut None)
    }

    /// [`InverseRg::upscale`] with the refinement chain `cached`: built on first use and
    /// then reused (its field and generator replaced), which gives the same bits as a new
    /// chain and saves building one per configuration.  `cached` must only ever see the
    /// same `fine_couplings`.
    fn upscale_with(
        &self,
        coarse: &Lattice,
        phi: &[f64],
        fine_couplings: &Couplings,
        mut rng: SimRng,
        cached: &mut Option<Chain>,
    ) -> Result<(Vec<f64>, SimRng), IrgError> {
        let (fine, mut out) = self.conv.apply(coarse, phi)?;
        if fine_couplings.n_sites() != fine.n_sites() {
            return Err(IrgError::Lattice(format!(
                "the fine couplings have {} sites but the {}×{} lattice has {}",
                fine_couplings.n_sites(),
                fine.lx(),
                fine.ly(),
                fine.n_sites()
            )));
        }
        let Refinement {
            rescale,
            noise,
            sweeps,
            local,
        } = self.refinement;
        for x in &mut out {
            *x *= rescale;
            if noise > 0.0 {
                let z: f64 = StandardNormal.sample(&mut rng);
                *x += noise * z;
            }
        }
        if sweeps == 0 {
            return Ok((out, rng));
        }
        let chain = match cached {
            Some(chain) => chain,
            None => {
                let mut chain = Chain::new(fine_couplings, local.algorithm(), mc_sampler::chain_rng(0, 0))?;
                if let Some(step) = self.step {
                    chain.set_step_size(step)?;
                }
                cached.insert(chain)
            }
        };
        chain.set_field(&out)?;
        chain.swap_rng(&mut rng);
        for _ in 0..sweeps {
            chain.sweep();
        }
        chain.swap_rng(&mut rng);
        Ok((chain.field(), rng))
    }

    /// The lineage of one parent configuration `phi` on `base`: `steps` inverse steps, each
    /// from the previous one, with the observables of the parent and of every rescaled
    /// configuration (`steps + 1` entries, smallest first).  `couplings[k]` must be the
    /// target on the lattice of level `k` (see [`InverseRg::couplings`]); the generator
    /// `rng` drives all steps, so a lineage is reproducible from its stream alone.
    pub fn lineage(
        &self,
        base: &Lattice,
        phi: &[f64],
        couplings: &[Couplings],
        rng: SimRng,
        visit: impl FnMut(usize, &Lattice, &[f64]),
    ) -> Result<Vec<Observables>, IrgError> {
        self.lineage_with(base, phi, couplings, rng, &mut Vec::new(), visit)
    }

    /// [`InverseRg::lineage`] reusing the refinement chains `chains` (one per level, built
    /// on first use; the same bits as new chains).  Every call with the same `chains` must
    /// pass the same `couplings`.
    pub(crate) fn lineage_with(
        &self,
        base: &Lattice,
        phi: &[f64],
        couplings: &[Couplings],
        rng: SimRng,
        chains: &mut Vec<Option<Chain>>,
        mut visit: impl FnMut(usize, &Lattice, &[f64]),
    ) -> Result<Vec<Observables>, IrgError> {
        check_field(base, phi, "parent configuration")?;
        let Some(first) = couplings.first() else {
            return Err(IrgError::Parameter(
                "no levels to measure; give the couplings of at least the parent lattice".into(),
            ));
        };
        let mut lattice = *base;
        let mut field = phi.to_vec();
        let mut rng = rng;
        let mut out = vec![Observables::measure(first, &field)];
        visit(0, &lattice, &field);
        for (level, fine_couplings) in couplings.iter().enumerate().skip(1) {
            if chains.len() < level {
                chains.resize_with(level, || None);
            }
            let (next, r) = self.upscale_with(&lattice, &field, fine_couplings, rng, &mut chains[level - 1])?;
            rng = r;
            lattice = crate::blocking::fine_lattice(&lattice)?;
            field = next;
            out.push(Observables::measure(fine_couplings, &field));
            visit(level, &lattice, &field);
        }
        Ok(out)
    }
}
