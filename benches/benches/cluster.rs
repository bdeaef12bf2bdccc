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
//! - `wolff_update/L`: Wolff updates alone (the lattice path) at the talk's point on a field
//!   thermalised by 300 sweeps of the `cluster` schedule, clusters until at least V sites
//!   were added; the time is scaled to exactly V sites added, so `Melem/s` is million
//!   sites added per second.  On stderr: the exact ns per site added (also in thread CPU
//!   time where Linux gives it, and for the fastest sample), the mean cluster size, and
//!   the ns per site added of 200 updates replayed 15 times from one state, each update
//!   timed by its fastest replay (an update that another process interrupted does not
//!   count, so this number changes little with the host's load);
//! - `wolff_update_general/L`: the same with slightly inhomogeneous `a` (the general path);
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
//! Wolff updates: see `benches/README.md` (section "Wolff kernel") for the measurements,
//! before and after the rework of the lattice path, and the commands.
//!
//! The `swendsen_wang` rows are the best of several runs on 2026-11-28 (the VM was loaded;
//! the first row is the best of 3 runs, in which the previous code gave 19 / 18 ns per site;
//! single runs vary by 10–20%); the `sweep` rows were measured before the branch-free
//! labelling.  The target for cluster updates is 10 ns per site added: SW reaches
//! it on 256² and is just above it on 64² (a loop timed in thread CPU time, best of 15,
//! gives 8–9 ns per site on both).  Of the 9.5 ns on 256² the labelling takes about 4.5
//! (about 1.1 finds per site, bound by chains of dependent loads), the bond tests about 2
//! plus 1 for their random words, the flip pass about 1.

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mc_sampler::{Algorithm, Chain};
use phi4_action::Couplings;

mod common;
use common::{inhomogeneous, talk_point, thermalised};

/// Builds the couplings of a benchmark on an `l × l` lattice.
type Make = fn(usize) -> Couplings;

/// Runs `bench(group, name, l, make)` for the groups `[(name, make)]` (the talk's point,
/// then slightly inhomogeneous couplings) at L = 64 and 256, with `V` elements per
/// iteration.  The benchmarks build their chains on the first call of criterion's closure,
/// which criterion makes only when the filter matches.
fn lattice_groups(
    c: &mut Criterion,
    names: [&str; 2],
    mut bench: impl FnMut(&mut BenchmarkGroup<'_, WallTime>, &str, usize, Make),
) {
    for (name, make) in names.into_iter().zip([talk_point as Make, inhomogeneous]) {
        let mut g = c.benchmark_group(name);
        for l in [64usize, 256] {
            g.throughput(Throughput::Elements((l * l) as u64));
            bench(&mut g, name, l, make);
        }
        g.finish();
    }
}

fn swendsen_wang(c: &mut Criterion) {
    lattice_groups(c, ["swendsen_wang", "swendsen_wang_general"], |g, group, l, make| {
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
    });
}

/// Nanoseconds this thread has run on a CPU (Linux: `/proc/thread-self/schedstat`), so that
/// a loaded host's waiting time can be told apart from the kernel's cost.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Wall time per site added of the same `updates` Wolff updates replayed `replays` times
/// from the state of `chain`, each update timed by its fastest replay: an update that
/// another process interrupted does not count.
fn replayed_ns_per_site(chain: &Chain, updates: usize, replays: usize) -> f64 {
    let mut fastest = vec![f64::INFINITY; updates];
    let mut sizes = vec![0; updates];
    for _ in 0..replays {
        let mut chain = chain.clone();
        for (t, size) in fastest.iter_mut().zip(&mut sizes) {
            let start = Instant::now();
            *size = chain.cluster_update();
            *t = t.min(start.elapsed().as_secs_f64());
        }
    }
    fastest.iter().sum::<f64>() * 1e9 / sizes.iter().sum::<usize>().max(1) as f64
}

fn wolff(c: &mut Criterion) {
    lattice_groups(c, ["wolff_update", "wolff_update_general"], |g, group, l, make| {
        let v = l * l;
        let mut chain = None;
        let (mut sites, mut time, mut cpu) = (0usize, Duration::ZERO, Some(0u64));
        let mut fastest = f64::INFINITY;
        g.bench_with_input(BenchmarkId::from_parameter(l), &l, |b, _| {
            let chain = chain.get_or_insert_with(|| {
                let mut chain = thermalised(&make(l), Algorithm::Cluster, 300);
                chain.reset_stats();
                for _ in 0..20 {
                    chain.sweep();
                }
                let s = chain.stats();
                eprintln!(
                    "{group}/{l}: after thermalisation {} clusters per sweep cover {:.2} V (20 sweeps)",
                    chain.clusters_per_sweep().unwrap_or(0),
                    s.cluster_sites as f64 / (s.sweeps * v as u64) as f64
                );
                chain.reset_stats();
                chain
            });
            b.iter_custom(|iters| {
                let (mut added, start, cpu_start) = (0, Instant::now(), thread_cpu_ns());
                for _ in 0..iters {
                    let target = added + v;
                    while added < target {
                        added += chain.cluster_update();
                    }
                }
                let t = start.elapsed();
                cpu = cpu.zip(thread_cpu_ns().zip(cpu_start)).map(|(c, (b, a))| c + (b - a));
                sites += added;
                time += t;
                fastest = fastest.min(t.as_secs_f64() * 1e9 / added as f64);
                t.mul_f64((iters as usize * v) as f64 / added as f64)
            })
        });
        if let Some(chain) = chain {
            eprintln!(
                "{group}/{l}: {:.2} ns per site added, fastest of 15 replays of 200 updates",
                replayed_ns_per_site(&chain, 200, 15)
            );
            eprintln!(
                "{group}/{l}: {:.2} ns per site added ({} in thread CPU time, fastest sample {fastest:.2}), \
                     mean cluster size {:.1}",
                time.as_secs_f64() * 1e9 / sites.max(1) as f64,
                cpu.map_or("-".into(), |c| format!("{:.2}", c as f64 / sites.max(1) as f64)),
                chain.stats().mean_cluster_size().unwrap_or(0.0)
            );
        }
    });
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

criterion_group! { name = benches; config = config(); targets = swendsen_wang, wolff, sweeps }
criterion_main!(benches);
