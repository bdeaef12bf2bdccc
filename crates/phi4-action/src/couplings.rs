//! Couplings θ = {w, a, b, r}, the action and its local pieces.

use mrf_graph::{Graph, Lattice, PairwiseEnergy};
use nalgebra::DMatrix;
use num_complex::Complex64;

use crate::ActionError;
use crate::sum::{Lanes, add_lanes, block, lane_sum_map, total};

/// Homogeneous lattice φ⁴ parameters (κ, μ², λ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homogeneous {
    /// Hopping parameter κ (the nearest-neighbour coupling `w`).
    pub kappa: f64,
    /// Bare mass squared μ².
    pub mu2: f64,
    /// Quartic coupling λ.
    pub lambda: f64,
}

impl Homogeneous {
    /// Nearest-neighbour coupling `w = κ`.
    pub fn w(&self) -> f64 {
        self.kappa
    }
    /// Quadratic coupling `a = (μ² + 4κ)/2`.
    pub fn a(&self) -> f64 {
        (self.mu2 + 4.0 * self.kappa) / 2.0
    }
    /// Quartic coupling `b = λ/4`.
    pub fn b(&self) -> f64 {
        self.lambda / 4.0
    }
    /// The inverse map: `κ = w, μ² = 2a − 4w, λ = 4b`.
    pub fn from_wab(w: f64, a: f64, b: f64) -> Self {
        Self {
            kappa: w,
            mu2: 2.0 * a - 4.0 * w,
            lambda: 4.0 * b,
        }
    }
}

pub use crate::pair_set::PairSet;

/// The blocks of the flat parameter vector `θ = [w | a | b | r]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamBlock {
    /// Pair couplings, one per pair.
    W,
    /// Quadratic couplings, one per site.
    A,
    /// Quartic couplings, one per site.
    B,
    /// Linear couplings, one per site.
    R,
}

/// The single-site conditional `p(x) ∝ exp(−a x² − b x⁴ + h x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quartic {
    /// Quadratic coefficient (any sign when `b > 0`).
    pub a: f64,
    /// Quartic coefficient, `b ≥ 0`.
    pub b: f64,
    /// Linear coefficient (the local field).
    pub h: f64,
}

impl Quartic {
    /// Unnormalised log density `−a x² − b x⁴ + h x`.
    pub fn log_density(&self, x: f64) -> f64 {
        let x2 = x * x;
        -self.a * x2 - self.b * x2 * x2 + self.h * x
    }
}

/// Inhomogeneous φ⁴ couplings `θ = {w_ij, a_i, b_i, r_i}` on a graph of pairs.
///
/// Pair `k` of the graph (`graph().edges()[k]`) carries `w[k]`.  Construction validates
/// sizes, finiteness and normalisability; afterwards every evaluation is infallible.
#[derive(Debug, Clone, PartialEq)]
pub struct Couplings {
    graph: Graph,
    lattice: Option<(Lattice, PairSet)>,
    w: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    r: Vec<f64>,
    /// `w` of each neighbour-list entry, aligned with `graph.neighbours(i)`.
    neighbour_w: Vec<f64>,
    neighbour_offsets: Vec<usize>,
    /// `[w, a, b, r]` when each is the same everywhere (the action then reads only `φ`).
    uniform: Option<[f64; 4]>,
}

impl Couplings {
    /// Couplings on an arbitrary graph of pairs.
    pub fn new(graph: Graph, w: Vec<f64>, a: Vec<f64>, b: Vec<f64>, r: Vec<f64>) -> Result<Self, ActionError> {
        Self::build(graph, None, w, a, b, r)
    }

    /// Couplings on the pairs `pair_set` of a periodic lattice.
    pub fn on_lattice(
        lattice: &Lattice,
        pair_set: PairSet,
        w: Vec<f64>,
        a: Vec<f64>,
        b: Vec<f64>,
        r: Vec<f64>,
    ) -> Result<Self, ActionError> {
        let graph = Graph::from_edges(lattice.n_sites(), pair_set.pairs(lattice))?;
        Self::build(graph, Some((*lattice, pair_set)), w, a, b, r)
    }

