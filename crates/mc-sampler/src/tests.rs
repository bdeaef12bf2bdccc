//! Exactness tests of the kernels: the quartic sampler against quadrature, every schedule
//! against the exact free field and against quadrature on a tiny graph, the schedules
//! against each other at the talk's interacting point, golden values and the thread-count
//! identity.
//!
//! Statistical tests use a fixed seed and `|estimate − exact| < K σ`, with σ from binned
//! chains (32 bins per chain, so each bin is far longer than the autocorrelation time) or
//! the plain standard error for independent draws.  Tests longer than about 10 s run only
//! with `QFTML_SLOW=1`.

use mrf_graph::{Graph, Lattice};
use phi4_action::gaussian::FreeField;
use phi4_action::targets::POINT_A;
use phi4_action::{Couplings, Homogeneous, PairSet, Quartic};
use rand::distr::Distribution;
use rayon::ThreadPoolBuilder;

use crate::fastexp::{APPROX_REL_ERR, exp_neg, exp_neg_approx};
use crate::global::GlobalMoves;
use crate::layout::Layout;
use crate::quartic::Envelope;
use crate::swendsen_wang::SwendsenWang;
use crate::{Algorithm, Chain, QuarticSampler, RunConfig, RunOutput, SamplerError, SimRng, chain_rng, run_chains};

/// Tolerance of the statistical tests, in standard errors.
const K: f64 = 4.5;

fn slow() -> bool {
    std::env::var("QFTML_SLOW").is_ok_and(|v| v == "1")
}

fn config(algorithm: Algorithm, n_chains: usize, n_sweeps: u64, seed: u64) -> RunConfig {
    RunConfig {
        algorithm,
        n_chains,
        n_therm: 500,
        n_sweeps,
        measure_every: 1,
        seed,
        save_configs: false,
        two_point: false,
        progress_every: 0,
    }
}

