use inverse_rg::*;
use mc_sampler::{Algorithm, RunConfig, run_chains, stats::{chi_and_binder, gamma_method}};
use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous};

fn r(x: &[Vec<f64>]) -> Vec<&[f64]> { x.iter().map(Vec::as_slice).collect() }

fn direct(l: usize, target: Homogeneous, sweeps: u64) -> String {
    let lattice = Lattice::new(l, l).unwrap();
    let c = Couplings::homogeneous(&lattice, target).unwrap();
    let cfg = RunConfig { algorithm: Algorithm::Hybrid, n_chains: 4, n_therm: 200, n_sweeps: sweeps, measure_every: 1, seed: 99, save_configs: false, two_point: false, progress_every: 0 };
    let out = run_chains(&c, &cfg, |_| {}).unwrap();
    let s = |f: fn(&phi4_action::Observables) -> f64| -> Vec<Vec<f64>> { out.chains.iter().map(|ch| ch.observables.iter().map(f).collect()).collect() };
    let (a, b, d) = (s(|o| o.m_abs), s(|o| o.m2), s(|o| o.m4));
    let cb = chi_and_binder(&r(&a), &r(&b), &r(&d), l * l);
    let ma = gamma_method(&r(&a));
    format!("direct L={l}: |m|={:.4}({:.4}) chi={:.3}({:.3}) U={:.4}({:.4}) cpu={:.1}s", ma.mean, ma.err, cb.chi.mean, cb.chi.err, cb.binder.mean, cb.binder.err, out.timing().update_seconds)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mu2: f64 = args[1].parse().unwrap();
    let l0: usize = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let zeta: f64 = args[4].parse().unwrap();
    let direct_sizes: Vec<usize> = args[5].split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let target = Homogeneous { kappa: 1.0, mu2, lambda: 0.7 };
    let lattice = Lattice::new(l0, l0).unwrap();
    let parents = Parents::simulate(&lattice, target, ParentRun { n_chains: 4, n_configs: 1000, sweeps_between: 2, n_therm: 200, seed: 5 }).unwrap();
    let conv = parents.fit_inverse(BlockRule::Average { rescale: zeta }, 1).unwrap();
    println!("kernel parity0: {:?}", &conv.weights()[..9].iter().map(|w| (w * 1000.0).round() / 1000.0).collect::<Vec<_>>());
    println!("kernel sum: {:.4}", conv.weights().iter().sum::<f64>());
    for spec in args[6..].iter() {
        let p: Vec<f64> = spec.split(',').map(|s| s.parse().unwrap()).collect();
        let refinement = Refinement { rescale: p[0], noise: p[1], sweeps: p[2] as u64, local: if p[3] == 0.0 { LocalUpdate::HeatBath } else { LocalUpdate::Metropolis } };
        let inv = InverseRg::new(conv.clone(), refinement, target).unwrap();
        let ens = RescaledEnsemble::rescale(&parents, &inv, steps, 11, |_, _, _, _| {}, |_| {}).unwrap();
        println!("refinement {refinement:?}: cpu {:.1}s bin {}", ens.cpu_seconds, ens.bin_size());
        for o in ens.observables() {
            println!("  L={:4} |m|={:.4}({:.4}) chi={:.3}({:.3}) U={:.4}({:.4}) dU={:.3}({:.3}) Vm2={:.2}", o.size, o.m_abs.mean, o.m_abs.err, o.chi.mean, o.chi.err, o.binder.mean, o.binder.err, o.binder_slope.mean, o.binder_slope.err, o.m2.mean * (o.size * o.size) as f64);
        }
        if steps >= 2 {
            let e = ens.exponents(mu2, 1..steps + 1).unwrap();
            println!("  gamma/nu={:.3}({:.3}) nu={:.3}({:.3})", e.gamma_over_nu.mean, e.gamma_over_nu.err, e.nu.mean, e.nu.err);
        }
    }
    for l in direct_sizes { println!("{}", direct(l, target, 4000)); }
}
