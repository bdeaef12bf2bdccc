//! Long scans on exact free fields: every unflagged point within 4σ of the exact value, and
//! the measured false-flag and missed-flag rates.
//!
//! A point is *reliable in truth* when the exact Gaussian answers say so: Pareto tail index
//! `k = max_k(1 − λ_k^T/λ_k^S) < 0.5` (finite weight variance) and exact Kish fraction
//! `ESS/N = Z_T² / (Z_S Z_{2T−S}) ≥ 0.1`, and for complex targets an exact average phase at least
//! 8 times its expected error `√((1 − |p|²)/N)`.  A *false flag* is a flagged point that is
//! reliable in truth; a *missed flag* is an unflagged point more than 4σ from the exact value.

use mrf_graph::Lattice;
use reweight::{ReweightOptions, Reweighted, Target, Thresholds, scan};

use super::slow;
use crate::{draws, exact, free, lattice8};

/// Exact Pareto tail index of the weights `e^{−(T−S)}` of two real Gaussian actions:
/// `max(0, max_k(1 − λ_k^T/λ_k^S))`.
pub(crate) fn exact_tail_index(lattice: Lattice, s: &Target, t: &Target) -> f64 {
    let (ls, lt) = (
        exact(lattice, s).eigenvalues(),
        exact(lattice, &t.real_part()).eigenvalues(),
    );
    ls.iter().zip(&lt).map(|(a, b)| 1.0 - b.re / a.re).fold(0.0, f64::max)
}

/// Exact expected Kish fraction `(E w)²/E w² = Z_T²/(Z_S Z_{2T−S})` (0 when `2T − S` is not
/// normalisable).
fn exact_ess_fraction(lattice: Lattice, s: &Target, t: &Target) -> f64 {
    let (ls, lt) = (
        exact(lattice, s).eigenvalues(),
        exact(lattice, &t.real_part()).eigenvalues(),
    );
    let mut ln_rho = 0.0;
    for (a, b) in ls.iter().zip(&lt) {
        let twice = 2.0 * b.re - a.re;
        if twice <= 0.0 {
            return 0.0;
        }
        // ln Z = −½ Σ ln λ + const.
        ln_rho += -0.5 * (twice.ln() + a.re.ln() - 2.0 * b.re.ln());
    }
    (-ln_rho).exp()
}

/// Counts over the points of some scans.
#[derive(Debug, Default)]
struct Rates {
    points: usize,
    flagged: usize,
    reliable: usize,
    false_flags: usize,
    missed: usize,
    worst_pull: f64,
}

impl Rates {
    fn add(&mut self, r: &Reweighted, lattice: Lattice, s: &Target, n: usize) {
        let t = &r.target;
        let phase_ok = if t.is_complex() {
            let p = (exact(lattice, t).ln_z() - exact(lattice, &t.real_part()).ln_z())
                .exp()
                .norm();
            p >= 8.0 * ((1.0 - p * p).max(0.0) / n as f64).sqrt()
        } else {
            true
        };
        let reliable = exact_tail_index(lattice, s, t) < 0.5 && exact_ess_fraction(lattice, s, t) >= 0.1 && phase_ok;
        self.points += 1;
        self.reliable += usize::from(reliable);
        if r.flagged {
            self.flagged += 1;
            self.false_flags += usize::from(reliable);
            return;
        }
        let o = r.observables.as_ref().expect("an unflagged point has observables");
        let ex = exact(lattice, t);
        let v = lattice.n_sites() as f64;
        let mut pulls = vec![
            (o.phi2.re - ex.phi2().re) / o.phi2.err_re,
            (o.m2.re - ex.m2().re) / o.m2.err_re,
            (o.nn.re - ex.nn().re) / o.nn.err_re,
            (v * o.m2.re - ex.v_m2().re) / (v * o.m2.err_re),
        ];
        if t.is_complex() {
            pulls.extend([
                (o.phi2.im - ex.phi2().im) / o.phi2.err_im,
                (o.m2.im - ex.m2().im) / o.m2.err_im,
                (o.nn.im - ex.nn().im) / o.nn.err_im,
            ]);
        }
        let worst = pulls.iter().fold(0.0_f64, |m, p| m.max(p.abs()));
        if worst >= 4.0 {
            self.missed += 1;
            println!(
                "missed: μ² = {}, g′ = {}, c = {}: {worst:.1}σ, ESS {:.0}, k̂ = {:.2}",
                t.mu2, t.g_nnn, t.imag_mass, r.overlap.ess, r.overlap.k_hat
            );
        }
        self.worst_pull = self.worst_pull.max(worst);
    }