/// Mean and error of a quantity from several chains, by binning each chain into 32 bins.
fn binned(series: &[Vec<f64>]) -> (f64, f64) {
    let bins: Vec<f64> = series
        .iter()
        .flat_map(|s| {
            let size = s.len() / 32;
            s.chunks_exact(size)
                .map(|c| c.iter().sum::<f64>() / size as f64)
                .collect::<Vec<_>>()
        })
        .collect();
    let n = bins.len() as f64;
    let mean = bins.iter().sum::<f64>() / n;
    let var = bins.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn observable(out: &RunOutput, f: impl Fn(&phi4_action::Observables) -> f64) -> (f64, f64) {
    binned(
        &out.chains
            .iter()
            .map(|c| c.observables.iter().map(&f).collect())
            .collect::<Vec<_>>(),
    )
}

#[track_caller]
fn check_close(what: &str, (mean, err): (f64, f64), exact: f64) {
    assert!(
        (mean - exact).abs() < K * err,
        "{what}: {mean} ± {err} vs exact {exact} ({:.1}σ)",
        (mean - exact) / err
    );
    assert!(
        err < 0.05 * exact.abs().max(0.1),
        "{what}: error {err} too large to test anything"
    );
}

// ---------------------------------------------------------------------------------------
// fast exponential

#[test]
fn exp_neg_matches_libm_to_a_few_ulp() {
    let mut worst: f64 = 0.0;
    for k in 0..200_000 {
        let x = k as f64 * 0.0035 + 1e-9 * (k % 7) as f64;
        let (ours, libm) = (exp_neg(x), (-x).exp());
        worst = worst.max(((ours - libm) / libm).abs());
        let approx = exp_neg_approx(x);
        assert!(
            ((approx - ours) / ours).abs() < APPROX_REL_ERR,
            "approx at {x}: {approx} vs {ours}"
        );
    }
    assert!(worst < 1e-15, "worst relative error {worst}");
    assert_eq!(exp_neg(0.0), 1.0);
    assert_eq!(exp_neg(-3.0), 1.0);
    assert!(exp_neg(1e6) > 0.0 && exp_neg(1e6) < 1e-300);
}

// ---------------------------------------------------------------------------------------
// quartic sampler

/// Normalised density on a grid by the midpoint rule, and its CDF.
struct Quadrature {
    lo: f64,
    dx: f64,
    cdf: Vec<f64>,
    moments: [f64; 4],
}

impl Quadrature {
    fn new(q: Quartic) -> Self {
        // The log density is −∞ far out; find where it is 40 below its maximum.
        let (lo, hi, n) = (-30.0, 30.0, 600_000);
        let dx = (hi - lo) / n as f64;
        let logs: Vec<f64> = (0..n).map(|k| q.log_density(lo + (k as f64 + 0.5) * dx)).collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let dens: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
        let z: f64 = dens.iter().sum();
        let mut cdf = Vec::with_capacity(n + 1);
        let mut acc = 0.0;
        cdf.push(0.0);
        let mut moments = [0.0; 4];
        for (k, d) in dens.iter().enumerate() {
            let x = lo + (k as f64 + 0.5) * dx;
            acc += d / z;
            cdf.push(acc);
            for (p, m) in moments.iter_mut().enumerate() {
                *m += x.powi(p as i32 + 1) * d / z;
            }
        }
        Self { lo, dx, cdf, moments }
    }

    fn cdf(&self, x: f64) -> f64 {
        let t = (x - self.lo) / self.dx;
        if t <= 0.0 {
            return 0.0;
        }
        let k = t.floor() as usize;
        if k + 1 >= self.cdf.len() {
            return 1.0;
        }
        self.cdf[k] + (t - k as f64) * (self.cdf[k + 1] - self.cdf[k])
    }
}

/// KS statistic √n·D must stay below 1.95 (asymptotic p = 0.001), and the first four
/// moments within K standard errors (independent draws).
#[track_caller]
fn check_quartic(q: Quartic, seed: u64) {
    let sampler = QuarticSampler::new(q).unwrap();
    let mut rng = chain_rng(seed, 0);
    let xs: Vec<f64> = (0..20_000).map(|_| sampler.sample(&mut rng)).collect();
    check_draws(q, xs);
}

/// The same test for the draws of the batch API: a sampler built in another field draws
/// in `q.h` with [`QuarticSampler::sample_fields`].
#[track_caller]
fn check_quartic_fields(q: Quartic, other_h: f64, seed: u64) {
    let sampler = QuarticSampler::new(Quartic { h: other_h, ..q }).unwrap();
    let mut rng = chain_rng(seed, 0);
    let mut xs = vec![0.0; 20_000];
    sampler.sample_fields(&vec![q.h; xs.len()], &mut xs, &mut rng);
    check_draws(q, xs);
}

#[track_caller]
fn check_draws(q: Quartic, mut xs: Vec<f64>) {
    let quad = Quadrature::new(q);
    let n = xs.len();
    for p in 0..4 {
        let v: Vec<f64> = xs.iter().map(|x| x.powi(p as i32 + 1)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let err = (v.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0) / n as f64).sqrt();
        let exact = quad.moments[p];
        assert!(
            (mean - exact).abs() < K * err,
            "{q:?}: moment {} = {mean} ± {err} vs {exact}",
            p + 1
        );
    }
    xs.sort_by(f64::total_cmp);
    let d = xs
        .iter()
        .enumerate()
        .map(|(k, &x)| {
            let c = quad.cdf(x);
            (c - k as f64 / n as f64)
                .abs()
                .max(((k + 1) as f64 / n as f64 - c).abs())
        })
        .fold(0.0, f64::max);
    assert!(
        d * (n as f64).sqrt() < 1.95,
        "{q:?}: KS statistic {}",
        d * (n as f64).sqrt()
    );
}

#[test]
fn quartic_single_well() {
    check_quartic(
        Quartic {
            a: 1.52425,
            b: 0.175,
            h: 0.0,
        },
        1,
    );
    check_quartic(
        Quartic {
            a: 1.52425,
            b: 0.175,
            h: 2.3,
        },
        2,
    );
}

#[test]
fn quartic_double_well() {
    check_quartic(
        Quartic {
            a: -1.0,
            b: 0.25,
            h: 0.0,
        },
        3,
    );
    check_quartic(
        Quartic {
            a: -2.0,
            b: 0.5,
            h: 0.7,
        },
        4,
    );
    // Ising-like: deep wells at ±1.
    check_quartic(
        Quartic {
            a: -6.0,
            b: 3.0,
            h: -0.4,
        },
        5,
    );
}

#[test]
fn quartic_large_field_and_edge_cases() {
    check_quartic(
        Quartic {
            a: 1.5,
            b: 0.175,
            h: 20.0,
        },
        6,
    );
    check_quartic(
        Quartic {
            a: -1.0,
            b: 0.1,
            h: -35.0,
        },
        7,
    );
    check_quartic(Quartic { a: 0.0, b: 1.0, h: 0.0 }, 8);
    check_quartic(Quartic { a: 0.8, b: 0.0, h: 0.3 }, 9);
    check_quartic(
        Quartic {
            a: 2.0,
            b: 1e-9,
            h: -1.0,
        },
        10,
    );
}

/// The optimised envelope keeps the acceptance high where the brief's `c² = max(0, −a/b)`
/// collapses (large field) or is undefined (`a = 0`).
#[test]
fn quartic_envelope_acceptance_stays_high() {
    for (a, b, h, min) in [
        (1.5, 0.175, 10.0, 0.55),
        (1.5, 0.175, 100.0, 0.55),
        (0.0, 1.0, 0.0, 0.6),
        (1.52425, 0.175, 0.0, 0.8),
    ] {
        let acc = Envelope::new(a, b, h).acceptance();
        assert!(acc > min, "a = {a}, b = {b}, h = {h}: acceptance {acc}");
    }
}

/// Draws in other fields than the sampler's own (the batch API) against quadrature.
#[test]
fn quartic_batch_draws_in_other_fields() {
    let talk = Quartic {
        a: 1.52425,
        b: 0.175,
        h: 0.0,
    };
    check_quartic_fields(Quartic { h: 2.3, ..talk }, 0.0, 11);
    check_quartic_fields(Quartic { h: -15.0, ..talk }, 1.0, 12);
    let double_well = Quartic {
        a: -1.0,
        b: 0.5,
        h: 0.0,
    };
    check_quartic_fields(Quartic { h: 0.4, ..double_well }, -3.0, 13);
    check_quartic_fields(Quartic { h: 60.0, ..double_well }, 0.0, 14);
    check_quartic_fields(
        Quartic {
            a: -6.0,
            b: 3.0,
            h: -0.4,
        },
        0.0,
        15,
    );
    check_quartic_fields(
        Quartic {
            a: 0.8,
            b: 0.0,
            h: -2.0,
        },
        0.3,
        16,
    );
    check_quartic_fields(Quartic { a: 0.0, b: 1.0, h: 0.7 }, 0.0, 17);
}

/// A non-finite field draws NaN (it cannot loop), the other fields of its batch draw finite
/// values, and `sample_each` with one sampler per field draws what `sample_fields` draws.
#[test]
fn quartic_batch_nan_fields_and_sample_each() {
    let sampler = QuarticSampler::new(Quartic {
        a: -1.0,
        b: 0.5,
        h: 0.0,
    })
    .unwrap();
    let mut rng = chain_rng(3, 0);
    assert!(sampler.sample_in_field(f64::NAN, &mut rng).is_nan());
    assert!(sampler.sample_in_field(f64::INFINITY, &mut rng).is_nan());
    assert!(sampler.sample_in_field(-1e200, &mut rng).is_nan());
    let fields: Vec<f64> = (0..150)
        .map(|k| if k == 70 { f64::NAN } else { 0.1 * k as f64 - 7.0 })
        .collect();
    let mut batch = vec![0.0; fields.len()];
    sampler.sample_fields(&fields, &mut batch, &mut chain_rng(4, 0));
    for (k, x) in batch.iter().enumerate() {
        assert_eq!(x.is_nan(), k == 70, "draw {k}: {x}");
    }
    let mut each = fields.clone();
    QuarticSampler::sample_each(&vec![sampler; fields.len()], &mut each, &mut chain_rng(4, 0));
    assert_eq!(
        batch.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        each.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

/// The one-step envelope of the batch draws keeps the acceptance within a few per cent of
/// the converged one, for small and large fields and both signs of `a`.
#[test]
fn quartic_batch_envelope_acceptance() {
    for (a, b) in [
        (1.52425, 0.175),
        (-1.0, 0.5),
        (0.0, 1.0),
        (-6.0, 3.0),
        (2.0, 1e-9),
        (-10.0, 0.1),
    ] {
        for h in [0.0, 0.3, 1.0, 3.0, 10.0, 100.0, -40.0] {
            let converged = Envelope::new(a, b, h).acceptance();
            let sampler = QuarticSampler::new(Quartic { a, b, h }).unwrap();
            let batch = sampler.envelope_acceptance();
            assert!(
                batch > 0.95 * converged,
                "a = {a}, b = {b}, h = {h}: acceptance {batch} against {converged}"
            );
        }
    }
}

/// Mixed shapes and fields in one batch (the φ⁴ units of a mini-batch: [`QuarticSampler::sample_each`]
/// with a sampler per unit), against quadrature: each draw is mapped through the exact CDF
/// of its own density, and the pooled values must be uniform (KS, √n·D < 1.95, p = 0.001).
#[test]
fn quartic_batch_mixed_fields_match_density() {
    let densities = [
        Quartic {
            a: 1.52425,
            b: 0.175,
            h: 0.0,
        },
        Quartic {
            a: 1.52425,
            b: 0.175,
            h: -4.1,
        },
        Quartic {
            a: -1.0,
            b: 0.5,
            h: 0.3,
        },
        Quartic {
            a: -6.0,
            b: 3.0,
            h: 1.2,
        },
        Quartic {
            a: 0.8,
            b: 0.0,
            h: -2.0,
        },
        Quartic { a: 0.0, b: 1.0, h: 9.0 },
        Quartic {
            a: -10.0,
            b: 0.1,
            h: 0.05,
        },
    ];
    let quads: Vec<Quadrature> = densities.iter().map(|&q| Quadrature::new(q)).collect();
    let samplers: Vec<QuarticSampler> = densities
        .iter()
        .map(|&q| QuarticSampler::new(Quartic { h: 0.0, ..q }).unwrap())
        .collect();
    // 101 units (not a multiple of the chunk), 200 batches.
    let units: Vec<usize> = (0..101).map(|k| (k * 5) % densities.len()).collect();
    let unit_samplers: Vec<QuarticSampler> = units.iter().map(|&d| samplers[d]).collect();
    let mut rng = chain_rng(21, 0);
    let mut pit = Vec::new();
    let mut values = vec![0.0; units.len()];
    for _ in 0..200 {
        for (v, &d) in values.iter_mut().zip(&units) {
            *v = densities[d].h;
        }
        QuarticSampler::sample_each(&unit_samplers, &mut values, &mut rng);
        pit.extend(values.iter().zip(&units).map(|(&x, &d)| quads[d].cdf(x)));
    }
    pit.sort_by(f64::total_cmp);
    let n = pit.len() as f64;
    let d = pit
        .iter()
        .enumerate()
        .map(|(k, &c)| (c - k as f64 / n).abs().max(((k + 1) as f64 / n - c).abs()))
        .fold(0.0, f64::max);
    assert!(d * n.sqrt() < 1.95, "KS statistic {}", d * n.sqrt());
}

/// The batch draws compiled for AVX-512 give the bits of the portable ones.
#[test]
fn quartic_batch_vector_and_portable_agree() {
    let isas = crate::simd::Isa::all_for_test("quartic batch");
    for (a, b) in [(1.52425, 0.175), (-1.0, 0.5), (-6.0, 3.0), (0.8, 0.0), (-10.0, 0.1)] {
        let sampler = QuarticSampler::new(Quartic { a, b, h: 0.0 }).unwrap();
        let fields: Vec<f64> = (0..300)
            .map(|k| if k == 9 { f64::NAN } else { 0.37 * k as f64 - 50.0 })
            .collect();
        let draws: Vec<Vec<u64>> = isas
            .iter()
            .map(|&isa| {
                let mut out = fields.clone();
                crate::quartic::draw_with(isa, &sampler, &mut out, &mut chain_rng(5, 0));
                out.iter().map(|x| x.to_bits()).collect()
            })
            .collect();
        assert!(draws.iter().all(|d| *d == draws[0]), "a = {a}, b = {b}");
    }
}

#[test]
fn quartic_rejects_unnormalisable_densities() {
    for (a, b, h) in [
        (0.0, 0.0, 1.0),
        (-1.0, 0.0, 0.0),
        (1.0, -0.1, 0.0),
        (f64::NAN, 1.0, 0.0),
        (1.0, 1.0, f64::INFINITY),
    ] {
        let err = QuarticSampler::new(Quartic { a, b, h }).unwrap_err();
        assert!(matches!(err, SamplerError::InvalidQuartic { .. }), "{err}");
    }
}

/// Words for the tests of the first trials' normals: the extremes and stream words.
fn test_words(n: usize, seed: u64) -> Vec<u64> {
    use rand::RngCore;
    let mut rng = chain_rng(seed, 0);
    let mut words = vec![
        0,
        1,
        2047,
        2048,
        u64::MAX,
        u64::MAX - 2048,
        1 << 63,
        (1 << 63) - 1,
        1 << 61,
        1 << 62,
    ];
    words.extend((0..n).map(|_| rng.next_u64()));
    words
}

/// The logarithm behind the batch draws' normals agrees with `f64::ln` to 4 ulp on
/// every 53-bit uniform it can see, including the smallest and 1.
#[test]
fn quartic_batch_log_is_accurate() {
    let mut worst: f64 = 0.0;
    for w in test_words(200_000, 31) {
        let x = ((w >> 11) + 1) as f64 / 9_007_199_254_740_992.0;
        let (got, exact) = (crate::quartic::ln_uniform(w), x.ln());
        if exact == 0.0 {
            assert_eq!(got, 0.0, "ln 1");
            continue;
        }
        worst = worst.max(((got - exact) / exact).abs());
    }
    assert!(worst <= 4.0 * f64::EPSILON, "worst relative error {worst}");
}

/// The cosine and sine behind the batch draws' normals agree with `f64::sin_cos` of the
/// same angle to 4 ulp, and the angle covers every octant.
#[test]
fn quartic_batch_cos_sin_are_accurate() {
    let mut worst: f64 = 0.0;
    let mut octants = [0usize; 8];
    for w in test_words(200_000, 32) {
        let theta = ((w << 3) >> 11) as f64 / 9_007_199_254_740_992.0 * std::f64::consts::FRAC_PI_4;
        let (sin, cos) = theta.sin_cos();
        let (cos, sin) = if (w >> 61) & 1 == 1 { (sin, cos) } else { (cos, sin) };
        let (cos, sin) = if (w >> 62) & 1 == 1 { (-sin, cos) } else { (cos, sin) };
        let (cos, sin) = if w >> 63 == 1 { (-cos, -sin) } else { (cos, sin) };
        let (c, s) = crate::quartic::cos_sin_uniform(w);
        for (got, exact) in [(c, cos), (s, sin)] {
            if exact == 0.0 {
                assert_eq!(got, 0.0, "word {w:#x}");
            } else {
                worst = worst.max(((got - exact) / exact).abs());
            }
        }
        assert!((c * c + s * s - 1.0).abs() < 1e-15);
        // The octant of the angle, from the signs and the larger magnitude.
        let octant = match (c >= 0.0, s >= 0.0, c.abs() >= s.abs()) {
            (true, true, true) => 0,
            (true, true, false) => 1,
            (false, true, false) => 2,
            (false, true, true) => 3,
            (false, false, true) => 4,
            (false, false, false) => 5,
            (true, false, false) => 6,
            (true, false, true) => 7,
        };
        octants[octant] += 1;
    }
    assert!(worst <= 4.0 * f64::EPSILON, "worst relative error {worst}");
    assert!(octants.iter().all(|&n| n > 24_000), "octants {octants:?}");
}

/// The Box–Muller normals of the batch draws' first trials against the standard normal by
/// quadrature (first four moments and KS), both members of the pairs, and the pairs
/// uncorrelated (`⟨z₁z₂⟩ = 0`, `⟨z₁²z₂²⟩ = 1`).
#[test]
fn quartic_batch_normals_match_density() {
    let words = test_words(40_000, 33);
    let pairs: Vec<(f64, f64)> = words[10..]
        .chunks_exact(2)
        .map(|w| crate::quartic::box_muller(w[0], w[1]))
        .collect();
    let standard = Quartic { a: 0.5, b: 0.0, h: 0.0 };
    check_draws(standard, pairs.iter().map(|p| p.0).collect());
    check_draws(standard, pairs.iter().map(|p| p.1).collect());
    let n = pairs.len() as f64;
    for (f, exact) in [
        (&(|(x, y): (f64, f64)| x * y) as &dyn Fn((f64, f64)) -> f64, 0.0),
        (&|(x, y): (f64, f64)| x * x * y * y, 1.0),
    ] {
        let v: Vec<f64> = pairs.iter().map(|&p| f(p)).collect();
        let mean = v.iter().sum::<f64>() / n;
        let err = (v.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        assert!((mean - exact).abs() < K * err, "{mean} ± {err} vs {exact}");
    }
    // The extremes: the largest radius, and u = 1 (radius 0).
    let (x, y) = crate::quartic::box_muller(0, 0);
    assert!(
        (x - (106.0 * std::f64::consts::LN_2).sqrt()).abs() < 1e-14 && y == 0.0,
        "{x} {y}"
    );
    let (x, y) = crate::quartic::box_muller(u64::MAX, 12345);
    assert_eq!((x, y), (0.0, 0.0));
}

// ---------------------------------------------------------------------------------------
// layout

#[test]
fn colourings_are_proper_and_orders_are_permutations() {
    let lattice = |lx, ly| Lattice::new(lx, ly).unwrap();
    let h = Homogeneous {
        kappa: 1.0,
        mu2: 1.0,
        lambda: 0.0,
    };
    let cases = [
        (Couplings::homogeneous(&lattice(8, 6), h).unwrap(), 2),
        (Couplings::homogeneous(&lattice(5, 7), h).unwrap(), 4),
        (Couplings::homogeneous_with_diagonal(&lattice(8, 8), h, 0.2).unwrap(), 4),
    ];
    for (c, colours) in cases {
        let layout = Layout::new(&c);
        assert!(layout.n_colours <= colours, "{} colours", layout.n_colours);
        let mut seen = layout.perm.clone();
        seen.sort_unstable();
        assert!(seen.iter().enumerate().all(|(k, &i)| k == i as usize));
        // A proper colouring: the storage order is a sequence of independent sets, so no
        // neighbour of s appears in s's own class.  Classes are contiguous; find them.
        let n = c.n_sites();
        let mut class = vec![0usize; n];
        let mut k = 0;
        for s in 1..n {
            if layout
                .neighbours(s)
                .0
                .iter()
                .any(|&j| (j as usize) < s && class[j as usize] == k)
            {
                k += 1;
            }
            class[s] = k;
        }
        for s in 0..n {
            assert!(
                layout.neighbours(s).0.iter().all(|&j| class[j as usize] != class[s]),
                "site {s}"
            );
        }
        let phi: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let (mut stored, mut back) = (vec![0.0; n], vec![0.0; n]);
        layout.store_sites(&phi, &mut stored);
        layout.to_sites(&stored, &mut back);
        assert_eq!(phi, back);
    }
}

// ---------------------------------------------------------------------------------------
// Metropolis kernels agree

// ---------------------------------------------------------------------------------------
// free field, every schedule

#[track_caller]
fn check_free_field(c: &Couplings, algorithm: Algorithm, seed: u64) {
    let exact = FreeField::from_couplings(c).unwrap();
    let v = c.n_sites() as f64;
    let out = run_chains(c, &config(algorithm, 4, 20_000, seed), |_| {}).unwrap();
    let name = algorithm.name();
    check_close(&format!("{name} phi2"), observable(&out, |o| o.phi2), exact.phi2().re);
    check_close(&format!("{name} V m2"), observable(&out, |o| v * o.m2), exact.v_m2().re);
    if c.lattice().unwrap().1 == PairSet::NearestNeighbour {
        check_close(&format!("{name} nn"), observable(&out, |o| o.nn), exact.nn().re);
    }
    check_close(
        &format!("{name} action"),
        observable(&out, |o| o.action_density),
        exact.action_density(),
    );
}

fn free_8x8() -> Couplings {
    Couplings::homogeneous(
        &Lattice::square(8).unwrap(),
        Homogeneous {
            kappa: 1.0,
            mu2: 1.0,
            lambda: 0.0,
        },
    )
    .unwrap()
}

/// Every schedule samples the exact free field on 8×8 (the lattice kernels).
#[test]
fn free_field_every_schedule() {
    for (algorithm, seed) in [
        (Algorithm::Metropolis, 11),
        (Algorithm::HeatBath, 12),
        (Algorithm::Cluster, 13),
        (Algorithm::Hybrid, 14),
        (Algorithm::SwendsenWang, 17),
    ] {
        check_free_field(&free_8x8(), algorithm, seed);
    }
}

/// Non-bipartite pair sets use the general kernels and a greedy colouring: diagonals
/// (4 colours) and odd extents.
#[test]
fn free_field_general_graphs_every_schedule() {
    let h = Homogeneous {
        kappa: 1.0,
        mu2: 1.0,
        lambda: 0.0,
    };
    let diag = Couplings::homogeneous_with_diagonal(&Lattice::square(8).unwrap(), h, 0.2).unwrap();
    let odd = Couplings::homogeneous(&Lattice::new(5, 7).unwrap(), h).unwrap();
    for (k, algorithm) in Algorithm::ALL.into_iter().enumerate() {
        check_free_field(&diag, algorithm, 20 + k as u64);
        check_free_field(&odd, algorithm, 30 + k as u64);
    }
}

#[test]
fn free_field_two_point_function() {
    let c = free_8x8();
    let exact = FreeField::from_couplings(&c).unwrap();
    let mut cfg = config(Algorithm::HeatBath, 4, 20_000, 15);
    cfg.two_point = true;
    let out = run_chains(&c, &cfg, |_| {}).unwrap();
    let r_len = out.two_point_r_max.unwrap() + 1;
    assert_eq!(r_len, 5);
    for r in 0..r_len {
        let series: Vec<Vec<f64>> = out
            .chains
            .iter()
            .map(|ch| {
                ch.two_point
                    .as_ref()
                    .unwrap()
                    .iter()
                    .skip(r)
                    .step_by(r_len)
                    .copied()
                    .collect()
            })
            .collect();
        check_close(&format!("G({r})"), binned(&series), exact.two_point(r as isize, 0).re);
    }
}

// ---------------------------------------------------------------------------------------
// a tiny graph against quadrature

/// A triangle (not bipartite) with one antiferromagnetic pair, a double-well site and
/// linear terms: every kernel must reproduce moments from 3-D quadrature.  This checks
/// detailed balance of each kernel on the smallest system where the order of updates,
/// frustration and the cluster's linear-term accept/reject all matter.
fn triangle() -> Couplings {
    let graph = Graph::from_edges(3, vec![[0, 1], [1, 2], [0, 2]]).unwrap();
    Couplings::new(
        graph,
        vec![0.8, -0.5, 0.6],
        vec![0.9, -0.6, 1.2],
        vec![0.3, 0.4, 0.2],
        vec![0.25, -0.3, 0.0],
    )
    .unwrap()
}

fn triangle_exact(c: &Couplings) -> [f64; 5] {
    let (lo, n) = (-4.5, 181);
    let dx = 9.0 / n as f64;
    let grid: Vec<f64> = (0..n).map(|k| lo + (k as f64 + 0.5) * dx).collect();
    let mut sums = [0.0; 6];
    for &x in &grid {
        for &y in &grid {
            for &z in &grid {
                let p = (-c.action(&[x, y, z])).exp();
                for (s, v) in sums.iter_mut().zip([1.0, x, y * y, x * y, y * z, x * y * z]) {
                    *s += p * v;
                }
            }
        }
    }
    [
        sums[1] / sums[0],
        sums[2] / sums[0],
        sums[3] / sums[0],
        sums[4] / sums[0],
        sums[5] / sums[0],
    ]
}

/// The five moments of [`triangle_exact`] of one configuration (site order).
fn triangle_moments(p: &[f64]) -> [f64; 5] {
    [p[0], p[1] * p[1], p[0] * p[1], p[1] * p[2], p[0] * p[1] * p[2]]
}

/// Asserts that the moment series `series[m][chain]` agree with the quadrature `exact`
/// within K errors (binned over the chains).
#[track_caller]
fn check_triangle_moments(what: &str, series: &[Vec<Vec<f64>>], exact: [f64; 5]) {
    for (m, (s, truth)) in series.iter().zip(exact).enumerate() {
        let (mean, err) = binned(s);
        assert!(
            (mean - truth).abs() < K * err,
            "{what}, moment {m}: {mean} ± {err} vs quadrature {truth}"
        );
    }
}

/// Four chains (stream `seed`, chains 0 to 3) on the triangle `c`, each `n` rounds of a
/// Metropolis sweep of steps 0.3 then `update` of a state that `make` builds per chain,
/// measured after 1000 rounds; checks the moments against quadrature and returns the
/// chains' states.
#[track_caller]
fn check_triangle_rounds<U>(
    what: &str,
    c: &Couplings,
    seed: u64,
    n: usize,
    mut make: impl FnMut(&Layout) -> U,
    mut update: impl FnMut(&mut U, &Layout, &mut [f64], &mut SimRng),
) -> Vec<U> {
    let layout = Layout::new(c);
    let mut series: Vec<Vec<Vec<f64>>> = vec![Vec::new(); 5];
    let mut states = Vec::new();
    for chain in 0..4 {
        let mut rng = chain_rng(seed, chain);
        let mut state = make(&layout);
        let mut field = vec![0.0; 3];
        let mut sites = vec![0.0; 3];
        let mut mine = vec![Vec::new(); 5];
        for k in 0..n {
            crate::metropolis::sweep_general(&layout, &mut field, &mut rng, 0.3);
            update(&mut state, &layout, &mut field, &mut rng);
            if k >= 1000 {
                layout.to_sites(&field, &mut sites);
                for (v, x) in mine.iter_mut().zip(triangle_moments(&sites)) {
                    v.push(x);
                }
            }
        }
        for (s, v) in series.iter_mut().zip(mine) {
            s.push(v);
        }
        states.push(state);
    }
    check_triangle_moments(what, &series, triangle_exact(c));
    states
}

#[test]
fn tiny_graph_every_schedule_matches_quadrature() {
    let c = triangle();
    let exact = triangle_exact(&c);
    for (k, algorithm) in Algorithm::ALL.into_iter().enumerate() {
        let mut cfg = config(algorithm, 4, 50_000, 40 + k as u64);
        cfg.save_configs = true;
        let out = run_chains(&c, &cfg, |_| {}).unwrap();
        let series: Vec<Vec<Vec<f64>>> = (0..5)
            .map(|m| {
                let moment = |p: &[f64]| triangle_moments(p)[m];
                out.chains
                    .iter()
                    .map(|ch| ch.configs.as_ref().unwrap().chunks_exact(3).map(moment).collect())
                    .collect()
            })
            .collect();
        check_triangle_moments(algorithm.name(), &series, exact);
        if matches!(
            algorithm,
            Algorithm::Cluster | Algorithm::Hybrid | Algorithm::SwendsenWang
        ) {
            // The linear terms must have rejected some flips.
            let ch = &out.chains[0];
            assert!(ch.mean_cluster_size.is_some());
        }
    }
}

/// The global moves alone (dilatation only, shift only, both), each pass interleaved with a
/// Metropolis sweep of small steps so that the global move does most of the work on the
/// amplitude, must reproduce the quadrature moments of the triangle (linear terms, a
/// double-well site, an antiferromagnetic pair).  A missing Jacobian `s^V` or a wrong
/// coefficient of the shift polynomial biases `⟨φ₁²⟩` by many σ.
#[test]
fn global_moves_with_small_local_steps_match_quadrature() {
    let c = triangle();
    for (case, tries) in [(20, 0), (0, 20), (3, 3)].into_iter().enumerate() {
        let moves = check_triangle_rounds(
            &format!("tries {tries:?}"),
            &c,
            60 + case as u64,
            120_000,
            |layout| {
                let mut g = GlobalMoves::new(layout);
                g.tries = tries;
                g.eps_scale = 0.4;
                g.eps_shift = 0.8;
                g
            },
            |g, layout, field, rng| g.update(layout, field, rng),
        );
        let sum =
            |f: fn(&GlobalMoves) -> (u64, u64)| moves.iter().map(f).fold((0, 0), |(n, a), (dn, da)| (n + dn, a + da));
        let acceptance = (sum(|g| g.scale_counts), sum(|g| g.shift_counts));
        for (tried, (n, acc)) in [(tries.0, acceptance.0), (tries.1, acceptance.1)] {
            assert_eq!(n, 4 * 120_000 * tried as u64);
            if tried > 0 {
                let rate = acc as f64 / n as f64;
                assert!(rate > 0.1 && rate < 0.95, "tries {tries:?}: acceptance {rate}");
            }
        }
    }
}

/// On the free field the dilatation alone plus heat-bath sweeps gives the exact `⟨φ²⟩` and
/// `V⟨m²⟩` (the dilatation moves every mode, so an error in `K` or in the Jacobian shows).
#[test]
fn dilatation_with_heatbath_matches_the_free_field() {
    let c = free_8x8();
    let exact = FreeField::from_couplings(&c).unwrap();
    let layout = Layout::new(&c);
    let v = c.n_sites() as f64;
    let (mut phi2, mut vm2) = (Vec::new(), Vec::new());
    for chain in 0..4 {
        let mut rng = chain_rng(70, chain as u64);
        let mut g = GlobalMoves::new(&layout);
        g.tries = (8, 0);
        g.eps_scale = 0.12;
        let mut field = vec![0.0; c.n_sites()];
        let (mut p2, mut m2) = (Vec::new(), Vec::new());
        for k in 0..20_000 {
            crate::heatbath::sweep(&layout, &mut field, &mut rng);
            g.update(&layout, &mut field, &mut rng);
            if k >= 200 {
                let m = field.iter().sum::<f64>() / v;
                p2.push(field.iter().map(|x| x * x).sum::<f64>() / v);
                m2.push(v * m * m);
            }
        }
        phi2.push(p2);
        vm2.push(m2);
        let rate = g.scale_counts.1 as f64 / g.scale_counts.0 as f64;
        assert!(rate > 0.2 && rate < 0.9, "acceptance {rate}");
    }
    check_close("phi2", binned(&phi2), exact.phi2().re);
    check_close("V m2", binned(&vm2), exact.v_m2().re);
}

/// Homogeneous nearest-neighbour couplings `h` on `lattice` with the linear term `r` at
/// every site.
fn with_linear_term(lattice: &Lattice, h: Homogeneous, r: f64) -> Couplings {
    let base = Couplings::homogeneous(lattice, h).unwrap();
    Couplings::on_lattice(
        lattice,
        PairSet::NearestNeighbour,
        base.w().to_vec(),
        base.a().to_vec(),
        base.b().to_vec(),
        vec![r; base.n_sites()],
    )
    .unwrap()
}

/// The global moves' vectorised sums for homogeneous even lattices equal those from the
/// neighbour tables up to rounding.
#[test]
fn global_move_sums_of_the_lattice_path_equal_the_general_ones() {
    use rand::Rng;
    for (lx, ly, r) in [(64, 64, 0.0), (8, 6, 0.1), (4, 10, -0.3), (34, 18, 0.0)] {
        let lattice = Lattice::new(lx, ly).unwrap();
        let h = POINT_A;
        let c = with_linear_term(&lattice, h, r);
        let v = c.n_sites();
        let layout = Layout::new(&c);
        let p = layout.fast.unwrap();
        let g = GlobalMoves::new(&layout);
        let mut rng = chain_rng(7, lx as u64);
        let field: Vec<f64> = (0..v).map(|_| rng.random_range(-2.0..2.5)).collect();
        let (fast, general) = (
            g.sums_homogeneous(&field, p).to_array(),
            g.sums_general(&layout, &field).to_array(),
        );
        for (k, (x, y)) in fast.iter().zip(general).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 * (v as f64) * (1.0 + y.abs()),
                "{lx}×{ly} sum {k}: {x} vs {y}"
            );
        }
    }
}

/// Swendsen–Wang updates alternated with Metropolis sweeps of small steps (so that the
/// clusters do most of the work on the signs) reproduce the quadrature moments of the
/// triangle: linear terms (heat-bath cluster flips), an antiferromagnetic pair, a
/// double-well site.  A wrong sign of `ΔS_C` biases `⟨φ₀⟩` and `⟨φ₀φ₁φ₂⟩` by many σ.
#[test]
fn swendsen_wang_with_small_local_steps_matches_quadrature() {
    let (mut clusters, mut flipped) = (0, 0);
    check_triangle_rounds(
        "Swendsen–Wang",
        &triangle(),
        80,
        100_000,
        SwendsenWang::new,
        |sw, layout, field, rng| {
            let step = sw.update(layout, field, rng);
            clusters += step.clusters;
            flipped += step.flipped;
        },
    );
    // The linear terms move the flip rate away from ½.
    let rate = flipped as f64 / clusters as f64;
    assert!((rate - 0.5).abs() > 0.01 && rate > 0.2, "flip rate {rate}");
}

/// One update from `field` and `rng` by the lattice path (`update(true, …)`) and by the
/// general one (`update(false, …)`) on copies: asserts the same step, the same field bits
/// and the same generator position, then moves `field` and `rng` on and returns the step.
#[track_caller]
fn check_paths_agree<S: PartialEq + std::fmt::Debug>(
    what: &str,
    field: &mut Vec<f64>,
    rng: &mut SimRng,
    mut update: impl FnMut(bool, &mut [f64], &mut SimRng) -> S,
) -> S {
    let (mut f1, mut f2) = (field.clone(), field.clone());
    let (mut r1, mut r2) = (rng.clone(), rng.clone());
    let s1 = update(true, &mut f1, &mut r1);
    let s2 = update(false, &mut f2, &mut r2);
    assert_eq!(s1, s2, "{what}");
    let bits = |f: &[f64]| f.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&f1), bits(&f2), "{what}");
    assert_eq!(r1.get_word_pos(), r2.get_word_pos(), "{what}");
    (*field, *rng) = (f1, r1);
    s1
}

