use rand::{Rng, RngCore};

use super::lattice::{Row, RowParams, row_kernel};
use super::*;
use crate::chain_rng;
use crate::keystream::refinement_key;
use crate::layout::FastParams;
use crate::simd::Isa;
use crate::tests::talk_point;

/// The lattice kernel (vectorised first pass where the CPU has it, accurate test in the
/// lanes it cannot decide; the accurate test everywhere in the portable kernel) makes
/// exactly the decisions of the accurate test, including refinements.
#[test]
fn row_kernel_equals_accurate_test() {
    for isa in Isa::all_for_test("Metropolis row kernel") {
        check_row_kernel(isa);
    }
}

fn check_row_kernel(isa: Isa) {
    let mut rng = chain_rng(99, 0);
    let refine = refinement_key(&rng);
    let n = 64;
    let p = RowParams {
        w: 1.0,
        a: 1.52425,
        b: 0.175,
        r: 0.1,
        delta: 2.5,
    };
    let (mut cheap_undecided, mut refined) = (0, 0);
    for round in 0..16_000u64 {
        // Every eighth round has large fields: ΔS far beyond the last cell edge.
        let scale = if round % 8 == 7 { 20.0 } else { 1.0 };
        let x: Vec<f64> = (0..n).map(|_| scale * rng.random_range(-2.5..2.5)).collect();
        let same: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let up: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let down: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
        let words: Vec<u32> = (0..n).map(|_| rng.next_u32()).collect();
        let row = Row {
            same: &same,
            shift: (round % 2) as usize,
            up: &up,
            down: &down,
            words: &words,
            first_index: round * n as u64,
        };
        let mut fast = x.clone();
        let accepted = row_kernel(isa, &mut fast, &row, &p, &refine);
        let mut count = 0;
        for k in 0..n {
            let h = p.field(&row, k);
            let d = p.delta * step_fraction(words[k]);
            let ds = delta_s(x[k], d, h, p.a, p.b);
            let mut asked = false;
            let acc = accept(ds, words[k], || {
                asked = true;
                word_at(&refine, row.first_index + k as u64)
            });
            refined += asked as u64;
            let expected = if acc { x[k] + d } else { x[k] };
            assert_eq!(expected.to_bits(), fast[k].to_bits(), "round {round} site {k}");
            count += acc as u64;
            let cell = (words[k] >> 20) as usize;
            let dsf = ds as f32;
            cheap_undecided += (dsf > EDGES.accept(cell) && dsf < EDGES.reject(cell)) as u64;
        }
        assert_eq!(count, accepted);
    }
    assert!(
        cheap_undecided > 100,
        "the accurate fallback was hardly exercised: {cheap_undecided}"
    );
    assert!(refined > 5, "refinement words were hardly exercised: {refined}");
}

/// Splitting the rows of a large lattice over threads changes nothing: the field is
/// bit-identical with and without splitting, on one and two threads, and so is the
/// generator's state afterwards.
#[test]
fn split_rows_are_bit_identical() {
    use crate::{Algorithm, Chain};
    let c = talk_point(128, 128);
    let run = |threads: usize, split: bool| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(8, 3)).unwrap();
        assert!(chain.uses_lattice_kernel());
        chain.set_split_rows(split);
        pool.install(|| {
            for _ in 0..5 {
                chain.sweep();
            }
        });
        let (field, mut rng) = chain.into_parts();
        (field.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), rng.next_u64())
    };
    let reference = run(1, false);
    assert_eq!(run(2, true), reference);
    assert_eq!(run(1, true), reference);
}

