//! Cost of the cluster updates of `mc-sampler` and of a sweep of the cluster schedules, in
//! sites per second.
//!
//! Every group reports `Throughput::Elements(V)`, so criterion prints `Melem/s` = million
//! sites per second (1000 / that = ns per site):
//! - `swendsen_wang/L`: one Swendsen–Wang update (every site belongs to a cluster, so this
//!   is the cost per site added) at the talk's point (κ = 1, μ² = −0.9515, λ = 0.7), on a
//!   thermalised field, L = 64 and 256 (the lattice kernel);
//! - `swendsen_wang_general/L`: the same with slightly inhomogeneous `a`, which forces the
//!   general pair-list kernel;
//! - `sweep/schedule/L`: one sweep of each schedule that uses clusters (`cluster`,
//!   `hybrid`, `sw`) at the talk's point, elements = V, so the number is the cost of a sweep
//!   per site (to be set beside τ_int in sweeps).
//!
//! Run: `cargo bench -p qftml-benches --bench cluster` (add a filter, e.g. `-- swendsen_wang/`).
//!
//! Measured 2026-11-28 on the 2-core development VM (2 GHz, another benchmark running on the
//! other core; repeated runs vary by about 10–20%), ns per site:
//!
//! | group | L = 64 | 256 |
//! |---|---|---|
//! | `swendsen_wang` (one update, lattice kernel, AVX-512 bond tests and flip pass, unions from bit masks) | 11 | 9.5 |
//! | same, criterion mean on the idle VM (2026-11-29) | 10.0 | 8.9 |
//! | `swendsen_wang`, branch-free labelling with a per-row union list (before) | 16 | 14 |
//! | `swendsen_wang`, per-site union–find joins (before the branch-free labelling) | 23 | 24 |
//! | `swendsen_wang`, first version (`f64` bond tests, every bond joined by union–find) | 41 | 34 |
//! | `swendsen_wang_general` (pair list, accurate exponential) | 77 | 81 |
//! | `sweep/hybrid` (4 × (Metropolis sweep + global pass) + SW) | 46 | 44 |
//! | `sweep/sw` (SW + Metropolis sweep) | 30 | 26 |
//!
//! The `swendsen_wang` rows are the best of several runs on 2026-11-28 (the VM was loaded;
//! the first row is the best of 3 runs, in which the previous code gave 19 / 18 ns per site;
//! single runs vary by 10–20%); the `sweep` rows were measured before the branch-free
//! labelling.  The target for cluster updates is 10 ns per site added: SW reaches
//! it on 256² and is just above it on 64² (a loop timed in thread CPU time, best of 15,
//! gives 8–9 ns per site on both).  Of the 9.5 ns on 256² the labelling takes about 4.5
//! (about 1.1 finds per site, bound by chains of dependent loads), the bond tests about 2
//! plus 1 for their random words, the flip pass about 1.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mc_sampler::Algorithm;
use phi4_action::Couplings;

mod common;
use common::{inhomogeneous, talk_point, thermalised};

fn swendsen_wang(c: &mut Criterion) {
    for (group, make) in [
        ("swendsen_wang", talk_point as fn(usize) -> Couplings),
        ("swendsen_wang_general", inhomogeneous),
    ] {
        let mut g = c.benchmark_group(group);
        for l in [64usize, 256] {
            g.throughput(Throughput::Elements((l * l) as u64));
            // The chain is built on the first call of the closure, which criterion makes only
            // when the filter matches.
            let mut chain = None;
            g.bench_with_input(BenchmarkId::from_parameter(l), &l, |b, _| {
                let chain = chain.get_or_insert_with(|| thermalised(&make(l), Algorithm::SwendsenWang, 200));
                b.iter(|| chain.swendsen_wang_update());
            });
            if let Some(chain) = chain {
                let s = chain.stats();
                eprintln!(
                    "{group}/{l}: mean cluster size {:.1}, flip rate {:.3}",
                    s.mean_cluster_size().unwrap_or(0.0),
                    s.acceptance()
                );
            }
        }
        g.finish();
    }
}

fn sweeps(c: &mut Criterion) {
    let mut g = c.benchmark_group("sweep");
    for algorithm in [Algorithm::Hybrid, Algorithm::SwendsenWang, Algorithm::Cluster] {
        for l in [64usize, 256] {
            let mut chain = thermalised(&talk_point(l), algorithm, 200);
            g.throughput(Throughput::Elements((l * l) as u64));
            g.bench_with_input(BenchmarkId::new(algorithm.name(), l), &l, |b, _| {
                b.iter(|| chain.sweep())
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = swendsen_wang, sweeps }
criterion_main!(benches);
