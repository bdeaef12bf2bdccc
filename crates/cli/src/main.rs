//! `qftml`: lattice φ⁴ field theory as a machine-learning model, from the command line.
//!
//! A thin binary over the libraries: every command validates its input, prints a readable
//! summary (or one JSON object with `--json`), and long runs write their full configuration
//! and provenance next to their results.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{action, data, graph, irg, rbm, reweight, rundir, sample, train};
#[cfg(feature = "mpi")]
use cli::{mpi_ranks, mpi_sample, mpi_train};
// The unit tests name these modules from the crate root.
#[cfg(test)]
use cli::{couplings_file, geometry};

/// Lattice φ⁴ field theory as a machine-learning model.
#[derive(Debug, Parser)]
#[command(name = "qftml", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a graph (lattice or bipartite) and print its maximal cliques.
    Graph(graph::GraphArgs),
    /// Evaluate the φ⁴ action, its clique factorisation and ∂S/∂θ on a configuration.
    Action(action::ActionArgs),
    /// Sample φ⁴ with Markov chains; observables with Γ-method errors.
    Sample(sample::SampleArgs),
    /// Reweight stored ensembles to other (also complex) actions; scans; multi-histogram.
    Reweight(reweight::ReweightArgs),
    /// Write exact independent samples of a known distribution (.npy) to learn from.
    Data(data::DataArgs),
    /// Train φ⁴ couplings: variationally against a target action, KL(p‖q).
    Train(train::TrainArgs),
    /// Train, evaluate and sample φ⁴ neural networks (generalised RBMs).
    Rbm(rbm::RbmArgs),
    /// Inverse renormalization group: rescaled ensembles, fixed point, exponents.
    Irg(irg::IrgArgs),
}

fn main() -> ExitCode {
    stop_quietly_on_closed_stdout();
    let cli = Cli::parse();
    rundir::install_signal_handler();
    // Under an MPI launcher, `sample` and `train` spread their chains over the ranks and
    // every other command runs on rank 0 (see `mpi_ranks`).
    #[cfg(feature = "mpi")]
    if let Some(ranks) = mpi_ranks::Ranks::from_launcher() {
        let result = match cli.command {
            Command::Sample(args) => mpi_sample::run(&ranks, &args),
            Command::Train(args) => mpi_train::run(&ranks, &args),
            other => ranks.on_root(|| run(other)),
        };
        return ranks.finish(result);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Graph(args) => graph::run(&args),
        Command::Action(args) => action::run(&args),
        Command::Sample(args) => sample::run(&args),
        Command::Reweight(args) => reweight::run(&args),
        Command::Data(args) => data::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Rbm(args) => rbm::run(&args),
        Command::Irg(args) => irg::run(&args),
    }
}

#[cfg(test)]
mod tests;

/// When the reader of standard output goes away (`qftml … | head`), printing fails with
/// "Broken pipe": stop at once and quietly with the status of a process killed by SIGPIPE
/// (128 + 13), as other command-line tools do, instead of reporting a panic.  Every file a
/// run writes is written atomically, so stopping here loses nothing already written.
fn stop_quietly_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}
