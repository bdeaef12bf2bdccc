//! Cost of the Markov-chain kernels of `mc-sampler`, in site updates per second.
//!
//! Every group reports `Throughput::Elements(site updates)`, so criterion prints
//! `Melem/s` = million site updates per second (1000 / that = ns per site update).
//! - `metropolis/L`: one checkerboard Metropolis sweep at the talk's point
//!   (κ = 1, μ² = −0.9515, λ = 0.7), L = 8, 64, 256, 1024 (the vectorised lattice kernel);
//!   reading along L shows that the cost per site does not grow with the volume;
//! - `metropolis_general/L`: the same with slightly inhomogeneous `a`, which forces the
//!   general neighbour-table kernel;
//! - `measure/L`: measuring one configuration (`Chain::measure`), per site;
//! - `heatbath/L`: one exact heat-bath sweep;
//! - `wolff/L`: Wolff clusters until at least V sites were added (elements = V; the exact
//!   ns per site added is printed on stderr);
//! - `two_chains/threads`: two Metropolis chains of 1000 sweeps at L = 256 through
//!   `run_chains` on a pool of 1 or 2 threads (elements = site updates of both chains).
//!
//! Run: `cargo bench -p qftml-benches --bench sampler` (add a filter, e.g. `-- metropolis/`).
//!
//! - `random_words`: 4096 64-bit words from `rand_chacha`'s `fill` and from
//!   `mc_sampler::fill_u64` (identical words);
//! - `one_chain_split/threads`: one Metropolis chain at L = 1024 with its rows split over a
//!   pool of 1 or 2 threads (bit-identical either way);
//! - `linear_cost`: best-of-five ns per Metropolis site update at L = 64 … 1024, printed;
//!   under `cargo bench` it fails if L = 1024 costs more than 1.5 times L = 64 per site.
//!
//! Later measurements (the vector kernels chosen at run time, default flags) are in
//! `benches/README.md`.
//!
//! Measured 2026-11-29 on the otherwise idle 2-core VM (`target-cpu=native`, AVX-512),
//! criterion means, ns per site update (the host adds ±15% between runs; ranges are
//! three runs):
//!
//! | kernel | L = 8 | 64 | 256 | 1024 |
//! |---|---|---|---|---|
//! | Metropolis, lattice kernel (AVX-512, cell-edge test by gather, no exponential) | 61 | 2.6–3.3 | 1.9–2.5 | 2.5–2.7 |
//! | same, best of five (`linear_cost`) | | 2.3–3.2 | 2.0–2.6 | 2.4–2.5 |
//! | Metropolis, degree-4 `2^r` test (2026-11-28) | 63 | 4.0 | 3.4 | 3.6 |
//! | heat bath (2026-11-28) | | 92 | 103 | |
//! | Wolff, per site added (talk's point, 2026-11-28) | | 84 | 104 | |
//! | two chains, 1 → 2 threads (L = 256, 1000 sweeps, through `run_chains`) | | | 2.90 → 1.59 (1.82×) | |
//! | one chain, rows split, 1 → 2 threads | | | | 2.9 → 1.6 (1.4–1.9× in three runs) |
//!
//! Random words: 1.08 ns per 64 bits with `fill_u64`, 2.2 with `rand_chacha`'s `fill`.
//! History of the Metropolis kernel at L = 256: 23 ns (scalar exponential), 17.5
//! (auto-vectorised, SSE2), 9.3 (same with AVX-512), 3.4 (AVX-512 intrinsics, bulk keystream,
//! 32-bit words), 1.9–2.5 (ΔS compared with the cell edges `−ln` of the acceptance cell,
//! read by one gather, instead of a polynomial exponential); the target is 3 ns.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mc_sampler::{Algorithm, RunConfig, chain_rng, run_chains};
use phi4_action::Couplings;

mod common;
use common::{inhomogeneous, talk_point, thermalised};

