//! Reweighting of exact free-field draws against exact Gaussian answers (DESIGN.md section 4).
//!
//! The samples come from `mc_sampler::exact::ExactGaussian`: independent draws, so no Markov
//! chain has to be trusted.  Every statistical check is `|estimate − exact| < K σ` with the
//! jackknife σ of the library and a fixed seed; `K = 4` unless stated.

use mc_sampler::{chain_rng, exact::ExactGaussian};
use mrf_graph::Lattice;
use phi4_action::Homogeneous;
use phi4_action::gaussian::{FreeField, GaussianMrf};
use reweight::{
    ChainSums, Coupling, MultiHistogramOptions, ReducedPotentials, ReweightEnsemble, ReweightOptions, Reweighted,
    SampledAction, Scan, Target, multi_histogram, reweight, scan, trajectory,
};

#[path = "trust/mod.rs"]
mod trust;

const K_SIGMA: f64 = 4.0;

fn free(kappa: f64, mu2: f64) -> Target {
    Target::new(Homogeneous {
        kappa,
        mu2,
        lambda: 0.0,
    })
}

fn exact(lattice: Lattice, t: &Target) -> FreeField {
    FreeField {
        lattice,
        kappa: t.kappa,
        mu2: t.mu2,
        g_nnn: t.g_nnn,
        imag_mass: t.imag_mass,
    }
}

/// `n_chains` batches of `n_per_chain` exact draws of the real target `sampled`.
fn draws(lattice: Lattice, sampled: Target, n_chains: u64, n_per_chain: usize, seed: u64) -> ReweightEnsemble {
    let couplings = sampled.couplings(&lattice).unwrap();
    let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&couplings).unwrap());
    let chains = (0..n_chains)
        .map(|c| {
            let mut rng = chain_rng(seed, c);
            let configs: Vec<Vec<f64>> = (0..n_per_chain).map(|_| sampler.sample(&mut rng)).collect();
            ChainSums::from_configs(&couplings, &lattice, configs.iter().map(|c| c.as_slice())).unwrap()
        })
        .collect();
    ReweightEnsemble::new(lattice, SampledAction::Homogeneous(sampled), chains).unwrap()
}

/// One free-field ensemble (κ = 1) per μ² of `mu2s`, ensemble `k` from seed `seed + k`.
fn free_ensembles(
    lattice: Lattice,
    mu2s: &[f64],
    n_chains: u64,
    n_per_chain: usize,
    seed: u64,
) -> Vec<ReweightEnsemble> {
    mu2s.iter()
        .enumerate()
        .map(|(k, &m)| draws(lattice, free(1.0, m), n_chains, n_per_chain, seed + k as u64))
        .collect()
}

#[track_caller]
fn check(what: &str, value: f64, err: f64, exact: f64) {
    assert!(
        err.is_finite() && err > 0.0,
        "{what}: error {err} is not a positive number"
    );
    let pull = (value - exact) / err;
    println!("{what}: {value:.6} ± {err:.2e} vs {exact:.6} ({pull:+.2} σ)");
    assert!(
        pull.abs() < K_SIGMA,
        "{what}: {value} ± {err} vs exact {exact} ({pull:.2} σ)"
    );
}