    /// Homogeneous lattice φ⁴ with nearest-neighbour coupling κ.
    pub fn homogeneous(lattice: &Lattice, params: Homogeneous) -> Result<Self, ActionError> {
        let (v, n_pairs) = (lattice.n_sites(), 2 * lattice.n_sites());
        Self::on_lattice(
            lattice,
            PairSet::NearestNeighbour,
            vec![params.w(); n_pairs],
            vec![params.a(); v],
            vec![params.b(); v],
            vec![0.0; v],
        )
    }

    /// Homogeneous lattice φ⁴ plus the diagonal term `−g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j`.
    pub fn homogeneous_with_diagonal(lattice: &Lattice, params: Homogeneous, g_nnn: f64) -> Result<Self, ActionError> {
        let v = lattice.n_sites();
        let mut w = vec![params.w(); 2 * v];
        w.extend(std::iter::repeat_n(g_nnn, 2 * v));
        Self::on_lattice(
            lattice,
            PairSet::Both,
            w,
            vec![params.a(); v],
            vec![params.b(); v],
            vec![0.0; v],
        )
    }

    fn build(
        graph: Graph,
        lattice: Option<(Lattice, PairSet)>,
        w: Vec<f64>,
        a: Vec<f64>,
        b: Vec<f64>,
        r: Vec<f64>,
    ) -> Result<Self, ActionError> {
        let (n, n_pairs) = (graph.n_sites(), graph.n_edges());
        check_values([&w, &a, &b, &r], [n_pairs, n, n, n])?;
        let mut neighbour_offsets = Vec::with_capacity(n + 1);
        let mut neighbour_w = Vec::with_capacity(2 * n_pairs);
        neighbour_offsets.push(0);
        for i in 0..n {
            neighbour_w.extend(graph.incident_edges(i).iter().map(|&k| w[k as usize]));
            neighbour_offsets.push(neighbour_w.len());
        }
        let uniform = uniform_params(&w, &a, &b, &r);
        let couplings = Self {
            graph,
            lattice,
            w,
            a,
            b,
            r,
            neighbour_w,
            neighbour_offsets,
            uniform,
        };
        couplings.check_normalisable()?;
        Ok(couplings)
    }

    /// With `b_i = 0` on a set Z of sites, `exp(−S)` is normalisable iff the quadratic form
    /// restricted to Z is positive definite.  Checked by strict diagonal dominance, then the
    /// exact Fourier spectrum for homogeneous lattice couplings, then a dense Cholesky
    /// factorisation for up to 4096 free sites.
    fn check_normalisable(&self) -> Result<(), ActionError> {
        let free: Vec<usize> = (0..self.n_sites()).filter(|&i| self.b[i] == 0.0).collect();
        let Some(&first) = free.first() else { return Ok(()) };
        let is_free = |j: usize| self.b[j] == 0.0;
        let dominant = free.iter().all(|&i| {
            let (nbrs, ws) = self.neighbours(i);
            let off: f64 = nbrs
                .iter()
                .zip(ws)
                .filter(|(j, _)| is_free(**j as usize))
                .map(|(_, w)| w.abs())
                .sum();
            2.0 * self.a[i] > off
        });
        if dominant {
            return Ok(());
        }
        let fail = |detail: String| {
            Err(ActionError::NotNormalisable {
                n_free: free.len(),
                first,
                detail,
            })
        };
        if free.len() == self.n_sites()
            && let Some(field) = crate::gaussian::FreeField::from_couplings(self)
        {
            let lowest = field.eigenvalues().iter().map(|l| l.re).fold(f64::INFINITY, f64::min);
            return if lowest > 0.0 {
                Ok(())
            } else {
                fail(format!("lowest eigenvalue {lowest:.6e}"))
            };
        }
        if free.len() > 4096 {
            return fail(format!(
                "not diagonally dominant, and {} free sites are too many for a dense check",
                free.len()
            ));
        }
        let mut position = vec![usize::MAX; self.n_sites()];
        for (p, &i) in free.iter().enumerate() {
            position[i] = p;
        }
        let mut m = DMatrix::<f64>::zeros(free.len(), free.len());
        for (p, &i) in free.iter().enumerate() {
            m[(p, p)] = 2.0 * self.a[i];
            let (nbrs, ws) = self.neighbours(i);
            for (&j, &w) in nbrs.iter().zip(ws) {
                if is_free(j as usize) {
                    m[(p, position[j as usize])] -= w;
                }
            }
        }
        if m.cholesky().is_some() {
            Ok(())
        } else {
            fail("Cholesky factorisation failed".into())
        }
    }

