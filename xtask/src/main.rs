//! `cargo xtask`: see the library documentation of the `xtask` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "qftml project automation", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Regenerate every figure (PNG, SVG), its provenance record and REPORT.md
    Reproduce {
        /// Small statistics: every figure, well under 10 minutes on two cores
        #[arg(long)]
        quick: bool,
        /// Run only this figure (repeatable); see `cargo xtask list`
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// Output directory [default: target/reproduce]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Use this qftml binary instead of building the release one
        #[arg(long, value_name = "PATH")]
        qftml: Option<PathBuf>,
        /// Recompute every selected figure, even if its cached results are current
        #[arg(long)]
        force: bool,
        /// Figures run side by side [default: the number of cores]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: Option<u16>,
    },
    /// List the registered figures
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::List => {
            for f in xtask::figures::FIGURES {
                let first = f.description.split(". ").next().unwrap_or("");
                let short: String = first.chars().take(100).collect();
                let more = if short.len() < first.len() { "…" } else { "" };
                let alone = if f.runs_alone { ", alone" } else { "" };
                let budget = format!("{:.0} s / {:.0} s{alone}", f.budget.quick_s, f.budget.full_s);
                println!("{:<24} {budget:<22} {short}{more}", f.name);
            }
            ExitCode::SUCCESS
        }
        Cmd::Reproduce {
            quick,
            only,
            out,
            qftml,
            force,
            jobs,
        } => {
            let opts = xtask::reproduce::Options {
                quick,
                only,
                out,
                qftml,
                force,
                jobs: jobs.map(usize::from),
            };
            match xtask::reproduce::reproduce(&opts) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("reproduce: a figure failed or a check did not pass; see REPORT.md");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