/// ⟨φ²⟩, V⟨m²⟩, ⟨m²⟩ (real and imaginary parts), ⟨T⟩/V = 1/2 (exact for any quadratic
/// action without linear term) and ln(Z_{Re T}/Z_S).
#[track_caller]
fn check_gaussian(r: &Reweighted, lattice: Lattice, sampled: &Target) {
    let v = lattice.n_sites() as f64;
    let t = &r.target;
    let ex = exact(lattice, t);
    let o = r.observables.as_ref().expect("a trusted point has observables");
    let name = format!("g′ = {}, c = {}", t.g_nnn, t.imag_mass);
    // (what, estimate, exact): real parts always, imaginary parts for complex targets.
    let part = |e: &reweight::Estimate, im: bool| if im { (e.im, e.err_im) } else { (e.re, e.err_re) };
    let parts: &[bool] = if t.is_complex() { &[false, true] } else { &[false] };
    for &im in parts {
        let (label, take) = if im { ("Im", 1) } else { ("Re", 0) };
        let pick = |z: num_complex::Complex64| [z.re, z.im][take];
        let scaled = |(x, err): (f64, f64)| (v * x, v * err);
        for (what, (value, err), truth) in [
            ("⟨φ²⟩", part(&o.phi2, im), pick(ex.phi2())),
            ("V⟨m²⟩", scaled(part(&o.m2, im)), pick(ex.v_m2())),
            ("⟨nn⟩", part(&o.nn, im), pick(ex.nn())),
            // ⟨T⟩/V = 1/2 for any quadratic action without linear term.
            (
                "⟨T⟩/V",
                part(&o.action_density, im),
                pick(num_complex::Complex64::new(0.5, 0.0)),
            ),
        ] {
            check(&format!("{name}: {label} {what}"), value, err, truth);
        }
    }
    let ln_z = exact(lattice, &t.real_part()).ln_z().re - exact(lattice, sampled).ln_z().re;
    if ln_z != 0.0 {
        check(
            &format!("{name}: ln Z_T/Z_S"),
            r.ln_z_ratio.mean,
            r.ln_z_ratio.err,
            ln_z,
        );
    }
    match r.avg_phase {
        Some(p) => {
            // Average phase = Z_T / Z_{Re T}.
            let phase = (ex.ln_z() - exact(lattice, &t.real_part()).ln_z()).exp();
            for (what, value, err, truth) in [
                ("Re phase", p.re, p.err_re, phase.re),
                ("Im phase", p.im, p.err_im, phase.im),
                ("|phase|", p.abs, p.err, phase.norm()),
            ] {
                check(&format!("{name}: {what}"), value, err, truth);
            }
        }
        None => assert_eq!((t.is_complex(), o.phi2.im, o.phi2.err_im), (false, 0.0, 0.0)),
    }
}

fn lattice8() -> Lattice {
    Lattice::new(8, 8).unwrap()
}

/// The free field at κ = μ² = 1 on [`lattice8`] and `n_chains` batches of `n_per_chain` of
/// its exact draws ([`draws`]).
fn unit_free_field_draws(n_chains: u64, n_per_chain: usize, seed: u64) -> (Lattice, Target, ReweightEnsemble) {
    let (lattice, s) = (lattice8(), free(1.0, 1.0));
    (lattice, s, draws(lattice, s, n_chains, n_per_chain, seed))
}

#[test]
fn diagonal_coupling_reproduces_exact_free_field() {
    let (lattice, s, ensemble) = unit_free_field_draws(2, 10_000, 11);
    let opts = ReweightOptions::recommended();
    for g in [0.04, 0.08, -0.1] {
        let r = reweight(&ensemble, &s.with_g_nnn(g), &opts).unwrap();
        assert!(!r.flagged, "g′ = {g}: {:?}", r.reason);
        check_gaussian(&r, lattice, &s);
        // KL(p_T‖p_S) and KL(p_S‖p_T) against the exact Gaussian values.
        let p_t = GaussianMrf::from_couplings(&s.with_g_nnn(g).couplings(&lattice).unwrap()).unwrap();
        let p_s = GaussianMrf::from_couplings(&s.couplings(&lattice).unwrap()).unwrap();
        let kl = &r.overlap;
        check(
            "KL(T‖S)",
            kl.kl_target_sampled.mean,
            kl.kl_target_sampled.err,
            p_t.kl(&p_s),
        );
        check(
            "KL(S‖T)",
            kl.kl_sampled_target.mean,
            kl.kl_sampled_target.err,
            p_s.kl(&p_t),
        );
    }
}

#[test]
fn imaginary_mass_reproduces_exact_complex_expectations_and_phase() {
    let (lattice, s, ensemble) = unit_free_field_draws(2, 10_000, 12);
    let opts = ReweightOptions::recommended();
    for (g, c) in [(0.0, 0.1), (0.0, 0.25), (0.05, 0.15)] {
        let r = reweight(&ensemble, &s.with_g_nnn(g).with_imag_mass(c), &opts).unwrap();
        assert!(!r.flagged, "c = {c}: {:?}", r.reason);
        check_gaussian(&r, lattice, &s);
    }
}

