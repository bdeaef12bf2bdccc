use inverse_rg::*;
use mrf_graph::Lattice;
use phi4_action::Homogeneous;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mu2s: Vec<f64> = args[1].split(',').map(|s| s.parse().unwrap()).collect();
    let l0: usize = args[2].parse().unwrap();
    let steps: usize = args[3].parse().unwrap();
    let sweeps: u64 = args[4].parse().unwrap();
    let n_configs: usize = args[5].parse().unwrap();
    let first: usize = args[6].parse().unwrap();
    let lattice = Lattice::new(l0, l0).unwrap();
    let mut ens = Vec::new();
    for (j, &mu2) in mu2s.iter().enumerate() {
        let target = Homogeneous { kappa: 1.0, mu2, lambda: 0.7 };
        let parents = Parents::simulate(&lattice, target, ParentRun { n_chains: 4, n_configs, sweeps_between: 2, n_therm: 200, seed: 5 + j as u64 }).unwrap();
        let conv = parents.fit_inverse(BlockRule::Average { rescale: 1.0 }, 1).unwrap();
        let inv = InverseRg::new(conv, Refinement { rescale: 1.0, noise: 0.0, sweeps, local: LocalUpdate::Metropolis }, target).unwrap();
        let e = RescaledEnsemble::rescale(&parents, &inv, steps, 11 + j as u64, |_, _, _, _| {}, |_| {}).unwrap();
        println!("mu2={mu2} cpu={:.1}s parents cpu={:.1}s", e.cpu_seconds, parents.cpu_seconds);
        for o in e.observables() {
            println!("  L={:4} |m|={:.4}({:.4}) chi={:.3}({:.3}) U={:.4}({:.4})", o.size, o.m_abs.mean, o.m_abs.err, o.chi.mean, o.chi.err, o.binder.mean, o.binder.err);
        }
        ens.push(e);
    }
    let s = scaling(&ens, first..steps + 1).unwrap();
    println!("{s:#?}");
}
