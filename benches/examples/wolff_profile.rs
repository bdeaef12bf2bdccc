//! A fixed run of Wolff updates for profilers and instruction counters: the talk's point
//! (κ = 1, μ² = −0.9515, λ = 0.7) on 256², a field thermalised by 40 hybrid sweeps (seed
//! 1, chain 0), then `N` Wolff updates (first argument, default 100).  It prints the sites
//! added and the wall time per site added; the work is the same on every run, so
//! instruction counts compare kernels exactly:
//!
//! ```sh
//! cargo build --release -p qftml-benches --example wolff_profile
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/wolff_profile 100
//! ```

use std::time::Instant;

use mc_sampler::{Algorithm, Chain, chain_rng};
use mrf_graph::Lattice;
use phi4_action::Couplings;
use phi4_action::targets::POINT_A;

fn main() {
    let updates: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 100,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("the number of updates must be a non-negative integer: {e}");
            std::process::exit(2);
        }
    };
    let c = Couplings::homogeneous(&Lattice::square(256).unwrap(), POINT_A).unwrap();
    let mut chain = Chain::new(&c, Algorithm::Hybrid, chain_rng(1, 0)).unwrap();
    chain.thermalise(40);
    let start = Instant::now();
    let added: usize = (0..updates).map(|_| chain.cluster_update()).sum();
    println!(
        "{updates} Wolff updates added {added} sites, {:.2} ns per site added",
        start.elapsed().as_secs_f64() * 1e9 / added.max(1) as f64
    );
}