#[test]
fn chain_of_reweightings_equals_direct_one() {
    let (_, s, ensemble) = unit_free_field_draws(2, 3_000, 13);
    let opts = ReweightOptions::recommended();
    let (t1, t2) = (
        s.with_g_nnn(0.05).with_imag_mass(0.1),
        s.with_g_nnn(0.08).with_imag_mass(0.2),
    );
    let direct = reweight(&ensemble, &t2, &opts).unwrap();
    let chained = reweight(&ensemble.reweighted(&t1).unwrap(), &t2, &opts).unwrap();
    assert_eq!((direct.bin_size, direct.n_bins), (chained.bin_size, chained.n_bins));
    let close = |what: &str, a: f64, b: f64| {
        assert!(
            (a - b).abs() <= 1e-9 * (1.0 + a.abs()),
            "{what}: direct {a} vs chained {b}"
        );
    };
    let (da, ca) = (direct.observables.unwrap(), chained.observables.unwrap());
    for ((name, a), (_, b)) in da.named().iter().zip(ca.named()) {
        close(name, a.re, b.re);
        close(name, a.im, b.im);
        close(name, a.err_re, b.err_re);
        close(name, a.err_im, b.err_im);
    }
    let (pa, pb) = (direct.avg_phase.unwrap(), chained.avg_phase.unwrap());
    close("phase re", pa.re, pb.re);
    close("phase im", pa.im, pb.im);
    close("phase err", pa.err, pb.err);
    close("ess", direct.overlap.ess, chained.overlap.ess);
    close("ln Z", direct.ln_z_ratio.mean, chained.ln_z_ratio.mean);
    close(
        "KL",
        direct.overlap.kl_target_sampled.mean,
        chained.overlap.kl_target_sampled.mean,
    );
    // Reweighting back to the sampled action undoes the first step.
    let back = reweight(&ensemble.reweighted(&t1).unwrap(), &s, &opts).unwrap();
    let plain = reweight(&ensemble, &s, &opts).unwrap();
    close(
        "phi2 back",
        back.observables.unwrap().phi2.re,
        plain.observables.unwrap().phi2.re,
    );
    assert!(back.overlap.ess > plain.overlap.ess * (1.0 - 1e-9));
}

/// The correction step of the talk: samples of an inhomogeneous action (here an exact Gaussian
/// with site-dependent `a_i`, standing in for trained couplings) reweighted to a homogeneous
/// target through the recorded per-configuration action.
#[test]
fn inhomogeneous_sampled_action_reweights_through_recorded_actions() {
    let lattice = lattice8();
    let v = lattice.n_sites();
    let a: Vec<f64> = (0..v).map(|i| 2.5 + 0.1 * ((i * 7 % 5) as f64 - 2.0)).collect();
    let sampled = phi4_action::Couplings::on_lattice(
        &lattice,
        phi4_action::PairSet::NearestNeighbour,
        vec![1.0; 2 * v],
        a,
        vec![0.0; v],
        vec![0.0; v],
    )
    .unwrap();
    let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&sampled).unwrap());
    let mut rng = chain_rng(18, 0);
    let configs: Vec<Vec<f64>> = (0..20_000).map(|_| sampler.sample(&mut rng)).collect();
    let chain = ChainSums::from_configs(&sampled, &lattice, configs.iter().map(|c| c.as_slice())).unwrap();
    let ensemble = ReweightEnsemble::new(lattice, SampledAction::Recorded, vec![chain]).unwrap();
    let target = free(1.0, 1.0).with_g_nnn(0.05).with_imag_mass(0.1);
    let r = reweight(&ensemble, &target, &ReweightOptions::recommended()).unwrap();
    assert!(!r.flagged, "{:?}", r.reason);
    let ex = exact(lattice, &target);
    let o = r.observables.as_ref().unwrap();
    check("Re ⟨φ²⟩", o.phi2.re, o.phi2.err_re, ex.phi2().re);
    check("Im ⟨φ²⟩", o.phi2.im, o.phi2.err_im, ex.phi2().im);
    check("Re V⟨m²⟩", v as f64 * o.m2.re, v as f64 * o.m2.err_re, ex.v_m2().re);
    check("Im V⟨m²⟩", v as f64 * o.m2.im, v as f64 * o.m2.err_im, ex.v_m2().im);
    // ln(Z_{Re T}/Z_S) with the dense Gaussian ln Z of the inhomogeneous S.
    let ln_z = exact(lattice, &target.real_part()).ln_z().re - GaussianMrf::from_couplings(&sampled).unwrap().ln_z();
    check("ln Z_T/Z_S", r.ln_z_ratio.mean, r.ln_z_ratio.err, ln_z);
}