    fn report(&self, what: &str) {
        println!(
            "{what}: {} points, {} flagged; {} reliable in truth, of which {} flagged (false-flag rate {:.3}); \
             {} of {} unflagged beyond 4σ (missed-flag rate {:.4}); largest unflagged pull {:.2}σ",
            self.points,
            self.flagged,
            self.reliable,
            self.false_flags,
            self.false_flags as f64 / self.reliable.max(1) as f64,
            self.missed,
            self.points - self.flagged,
            self.missed as f64 / (self.points - self.flagged).max(1) as f64,
            self.worst_pull
        );
    }
}

/// Scans of μ² (0.05 … 3), g′ (−0.24 … 0.24) and the imaginary mass (300 points, 0 … 3) from
/// free-field ensembles (8×8, κ = 1, μ² = 1, `n` exact draws) at `n_seeds` seeds.
fn measure(n_seeds: u64, n: usize, thresholds: Thresholds) -> [Rates; 3] {
    let mut options = ReweightOptions::recommended();
    options.thresholds = thresholds;
    let lattice = lattice8();
    let s = free(1.0, 1.0);
    let mu2: Vec<Target> = (0..60).map(|k| free(1.0, 0.05 + 0.05 * k as f64)).collect();
    let g: Vec<Target> = (0..49).map(|k| s.with_g_nnn(-0.24 + 0.01 * k as f64)).collect();
    let c: Vec<Target> = (1..=300).map(|k| s.with_imag_mass(0.01 * k as f64)).collect();
    let mut rates = [Rates::default(), Rates::default(), Rates::default()];
    for seed in 0..n_seeds {
        let ensemble = draws(lattice, s, 1, n, 500 + seed);
        for (targets, rate) in [&mu2, &g, &c].into_iter().zip(rates.iter_mut()) {
            for r in scan(&ensemble, targets, &options).unwrap() {
                rate.add(&r, lattice, &s, n);
            }
        }
    }
    rates
}

const SCANS: [&str; 3] = ["μ² scan", "g′ scan", "imaginary-mass scan"];

#[track_caller]
fn check(rates: &[Rates; 3], max_false_flag_rate: f64) {
    for (rate, what) in rates.iter().zip(SCANS) {
        rate.report(what);
        assert_eq!(rate.missed, 0, "{what}: unflagged points beyond 4σ");
        let false_rate = rate.false_flags as f64 / rate.reliable.max(1) as f64;
        assert!(
            false_rate <= max_false_flag_rate,
            "{what}: false-flag rate {false_rate}"
        );
    }
}

/// Done-when of issue 10 on exact free fields: 5 seeds × (60 μ² + 49 g′ + 300 imaginary-mass
/// points) from 4000 exact draws each.
#[test]
fn unflagged_scan_points_agree_with_exact_free_field() {
    check(&measure(5, 4_000, Thresholds::RECOMMENDED), 0.1);
}

/// The same with 20 seeds, and the measurement behind the k̂ limit of 0.45 for raw weights:
/// with PSIS's 0.7 (meant for Pareto-smoothed weights) unflagged points of the μ² and g′
/// scans lie beyond 4σ (QFTML_SLOW=1).
#[test]
fn slow_unflagged_scan_points_agree_with_exact_free_field() {
    if slow("slow_unflagged_scan_points_agree_with_exact_free_field") {
        check(&measure(20, 4_000, Thresholds::RECOMMENDED), 0.1);
        let psis = Thresholds {
            max_k_hat: 0.7,
            ..Thresholds::RECOMMENDED
        };
        let rates = measure(20, 4_000, psis);
        for (rate, what) in rates.iter().zip(SCANS) {
            rate.report(&format!("{what} with k̂ ≤ 0.7"));
        }
        assert!(rates[0].missed + rates[1].missed > 0);
    }
}
