//! Inverse renormalization group for lattice φ⁴: large near-critical ensembles from a small
//! lattice, the critical fixed point, the inverse flow and critical exponents.
//!
//! A blocking transformation with scale factor `b = 2` maps a configuration of `L × L` to one
//! of `L/2 × L/2` ([`block`]: the block average times a field rescaling factor, or the
//! majority sign).  Its inverse takes `L` to `2L`: a transposed convolution with stride 2 and
//! periodic wrap ([`TransposedConv`], radius 1 = a 6×6 kernel that couples neighbouring
//! blocks), fitted by least squares on (blocked, original) pairs of the small lattice
//! ([`Parents::fit_inverse`]), followed by a [`Refinement`] at the target couplings (a field
//! rescaling, Gaussian noise, and local sweeps).  Applied `k` times to every parent
//! configuration ([`InverseRg::lineage`], [`RescaledEnsemble::rescale`]), it gives ensembles of
//! size `2^k L` whose cost is `O(V)` per configuration and does not grow with the
//! autocorrelation time of direct simulation (what that cost is against the cluster
//! hybrid is measured below, in "Cost at 512²").  Each rescaled configuration descends from
//! one parent, so errors are jackknifed over bins of parents (bins inside Markov chains,
//! sized by the Γ-method `τ_int`), with all sizes in one jackknife sample
//! ([`analysis`]); [`RescaledEnsemble::observables_at`] reweights in μ² with the parents'
//! action.  With parents at several μ², [`scaling`] fits `χ`, `⟨|m|⟩` and `U` of every size
//! by lines in μ² and gives `γ/ν` (and `β/ν`) from their values at a fixed point against
//! `ln L′`.  Direct simulation ([`DirectEnsemble`]: the cluster hybrid, reweighted on a μ²
//! grid with its own action and kept as jackknife bins) gives the Binder crossings of
//! consecutive direct sizes ([`binder_crossings`], the finite-size-scaling critical μ²) and,
//! matched to the Binder cumulants of the rescaled sizes, the inverse flow `μ² → μ²′`
//! ([`inverse_flow`]): its fixed point, and `ν` from the slopes of the flow over several
//! levels; refining each level at the coupling the flow gives it
//! ([`RescaledEnsemble::rescale_at`], [`InverseFlow::level_mu2`]) removes the pull of the
//! sweeps towards the parents' μ².
//!
//! # The trap, and the refinement of record
//!
//! The least-squares inverse of the plain 2×2 average keeps the magnetisation of every
//! configuration: summing its normal equations over the four parities shows that the summed
//! kernel is `4δ`, so `Σφ_fine = 4 Σφ_coarse`, `χ` grows by exactly 4 per step, `⟨|m|⟩` and
//! `U` do not change and `γ/ν` comes out as 2 (a test reproduces this to 1e-9).  A linear
//! map also adds no short-distance fluctuations.  Chosen by measurement against direct
//! simulation (the numbers and commands are in `ARCHITECTURE.md`, section
//! `crates/inverse-rg`): a few local sweeps at the target couplings lower `χ` towards direct
//! simulation, and with 100 sweeps per step `⟨|m|⟩`, `χ` and `U` agree with it within about
//! 2σ at the fixed point; Gaussian noise after the convolution lowers `⟨|m|⟩` but not `χ`
//! (it adds short-distance fluctuations, not the missing long-distance ones); a field
//! rescaling `ζ` makes the deterministic map give `χ` ratios of exactly `4/ζ²`, i.e. it puts
//! `γ/ν` in by hand.  So the refinement of record is the least-squares inverse of the plain
//! average, no rescaling, no noise, and 100 checkerboard Metropolis sweeps at the target
//! couplings (the vectorised lattice kernel, its step tuned once and frozen, so the sweeps
//! are exact for the target; 100 of them relax further than 10 heat-bath sweeps in less than
//! half the CPU time).
//!
//! What the sweeps do not do: they relax short and intermediate wavelengths, while the
//! longest modes are inherited from the parent.  Away from the fixed point the rescaled
//! sizes therefore flow towards it (the inverse flow) instead of following direct
//! simulation at the parents' μ²: their Binder cumulants change little with μ², the slopes
//! `dU/dμ²` do not grow like `L^{1/ν}` (so `ν` from those slopes, reported by [`scaling`],
//! is not an estimate of ν), and reweighting with the parents' action moves only the
//! inherited part.
//!
//! # ν from the inverse flow, and where its bias came from
//!
//! The rescaled size of level `k` at the parents' μ² has the Binder cumulant of direct
//! simulation of its size at some `μ²′`; near the fixed point `μ²′ − μ²* = s_k (μ² − μ²*)`.
//! An exact inverse transformation would give `s_k = 2^{−k/ν}`, i.e. `ν = k ln 2 / (−ln s_k)`,
//! which gave ν = 1.35 ± 0.26 at 128² (three parent μ² over ±0.01).  Measured slopes
//! (8² parents at μ² = −0.99 … −0.91 in steps of 0.02, 1000 per μ²; direct simulation of
//! each rescaled size, 4 × 4000 hybrid sweeps):
//!
//! | sweeps per step | `s₁` (16²) | `s₂` (32²) | `s₃` (64²) | `s₂/s₁` | `s₃/s₂` | χ(64²) rescaled − direct |
//! |---|---|---|---|---|---|---|
//! | 30 | 0.534(67) | 0.272(34) | 0.136(17) | 0.51 | 0.50 | +4.8σ |
//! | 100 | 0.683(63) | 0.447(33) | 0.241(18) | 0.65 | 0.54 | +0.7σ |
//! | 300 | 0.848(63) | 0.684(38) | 0.378(22) | 0.81 | 0.55 | +1.1σ |
//!
//! So the bias is the refinement: on the small lattices of the first steps the sweeps at the
//! parents' μ² relax the rescaled configuration back towards the parents' coupling (the
//! slope of the first step goes from 2^{−1} towards 1 as the sweeps grow), while on larger
//! lattices they only reach wavelengths that are short against `L` and each step inherits
//! the flow, `s_{k+1}/s_k → 2^{−1/ν}`.  Fewer sweeps keep the flow but not `χ` (the trap
//! comes back).  So the sweeps stay at 100 per step, and their coupling is what changes
//! (next section).  Every `ν` is jackknifed once over the bins of every parent ensemble and
//! every direct ensemble, so the strong correlation of slopes that come from the same
//! parents is in the error.
//!
//! With 100 sweeps at the parents' μ² (`qftml irg --lattice 8 --steps 4
//! --mu2=-0.99,-0.97,-0.95,-0.93,-0.91 --configs 250 --chains 4 --validate 8,16,32,64,128
//! --direct-configs 10000 --fit-from 32 --seed 1`) the slopes are 0.698(60), 0.447(30),
//! 0.239(15), 0.128(8) at 16², 32², 64², 128², and `ν` from the least-squares line of
//! `ln s_k` against `k` over 32² … 128² is 1.110(37): the pull back to the parents' μ² has
//! not died out at 128², and ν stays about 10 % high.
//!
//! # Refinement along the flow (the method of record for ν)
//!
//! The sweeps should equilibrate a rescaled configuration at the coupling it represents,
//! not at the parents'.  [`RescaledEnsemble::rescale_at`] refines level `l` at any given μ²,
//! and [`InverseFlow::level_mu2`] gives the μ² that level `l` of a parent at μ² represents
//! according to a measured flow, `μ²* + s_l (μ² − μ²*)`.  So the rescaling runs in passes
//! (`qftml irg --flow-passes`): pass 1 refines at the parents' μ², pass `p + 1` refines every
//! level at the coupling pass `p`'s flow gives it (central values: the jackknife of pass
//! `p + 1` treats them as fixed; on the large lattices a change of the refinement coupling
//! moves the matched coupling by only about 15 % of it, so that uncertainty is damped).
//! The parents, the fitted convolution and the direct ensembles are the same in every pass,
//! and so are the generator streams.  `ν` comes from the fit of `ln s_k` against `k` over
//! the matched levels from 32² up ([`LevelFit`], one jackknife over every parent and direct
//! ensemble, so the correlations of the slopes are in the error; the free intercept takes up
//! the first steps, whose 16² lattices the sweeps re-equilibrate almost completely).  The
//! same command with `--flow-passes 4`, pass by pass:
//!
//! | pass | `s₁` (16²) | `s₂` (32²) | `s₃` (64²) | `s₄` (128²) | ν over 32² … 128² |
//! |---|---|---|---|---|---|
//! | 1 (parents' μ²) | 0.698(60) | 0.447(30) | 0.239(15) | 0.128(8) | 1.110(37) |
//! | 2 | 0.645(58) | 0.306(29) | 0.153(13) | 0.078(7) | 1.018(37) |
//! | 3 | 0.564(57) | 0.288(28) | 0.142(13) | 0.074(7) | 1.014(39) |
//! | 4 | 0.557(60) | 0.256(29) | 0.131(14) | 0.068(7) | 1.046(43) |
//!
//! After the first pass the slopes halve from level to level (`2^{−1/ν}` with ν = 1) and ν
//! is within 5 % of 1 with an error below 5 %; passes 2–4 agree within their errors, and
//! the figure uses three.  The fixed point of the flow, −0.95048(28), agrees with the
//! Binder crossing of direct simulation at 64²/128², −0.95069(50).  At the central μ²
//! (next to the fixed point) the refinement couplings hardly move, so the comparison with
//! direct simulation at 64² and 128² is unchanged (within 1.4σ for `⟨|m|⟩`, `χ`, `U`).
//!
//! # Cost at 512²
//!
//! What one 8² → 512² lineage costs (`qftml irg --base-lattice 8 --max-lattice 512
//! --mu2=-0.9507 --configs 20 --chains 1 --sweeps N --threads 1`, back to back, load
//! average 9–10 on two cores, so only the ratios mean anything): 0.05–0.07 s with no
//! sweeps (the convolutions and the measurements), 0.33–0.37 s with one sweep per step,
//! 0.64–0.67 s with 41.  So a sweep of every level costs about 0.0075 s, and building the
//! refinement chain of every level for every configuration cost about 0.3 s, as much as
//! 40 sweeps (copies of the 512² couplings, fresh allocations and the sampler's layout).
//! Each worker now keeps one refinement chain per level and hands it the next lineage's
//! field and generator (the same bits as a new chain, a test checks it): on an idle
//! two-core machine a lineage with 100 sweeps per step went from 69 to 50 ms
//! (`--configs 20 --chains 2 --sweeps 100 --threads 1`, results identical).
//!
//! The fewest sweeps that keep the agreement with direct simulation (`qftml irg
//! --base-lattice 8 --max-lattice 128 --mu2=-0.95 --configs 250 --chains 4 --validate 64,128
//! --direct-configs 10000 --sweeps N --seed 1`; rescaled − direct in combined standard
//! errors for `⟨|m|⟩`, `χ`, `U`): 30 sweeps give +1.6, +4.7, −2.8σ at 64² and +3.9, +4.3,
//! −1.8σ at 128²; 50 sweeps +1.0, +2.0, −1.2σ and +2.9, +1.7, −0.4σ; 100 sweeps (the
//! figure's run at −0.95) −0.8, +0.9, −1.2σ and +1.6, +0.6, +0.1σ.  So 50 is the least
//! that stays within 3σ, barely, and 100 is kept.
//!
//! The rule for the cost against direct simulation: the direct CPU time for the rescaled
//! error is the CPU time of the direct measurement sweeps times `(direct error / rescaled
//! error)²` (errors fall like `1/√sweeps`), against the CPU time of the parents and of their
//! whole lineages (every size up to 512²) at that μ².  With every lineage carried to 512²
//! the rescaled ensemble is not cheaper than the cluster hybrid: at 512² the hybrid has
//! `τ_int(m²)` ≈ 9.5 sweeps at 3.6 ms a sweep, about 70 ms per independent configuration, a
//! lineage costs 50 ms, and a rescaled configuration fluctuates more than an independent
//! direct one (`χ` most).  Measured at μ² = −0.9507 on two cores, one thread per run (the
//! other core busy with an unrelated job, so both sides ran alike) (`qftml irg
//! --base-lattice 8 --max-lattice 512 --mu2=-0.9507 --chains 4 --validate 512
//! --direct-configs 2000 --threads 1`, with `--configs 250` for every lineage to 512², and
//! `--configs 50000 --multilevel R` for the multilevel estimates below), direct CPU for the
//! rescaled error over rescaled CPU:
//!
//! | lineages | rescaled CPU | `⟨|m|⟩` | `χ` | `U` |
//! |---|---|---|---|---|
//! | 1000, every one to 512² | 54 s | 0.89 | 0.20 | 0.61 |
//! | multilevel R = 3 (275 reach 512²) | 46 s | 14.6 | 3.2 | 12.0 |
//! | the same, `--seed 2` | 44 s | 15.2 | 3.9 | 16.3 |
//! | multilevel R = 4 (49 reach 512²) | 19 s | 11.1 | 2.8 | 9.1 |
//! | R = 3 from 16² parents (`--base-lattice 16 --configs 25000`) | 54 s | 16.2 | 3.8 | 13.4 |
//!
//! [`multilevel`] is what makes the inverse RG pay: a lineage's levels are strongly coupled
//! (the sweeps of a large lattice relax only short wavelengths; `|m|` of 256² and 512²
//! correlate at 0.997), so few lineages need to reach the large sizes and most of the
//! statistics come from the cheap ones (`level_cpu_s` of the record: with R = 3 every size
//! from 16² to 512² takes 5–11 s).  Regressing each moment on its own counterpart alone,
//! instead of on all three moments of the level below, gives 13.6, 2.9 and 10.2 (seed 1).
//! Even so `χ`, a small difference of two moments, gains least, and 50× (the issue's
//! target) is out of reach against a cluster algorithm that has almost no critical slowing
//! down in two dimensions: per independent 512² configuration the hybrid costs about 220
//! Metropolis sweeps of 512², the multilevel estimate already spreads its time evenly over
//! the sizes, and what remains is the refinement itself, 100 sweeps per step (with fewer
//! than about 50, `χ` leaves direct simulation: the trap).  Against local
//! Metropolis, whose `τ_int(|m|)` at the talk's point grows from 444 sweeps (32²) to
//! 43,000 (256²) and about 3·10⁵ at 512² (`qftml sample --lattice 512 --kappa 1 --mu2
//! -0.9515 --lambda 0.7 --algorithm metropolis --chains 1 --therm 1000000 --sweeps 10000000
//! --measure-every 10 --threads 1`: 2.9(1.3)·10⁵ sweeps, a run of only 34 `τ_int` that
//! qftml flags as unreliable; 1.3 ns per site update, 75 min), the rescaled estimates are
//! cheaper by orders of magnitude: that run's ⟨|m|⟩ error, 0.031 after 3800 s of CPU, would
//! need about 3.5·10⁶ s to reach the multilevel estimate's 0.0010, which took 46 s.
//!
//! # Example
//!
//! ```
//! use inverse_rg::{BlockRule, InverseRg, LocalUpdate, ParentRun, Parents, Refinement, RescaledEnsemble};
//! use mrf_graph::Lattice;
//! use phi4_action::Homogeneous;
//!
//! let target = Homogeneous { kappa: 1.0, mu2: -0.95, lambda: 0.7 };
//! let run = ParentRun { n_chains: 2, n_configs: 40, sweeps_between: 2, n_therm: 100, seed: 7 };
//! let parents = Parents::simulate(&Lattice::new(8, 8).unwrap(), target, run).unwrap();
//! let conv = parents.fit_inverse(BlockRule::Average { rescale: 1.0 }, 1).unwrap();
//! let refinement = Refinement { rescale: 1.0, noise: 0.0, sweeps: 20, local: LocalUpdate::Metropolis };
//! let inverse = InverseRg::new(conv, refinement, target).unwrap();
//! let rescaled = RescaledEnsemble::rescale(&parents, &inverse, 2, 11, |_, _, _, _| {}, |_| {}).unwrap();
//! let sizes: Vec<usize> = rescaled.observables().iter().map(|o| o.size).collect();
//! assert_eq!(sizes, [8, 16, 32]);
//! let chi: Vec<f64> = rescaled.observables().iter().map(|o| o.chi.mean).collect();
//! // The sweeps break the trap: χ grows by less than 4 per step.
//! assert!(chi[1] < 4.0 * chi[0] && chi[2] < 4.0 * chi[1]);
//! ```
#![deny(missing_docs)]

pub mod analysis;
mod blocking;
mod ensemble;
mod error;
mod flow;
pub mod multilevel;
mod scaling;
mod transposed;
mod upscale;

pub use blocking::{BlockRule, block, coarse_lattice, fine_lattice};
pub use ensemble::{ParentRun, Parents, RescaledEnsemble};
pub use error::IrgError;
pub use flow::{
    Crossing, DirectEnsemble, InverseFlow, LevelFit, LevelFlow, StepExponent, binder_crossings, direct_grid,
    inverse_flow,
};
pub use multilevel::{Coefficients, LevelMoments, Multilevel};
pub use scaling::{Scaling, scaling};
pub use transposed::TransposedConv;
pub use upscale::{InverseRg, LocalUpdate, Refinement};

#[cfg(test)]
mod tests;
