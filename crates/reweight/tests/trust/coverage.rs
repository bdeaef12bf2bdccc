//! Coverage of the error bars, checked from both sides: over many seeds, the fraction of exact
//! values within 1σ and 2σ of the estimate must lie in a band around 68.3 % and 95.4 % whose
//! half-width is 3 binomial standard deviations for the number of seeds.  Errors 30 % too
//! small or 40 % too large fail the same band (checked on the same pulls), so the test has
//! teeth in both directions.

use mrf_graph::Lattice;
use reweight::{MultiHistogramOptions, ReweightEnsemble, ReweightOptions, multi_histogram, reweight};

use super::slow;
use crate::{draws, exact, free};

const P1: f64 = 0.682_689_492;
const P2: f64 = 0.954_499_736;

/// `|f − p| ≤ 3 √(p(1 − p)/n)` for both fractions.
fn in_band(pulls: &[f64]) -> (bool, f64, f64) {
    let n = pulls.len() as f64;
    let frac = |k: f64| pulls.iter().filter(|p| p.abs() < k).count() as f64 / n;
    let (f1, f2) = (frac(1.0), frac(2.0));
    let ok = |f: f64, p: f64| (f - p).abs() <= 3.0 * (p * (1.0 - p) / n).sqrt();
    (ok(f1, P1) && ok(f2, P2), f1, f2)
}

/// The pulls `(estimate − exact)/σ` of one quantity over seeds cover as they should, and
/// the same pulls with σ scaled by 0.7 or 1.4 do not.
#[track_caller]
fn check_coverage(what: &str, pulls: &[f64]) {
    assert!(pulls.iter().all(|p| p.is_finite()), "{what}: non-finite pull");
    let (ok, f1, f2) = in_band(pulls);
    println!(
        "{what}: {} seeds, within 1σ {:.3} (expected {P1:.3}), within 2σ {:.3} (expected {P2:.3})",
        pulls.len(),
        f1,
        f2
    );
    assert!(ok, "{what}: coverage {f1:.3} / {f2:.3} outside the binomial band");
    for scale in [0.7, 1.4] {
        let scaled: Vec<f64> = pulls.iter().map(|p| p / scale).collect();
        assert!(
            !in_band(&scaled).0,
            "{what}: errors × {scale} would pass too: the band is too wide"
        );
    }
}

/// Pulls over `n_seeds` of single-ensemble reweighting from a 6×6 free field (κ = 1, μ² = 1,
/// 1000 exact draws) to g′ = 0.05 (real) and to c = 0.2 (complex).
fn single_ensemble(n_seeds: u64) {
    let lattice = Lattice::new(6, 6).unwrap();
    let s = free(1.0, 1.0);
    let (real, complex) = (s.with_g_nnn(0.05), s.with_imag_mass(0.2));
    let (ex_real, ex_complex) = (exact(lattice, &real), exact(lattice, &complex));
    let phase = (ex_complex.ln_z() - exact(lattice, &s).ln_z()).exp();
    let mut pulls: [Vec<f64>; 6] = Default::default();
    for seed in 0..n_seeds {
        let ensemble = draws(lattice, s, 1, 1_000, 10_000 + seed);
        let opts = ReweightOptions::recommended();
        let r = reweight(&ensemble, &real, &opts).unwrap();
        let o = r.observables.unwrap();
        pulls[0].push((o.phi2.re - ex_real.phi2().re) / o.phi2.err_re);
        pulls[1].push((o.nn.re - ex_real.nn().re) / o.nn.err_re);
        let c = reweight(&ensemble, &complex, &opts).unwrap();
        let o = c.observables.unwrap();
        pulls[2].push((o.phi2.re - ex_complex.phi2().re) / o.phi2.err_re);
        pulls[3].push((o.phi2.im - ex_complex.phi2().im) / o.phi2.err_im);
        let p = c.avg_phase.unwrap();
        pulls[4].push((p.re - phase.re) / p.err_re);
        pulls[5].push((p.im - phase.im) / p.err_im);
    }
    for (what, p) in [
        "real g′ = 0.05: ⟨φ²⟩",
        "real g′ = 0.05: ⟨nn⟩",
        "complex c = 0.2: Re ⟨φ²⟩",
        "complex c = 0.2: Im ⟨φ²⟩",
        "complex c = 0.2: Re phase",
        "complex c = 0.2: Im phase",
    ]
    .iter()
    .zip(&pulls)
    {
        check_coverage(what, p);
    }
}

/// Pulls over `n_seeds` of multi-histogram reweighting from two 6×6 free-field ensembles
/// (μ² = 0.9 and 1.1, 500 exact draws each) to μ² = 1: the free-energy difference of the
/// states (jackknife and asymptotic errors) and ⟨φ²⟩, ⟨nn⟩ at the target.
fn mbar(n_seeds: u64) {
    let lattice = Lattice::new(6, 6).unwrap();
    let (a, b, t) = (free(1.0, 0.9), free(1.0, 1.1), free(1.0, 1.0));
    let delta_f = -(exact(lattice, &b).ln_z().re - exact(lattice, &a).ln_z().re);
    let ex = exact(lattice, &t);
    let mut pulls: [Vec<f64>; 4] = Default::default();
    for seed in 0..n_seeds {
        let ea = draws(lattice, a, 1, 500, 20_000 + 2 * seed);
        let eb = draws(lattice, b, 1, 500, 20_001 + 2 * seed);
        let refs: [&ReweightEnsemble; 2] = [&ea, &eb];
        let mh = multi_histogram(&refs, &[t], &MultiHistogramOptions::recommended()).unwrap();
        let d = mh.delta_f[1];
        pulls[0].push((d.mean - delta_f) / d.err);
        pulls[1].push((d.mean - delta_f) / mh.delta_f_asymptotic_err[1]);
        let o = &mh.points[0].observables;
        pulls[2].push((o.phi2.re - ex.phi2().re) / o.phi2.err_re);
        pulls[3].push((o.nn.re - ex.nn().re) / o.nn.err_re);
    }
    for (what, p) in ["MBAR ΔF (jackknife)", "MBAR ΔF (asymptotic)", "MBAR ⟨φ²⟩", "MBAR ⟨nn⟩"]
        .iter()
        .zip(&pulls)
    {
        check_coverage(what, p);
    }
}

#[test]
fn single_ensemble_error_bars_cover_exact_values() {
    single_ensemble(300);
}

#[test]
fn multi_histogram_error_bars_cover_exact_values() {
    mbar(300);
}

/// 2000 seeds: the band is then ±3 % at 1σ, tight enough to catch errors 10 % off.
#[test]
fn slow_error_bars_cover_exact_values() {
    if slow("slow_error_bars_cover_exact_values") {
        single_ensemble(2_000);
        mbar(2_000);
    }
}
