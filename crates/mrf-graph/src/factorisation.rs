//! The Hammersley–Clifford factorisation of a pairwise energy over maximal cliques.

use crate::{Graph, GraphError, maximal_cliques};

/// A real energy (Euclidean action) that decomposes into site and pair terms,
/// `S(φ) = Σ_i s_i(φ_i) + Σ_k e_k(φ_{i_k}, φ_{j_k})`.
///
/// This is the only interface [`CliqueFactorisation`] needs; the φ⁴ action implements it,
/// and so can any other pairwise model.
pub trait PairwiseEnergy {
    /// Number of sites.
    fn n_sites(&self) -> usize;
    /// The interacting pairs `(i_k, j_k)`.
    fn pairs(&self) -> &[[u32; 2]];
    /// Site term `s_i(x)`.
    fn site_energy(&self, site: usize, x: f64) -> f64;
    /// Pair term `e_k(x_i, x_j)` of pair `k` (`x_i` belongs to `pairs()[k][0]`).
    fn pair_energy(&self, pair: usize, x_i: f64, x_j: f64) -> f64;

    /// Total energy `S(φ)`.
    fn energy(&self, phi: &[f64]) -> f64 {
        let sites: f64 = phi.iter().enumerate().map(|(i, &x)| self.site_energy(i, x)).sum();
        let pairs: f64 = self
            .pairs()
            .iter()
            .enumerate()
            .map(|(k, &[i, j])| self.pair_energy(k, phi[i as usize], phi[j as usize]))
            .sum();
        sites + pairs
    }
}

/// One strictly positive potential per maximal clique, `ψ_c = exp(−S_c)`, with
/// `Σ_c S_c = S` so that `∏_c ψ_c = exp(−S)`.
///
/// Each site term is split equally over the maximal cliques containing the site (¼ on the
/// periodic square lattice, where a site lies on four edges) and each pair term equally over
/// the maximal cliques containing the pair.  Note the sign: the talk's slide writes the
/// exponent as `+S_c`; the product of potentials must be `exp(−S)`.
#[derive(Debug, Clone)]
pub struct CliqueFactorisation {
    cliques: Vec<Vec<u32>>,
    /// Per clique: (site, weight) of each site term it carries.
    site_shares: Vec<Vec<(u32, f64)>>,
    /// Per clique: (pair index, weight) of each pair term it carries.
    pair_shares: Vec<Vec<(u32, f64)>>,
}

impl CliqueFactorisation {
    /// Factorise `energy` over the maximal cliques of `graph`; every pair of the energy must
    /// be an edge of the graph.
    pub fn new<E: PairwiseEnergy + ?Sized>(graph: &Graph, energy: &E) -> Result<Self, GraphError> {
        if energy.n_sites() != graph.n_sites() {
            return Err(GraphError::SizeMismatch {
                energy: energy.n_sites(),
                graph: graph.n_sites(),
            });
        }
        // Graph edge -> energy pair, so each clique finds its pairs through its sites' edges.
        let mut pair_of_edge = vec![u32::MAX; graph.n_edges()];
        for (k, &[i, j]) in energy.pairs().iter().enumerate() {
            let e = graph
                .edge_between(i as usize, j as usize)
                .ok_or(GraphError::NotAnEdge {
                    i: i as usize,
                    j: j as usize,
                })?;
            pair_of_edge[e] = k as u32;
        }
        let cliques = maximal_cliques(graph);
        let mut site_count = vec![0usize; graph.n_sites()];
        for c in &cliques {
            for &i in c {
                site_count[i as usize] += 1;
            }
        }
        let mut pair_count = vec![0usize; energy.pairs().len()];
        let mut clique_pairs = Vec::with_capacity(cliques.len());
        for c in &cliques {
            let mut ks = Vec::new();
            for &i in c {
                for (&j, &e) in graph
                    .neighbours(i as usize)
                    .iter()
                    .zip(graph.incident_edges(i as usize))
                {
                    let k = pair_of_edge[e as usize];
                    if j > i && k != u32::MAX && c.contains(&j) {
                        ks.push(k);
                        pair_count[k as usize] += 1;
                    }
                }
            }
            clique_pairs.push(ks);
        }
        let site_shares = cliques
            .iter()
            .map(|c| c.iter().map(|&i| (i, 1.0 / site_count[i as usize] as f64)).collect())
            .collect();
        let pair_shares = clique_pairs
            .iter()
            .map(|ks| ks.iter().map(|&k| (k, 1.0 / pair_count[k as usize] as f64)).collect())
            .collect();
        Ok(Self {
            cliques,
            site_shares,
            pair_shares,
        })
    }