/// Reweighting to the sampled action: every weight is exactly 1, so the results are the plain
/// means and the jackknife errors are the plain standard errors of the bin means.
#[test]
fn reweighting_to_the_sampled_action_is_the_identity() {
    let lattice = Lattice::new(6, 6).unwrap();
    let s = free(1.0, 0.5);
    let ensemble = draws(lattice, s, 3, 1_000, 14);
    let v = lattice.n_sites() as f64;
    for opts in [
        ReweightOptions::recommended(),
        ReweightOptions::recommended().with_bin_size(7),
    ] {
        let r = reweight(&ensemble, &s, &opts).unwrap();
        assert_eq!(r.overlap.ess, 3000.0);
        assert_eq!(r.ln_z_ratio.mean, 0.0);
        assert_eq!(r.overlap.kl_target_sampled.mean, 0.0);
        assert!(r.avg_phase.is_none() && !r.flagged);
        assert!(r.overlap.histogram.under_sampled == r.overlap.histogram.under_target);
        let per_config = |f: &dyn Fn(&reweight::SufficientStats) -> f64| -> Vec<Vec<f64>> {
            ensemble
                .chains()
                .iter()
                .map(|c| c.stats().iter().map(f).collect())
                .collect()
        };
        let o = r.observables.unwrap();
        for (name, est, series) in [
            ("phi2", o.phi2, per_config(&|s| s.phi2 / v)),
            ("m2", o.m2, per_config(&|s| (s.phi1 / v).powi(2))),
            ("nn", o.nn, per_config(&|s| s.nn / (2.0 * v))),
            ("m_abs", o.m_abs, per_config(&|s| (s.phi1 / v).abs())),
        ] {
            let n = series.iter().map(Vec::len).sum::<usize>() as f64;
            let mean = series.iter().map(|c| c.iter().sum::<f64>()).sum::<f64>() / n;
            assert!(
                (est.re - mean).abs() <= 1e-14 * mean.abs(),
                "{name}: {} vs plain mean {mean}",
                est.re
            );
            let bins: Vec<f64> = series
                .iter()
                .flat_map(|c| mc_sampler::stats::bin_means(c, r.bin_size))
                .collect();
            let nb = bins.len() as f64;
            let bm = bins.iter().sum::<f64>() / nb;
            let plain_err = (bins.iter().map(|b| (b - bm).powi(2)).sum::<f64>() / (nb * (nb - 1.0))).sqrt();
            assert!(
                (est.err_re - plain_err).abs() <= 1e-10 * plain_err,
                "{name}: {} vs {plain_err}",
                est.err_re
            );
            assert_eq!((est.im, est.err_im), (0.0, 0.0));
        }
        if let Some(b) = opts.bin_size {
            assert_eq!(r.bin_size, b);
        }
    }
}

/// A scan evaluates each point exactly as a single reweighting of a point among as many
/// would (compared through `Debug`, where NaN equals NaN: k̂ of the unshifted point is NaN);
/// the grid of two scans has the first scan varying slowest.
#[test]
fn scan_points_equal_single_reweightings() {
    let (_, s, ensemble) = unit_free_field_draws(1, 2_000, 15);
    let opts = ReweightOptions::recommended();
    let line: Scan = "g-nnn=0:0.1:6".parse().unwrap();
    let points = scan(&ensemble, &trajectory(s, &[line]), &opts).unwrap();
    assert_eq!(points.len(), 6);
    for p in &points {
        let single = reweight(&ensemble, &p.target, &opts.with_scan_points(6)).unwrap();
        assert_eq!(format!("{single:?}"), format!("{p:?}"));
    }
    assert_eq!(Coupling::GNnn.get(&points[5].target), 0.1);
    let grid = trajectory(s, &[line, "imag_mass=0:0.2:3".parse().unwrap()]);
    assert_eq!(grid.len(), 18);
    assert_eq!((grid[1].g_nnn, grid[1].imag_mass), (0.0, 0.1));
    assert_eq!((grid[3].g_nnn, grid[3].imag_mass), (0.02, 0.0));
}

