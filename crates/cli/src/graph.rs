//! `qftml graph`: maximal cliques of the talk's graphs.

use anyhow::Result;
use clap::Args;
use mrf_graph::{CliqueCensus, maximal_cliques};
use records::{GraphRecord, Record};

use crate::geometry::{GeometryArg, GraphSize};
use crate::output::Output;

/// Build a graph and print its maximal cliques (Bron–Kerbosch with pivoting).
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Graph geometry.
    #[arg(long, value_enum)]
    pub geometry: GeometryArg,
    #[command(flatten)]
    pub size: GraphSize,
    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: &GraphArgs) -> Result<()> {
    let built = args.size.build(args.geometry)?;
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
    args.output.emit(&record, print_text)
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