    /// The graph of pairs (pair `k` is edge `k`).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The lattice and pair set, when the couplings live on a periodic lattice.
    pub fn lattice(&self) -> Option<(Lattice, PairSet)> {
        self.lattice
    }

    /// Number of sites `V`.
    pub fn n_sites(&self) -> usize {
        self.a.len()
    }

    /// Number of pairs.
    pub fn n_pairs(&self) -> usize {
        self.w.len()
    }

    /// The pairs `(i, j)`.
    pub fn pairs(&self) -> &[[u32; 2]] {
        self.graph.edges()
    }

    /// Pair couplings `w`.
    pub fn w(&self) -> &[f64] {
        &self.w
    }
    /// Quadratic couplings `a`.
    pub fn a(&self) -> &[f64] {
        &self.a
    }
    /// Quartic couplings `b`.
    pub fn b(&self) -> &[f64] {
        &self.b
    }
    /// Linear couplings `r`.
    pub fn r(&self) -> &[f64] {
        &self.r
    }

    /// Neighbours of site `i` and the coupling `w_ij` to each.
    #[inline]
    pub fn neighbours(&self, i: usize) -> (&[u32], &[f64]) {
        let range = self.neighbour_offsets[i]..self.neighbour_offsets[i + 1];
        (self.graph.neighbours(i), &self.neighbour_w[range])
    }

    /// The homogeneous parameters, when these are homogeneous nearest-neighbour lattice
    /// couplings with `r = 0`.
    pub fn as_homogeneous(&self) -> Option<Homogeneous> {
        let (_, PairSet::NearestNeighbour) = self.lattice? else {
            return None;
        };
        self.as_homogeneous_with_diagonal().map(|(h, _)| h)
    }

    /// `[w, a, b, r]` when each is the same on every pair and site (homogeneous couplings
    /// on any graph), computed once at construction.
    pub fn uniform_params(&self) -> Option<[f64; 4]> {
        self.uniform
    }

    /// `(κ, μ², λ)` and the diagonal coupling `g′`, when these are homogeneous lattice
    /// couplings (uniform on each pair set, `g′ = 0` without diagonals, `κ = 0` with only
    /// diagonals) with `r = 0`.
    pub fn as_homogeneous_with_diagonal(&self) -> Option<(Homogeneous, f64)> {
        let (lattice, pair_set) = self.lattice?;
        if self.r.iter().any(|x| *x != 0.0) {
            return None;
        }
        let (a, b) = (uniform(&self.a)?, uniform(&self.b)?);
        let (kappa, g_nnn) = match pair_set {
            PairSet::NearestNeighbour => (uniform(&self.w)?, 0.0),
            PairSet::Diagonal => (0.0, uniform(&self.w)?),
            PairSet::Both => {
                let (nn, diag) = self.w.split_at(2 * lattice.n_sites());
                (uniform(nn)?, uniform(diag)?)
            }
        };
        Some((Homogeneous::from_wab(kappa, a, b), g_nnn))
    }

    /// Number of parameters, `n_pairs + 3 V`.
    pub fn n_params(&self) -> usize {
        self.n_pairs() + 3 * self.n_sites()
    }

    /// The index range of a parameter block in the flat vector `θ = [w | a | b | r]`.
    pub fn block(&self, block: ParamBlock) -> std::ops::Range<usize> {
        let (p, v) = (self.n_pairs(), self.n_sites());
        match block {
            ParamBlock::W => 0..p,
            ParamBlock::A => p..p + v,
            ParamBlock::B => p + v..p + 2 * v,
            ParamBlock::R => p + 2 * v..p + 3 * v,
        }
    }

    /// The flat parameter vector `θ = [w | a | b | r]`.
    pub fn params(&self) -> Vec<f64> {
        let mut theta = Vec::with_capacity(self.n_params());
        theta.extend_from_slice(&self.w);
        theta.extend_from_slice(&self.a);
        theta.extend_from_slice(&self.b);
        theta.extend_from_slice(&self.r);
        theta
    }

