//! `qftml graph`: maximal cliques of the talk's graphs.

use anyhow::Result;
use clap::Args;
use mrf_graph::{CliqueCensus, maximal_cliques};
use records::{GraphRecord, Record};

use crate::geometry::{GeometryArg, LatticeSize, build_graph};
use crate::output::print_json;

/// Build a graph and print its maximal cliques (Bron–Kerbosch with pivoting).
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Graph geometry.
    #[arg(long, value_enum)]
    pub geometry: GeometryArg,
    /// Periodic lattice size, L or LxLy (at least 4 in each direction).
    #[arg(long)]
    pub lattice: Option<LatticeSize>,
    /// Number of visible units (bipartite only).
    #[arg(long)]
    pub visible: Option<usize>,
    /// Number of hidden units (bipartite only).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &GraphArgs) -> Result<()> {
    let built = build_graph(args.geometry, args.lattice, args.visible, args.hidden)?;
    let cliques = maximal_cliques(&built.graph);
    let census = CliqueCensus::of(&cliques);
    let record = GraphRecord {
        schema: GraphRecord::SCHEMA,
        geometry: args.geometry.name().into(),
        lattice: built.lattice.map(|l| [l.lx(), l.ly()]),
        n_sites: built.graph.n_sites(),
        n_edges: built.graph.n_edges(),
        n_maximal_cliques: census.n_maximal_cliques,
        clique_sizes: census.clique_sizes.iter().map(|(k, v)| (*k, *v)).collect(),
        edges: built
            .graph
            .edges()
            .iter()
            .map(|&[i, j]| [i as usize, j as usize])
            .collect(),
        cliques: cliques
            .iter()
            .map(|c| c.iter().map(|&i| i as usize).collect())
            .collect(),
    };
    if args.json {
        return print_json(&record);
    }
    print_text(&record);
    Ok(())
}

fn print_text(r: &GraphRecord) {
    println!(
        "{} graph: {} sites, {} edges, {} maximal cliques",
        r.geometry, r.n_sites, r.n_edges, r.n_maximal_cliques
    );
    for (size, count) in &r.clique_sizes {
        println!("  {count} maximal cliques of size {size}");
    }
    for c in &r.cliques {
        let sites: Vec<String> = c.iter().map(usize::to_string).collect();
        println!("{{{}}}", sites.join(", "));
    }
}