/// The lattice kernel and the general pair-list kernel draw the same words and make the
/// same bond and flip decisions: identical fields and generator states, update after
/// update, on homogeneous even lattices (square and rectangular, at the talk's point and
/// with a linear term and a larger coupling).
#[test]
fn swendsen_wang_lattice_kernel_equals_general_kernel() {
    use rand::Rng;
    let cases = [
        (Lattice::square(8).unwrap(), 1.0, -0.9515, 0.7, 0.0),
        (Lattice::new(16, 6).unwrap(), 1.0, -0.9515, 0.7, 0.0),
        (Lattice::new(4, 10).unwrap(), 0.4, 1.0, 0.1, 0.0),
        (Lattice::square(12).unwrap(), 1.0, -0.9515, 0.7, 0.05),
        (Lattice::new(6, 4).unwrap(), 1.3, -1.5, 0.5, -0.2),
    ];
    for (case, (lattice, kappa, mu2, lambda, r)) in cases.into_iter().enumerate() {
        let c = with_linear_term(&lattice, Homogeneous { kappa, mu2, lambda }, r);
        let v = c.n_sites();
        let layout = Layout::new(&c);
        assert!(layout.fast.is_some());
        let (mut fast, mut general) = (SwendsenWang::new(&layout), SwendsenWang::new(&layout));
        let mut rng = chain_rng(90 + case as u64, 0);
        let mut field: Vec<f64> = (0..v).map(|_| rng.random_range(-2.5..2.5)).collect();
        let mut total_clusters = 0;
        for k in 0..300 {
            let step = check_paths_agree(
                &format!("case {case}, update {k}"),
                &mut field,
                &mut rng,
                |lattice, f, r| {
                    let sw = if lattice { &mut fast } else { &mut general };
                    sw.update_with(&layout, f, r, lattice)
                },
            );
            total_clusters += step.clusters;
            crate::metropolis::sweep_general(&layout, &mut field, &mut rng, 1.0);
        }
        // Neither every site alone nor one cluster: the bonds were exercised.
        assert!(
            total_clusters > 300 && total_clusters < 300 * v,
            "case {case}: {total_clusters}"
        );
    }
}

