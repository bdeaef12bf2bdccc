use rand::{Rng, RngCore};

use super::kernels::row_bonds_scalar;
use super::union_find::{root_and_flip, root_and_flip_scalar};
use super::{BondRow, SwendsenWang, row_bonds};
use crate::chain_rng;
use crate::layout::Layout;
use crate::simd::Isa;
use phi4_action::targets::POINT_A;

/// The row kernel (vectorised where the CPU has it) gives the masks and flags of the
/// scalar one, bit for bit, for row lengths with and without a scalar tail.
#[test]
fn row_bonds_equal_scalar_row_bonds() {
    let isa = Isa::current_or_note("Swendsen–Wang bond tests");
    let mut rng = chain_rng(7, 0);
    for n in [1, 15, 16, 17, 40, 64, 128] {
        for _ in 0..2000 {
            let mut v = || (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect::<Vec<f32>>();
            let (row, right, left, up, down) = (v(), v(), v(), v(), v());
            let bits: Vec<u32> = (0..4 * n).map(|_| rng.next_u32()).collect();
            let (mut m1, mut m2) = (vec![0u8; n], vec![0u8; n]);
            let b = BondRow {
                row: &row,
                neighbours: [&right, &left, &up, &down],
                bits: &bits,
                two_w: 2.0,
            };
            let u1 = row_bonds(isa, &b, &mut m1);
            let u2 = row_bonds_scalar(&b, &mut m2, 0);
            assert_eq!((u1, &m1), (u2, &m2), "n = {n}");
        }
    }
}

/// The rooting and flip pass (vectorised where the CPU has it) gives the roots, signs and
/// counts of the scalar one, on random forests with `parent[s] ≤ s` below `split` and
/// sites from `split` on alone or hung below a site before `split`.
#[test]
fn root_and_flip_equals_scalar() {
    let isa = Isa::current_or_note("Swendsen–Wang rooting and flip pass");
    let mut rng = chain_rng(8, 0);
    for (n, split) in [(40usize, 20usize), (64, 32), (64, 64), (200, 100), (90, 41)] {
        for _ in 0..500 {
            let parent: Vec<u32> = (0..n)
                .map(|s| {
                    let lim = if s < split { s + 1 } else { split };
                    if rng.random_range(0..3) == 0 {
                        s as u32
                    } else {
                        rng.random_range(0..lim) as u32
                    }
                })
                .collect();
            let flip: Vec<u64> = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
            let field: Vec<f64> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let (mut p1, mut p2) = (parent.clone(), parent);
            let (mut f1, mut f2) = (field.clone(), field);
            let c1 = root_and_flip(isa, &mut p1, &flip, &mut f1, split);
            let c2 = root_and_flip_scalar(&mut p2, &flip, &mut f2, split, 0, split);
            assert_eq!(c1, c2);
            assert_eq!(p1[..split], p2[..split]);
            assert_eq!(f1, f2);
        }
    }
}

/// A parent index larger than its site (a labelling bug) stops the rooting pass, in the
/// vector pass and in the scalar one, before any out-of-bounds read.
#[test]
fn root_and_flip_refuses_a_parent_above_its_site() {
    for isa in Isa::all_for_test("Swendsen–Wang rooting and flip pass") {
        for bad in [3usize, 37, 63] {
            let n = 64;
            let mut parent: Vec<u32> = (0..n as u32).collect();
            parent[bad] = 1_000_000;
            let flip = vec![0u64; 1];
            let mut field = vec![1.0; n];
            let result = std::panic::catch_unwind(move || root_and_flip(isa, &mut parent, &flip, &mut field, 40));
            assert!(result.is_err(), "site {bad} with {isa:?}");
        }
    }
}

/// After `refresh` to new couplings on the same graph the updates are bit for bit those of
/// a work space built for them, whether the structure stays (lattice kernel, new coupling;
/// general kernel, new couplings) or changes (linear terms appear, the lattice kernel no
/// longer applies), and without reallocating when it stays.
#[test]
fn refresh_equals_new() {
    use mrf_graph::Lattice;
    use phi4_action::{Couplings, Homogeneous, PairSet};
    let lattice = Lattice::square(32).unwrap();
    let v = lattice.n_sites();
    let talk = POINT_A;
    let homogeneous = |kappa: f64, r: f64| {
        let h = Homogeneous { kappa, ..talk };
        Couplings::on_lattice(
            &lattice,
            PairSet::NearestNeighbour,
            vec![h.w(); 2 * v],
            vec![h.a(); v],
            vec![h.b(); v],
            vec![r; v],
        )
        .unwrap()
    };
    let inhomogeneous = |scale: f64| {
        Couplings::on_lattice(
            &lattice,
            PairSet::NearestNeighbour,
            (0..2 * v)
                .map(|k| scale * talk.w() * (1.0 + 0.01 * (k % 5) as f64))
                .collect(),
            vec![talk.a(); v],
            vec![talk.b(); v],
            vec![0.0; v],
        )
        .unwrap()
    };
    let cases = [
        (
            "lattice, new coupling",
            homogeneous(1.0, 0.0),
            homogeneous(0.8, 0.0),
            true,
        ),
        (
            "lattice with r, new r",
            homogeneous(1.0, 0.1),
            homogeneous(1.1, -0.05),
            true,
        ),
        ("general, new couplings", inhomogeneous(1.0), inhomogeneous(0.9), true),
        (
            "linear terms appear",
            homogeneous(1.0, 0.0),
            homogeneous(1.0, 0.1),
            false,
        ),
        (
            "lattice kernel no longer applies",
            homogeneous(1.0, 0.0),
            inhomogeneous(1.0),
            false,
        ),
        (
            "lattice kernel applies again",
            inhomogeneous(1.0),
            homogeneous(0.9, 0.0),
            false,
        ),
    ];
    for (name, before, after, kept) in cases {
        let (old, new) = (Layout::new(&before), Layout::new(&after));
        let mut rng = chain_rng(12, 0);
        let mut field: Vec<f64> = (0..v).map(|_| rng.random_range(-2.0..2.0)).collect();
        let mut reused = SwendsenWang::new(&old);
        reused.update(&old, &mut field, &mut rng);
        let (pairs, flip) = (reused.pairs.as_ptr(), reused.flip.as_ptr());
        reused.refresh(&new);
        assert_eq!(
            kept,
            reused.pairs.as_ptr() == pairs && reused.flip.as_ptr() == flip,
            "{name}"
        );
        let mut fresh = SwendsenWang::new(&new);
        let (mut f1, mut f2) = (field.clone(), field);
        let (mut r1, mut r2) = (rng.clone(), rng);
        for _ in 0..5 {
            let (s1, s2) = (
                reused.update(&new, &mut f1, &mut r1),
                fresh.update(&new, &mut f2, &mut r2),
            );
            assert_eq!(s1, s2, "{name}");
            crate::metropolis::sweep_general(&new, &mut f1, &mut r1, 0.5);
            crate::metropolis::sweep_general(&new, &mut f2, &mut r2, 0.5);
        }
        let bits = |f: &[f64]| f.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&f1), bits(&f2), "{name}");
        assert_eq!(r1.next_u64(), r2.next_u64(), "{name}");
        assert_eq!(reused.two_w, fresh.two_w, "{name}");
    }
}