/// The single-precision cell edges of the vector kernel are safe: a `ΔS` whose `f32`
/// rounding lies on the sure side of an edge gets that decision from the accurate test,
/// for the smallest and the largest refinement word.
#[test]
fn cell_edges_are_sure() {
    for k in 0..4096u32 {
        let word = k << 20 | 0x5_5555;
        let (accept_edge, reject_edge) = (EDGES.accept(k as usize), EDGES.reject(k as usize));
        assert!(accept_edge < reject_edge);
        // The largest f64 that rounds to at most the accept edge, the smallest that
        // rounds to at least the reject edge.
        let below = f64::from(accept_edge) * (1.0 + f64::from(f32::EPSILON) / 2.0);
        let above = f64::from(reject_edge) * (1.0 - f64::from(f32::EPSILON) / 2.0);
        for refine in [0, u32::MAX] {
            assert!(
                accept(below, word, || refine),
                "cell {k}: ΔS = {below} must be accepted"
            );
            assert!(
                !accept(above, word, || refine),
                "cell {k}: ΔS = {above} must be rejected"
            );
        }
        // The edges are tight: within a few margins of the true cell ends.
        let tight = 4.0 * EDGE_MARGIN;
        assert!(f64::from(accept_edge) > -((f64::from(k) + 1.0) / 4096.0).ln() - tight);
        if k > 0 {
            assert!(f64::from(reject_edge) < -(f64::from(k) / 4096.0).ln() + tight);
        }
    }
    assert!(f64::from(EDGES.reject(0)) < 45.0 * std::f64::consts::LN_2 + 4.0 * EDGE_MARGIN);
}

/// The step grid is symmetric about zero and the cell edges are exact.
#[test]
fn step_grid_is_symmetric_and_cells_exact() {
    for m in [0u32, 1, 2, 0x7FFFF, 0x80000, 0xFFFFE, 0xFFFFF] {
        let mirror = 0xFFFFF - m;
        assert_eq!(step_fraction(m), -step_fraction(mirror), "m = {m}");
        assert!(step_fraction(m).abs() < 0.5);
        assert_eq!(step_fraction(m), (f64::from(m) + 0.5) / 1_048_576.0 - 0.5);
    }
    for k in [0u32, 1, 2047, 4095] {
        assert_eq!(cell_floor(k << 20 | 0xABCDE), f64::from(k) / 4096.0);
    }
    // The refined variable lies strictly inside its cell.
    let lowest = 0.0 + 0.5 * REFINE;
    let highest = (4095.0 + (f64::from(u32::MAX) + 0.5) / 4_294_967_296.0) * CELL;
    assert!(lowest > 0.0 && highest < 1.0);
}

/// The acceptance probability of the accurate test, averaged over all cells and
/// refinement words, is `exp(−ΔS)` to the grid: checked by exhausting the 12-bit cells
/// with a fixed refinement word at the cell holding `p`.
#[test]
fn accurate_test_accepts_with_probability_exp_minus_ds() {
    for ds in [1e-9, 0.01, 0.3, 1.0, 4.0, 20.0] {
        let p = exp_neg(ds);
        let accepted_cells = (0..4096u32).filter(|&k| accept(ds, k << 20, || 0)).count();
        let with_refined_max = (0..4096u32).filter(|&k| accept(ds, k << 20, || u32::MAX)).count();
        // Cells wholly below p accept whatever the refinement; the cell holding p
        // accepts for some refinement words and not others.
        assert!((accepted_cells as f64) <= p * 4096.0 + 1.0 && (with_refined_max as f64) >= p * 4096.0 - 1.0);
        assert!(with_refined_max <= accepted_cells && accepted_cells - with_refined_max <= 1);
    }
    assert!(accept(-1.0, u32::MAX, || unreachable!()));
    assert!(accept(0.0, u32::MAX, || unreachable!()));
}

/// After `set_params` the kernel sweeps exactly as one constructed for the new parameters,
/// whatever its scratch space held.
#[test]
fn set_params_equals_new() {
    let p1 = FastParams {
        lx: 32,
        ly: 16,
        w: 1.0,
        a: 1.52425,
        b: 0.175,
        r: 0.0,
    };
    let p2 = FastParams {
        w: 0.8,
        a: 1.3,
        b: 0.2,
        r: 0.05,
        ..p1
    };
    let mut rng = chain_rng(4, 1);
    let mut field: Vec<f64> = (0..p1.lx * p1.ly).map(|_| rng.random_range(-1.5..1.5)).collect();
    let mut reused = LatticeKernel::new(p1);
    reused.sweep(&mut field, &mut rng, 1.0);
    reused.set_params(p2);
    let mut fresh = LatticeKernel::new(p2);
    let (mut f1, mut f2) = (field.clone(), field);
    let (mut r1, mut r2) = (rng.clone(), rng);
    for _ in 0..3 {
        assert_eq!(reused.sweep(&mut f1, &mut r1, 1.2), fresh.sweep(&mut f2, &mut r2, 1.2));
    }
    let bits = |f: &[f64]| f.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&f1), bits(&f2));
    assert_eq!(r1.next_u64(), r2.next_u64());
}

