//! Cost of one exact draw from the one-dimensional quartic density
//! `p(x) ∝ exp(−a x² − b x⁴ + h x)`, the conditional of every φ⁴ unit and heat-bath site.
//!
//! Every group draws once in each of `N_FIELDS` different fields `h` (a mini-batch: the
//! fields are `h ~ N(0, 3²)`, fixed, built outside the timed closure) and reports
//! `Throughput::Elements(N_FIELDS)`, so `1000 / Melem/s` is nanoseconds per draw.
//! Shapes: `talk` (`a = 1.52425, b = 0.175`, the talk's point), `double_well`
//! (`a = −1, b = 0.5`, the initial φ⁴ unit of `qftml rbm`), `ising_like` (`a = −6, b = 3`).
//!
//! - `quartic/new_per_draw/SHAPE`: `QuarticSampler::new` in each field, then one draw (a
//!   sampler per draw: what a caller without the batch API pays);
//! - `quartic/batch/SHAPE`: `QuarticSampler::sample_fields` (per-shape constants computed
//!   once, one draw per field);
//! - `quartic/fixed_field/SHAPE`: draws from one sampler in one field (`h = 1`): the cost of
//!   the rejection loop alone.
//!
//! Before the criterion groups, the file prints (stderr) the smallest wall-clock time of one
//! mini-batch over `MIN_REPEATS` repeats, per draw, for the three ways: a batch takes about
//! 20 µs, well inside a time slice, so the minimum is the unloaded cost even on a busy host.
//!
//! Run: `cargo bench -p qftml-benches --bench quartic`; the numbers are in `benches/README.md`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mc_sampler::{QuarticSampler, chain_rng};
use phi4_action::Quartic;
use rand::Rng;
use rand::distr::Distribution;
use rand_distr::StandardNormal;

const N_FIELDS: usize = 1024;
const SHAPES: [(&str, f64, f64); 3] = [
    ("talk", 1.52425, 0.175),
    ("double_well", -1.0, 0.5),
    ("ising_like", -6.0, 3.0),
];

fn fields() -> Vec<f64> {
    let mut rng = chain_rng(7, 0);
    (0..N_FIELDS)
        .map(|_| 3.0 * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

const MIN_REPEATS: usize = 3000;

/// The smallest time of `run` over [`MIN_REPEATS`] calls, in ns per draw.
fn min_ns_per_draw(mut run: impl FnMut()) -> f64 {
    (0..MIN_REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
        * 1e9
        / N_FIELDS as f64
}

fn print_minima(h: &[f64], out: &mut [f64]) {
    for (name, a, b) in SHAPES {
        let mut rng = chain_rng(1, 0);
        let per_draw = min_ns_per_draw(|| {
            for (x, &h) in out.iter_mut().zip(h) {
                *x = QuarticSampler::new(Quartic { a, b, h }).unwrap().sample(&mut rng);
            }
            black_box(&out);
        });
        let sampler = QuarticSampler::new(Quartic { a, b, h: 0.0 }).unwrap();
        let batch = min_ns_per_draw(|| {
            sampler.sample_fields(h, out, &mut rng);
            black_box(&out);
        });
        let fixed = QuarticSampler::new(Quartic { a, b, h: 1.0 }).unwrap();
        let fixed_field = min_ns_per_draw(|| {
            for x in out.iter_mut() {
                *x = fixed.sample(&mut rng);
            }
            black_box(&out);
        });
        eprintln!(
            "quartic {name}: best of {MIN_REPEATS} batches of {N_FIELDS}, ns per draw: new_per_draw {per_draw:.1}, batch {batch:.1}, fixed_field {fixed_field:.1}"
        );
    }
}

fn quartic(c: &mut Criterion) {
    let h = fields();
    let mut out = vec![0.0; N_FIELDS];
    print_minima(&h, &mut out);
    let mut g = c.benchmark_group("quartic");
    g.throughput(Throughput::Elements(N_FIELDS as u64));
    for (name, a, b) in SHAPES {
        let mut rng = chain_rng(1, 0);
        g.bench_with_input(BenchmarkId::new("new_per_draw", name), &(a, b), |bench, &(a, b)| {
            bench.iter(|| {
                for (x, &h) in out.iter_mut().zip(&h) {
                    *x = QuarticSampler::new(Quartic { a, b, h }).unwrap().sample(&mut rng);
                }
                black_box(&out);
            })
        });
        let sampler = QuarticSampler::new(Quartic { a, b, h: 0.0 }).unwrap();
        g.bench_with_input(BenchmarkId::new("batch", name), &(a, b), |bench, _| {
            bench.iter(|| {
                sampler.sample_fields(&h, &mut out, &mut rng);
                black_box(&out);
            })
        });
        let fixed = QuarticSampler::new(Quartic { a, b, h: 1.0 }).unwrap();
        g.bench_with_input(BenchmarkId::new("fixed_field", name), &(a, b), |bench, _| {
            bench.iter(|| {
                for x in out.iter_mut() {
                    *x = fixed.sample(&mut rng);
                }
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, quartic);
criterion_main!(benches);
