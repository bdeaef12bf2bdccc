//! Export the reduced potentials `u_kn` of exact Gaussian ensembles for a comparison with an
//! independent MBAR implementation, and time this crate's solver on them.
//!
//! `cargo run --release -p reweight --example export_ukn -- OUT.bin [K N_PER_STATE SEED]`
//! writes `K`, then `N_k` (K values), then `u_kn` row by row, all as little-endian `f64`.
//! Without the optional arguments it writes the data of the `mbar_agrees_with_pymbar` test
//! (K = 4, μ² = 0.7 … 1.3, 1000 draws each, seeds 200 + k).

use std::io::Write;
use std::time::Instant;

use mc_sampler::{chain_rng, exact::ExactGaussian};
use mrf_graph::Lattice;
use phi4_action::Homogeneous;
use phi4_action::gaussian::GaussianMrf;
use reweight::{MbarOptions, ReducedPotentials, SufficientStats, Target, asymptotic_covariance, solve_mbar};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().expect("usage: export_ukn OUT.bin [K N_PER_STATE SEED]");
    let (k, n, seed): (usize, usize, u64) = match &args[1..] {
        [k, n, seed] => (k.parse().unwrap(), n.parse().unwrap(), seed.parse().unwrap()),
        _ => (4, 1000, 200),
    };
    let lattice = Lattice::new(8, 8).unwrap();
    // μ² from 0.7 in steps of 0.2 for the default data, spread over [0.6, 1.4] otherwise.
    let mu2s: Vec<f64> = if k == 4 && args.len() == 1 {
        vec![0.7, 0.9, 1.1, 1.3]
    } else {
        (0..k).map(|i| 0.6 + 0.8 * i as f64 / (k - 1) as f64).collect()
    };
    let targets: Vec<Target> = mu2s
        .iter()
        .map(|&m| {
            Target::new(Homogeneous {
                kappa: 1.0,
                mu2: m,
                lambda: 0.0,
            })
        })
        .collect();
    let mut stats: Vec<SufficientStats> = Vec::with_capacity(k * n);
    for (i, t) in targets.iter().enumerate() {
        let sampler = ExactGaussian::new(&GaussianMrf::from_couplings(&t.couplings(&lattice).unwrap()).unwrap());
        let mut rng = chain_rng(seed + i as u64, 0);
        stats.extend((0..n).map(|_| SufficientStats::measure(&lattice, &sampler.sample(&mut rng))));
    }
    let u_kn: Vec<Vec<f64>> = targets
        .iter()
        .map(|t| stats.iter().map(|s| t.real_action(s)).collect())
        .collect();

    let mut bytes = Vec::with_capacity(8 * (1 + k + k * k * n));
    bytes.extend_from_slice(&(k as f64).to_le_bytes());
    for _ in 0..k {
        bytes.extend_from_slice(&(n as f64).to_le_bytes());
    }
    for row in &u_kn {
        for x in row {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::File::create(out).unwrap().write_all(&bytes).unwrap();

    // Best of 5 (the machine may be shared).
    let mut best = (f64::INFINITY, f64::INFINITY);
    let mut result = None;
    for _ in 0..5 {
        let start = Instant::now();
        let u = ReducedPotentials::new(&u_kn, vec![n; k]).unwrap();
        let sol = solve_mbar(&u, &MbarOptions::recommended(), None).unwrap();
        let solved = start.elapsed().as_secs_f64();
        let theta = asymptotic_covariance(&u, &sol);
        let total = start.elapsed().as_secs_f64();
        best = (best.0.min(solved), best.1.min(total));
        result = Some((sol, theta));
    }
    let (sol, theta) = result.expect("ran at least once");
    println!(
        "reweight: K = {k}, N = {}: solve {:.3} ms ({} Newton steps), solve + uncertainties {:.3} ms (best of 5)",
        k * n,
        best.0 * 1e3,
        sol.iterations,
        best.1 * 1e3
    );
    for i in 1..k {
        let err = (theta[(i, i)] + theta[(0, 0)] - 2.0 * theta[(0, i)]).sqrt();
        println!("Δf[0→{i}] = {:.15e} ± {:.15e}", sol.f[i], err);
    }
}