/// Poor overlap is flagged: far along g′ the effective sample size collapses; at a large
/// imaginary mass the average phase is lost in its noise.
#[test]
fn poor_overlap_and_lost_phase_are_flagged() {
    let (_, s, ensemble) = unit_free_field_draws(1, 2_000, 16);
    let opts = ReweightOptions::recommended();
    let good = reweight(&ensemble, &s.with_g_nnn(0.02), &opts).unwrap();
    assert!(!good.flagged, "{:?}", good.reason);
    let far = reweight(&ensemble, &s.with_g_nnn(0.22), &opts).unwrap();
    assert!(
        far.flagged && far.reason.as_deref().unwrap().contains("effective sample"),
        "{far:?}"
    );
    let signy = reweight(&ensemble, &s.with_imag_mass(3.0), &opts).unwrap();
    assert!(
        signy.flagged && signy.reason.as_deref().unwrap().contains("phase"),
        "{:?}",
        signy.reason
    );
    // Histograms are normalised distributions on common bins.
    let h = &far.overlap.histogram;
    assert_eq!(h.edges.len(), h.under_sampled.len() + 1);
    assert!((h.under_sampled.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!((h.under_target.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // A target that is not normalisable is refused.
    assert!(reweight(&ensemble, &s.with_g_nnn(0.3), &opts).is_err());
}

/// Multi-histogram reweighting over four exact Gaussian ensembles at different μ²: free-energy
/// differences against exact ln Z, and expectations at unsampled μ² and g′.
#[test]
fn multi_histogram_matches_exact_free_energies() {
    let lattice = lattice8();
    let mu2s = [0.7, 0.9, 1.1, 1.3];
    let ensembles = free_ensembles(lattice, &mu2s, 2, 2_000, 100);
    let refs: Vec<&ReweightEnsemble> = ensembles.iter().collect();
    let targets = [free(1.0, 0.8), free(1.0, 1.2), free(1.0, 1.0).with_g_nnn(0.05)];
    let mh = multi_histogram(&refs, &targets, &MultiHistogramOptions::recommended()).unwrap();
    let ln_z0 = exact(lattice, &free(1.0, mu2s[0])).ln_z().re;
    for (k, &m) in mu2s.iter().enumerate().skip(1) {
        let truth = -(exact(lattice, &free(1.0, m)).ln_z().re - ln_z0);
        let d = mh.delta_f[k];
        check(&format!("ΔF(μ² = {m})"), d.mean, d.err, truth);
        // Independent samples: jackknife and asymptotic errors agree to within their noise.
        let ratio = d.err / mh.delta_f_asymptotic_err[k];
        assert!((0.6..1.6).contains(&ratio), "jackknife/asymptotic error ratio {ratio}");
    }
    let v = lattice.n_sites() as f64;
    for p in &mh.points {
        let ex = exact(lattice, &p.target);
        let o = &p.observables;
        check("MBAR ΔF_T", p.delta_f.mean, p.delta_f.err, -(ex.ln_z().re - ln_z0));
        check("MBAR ⟨φ²⟩", o.phi2.re, o.phi2.err_re, ex.phi2().re);
        check("MBAR V⟨m²⟩", v * o.m2.re, v * o.m2.err_re, ex.v_m2().re);
        check("MBAR ⟨nn⟩", o.nn.re, o.nn.err_re, ex.nn().re);
        check("MBAR ⟨T⟩/V", o.action_density.re, o.action_density.err_re, 0.5);
        check("MBAR χ", o.chi.re, o.chi.err_re, ex.chi());
        assert!(p.ess > 100.0 && !p.flagged, "{:?}", p.reason);
    }
}

/// The data behind the pymbar comparison: K = 4 exact Gaussian ensembles (8×8, κ = 1,
/// μ² = 0.7, 0.9, 1.1, 1.3; 1 chain of 1000 draws each, seeds 200 + k), u_kn = S_k.
fn pymbar_data() -> ReducedPotentials {
    let lattice = lattice8();
    let mu2s = [0.7, 0.9, 1.1, 1.3];
    let ensembles = free_ensembles(lattice, &mu2s, 1, 1_000, 200);
    let stats: Vec<_> = ensembles
        .iter()
        .flat_map(|e| e.chains().iter().flat_map(|c| c.stats().iter().copied()))
        .collect();
    let u_kn: Vec<Vec<f64>> = mu2s
        .iter()
        .map(|&m| stats.iter().map(|s| free(1.0, m).real_action(s)).collect())
        .collect();
    ReducedPotentials::new(&u_kn, vec![1_000; 4]).unwrap()
}

/// Both solve the same equations, so they agree to the solvers' tolerances: |ΔΔf| < 1e-10,
/// relative difference of the asymptotic errors < 1e-8.
///
/// Golden values from pymbar 4.0.3 (numpy 2.4.6, scipy 1.17.1), `MBAR(u_kn, N_k)` with its
/// default solver and `compute_free_energy_differences()` (default `svd-ew` uncertainties), on
/// the u_kn of [`pymbar_data`] (exported with `cargo run --release -p reweight --example
/// export_ukn`).  Δf_{0k} and dΔf_{0k}, k = 1, 2, 3.
#[test]
fn mbar_agrees_with_pymbar() {
    const PYMBAR_DELTA_F: [f64; 3] = [1.752732881328176e+00, 3.379640252695967e+00, 4.902030409696966e+00];
    const PYMBAR_ERR: [f64; 3] = [6.761884816144655e-03, 1.179229516276734e-02, 1.61166562476867e-02];
    let u = pymbar_data();
    let sol = reweight::solve_mbar(&u, &reweight::MbarOptions::recommended(), None).unwrap();
    let theta = reweight::asymptotic_covariance(&u, &sol);
    for k in 1..4 {
        let err = (theta[(k, k)] + theta[(0, 0)] - 2.0 * theta[(0, k)]).sqrt();
        println!("k = {k}: Δf = {:.15e} ± {:.15e}", sol.f[k], err);
        assert!(
            (sol.f[k] - PYMBAR_DELTA_F[k - 1]).abs() < 1e-10,
            "Δf_{k}: {} vs pymbar {}",
            sol.f[k],
            PYMBAR_DELTA_F[k - 1]
        );
        assert!(
            (err - PYMBAR_ERR[k - 1]).abs() < 1e-8 * PYMBAR_ERR[k - 1],
            "dΔf_{k}: {err} vs pymbar {}",
            PYMBAR_ERR[k - 1]
        );
    }
}

/// Larger statistics of the exact checks (QFTML_SLOW=1).
#[test]
fn slow_high_statistics_complex_reweighting() {
    if !trust::slow("slow_high_statistics_complex_reweighting") {
        return;
    }
    let (lattice, s, ensemble) = unit_free_field_draws(4, 50_000, 17);
    let opts = ReweightOptions::recommended();
    for (g, c) in [(0.1, 0.0), (0.1, 0.3), (0.0, 0.5)] {
        let r = reweight(&ensemble, &s.with_g_nnn(g).with_imag_mass(c), &opts).unwrap();
        check_gaussian(&r, lattice, &s);
    }
}

/// The overlap matrix and its spectrum agree with pymbar's `compute_overlap()` on the same
/// data (golden values from pymbar 4.0.3, numpy 2.4.6, `MBAR(u_kn, N_k)` with its default
/// solver, on the u_kn of [`pymbar_data`]), to 1e-10.
#[test]
fn overlap_matrix_agrees_with_pymbar() {
    const PYMBAR_MATRIX: [[f64; 4]; 4] = [
        [
            0.31438277939533116,
            0.2649386745520193,
            0.2258905847180239,
            0.19478796133462592,
        ],
        [
            0.2649386745520193,
            0.2561789576520715,
            0.24524416681042674,
            0.23363820098548338,
        ],
        [
            0.2258905847180239,
            0.24524416681042674,
            0.25937917404704425,
            0.2694860744245061,
        ],
        [
            0.19478796133462592,
            0.23363820098548338,
            0.2694860744245061,
            0.30208776325538456,
        ],
    ];
    const PYMBAR_EIGENVALUES: [f64; 4] = [
        1.000000000000001,
        1.2649291495563209e-01,
        5.44250070435111e-03,
        9.325868984777302e-05,
    ];
    const PYMBAR_SCALAR: f64 = 0.8735070850443679;
    let u = pymbar_data();
    let sol = reweight::solve_mbar(&u, &reweight::MbarOptions::recommended(), None).unwrap();
    let overlap = reweight::state_overlap(&u, &sol);
    for (i, row) in PYMBAR_MATRIX.iter().enumerate() {
        for (j, want) in row.iter().enumerate() {
            let got = overlap.matrix[i][j];
            assert!((got - want).abs() < 1e-10, "O[{i}][{j}] = {got} vs pymbar {want}");
        }
    }
    for (got, want) in overlap.eigenvalues.iter().zip(PYMBAR_EIGENVALUES) {
        assert!((got - want).abs() < 1e-10, "eigenvalue {got} vs pymbar {want}");
    }
    assert!(
        (overlap.gap - PYMBAR_SCALAR).abs() < 1e-10,
        "{} vs {PYMBAR_SCALAR}",
        overlap.gap
    );
}
