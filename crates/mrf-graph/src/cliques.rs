//! Cliques and maximal cliques (Bron–Kerbosch with pivoting).

use std::collections::BTreeMap;

use crate::Graph;

/// True if every two sites of `sites` are neighbours (the empty set and single sites are
/// cliques).
pub fn is_clique(graph: &Graph, sites: &[u32]) -> bool {
    sites.iter().enumerate().all(|(k, &i)| {
        sites[k + 1..]
            .iter()
            .all(|&j| i != j && graph.are_neighbours(i as usize, j as usize))
    })
}

/// True if `sites` is a clique to which no other site can be added.
pub fn is_maximal_clique(graph: &Graph, sites: &[u32]) -> bool {
    if sites.is_empty() || !is_clique(graph, sites) {
        return false;
    }
    // Any site that extends the clique is a neighbour of its first member.
    !graph
        .neighbours(sites[0] as usize)
        .iter()
        .any(|&c| !sites.contains(&c) && sites.iter().all(|&s| graph.are_neighbours(s as usize, c as usize)))
}

/// All maximal cliques of `graph`, each sorted, in lexicographic order.
///
/// Bron–Kerbosch with Tomita pivoting, started from every site with the sites before it
/// excluded, so each maximal clique is reported exactly once.  On the sparse graphs of
/// lattice field theory every sub-problem has at most `max_degree` candidates.
pub fn maximal_cliques(graph: &Graph) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    let mut r = Vec::new();
    for v in 0..graph.n_sites() {
        let (p, x): (Vec<u32>, Vec<u32>) = graph.neighbours(v).iter().partition(|&&n| n as usize > v);
        r.push(v as u32);
        bron_kerbosch(graph, &mut r, p, x, &mut out);
        r.pop();
    }
    for c in &mut out {
        c.sort_unstable();
    }
    out.sort_unstable();
    out
}

fn bron_kerbosch(graph: &Graph, r: &mut Vec<u32>, mut p: Vec<u32>, mut x: Vec<u32>, out: &mut Vec<Vec<u32>>) {
    if p.is_empty() {
        if x.is_empty() {
            out.push(r.clone());
        }
        return;
    }
    let adjacent = |a: u32, b: u32| graph.are_neighbours(a as usize, b as usize);
    let pivot = p
        .iter()
        .chain(x.iter())
        .copied()
        .max_by_key(|&u| p.iter().filter(|&&v| adjacent(u, v)).count())
        .expect("p is not empty");
    let candidates: Vec<u32> = p.iter().copied().filter(|&v| !adjacent(pivot, v)).collect();
    for v in candidates {
        let p_next = p.iter().copied().filter(|&u| adjacent(v, u)).collect();
        let x_next = x.iter().copied().filter(|&u| adjacent(v, u)).collect();
        r.push(v);
        bron_kerbosch(graph, r, p_next, x_next, out);
        r.pop();
        p.retain(|&u| u != v);
        x.push(v);
    }
}

/// Counts of maximal cliques by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliqueCensus {
    /// Number of maximal cliques.
    pub n_maximal_cliques: usize,
    /// Number of maximal cliques of each size.
    pub clique_sizes: BTreeMap<usize, usize>,
}

impl CliqueCensus {
    /// Census of a list of cliques.
    pub fn of(cliques: &[Vec<u32>]) -> Self {
        let mut clique_sizes = BTreeMap::new();
        for c in cliques {
            *clique_sizes.entry(c.len()).or_insert(0) += 1;
        }
        Self {
            n_maximal_cliques: cliques.len(),
            clique_sizes,
        }
    }
}