    /// The same graph with new parameters `θ = [w | a | b | r]`, validated.
    pub fn with_params(&self, theta: &[f64]) -> Result<Self, ActionError> {
        if theta.len() != self.n_params() {
            return Err(ActionError::LengthMismatch {
                param: "theta",
                expected: self.n_params(),
                got: theta.len(),
            });
        }
        let part = |b| theta[self.block(b)].to_vec();
        Self::build(
            self.graph.clone(),
            self.lattice,
            part(ParamBlock::W),
            part(ParamBlock::A),
            part(ParamBlock::B),
            part(ParamBlock::R),
        )
    }

    /// Replace the parameters in place by `θ = [w | a | b | r]` on the same graph: the cheap
    /// path of training, with no allocation.  The values are validated as by
    /// [`Couplings::new`] (length, finiteness, `b ≥ 0`); when every `b_i > 0` the action is
    /// normalisable without further checks, otherwise the quadratic form on the sites with
    /// `b_i = 0` is checked as at construction.  On error `self` is unchanged.
    pub fn set_params(&mut self, theta: &[f64]) -> Result<(), ActionError> {
        if theta.len() != self.n_params() {
            return Err(ActionError::LengthMismatch {
                param: "theta",
                expected: self.n_params(),
                got: theta.len(),
            });
        }
        let block = |b| &theta[self.block(b)];
        let b_new = block(ParamBlock::B);
        let (n, n_pairs) = (self.n_sites(), self.n_pairs());
        check_values(
            [block(ParamBlock::W), block(ParamBlock::A), b_new, block(ParamBlock::R)],
            [n_pairs, n, n, n],
        )?;
        let needs_check = b_new.contains(&0.0);
        let previous = needs_check.then(|| self.params());
        self.write_params(theta);
        if let Some(previous) = previous
            && let Err(e) = self.check_normalisable()
        {
            self.write_params(&previous);
            return Err(e);
        }
        Ok(())
    }

    /// Copies `θ` into the coupling arrays and refreshes the derived caches (no checks).
    fn write_params(&mut self, theta: &[f64]) {
        let (p, v) = (self.n_pairs(), self.n_sites());
        self.w.copy_from_slice(&theta[..p]);
        self.a.copy_from_slice(&theta[p..p + v]);
        self.b.copy_from_slice(&theta[p + v..p + 2 * v]);
        self.r.copy_from_slice(&theta[p + 2 * v..p + 3 * v]);
        for i in 0..v {
            let range = self.neighbour_offsets[i]..self.neighbour_offsets[i + 1];
            for (slot, &k) in self.neighbour_w[range].iter_mut().zip(self.graph.incident_edges(i)) {
                *slot = self.w[k as usize];
            }
        }
        self.uniform = (|| {
            Some([
                uniform(&self.w)?,
                uniform(&self.a)?,
                uniform(&self.b)?,
                uniform(&self.r)?,
            ])
        })();
    }

    /// Copies the parameters of `other`, which must live on the same graph
    /// ([`Couplings::same_graph`]), in place and without allocation (`other` was validated
    /// when it was built).
    pub fn assign(&mut self, other: &Couplings) -> Result<(), ActionError> {
        if !self.same_graph(other) {
            return Err(ActionError::DifferentGraph);
        }
        self.w.copy_from_slice(&other.w);
        self.a.copy_from_slice(&other.a);
        self.b.copy_from_slice(&other.b);
        self.r.copy_from_slice(&other.r);
        self.neighbour_w.copy_from_slice(&other.neighbour_w);
        self.uniform = other.uniform;
        Ok(())
    }

    /// True when `other` has the same graph of pairs (and lattice, if any), so that its
    /// parameters can be copied into `self` with [`Couplings::set_params`].
    pub fn same_graph(&self, other: &Couplings) -> bool {
        self.lattice == other.lattice && self.graph == other.graph
    }