/// The lattice kernel's two-stage bond test (cheap exponential, then the accurate one where
/// it cannot decide) makes exactly the decisions of the accurate test `u ≥ exp(−2wφφ')`.
#[test]
fn swendsen_wang_row_bonds_equal_accurate_test() {
    use crate::swendsen_wang::{BondRow, bond_cheap, bond_exact, row_bonds, row_bonds_exact};
    use rand::{Rng, RngCore};
    let isa = crate::simd::Isa::current_or_note("Swendsen–Wang bond tests");
    let mut rng = chain_rng(98, 0);
    let n = 32;
    let two_w = 2.0;
    let mut undecided = 0;
    for _ in 0..20_000 {
        let mut v = || (0..n).map(|_| rng.random_range(-2.5..2.5)).collect::<Vec<f64>>();
        let (row, right, left, up, down) = (v(), v(), v(), v(), v());
        let bits: Vec<u32> = (0..4 * n).map(|_| rng.next_u32()).collect();
        let mut masks = vec![0u8; n];
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let (r32, right32, left32, up32, down32) = (f32s(&row), f32s(&right), f32s(&left), f32s(&up), f32s(&down));
        let cheap = BondRow {
            row: &r32,
            neighbours: [&right32, &left32, &up32, &down32],
            bits: &bits,
            two_w: two_w as f32,
        };
        if row_bonds(isa, &cheap, &mut masks) > 0 {
            let accurate = BondRow {
                row: &row,
                neighbours: [&right, &left, &up, &down],
                bits: &bits,
                two_w,
            };
            row_bonds_exact(&accurate, &mut masks);
        }
        for k in 0..n {
            let nb = [right[k], left[k], up[k], down[k]];
            for d in 0..4 {
                let x = two_w * (row[k] * nb[d]);
                let b = bits[d * n + k];
                assert_eq!((masks[k] >> d) & 1 == 1, bond_exact(x, b), "x = {x}");
                let nb32 = [right32[k], left32[k], up32[k], down32[k]];
                undecided += bond_cheap(two_w as f32 * (r32[k] * nb32[d]), b).1 as u64;
            }
        }
    }
    assert!(undecided > 0, "the test never exercised the accurate fallback");
}