fn sweeps(c: &mut Criterion, group: &str, sizes: &[usize], make: fn(usize) -> Couplings, algorithm: Algorithm) {
    let mut g = c.benchmark_group(group);
    for &l in sizes {
        let mut chain = thermalised(&make(l), algorithm, 50);
        g.throughput(Throughput::Elements((l * l) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(l), &l, |b, _| b.iter(|| chain.sweep()));
    }
    g.finish();
}

fn metropolis(c: &mut Criterion) {
    sweeps(c, "metropolis", &[8, 64, 256, 1024], talk_point, Algorithm::Metropolis);
    sweeps(
        c,
        "metropolis_general",
        &[64, 256],
        inhomogeneous,
        Algorithm::Metropolis,
    );
}

/// Measuring one configuration (`Chain::measure`: action, `m`, `φ²`, `φ⁴`, the
/// nearest-neighbour product), per site.
fn measure(c: &mut Criterion) {
    let mut g = c.benchmark_group("measure");
    for l in [64usize, 256] {
        let mut chain = thermalised(&talk_point(l), Algorithm::Metropolis, 50);
        g.throughput(Throughput::Elements((l * l) as u64));
        g.bench_with_input(BenchmarkId::from_parameter(l), &l, |b, _| {
            b.iter(|| black_box(chain.measure()))
        });
    }
    g.finish();
}

fn heatbath(c: &mut Criterion) {
    sweeps(c, "heatbath", &[64, 256], talk_point, Algorithm::HeatBath);
}

fn wolff(c: &mut Criterion) {
    let mut g = c.benchmark_group("wolff");
    for l in [64usize, 256] {
        let v = l * l;
        let mut chain = thermalised(&talk_point(l), Algorithm::Hybrid, 50);
        g.throughput(Throughput::Elements(v as u64));
        let (mut sites, mut time) = (0usize, Duration::ZERO);
        g.bench_with_input(BenchmarkId::from_parameter(l), &l, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut added = 0;
                    while added < v {
                        added += chain.cluster_update();
                    }
                    sites += added;
                }
                let t = start.elapsed();
                time += t;
                t
            })
        });
        eprintln!(
            "wolff/{l}: {:.2} ns per site added, mean cluster size {:.1}",
            time.as_secs_f64() * 1e9 / sites.max(1) as f64,
            chain.stats().mean_cluster_size().unwrap_or(0.0)
        );
    }
    g.finish();
}

fn two_chains(c: &mut Criterion) {
    let l = 256;
    let couplings = talk_point(l);
    // Long enough that setting up the chains (layout, allocations: about 20 ms, partly
    // serial in the allocator) does not hide the cost of the sweeps.
    let n_sweeps = 1000;
    let config = RunConfig {
        algorithm: Algorithm::Metropolis,
        n_chains: 2,
        n_therm: 0,
        n_sweeps,
        measure_every: n_sweeps,
        seed: 1,
        save_configs: false,
        two_point: false,
        progress_every: 0,
    };
    let mut g = c.benchmark_group("two_chains");
    g.throughput(Throughput::Elements(2 * n_sweeps * (l * l) as u64));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, _| {
            b.iter(|| pool.install(|| black_box(run_chains(&couplings, &config, |_| {}).unwrap())))
        });
    }
    g.finish();
}

/// Random words: `rand_chacha`'s own `fill` against [`mc_sampler::fill_u64`] (same words).
fn random_words(c: &mut Criterion) {
    let n = 4096;
    let mut g = c.benchmark_group("random_words");
    g.throughput(Throughput::Elements(n as u64));
    let mut out = vec![0u64; n];
    let mut rng = chain_rng(1, 0);
    g.bench_function("rand_chacha_fill", |b| {
        b.iter(|| {
            rand::Rng::fill(&mut rng, &mut out[..]);
            black_box(out[0])
        })
    });
    g.bench_function("fill_u64", |b| {
        b.iter(|| {
            mc_sampler::fill_u64(&mut rng, &mut out);
            black_box(out[0])
        })
    });
    g.finish();
}

/// One Metropolis chain at L = 1024 on a pool of 1 or 2 threads: each sublattice is split
/// into row blocks (bit-identical results on any number of threads).
fn one_chain_split(c: &mut Criterion) {
    let l = 1024;
    let mut g = c.benchmark_group("one_chain_split");
    g.throughput(Throughput::Elements((l * l) as u64));
    let mut chain = thermalised(&talk_point(l), Algorithm::Metropolis, 50);
    chain.set_split_rows(true);
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, _| {
            b.iter(|| pool.install(|| chain.sweep()))
        });
    }
    g.finish();
}

/// The cost per site update does not grow with the volume: best-of-five wall time of a
/// Metropolis sweep per site at L = 64 … 1024, and a failure (in `cargo bench`, not in
/// the `--test` smoke run, where timings mean nothing) if the largest lattice costs more
/// than 1.5 times the smallest per site.
fn linear_cost(_: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    let sizes = [64usize, 128, 256, 512, 1024];
    let mut per_site = Vec::new();
    for &l in &sizes {
        let mut chain = thermalised(&talk_point(l), Algorithm::Metropolis, 50);
        let sweeps = (4 << 20) / (l * l) + 1;
        let best = (0..5)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..sweeps {
                    chain.sweep();
                }
                start.elapsed().as_secs_f64() * 1e9 / (sweeps * l * l) as f64
            })
            .fold(f64::INFINITY, f64::min);
        per_site.push(best);
    }
    let table: Vec<String> = sizes
        .iter()
        .zip(&per_site)
        .map(|(l, t)| format!("L={l}: {t:.2}"))
        .collect();
    eprintln!(
        "linear_cost: ns per Metropolis site update, best of 5: {}",
        table.join(", ")
    );
    let ratio = per_site[per_site.len() - 1] / per_site[0];
    if measuring {
        assert!(
            ratio < 1.5,
            "cost per site grows with the volume: L=1024 / L=64 = {ratio:.2}"
        );
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = random_words, metropolis, measure, heatbath, wolff, two_chains, one_chain_split, linear_cost }
criterion_main!(benches);