    /// Total action `S(φ; θ)`.
    pub fn action(&self, phi: &[f64]) -> f64 {
        debug_assert_eq!(phi.len(), self.n_sites());
        // Eight interleaved partial sums (crate::sum): a fixed order, several times faster
        // than one serial chain.
        let pairs = match self.lattice {
            Some((lattice, PairSet::NearestNeighbour)) => {
                debug_assert_eq!(self.pairs(), lattice.nearest_neighbour_pairs().as_slice());
                match self.uniform {
                    Some([w, ..]) => nearest_neighbour_pair_sum(&lattice, |_| (w, w), phi),
                    None => nearest_neighbour_pair_sum(&lattice, |k| (self.w[2 * k], self.w[2 * k + 1]), phi),
                }
            }
            _ => {
                let (pairs, w) = (self.pairs(), &self.w[..]);
                let term = |k: usize| {
                    let [i, j] = pairs[k];
                    w[k] * phi[i as usize] * phi[j as usize]
                };
                let mut acc = Lanes::default();
                add_lanes(&mut acc, pairs.len(), |k| std::array::from_fn(|l| term(k + l)), term);
                total(&acc)
            }
        };
        let term = |x: f64, a: f64, b: f64, r: f64| {
            let x2 = x * x;
            x2 * (a + b * x2) + r * x
        };
        let sites = match self.uniform {
            Some([_, a, b, r]) => lane_sum_map(phi, |x| term(x, a, b, r)),
            None => {
                let (a, b, r) = (&self.a[..], &self.b[..], &self.r[..]);
                let mut acc = Lanes::default();
                add_lanes(
                    &mut acc,
                    phi.len(),
                    |k| {
                        let (x, a, b, r) = (block(phi, k), block(a, k), block(b, k), block(r, k));
                        std::array::from_fn(|l| term(x[l], a[l], b[l], r[l]))
                    },
                    |i| term(phi[i], a[i], b[i], r[i]),
                );
                total(&acc)
            }
        };
        sites - pairs
    }

    /// Local field `h_i = Σ_j w_ij φ_j − r_i`.
    #[inline]
    pub fn local_field(&self, phi: &[f64], i: usize) -> f64 {
        let (nbrs, ws) = self.neighbours(i);
        nbrs.iter().zip(ws).map(|(&j, &w)| w * phi[j as usize]).sum::<f64>() - self.r[i]
    }

    /// `S(φ') − S(φ)` for `φ'` equal to `φ` except `φ'_i = new`, in O(degree).
    #[inline]
    pub fn delta_action(&self, phi: &[f64], i: usize, new: f64) -> f64 {
        let (old, h) = (phi[i], self.local_field(phi, i));
        let (o2, n2) = (old * old, new * new);
        self.a[i] * (n2 - o2) + self.b[i] * (n2 * n2 - o2 * o2) - h * (new - old)
    }

    /// The conditional `p(φ_i | rest) ∝ exp(−a_i x² − b_i x⁴ + h_i x)`.
    #[inline]
    pub fn conditional(&self, phi: &[f64], i: usize) -> Quartic {
        Quartic {
            a: self.a[i],
            b: self.b[i],
            h: self.local_field(phi, i),
        }
    }

    /// Sufficient statistics `∂S/∂θ` into `out` (length [`Couplings::n_params`]), laid out as
    /// `θ`: `−φ_iφ_j` per pair, then `φ_i²`, `φ_i⁴`, `φ_i` per site.
    pub fn grad_action(&self, phi: &[f64], out: &mut [f64]) {
        assert_eq!(out.len(), self.n_params(), "gradient buffer has the wrong length");
        let (p, v) = (self.n_pairs(), self.n_sites());
        for (g, &[i, j]) in out[..p].iter_mut().zip(self.pairs()) {
            *g = -phi[i as usize] * phi[j as usize];
        }
        for (i, &x) in phi.iter().enumerate() {
            let x2 = x * x;
            out[p + i] = x2;
            out[p + v + i] = x2 * x2;
            out[p + 2 * v + i] = x;
        }
    }
}

impl PairwiseEnergy for Couplings {
    fn n_sites(&self) -> usize {
        self.a.len()
    }
    fn pairs(&self) -> &[[u32; 2]] {
        self.graph.edges()
    }
    fn site_energy(&self, i: usize, x: f64) -> f64 {
        let x2 = x * x;
        self.a[i] * x2 + self.b[i] * x2 * x2 + self.r[i] * x
    }
    fn pair_energy(&self, k: usize, x_i: f64, x_j: f64) -> f64 {
        -self.w[k] * x_i * x_j
    }
}