#[test]
fn swendsen_wang_cheap_exponential_is_within_its_bound() {
    use crate::swendsen_wang::{CHEAP_REL_ERR, exp_neg_cheap};
    for k in 0..400_000 {
        let x = k as f64 * 0.0001 + 1e-9 * (k % 7) as f64;
        let (cheap, accurate) = (exp_neg_cheap(x as f32) as f64, exp_neg(x));
        assert!(
            ((cheap - accurate) / accurate).abs() < CHEAP_REL_ERR as f64 / 2.0,
            "{x}: {cheap} vs {accurate}"
        );
    }
    assert_eq!(exp_neg_cheap(0.0), 1.0);
    assert_eq!(exp_neg_cheap(-1.0), 1.0);
}

/// With linear terms the Wolff flip is a proposal: some flips are rejected.
#[test]
fn cluster_flips_are_rejected_with_linear_terms() {
    let mut chain = Chain::new(&triangle(), Algorithm::Cluster, chain_rng(5, 0)).unwrap();
    chain.thermalise(100);
    for _ in 0..1000 {
        chain.sweep();
    }
    let s = chain.stats();
    assert!(
        s.clusters_flipped < s.clusters && s.clusters_flipped > s.clusters / 4,
        "{s:?}"
    );
}

// ---------------------------------------------------------------------------------------
// interacting theory: the schedules agree with each other