/// A chain split in row strips ([`RowStrip`], halo rows exchanged every half sweep) is
/// bit-identical to the whole-lattice chain (field, step, generator), for 1, 2 and 3 strips
/// and rows that do not divide evenly, through thermalisation (the step tuned from the
/// strips' summed acceptance) and measured sweeps, with both kernels.
#[test]
fn row_strips_are_bit_identical() {
    for isa in Isa::all_for_test("row strips") {
        crate::simd::set_vector_kernels(isa != Isa::PORTABLE);
        for (lx, ly, n_strips) in [(8, 6, 1), (8, 6, 2), (8, 8, 3), (8, 4, 3), (12, 10, 3), (36, 14, 4)] {
            check_strips(lx, ly, n_strips);
        }
    }
    crate::simd::set_vector_kernels(true);
}

#[track_caller]
fn check_strips(lx: usize, ly: usize, n_strips: usize) {
    use crate::{Algorithm, Chain};
    let c = talk_point(lx, ly);
    let mut chain = Chain::new(&c, Algorithm::Metropolis, chain_rng(5, 2)).unwrap();
    let mut strips: Vec<RowStrip> = (0..n_strips)
        .map(|k| RowStrip::new(&c, RowStrip::rows_of(ly, n_strips, k)).unwrap())
        .collect();
    let mut rng = chain_rng(5, 2);
    let mut step = RowStrip::initial_step(&c);
    assert_eq!(Some(step), chain.step_size());
    chain.thermalise(20);
    for _ in 0..20 {
        let accepted = sweep_strips(&mut strips, &mut rng, step);
        step = RowStrip::tuned_step(step, (lx * ly) as u64, accepted);
    }
    assert_eq!(
        Some(step),
        chain.step_size(),
        "{lx}x{ly} in {n_strips} strips: tuned step"
    );
    for _ in 0..10 {
        chain.sweep();
        sweep_strips(&mut strips, &mut rng, step);
    }
    let joined: Vec<u64> = strips.iter().flat_map(|s| s.field()).map(f64::to_bits).collect();
    let whole: Vec<u64> = chain.field().iter().map(|x| x.to_bits()).collect();
    assert_eq!(joined, whole, "{lx}x{ly} in {n_strips} strips: field");
    assert_eq!(&rng, chain.rng(), "{lx}x{ly} in {n_strips} strips: generator");
}

/// Strips refuse what they cannot split: odd extents, inhomogeneous couplings, empty or
/// out-of-range rows; `rows_of` covers the lattice with strips differing by at most a row.
#[test]
fn row_strips_refuse_and_cover() {
    assert!(RowStrip::new(&talk_point(8, 7), 0..3).is_err());
    assert!(RowStrip::new(&talk_point(8, 6), 3..3).is_err());
    assert!(RowStrip::new(&talk_point(8, 6), 4..7).is_err());
    for (ly, k) in [(6, 1), (7, 3), (10, 4), (4, 4)] {
        let strips: Vec<_> = (0..k).map(|i| RowStrip::rows_of(ly, k, i)).collect();
        assert_eq!(strips[0].start, 0);
        assert_eq!(strips[k - 1].end, ly);
        assert!(strips.windows(2).all(|w| w[0].end == w[1].start));
        assert!(strips.iter().all(|s| s.len() == ly / k || s.len() == ly / k + 1));
    }
    let mut s = RowStrip::new(&talk_point(8, 6), 2..4).unwrap();
    assert!(s.set_field(&[0.0; 15]).is_err());
    let phi: Vec<f64> = (0..16).map(f64::from).collect();
    s.set_field(&phi).unwrap();
    assert_eq!(s.field(), phi);
}