/// A complex action `S(φ) + i c Σ_i φ_i²` (the talk's `A₅` with `c` the imaginary mass).
///
/// The real part is a normalisable [`Couplings`], so the integral of `exp(−S − i c Σφ²)`
/// converges; the imaginary part only adds a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplexAction {
    real: Couplings,
    imag_mass: f64,
}

impl ComplexAction {
    /// The complex action `real + i imag_mass Σφ²`.
    pub fn new(real: Couplings, imag_mass: f64) -> Result<Self, ActionError> {
        if !imag_mass.is_finite() {
            return Err(ActionError::NotFinite {
                param: "imag_mass",
                index: 0,
                value: imag_mass,
            });
        }
        Ok(Self { real, imag_mass })
    }

    /// The real part.
    pub fn real(&self) -> &Couplings {
        &self.real
    }

    /// The coefficient `c` of `i Σφ²`.
    pub fn imag_mass(&self) -> f64 {
        self.imag_mass
    }

    /// Imaginary part of the action, `c Σφ²`.
    pub fn imag_action(&self, phi: &[f64]) -> f64 {
        self.imag_mass * lane_sum_map(phi, |x| x * x)
    }

    /// The action `S(φ) + i c Σφ²`.
    pub fn action(&self, phi: &[f64]) -> Complex64 {
        Complex64::new(self.real.action(phi), self.imag_action(phi))
    }
}

/// Lengths (`expected`, in the order `w, a, b, r`), finiteness and `b ≥ 0` of coupling
/// values; errors name the parameter and the index.
fn check_values(values: [&[f64]; 4], expected: [usize; 4]) -> Result<(), ActionError> {
    for ((param, values), expected) in ["w", "a", "b", "r"].into_iter().zip(values).zip(expected) {
        if values.len() != expected {
            return Err(ActionError::LengthMismatch {
                param,
                expected,
                got: values.len(),
            });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ActionError::NotFinite { param, index, value });
        }
    }
    if let Some((index, &value)) = values[2].iter().enumerate().find(|(_, v)| **v < 0.0) {
        return Err(ActionError::NegativeQuartic { index, value });
    }
    Ok(())
}

/// `[w, a, b, r]` when each is the same on every pair and site.
fn uniform_params(w: &[f64], a: &[f64], b: &[f64], r: &[f64]) -> Option<[f64; 4]> {
    Some([uniform(w)?, uniform(a)?, uniform(b)?, uniform(r)?])
}

/// The common value of `v`, if it has one (`None` when empty).
fn uniform(v: &[f64]) -> Option<f64> {
    let first = *v.first()?;
    v.iter().all(|x| *x == first).then_some(first)
}

/// `Σ_⟨ij⟩ w_ij φ_iφ_j` on a periodic lattice with the nearest-neighbour pair order of
/// [`Lattice::nearest_neighbour_pairs`] (pair `2i` to the right of site `i`, `2i + 1`
/// above it; `w(i)` gives both couplings), row by row with eight lanes (site `x` of a row
/// in lane `x mod 8`).
#[inline(always)]
fn nearest_neighbour_pair_sum(lattice: &Lattice, w: impl Fn(usize) -> (f64, f64), phi: &[f64]) -> f64 {
    let (lx, ly) = (lattice.lx(), lattice.ly());
    let mut acc = Lanes::default();
    for y in 0..ly {
        let row = &phi[y * lx..][..lx];
        let up = &phi[((y + 1) % ly) * lx..][..lx];
        let term = |x: usize, right: f64| {
            let (w_right, w_up) = w(y * lx + x);
            w_right * row[x] * right + w_up * row[x] * up[x]
        };
        // x + 1 wraps only at the end of the row.
        add_lanes(
            &mut acc,
            lx - 1,
            |k| {
                let (right, up) = (block(row, k + 1), block(up, k));
                std::array::from_fn(|l| {
                    let (w_right, w_up) = w(y * lx + k + l);
                    w_right * row[k + l] * right[l] + w_up * row[k + l] * up[l]
                })
            },
            |x| term(x, row[x + 1]),
        );
        acc[(lx - 1) % 8] += term(lx - 1, row[0]);
    }
    total(&acc)
}