#[test]
fn schedules_agree_at_the_talks_point() {
    let c = talk_point(8, 8);
    let n_sweeps = if slow() { 100_000 } else { 20_000 };
    let results: Vec<[(f64, f64); 3]> = Algorithm::ALL
        .iter()
        .enumerate()
        .map(|(k, &alg)| {
            let out = run_chains(&c, &config(alg, 4, n_sweeps, 50 + k as u64), |_| {}).unwrap();
            [
                observable(&out, |o| o.phi2),
                observable(&out, |o| o.m_abs),
                observable(&out, |o| o.m2),
            ]
        })
        .collect();
    for i in 0..results.len() {
        for j in i + 1..results.len() {
            for (q, ((m1, e1), (m2, e2))) in results[i].iter().zip(&results[j]).enumerate() {
                let err = (e1 * e1 + e2 * e2).sqrt();
                assert!(
                    (m1 - m2).abs() < K * err,
                    "observable {q}: {} {m1} ± {e1} vs {} {m2} ± {e2}",
                    Algorithm::ALL[i].name(),
                    Algorithm::ALL[j].name()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// reproducibility

#[test]
fn same_seed_same_output_on_one_and_two_threads() {
    let c = talk_point(8, 6);
    for algorithm in Algorithm::ALL {
        let mut cfg = config(algorithm, 5, 200, 77);
        cfg.n_therm = 50;
        cfg.save_configs = true;
        cfg.two_point = true;
        let run = |threads| {
            let pool = ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut out = pool.install(|| run_chains(&c, &cfg, |_| {})).unwrap();
            for ch in &mut out.chains {
                ch.timing.update_seconds = 0.0;
            }
            out.wall_seconds = 0.0;
            out
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one, two, "{}", algorithm.name());
        assert_eq!(one.chains.len(), 5);
        assert!(one.chains.windows(2).all(|w| w[0].observables != w[1].observables));
    }
}

/// Golden values: a change of generator, stream layout, proposal, sampler or summation
/// order changes these numbers.
#[test]
fn golden_values() {
    let sampler = QuarticSampler::new(Quartic {
        a: 1.52425,
        b: 0.175,
        h: 0.5,
    })
    .unwrap();
    let mut rng = chain_rng(2026, 0);
    let draws: Vec<u64> = (0..3).map(|_| sampler.sample(&mut rng).to_bits()).collect();
    let c = talk_point(4, 4);
    let magnetisations: Vec<Vec<u64>> = Algorithm::ALL
        .iter()
        .map(|&alg| {
            let mut chain = Chain::new(&c, alg, chain_rng(2026, 1)).unwrap();
            (0..3)
                .map(|_| {
                    chain.sweep();
                    chain.measure().m.to_bits()
                })
                .collect()
        })
        .collect();
    // As f64: draws 0.3539956560660052, -0.6101715124194326, -0.5470391464613704 (the
    // sampler's envelope is the loop-free one since the batch draws); first m
    // 0.07667655846007865 (Metropolis), 0.01858300189291264 (heat bath),
    // 0.13463983759067555 (cluster), 0.8214053233997447 (hybrid), -0.0365342269254568 (sw).
    // The cluster row changed when Wolff updates moved to 32-bit bond words drawn in
    // chunks, one per neighbour of every site taken from the queue (see `crate::cluster`).
    let golden_draws: [u64; 3] = [4600048638736904461, 13827043192791980721, 13826474546992373228];
    let golden_m: [[u64; 3]; 5] = [
        [4590189548984906724, 4594561062032016905, 4594199964045896290],
        [4581013407034046118, 13823178094238450049, 13822183212336270309],
        [4594018931669756148, 13806161494160300872, 13818739269162527366],
        [4605573780962042880, 4607238728669915776, 4596691536332336603],
        [13808797994875138444, 4585349391294774462, 4596810275398389805],
    ];
    println!("draws {draws:?}\nmagnetisations {magnetisations:?}");
    assert_eq!(draws, golden_draws, "quartic draws");
    for (k, m) in magnetisations.iter().enumerate() {
        assert_eq!(m.as_slice(), golden_m[k].as_slice(), "{}", Algorithm::ALL[k].name());
    }
}

/// The golden values again with the vector kernels switched off on this thread: the
/// portable kernels give the same bits.
#[test]
fn golden_values_with_vector_kernels_off() {
    portable(golden_values);
}

// ---------------------------------------------------------------------------------------
// vector and portable kernels on lattices wide enough to fill the vectors

/// Runs `f` with the vector kernels switched off on this thread (see [`crate::simd`]; the
/// switch is thread-local, so tests in other threads keep theirs), and switches them back
/// on afterwards, also when `f` panics.
fn portable<T>(f: impl FnOnce() -> T) -> T {
    struct On;
    impl Drop for On {
        fn drop(&mut self) {
            crate::simd::set_vector_kernels(true);
        }
    }
    crate::simd::set_vector_kernels(false);
    let _on = On;
    f()
}

/// Runs `f` once with the vector kernels (where the CPU has them; a note on stderr where it
/// does not) and once with them switched off, asserts that both give the same value, and
/// returns it.
#[track_caller]
fn vector_and_portable<T: PartialEq + std::fmt::Debug>(what: &str, f: impl Fn() -> T) -> T {
    if !crate::simd::vector_kernels_enabled() {
        eprintln!("avx512f not available: vector kernel not exercised ({what})");
    }
    let vector = f();
    let scalar = portable(&f);
    assert_eq!(vector, scalar, "{what}: vector and portable kernels differ");
    vector
}

/// The talk's interacting point (κ = 1, μ² = −0.9515, λ = 0.7) on an `lx × ly` lattice.
pub(crate) fn talk_point(lx: usize, ly: usize) -> Couplings {
    Couplings::homogeneous(&Lattice::new(lx, ly).unwrap(), POINT_A).unwrap()
}

/// Golden values of a chain whose rows fill the vectors (eight sites per Metropolis vector,
/// sixteen per Swendsen–Wang vector; 36 × 20 leaves a tail of two sites per row): the bits
/// of `m` after each of four sweeps from a cold start, through the vector kernels and the
/// portable ones, which must agree with each other bit for bit (field and generator too)
/// and with `golden` (the values of the kernels built with `target-cpu=native` before the
/// run-time dispatch).
#[track_caller]
fn check_wide_golden(c: &Couplings, algorithm: Algorithm, golden: [u64; 4]) {
    let what = format!("{} on {} sites", algorithm.name(), c.n_sites());
    let (m, field, word) = vector_and_portable(&what, || {
        let mut chain = Chain::new(c, algorithm, chain_rng(2027, 3)).unwrap();
        assert!(chain.uses_lattice_kernel() || algorithm == Algorithm::SwendsenWang);
        let m: Vec<u64> = (0..4)
            .map(|_| {
                chain.sweep();
                chain.measure().m.to_bits()
            })
            .collect();
        let (field, mut rng) = chain.into_parts();
        let field: Vec<u64> = field.iter().map(|x| x.to_bits()).collect();
        (m, field, rand::RngCore::next_u64(&mut rng))
    });
    println!("{what}: m {m:?}, next word {word}");
    assert_eq!(m.as_slice(), golden.as_slice(), "{what}");
    assert!(field.iter().any(|&x| x != 0));
}

#[test]
fn wide_golden_metropolis() {
    check_wide_golden(
        &talk_point(32, 32),
        Algorithm::Metropolis,
        [
            4577363740454215289,
            4575681181370638598,
            13798499253275938544,
            13792412026665797924,
        ],
    );
    check_wide_golden(
        &talk_point(64, 64),
        Algorithm::Metropolis,
        [
            13774257425148918064,
            13795080807482756423,
            13798012862481317703,
            13775626027694975328,
        ],
    );
    check_wide_golden(
        &talk_point(36, 20),
        Algorithm::Metropolis,
        [
            4581733508690198226,
            4577029130594988757,
            4577384894105120556,
            13795928460618721536,
        ],
    );
}

#[test]
fn wide_golden_swendsen_wang() {
    check_wide_golden(
        &talk_point(32, 32),
        Algorithm::SwendsenWang,
        [
            13802261090610108848,
            13804593693264507617,
            13792396445683986088,
            4568361488972965270,
        ],
    );
    check_wide_golden(
        &talk_point(64, 64),
        Algorithm::SwendsenWang,
        [
            13790345325904536194,
            13799636281245055374,
            4575927281982098595,
            4572903255579296020,
        ],
    );
    check_wide_golden(
        &talk_point(36, 20),
        Algorithm::SwendsenWang,
        [
            4570824449625334683,
            4578130860545224786,
            13808414677248976442,
            13807058852162016459,
        ],
    );
    let h = POINT_A;
    let linear = with_linear_term(&Lattice::square(32).unwrap(), h, 0.02);
    check_wide_golden(
        &linear,
        Algorithm::SwendsenWang,
        [
            4577444075125633946,
            13803796428950881895,
            13804025739695347220,
            13805073047218885748,
        ],
    );
}

#[test]
fn wide_golden_hybrid() {
    check_wide_golden(
        &talk_point(32, 32),
        Algorithm::Hybrid,
        [
            13812053453516962948,
            13817164500030038894,
            4594918223020808200,
            13822053954978494762,
        ],
    );
    check_wide_golden(
        &talk_point(64, 64),
        Algorithm::Hybrid,
        [
            4572921710255913901,
            13801446653130349438,
            13801343658691944293,
            4570216731163238768,
        ],
    );
}

/// `⟨φ²⟩` of the free field on 32 × 32 (κ = 1, μ² = 1) against the exact value, within `K`
/// standard errors from the Γ-method (autocorrelation included), from one chain run through
/// the vector kernels and through the portable ones with the same bits.
#[track_caller]
fn check_wide_free_field(algorithm: Algorithm, seed: u64) {
    let c = Couplings::homogeneous(
        &Lattice::square(32).unwrap(),
        Homogeneous {
            kappa: 1.0,
            mu2: 1.0,
            lambda: 0.0,
        },
    )
    .unwrap();
    let exact = FreeField::from_couplings(&c).unwrap().phi2().re;
    let what = format!("{} free field 32x32", algorithm.name());
    let series = vector_and_portable(&what, || {
        let mut chain = Chain::new(&c, algorithm, chain_rng(seed, 0)).unwrap();
        chain.thermalise(200);
        (0..3000)
            .map(|_| {
                chain.sweep();
                chain.measure().phi2
            })
            .collect::<Vec<f64>>()
    });
    let est = crate::stats::gamma_method(&[&series]);
    assert!(est.warning.is_none(), "{what}: {:?}", est.warning);
    check_close(
        &format!("{what} phi2 (tau_int {:.1})", est.tau_int),
        (est.mean, est.err),
        exact,
    );
}

#[test]
fn wide_free_field_metropolis() {
    check_wide_free_field(Algorithm::Metropolis, 41);
}

#[test]
fn wide_free_field_swendsen_wang() {
    check_wide_free_field(Algorithm::SwendsenWang, 42);
}

#[test]
fn wide_free_field_hybrid() {
    check_wide_free_field(Algorithm::Hybrid, 43);
}

// ---------------------------------------------------------------------------------------
// configuration errors

#[test]
fn invalid_configurations_say_what_to_change() {
    let c = free_8x8();
    let good = config(Algorithm::Metropolis, 1, 10, 1);
    let bad = [
        RunConfig {
            n_chains: 0,
            ..good.clone()
        },
        RunConfig {
            measure_every: 0,
            ..good.clone()
        },
        RunConfig {
            n_sweeps: 5,
            measure_every: 10,
            ..good.clone()
        },
    ];
    for cfg in bad {
        let err = run_chains(&c, &cfg, |_| {}).unwrap_err();
        assert!(matches!(err, SamplerError::InvalidConfig(_)), "{err}");
    }
    let graph = Graph::from_edges(2, vec![[0, 1]]).unwrap();
    let g = Couplings::new(graph, vec![0.5], vec![1.0, 1.0], vec![0.1, 0.1], vec![0.0, 0.0]).unwrap();
    let err = run_chains(
        &g,
        &RunConfig {
            two_point: true,
            ..good
        },
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("two_point"), "{err}");
    let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(1, 0)).unwrap();
    assert!(chain.set_field(&[0.0; 3]).is_err());
    assert!(chain.set_step_size(-1.0).is_err());
    assert!(Algorithm::from_name("wolff").is_err());
}

#[test]
fn progress_counts_every_sweep() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let total = AtomicU64::new(0);
    let mut cfg = config(Algorithm::HeatBath, 3, 250, 1);
    cfg.n_therm = 30;
    cfg.progress_every = 7;
    run_chains(&free_8x8(), &cfg, |n| {
        total.fetch_add(n, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 3 * 280);
}

// ---------------------------------------------------------------------------------------
// autocorrelation at the talk's point (QFTML_SLOW=1)

/// τ_int(m²) at the talk's point on 64², from the Γ-method over 2 chains, for every
/// schedule (printed).  Measured (2 × 20 000 sweeps, seed 64): hybrid (four rounds of a
/// Metropolis sweep and a global pass, then one Swendsen–Wang update) 4.6 ± 0.3 sweeps at
/// about 46 ns per site per sweep (5 site updates per site and sweep); sw (one update and
/// one Metropolis sweep) 26 ± 3; cluster 8 ± 1; heat bath and Metropolis several hundred or
/// more.  The test checks that the cluster moves help: the schedules with clusters
/// decorrelate `m²` at least twice as fast per sweep as their local kernel alone.
/// Run with `QFTML_SLOW=1 cargo test -p mc-sampler --release tau_int -- --nocapture`.
#[test]
fn tau_int_of_m2_at_the_talks_point_on_64x64() {
    if !slow() {
        eprintln!("skipped: set QFTML_SLOW=1 for the 64×64 version (the 16×16 one always runs)");
        return;
    }
    cluster_moves_decorrelate_faster(64, [20_000, 20_000, 10_000, 40_000, 20_000], 2_000);
}

/// The same property on 16×16, fast enough for every run.
#[test]
fn tau_int_of_m2_at_the_talks_point_on_16x16() {
    cluster_moves_decorrelate_faster(16, [4_000, 4_000, 4_000, 8_000, 8_000], 500);
}

fn cluster_moves_decorrelate_faster(l: usize, n_sweeps: [u64; 5], n_therm: u64) {
    let c = talk_point(l, l);
    let mut taus = Vec::new();
    let algorithms = [
        Algorithm::Hybrid,
        Algorithm::SwendsenWang,
        Algorithm::Cluster,
        Algorithm::Metropolis,
        Algorithm::HeatBath,
    ];
    for (algorithm, n_sweeps) in algorithms.into_iter().zip(n_sweeps) {
        let mut cfg = config(algorithm, 2, n_sweeps, 64);
        cfg.n_therm = n_therm;
        let out = run_chains(&c, &cfg, |_| {}).unwrap();
        let series: Vec<Vec<f64>> = out.chains.iter().map(|ch| ch.series(2)).collect();
        let refs: Vec<&[f64]> = series.iter().map(|s| s.as_slice()).collect();
        let est = crate::stats::gamma_method(&refs);
        let t = out.timing();
        println!(
            "{:>10}: m2 = {:.5} ± {:.5}, tau_int(m2) = {:.2} ± {:.2} sweeps, {:.2} ns/site-update, \
             clusters/sweep {:?}, mean size {:?}, acceptance {:.3}{}",
            algorithm.name(),
            est.mean,
            est.err,
            est.tau_int,
            est.tau_int_err,
            t.ns_per_site_update(),
            out.chains[0].clusters_per_sweep,
            out.chains[0].mean_cluster_size,
            out.acceptance(),
            est.warning.map(|w| format!(" (warning: {w})")).unwrap_or_default()
        );
        taus.push(est.tau_int);
    }
    assert!(2.0 * taus[0] < taus[3], "hybrid {} vs Metropolis {}", taus[0], taus[3]);
    assert!(2.0 * taus[1] < taus[3], "sw {} vs Metropolis {}", taus[1], taus[3]);
    assert!(2.0 * taus[2] < taus[4], "cluster {} vs heat bath {}", taus[2], taus[4]);
}

// ---------------------------------------------------------------------------------------
// Wolff clusters

/// The lattice path's neighbour arithmetic gives the neighbour tables' neighbours.
#[test]
fn wolff_lattice_neighbours_equal_the_tables() {
    use crate::cluster::lattice_neighbours;
    for (lx, ly) in [(4, 4), (8, 6), (4, 10), (6, 4), (34, 18), (64, 64)] {
        let c = Couplings::homogeneous(
            &Lattice::new(lx, ly).unwrap(),
            Homogeneous {
                kappa: 1.0,
                mu2: 1.0,
                lambda: 0.0,
            },
        )
        .unwrap();
        let layout = Layout::new(&c);
        let p = layout.fast.unwrap();
        for s in 0..c.n_sites() {
            let mut fast = lattice_neighbours(&p, s as u32);
            let mut table = layout.neighbours(s).0.to_vec();
            fast.sort_unstable();
            table.sort_unstable();
            assert_eq!(fast.as_slice(), table.as_slice(), "{lx}×{ly}, storage index {s}");
        }
    }
}

/// The table of the bond test decides as the accurate test, also at the cells' edges, and
/// the lattice path's four tests at a time decide as the tests one at a time.
#[test]
fn wolff_bond_table_equals_accurate_test() {
    use crate::cluster::{bond_cells4_both, bond_exact, bond_table};
    use rand::{Rng, RngCore};
    let mut rng = chain_rng(99, 0);
    let mut undecided = 0u64;
    let (mut quad_x, mut quad_bits, mut quad_single) = ([0.0; 4], [0u32; 4], [(false, false); 4]);
    for k in 0..2_000_000u64 {
        let bits = rng.next_u32();
        let x = match k % 4 {
            0 => rng.random_range(-1.0..12.0),
            // Next to the edge of the word's own cell or of its neighbour.
            1 => -(((bits >> 22) as f64) / 1024.0).ln() + rng.random_range(-1e-8..1e-8),
            2 => -(((bits >> 22) as f64 + 1.0) / 1024.0).ln() + rng.random_range(-1e-8..1e-8),
            // Next to the word's own threshold.
            _ => -((bits as f64 + 0.5) / 4_294_967_296.0).ln() * (1.0 + rng.random_range(-1e-12..1e-12)),
        };
        let (table, was_undecided) = bond_table(x, bits);
        undecided += was_undecided as u64;
        assert_eq!(table, bond_exact(x, bits), "x = {x}, bits = {bits}");
        // Four tests at a time, as the lattice path makes them: the same decisions.
        let d = (k % 4) as usize;
        (quad_x[d], quad_bits[d], quad_single[d]) = (x, bits, (table, was_undecided));
        if d == 3 {
            let [vector, scalar] = bond_cells4_both(quad_x, quad_bits);
            assert_eq!(vector, scalar, "x = {quad_x:?}, bits = {quad_bits:?}");
            for (d, &(bond, undecided)) in quad_single.iter().enumerate() {
                let table_bond = vector.0 >> d & 1 != 0;
                assert_eq!((table_bond, vector.1 >> d & 1 != 0), (bond & !undecided, undecided));
            }
        }
    }
    assert!(
        undecided > 1000,
        "the accurate fallback was exercised {undecided} times"
    );
}

/// The lattice path and the general path (with the neighbour tables reordered to the
/// lattice path's order) make the same decisions from the same words: identical fields,
/// cluster steps and generator positions, update after update, with either sign of `w` and
/// with linear terms.
#[test]
fn wolff_lattice_path_equals_general_path() {
    use crate::cluster::{Wolff, lattice_neighbours};
    use rand::Rng;
    let cases = [
        (Lattice::square(8).unwrap(), 1.0, -0.9515, 0.7, 0.0),
        (Lattice::new(16, 6).unwrap(), 1.0, -0.9515, 0.7, 0.0),
        (Lattice::new(4, 10).unwrap(), 0.4, 1.0, 0.1, 0.0),
        (Lattice::square(12).unwrap(), 1.0, -0.9515, 0.7, 0.05),
        (Lattice::new(6, 4).unwrap(), -1.3, -1.5, 0.5, -0.2),
        (Lattice::square(32).unwrap(), 1.0, -0.9515, 0.7, 0.0),
    ];
    for (case, (lattice, kappa, mu2, lambda, r)) in cases.into_iter().enumerate() {
        let c = with_linear_term(&lattice, Homogeneous { kappa, mu2, lambda }, r);
        let v = c.n_sites();
        let mut layout = Layout::new(&c);
        let p = layout.fast.unwrap();
        // The tables in the lattice path's order (w is the same on every pair).
        for s in 0..v {
            let order = lattice_neighbours(&p, s as u32);
            let range = layout.offsets[s] as usize..layout.offsets[s + 1] as usize;
            layout.nbr[range].copy_from_slice(&order);
        }
        let (mut fast, mut general) = (Wolff::new(v), Wolff::new(v));
        let mut rng = chain_rng(110 + case as u64, 0);
        let mut field: Vec<f64> = (0..v).map(|_| rng.random_range(-2.5..2.5)).collect();
        let (mut sizes, mut rejected) = (0, 0);
        for k in 0..400 {
            let step = check_paths_agree(
                &format!("case {case}, update {k}"),
                &mut field,
                &mut rng,
                |lattice, f, r| {
                    let wolff = if lattice { &mut fast } else { &mut general };
                    wolff.update_with(&layout, f, r, lattice)
                },
            );
            sizes += step.size;
            rejected += !step.flipped as usize;
            if k % 4 == 3 {
                crate::metropolis::sweep_general(&layout, &mut field, &mut rng, 1.0);
            }
        }
        assert!(sizes > 400 && sizes < 400 * v, "case {case}: {sizes}");
        assert_eq!(rejected > 0, r != 0.0, "case {case}: {rejected} rejected");
    }
}

/// The `cluster` schedule with twice its tuned number of clusters per sweep (so that
/// the clusters do most of the work) samples the exact Gaussian of a 16×16 lattice with
/// inhomogeneous couplings and a linear term (general path): `⟨m⟩`, `⟨φ²⟩` and `V⟨m²⟩`
/// within K standard errors from the Γ-method.  A wrong acceptance of the linear term or
/// a wrong bond probability biases them by many σ.
#[test]
fn wolff_samples_inhomogeneous_free_field_with_linear_term() {
    use phi4_action::gaussian::GaussianMrf;
    let lattice = Lattice::square(16).unwrap();
    let v = lattice.n_sites();
    let base = Couplings::homogeneous(
        &lattice,
        Homogeneous {
            kappa: 1.0,
            mu2: 0.02,
            lambda: 0.0,
        },
    )
    .unwrap();
    // Couplings between 0.8 and 1 times the homogeneous ones keep the form positive.
    let w: Vec<f64> = base
        .w()
        .iter()
        .enumerate()
        .map(|(k, w)| w * (0.8 + 0.05 * (k % 5) as f64))
        .collect();
    let r: Vec<f64> = (0..v).map(|i| 0.01 * ((i % 7) as f64 - 2.0)).collect();
    let c = Couplings::on_lattice(
        &lattice,
        PairSet::NearestNeighbour,
        w,
        base.a().to_vec(),
        base.b().to_vec(),
        r,
    )
    .unwrap();
    let g = GaussianMrf::from_couplings(&c).unwrap();
    let (mean, cov) = (g.mean(), g.covariance());
    let vf = v as f64;
    let exact_m = mean.sum() / vf;
    let exact_phi2 = (0..v).map(|i| cov[(i, i)] + mean[i] * mean[i]).sum::<f64>() / vf;
    let exact_vm2 = cov.sum() / vf + vf * exact_m * exact_m;
    let mut series = vec![Vec::new(); 3];
    let mut rejected = 0;
    for chain in 0..4 {
        let mut ch = Chain::new(&c, Algorithm::Cluster, chain_rng(120, chain)).unwrap();
        ch.thermalise(300);
        let n_c = ch.clusters_per_sweep().unwrap();
        ch.set_clusters_per_sweep(2 * n_c).unwrap();
        ch.reset_stats();
        let mut mine = vec![Vec::new(); 3];
        for _ in 0..5_000 {
            ch.sweep();
            let o = ch.measure();
            mine[0].push(o.m);
            mine[1].push(o.phi2);
            mine[2].push(vf * o.m2);
        }
        let s = ch.stats();
        assert!(s.mean_cluster_size().unwrap() > 2.0, "{s:?}");
        rejected += s.clusters - s.clusters_flipped;
        for (all, m) in series.iter_mut().zip(mine) {
            all.push(m);
        }
    }
    assert!(rejected > 0);
    for ((name, exact), s) in [("m", exact_m), ("phi2", exact_phi2), ("V m2", exact_vm2)]
        .into_iter()
        .zip(&series)
    {
        let refs: Vec<&[f64]> = s.iter().map(|x| x.as_slice()).collect();
        let est = crate::stats::gamma_method(&refs);
        println!(
            "{name}: {} ± {} (τ_int {:.1}) vs exact {exact}",
            est.mean, est.err, est.tau_int
        );
        check_close(name, (est.mean, est.err), exact);
    }
}

/// Thermalisation sets the number of clusters per sweep from equilibrium cluster sizes: at
/// the talk's point on 64², after 300 sweeps from a cold start (four seeds), and with
/// `QFTML_SLOW=1` also on 256² after 1000 sweeps, the clusters of a sweep cover between
/// V/1.5 and 1.5 V sites.
#[test]
fn wolff_clusters_per_sweep_cover_the_volume_after_thermalisation() {
    let mut cases = vec![(64, 300, 0), (64, 300, 1), (64, 300, 2), (64, 300, 3)];
    if slow() {
        cases.push((256, 1000, 0));
    }
    for (l, n_therm, seed) in cases {
        let c = talk_point(l, l);
        let v = c.n_sites() as f64;
        let mut chain = Chain::new(&c, Algorithm::Cluster, chain_rng(130, seed)).unwrap();
        chain.thermalise(n_therm);
        chain.reset_stats();
        for _ in 0..200 {
            chain.sweep();
        }
        let s = chain.stats();
        let per_sweep = s.cluster_sites as f64 / s.sweeps as f64;
        println!(
            "{l}², seed {seed}: {} clusters per sweep of mean size {:.1} cover {:.2} V",
            chain.clusters_per_sweep().unwrap(),
            s.mean_cluster_size().unwrap(),
            per_sweep / v
        );
        assert!(
            per_sweep > v / 1.5 && per_sweep < 1.5 * v,
            "{l}², seed {seed}: {} clusters per sweep of mean size {:.1} cover {per_sweep:.0} sites, V = {v}",
            chain.clusters_per_sweep().unwrap(),
            s.mean_cluster_size().unwrap()
        );
    }
}
