//! Couplings and chains shared by the benchmark files.

use mc_sampler::{Algorithm, Chain, chain_rng};
use mrf_graph::Lattice;
use phi4_action::targets::POINT_A as TALK;
use phi4_action::{Couplings, PairSet};

/// The talk's point on an `l × l` lattice.
pub fn talk_point(l: usize) -> Couplings {
    Couplings::homogeneous(&Lattice::square(l).unwrap(), TALK).unwrap()
}

/// The talk's point with `a_i` perturbed by a few per mille: same physics, general kernel.
pub fn inhomogeneous(l: usize) -> Couplings {
    let lattice = Lattice::square(l).unwrap();
    let v = lattice.n_sites();
    let a = (0..v)
        .map(|i| TALK.a() * (1.0 + 0.001 * ((i % 7) as f64 - 3.0)))
        .collect();
    Couplings::on_lattice(
        &lattice,
        PairSet::NearestNeighbour,
        vec![TALK.w(); 2 * v],
        a,
        vec![TALK.b(); v],
        vec![0.0; v],
    )
    .unwrap()
}

/// A chain of `algorithm` on `c` (seed 1, chain 0) after `n_therm` thermalisation sweeps.
pub fn thermalised(c: &Couplings, algorithm: Algorithm, n_therm: u64) -> Chain {
    let mut chain = Chain::new(c, algorithm, chain_rng(1, 0)).unwrap();
    chain.thermalise(n_therm);
    chain
}