    /// The maximal cliques, each sorted.
    pub fn cliques(&self) -> &[Vec<u32>] {
        &self.cliques
    }

    /// `ln ψ_c(φ) = −S_c(φ)` for every maximal clique.
    pub fn log_potentials<E: PairwiseEnergy + ?Sized>(&self, energy: &E, phi: &[f64]) -> Vec<f64> {
        (0..self.cliques.len())
            .map(|c| self.log_potential(energy, c, phi))
            .collect()
    }

    /// `ln ψ_c(φ)` of clique `c`.
    pub fn log_potential<E: PairwiseEnergy + ?Sized>(&self, energy: &E, c: usize, phi: &[f64]) -> f64 {
        let sites: f64 = self.site_shares[c]
            .iter()
            .map(|&(i, s)| s * energy.site_energy(i as usize, phi[i as usize]))
            .sum();
        let pairs: f64 = self.pair_shares[c]
            .iter()
            .map(|&(k, s)| {
                let [i, j] = energy.pairs()[k as usize];
                s * energy.pair_energy(k as usize, phi[i as usize], phi[j as usize])
            })
            .sum();
        -(sites + pairs)
    }

    /// `ln ∏_c ψ_c(φ)`, which must equal `−S(φ)`.
    pub fn log_product<E: PairwiseEnergy + ?Sized>(&self, energy: &E, phi: &[f64]) -> f64 {
        self.log_potentials(energy, phi).iter().sum()
    }

    /// Relative mismatch `|ln ∏ψ_c + S| / max(1, |S|)` (zero up to rounding when the
    /// factorisation is right).
    pub fn product_mismatch<E: PairwiseEnergy + ?Sized>(&self, energy: &E, phi: &[f64]) -> f64 {
        let s = energy.energy(phi);
        (self.log_product(energy, phi) + s).abs() / s.abs().max(1.0)
    }

    /// Unnormalised log conditional of `site` at the values `xs`, from the full product of
    /// potentials with the rest of the field held at `phi`, shifted so its first entry is 0.
    pub fn log_conditional<E: PairwiseEnergy + ?Sized>(
        &self,
        energy: &E,
        phi: &[f64],
        site: usize,
        xs: &[f64],
    ) -> Vec<f64> {
        let mut field = phi.to_vec();
        let mut out: Vec<f64> = xs
            .iter()
            .map(|&x| {
                field[site] = x;
                self.log_product(energy, &field)
            })
            .collect();
        let first = out.first().copied().unwrap_or(0.0);
        out.iter_mut().for_each(|v| *v -= first);
        out
    }

    /// Largest change of the log conditional of `site` (over the values `xs`) when every site
    /// outside its Markov blanket is replaced by its value in `other`: zero, up to rounding,
    /// for a Markov random field.
    pub fn blanket_violation<E: PairwiseEnergy + ?Sized>(
        &self,
        graph: &Graph,
        energy: &E,
        phi: &[f64],
        other: &[f64],
        site: usize,
        xs: &[f64],
    ) -> f64 {
        let before = self.log_conditional(energy, phi, site, xs);
        let mut changed = other.to_vec();
        changed[site] = phi[site];
        for &j in graph.neighbours(site) {
            changed[j as usize] = phi[j as usize];
        }
        let after = self.log_conditional(energy, &changed, site, xs);
        let scale = before.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        before
            .iter()
            .zip(&after)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / scale
    }
}
