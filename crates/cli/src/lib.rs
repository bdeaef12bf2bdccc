//! The commands of `qftml` as a library: lattice φ⁴ field theory as a machine-learning model.
//!
//! A lattice φ⁴ theory with couplings θ = {w_ij, a_i, b_i, r_i} is the Markov random field
//! `p(φ; θ) ∝ exp(−S(φ; θ))`, `S = −Σ_⟨ij⟩ w_ij φ_iφ_j + Σ_i (a_i φ_i² + b_i φ_i⁴ + r_i φ_i)`.
//! Every `qftml` command lives here as a module: its clap arguments, an execution path that
//! returns the typed record the command prints with `--json` (and the in-memory data a
//! caller may want, such as configurations), and a text printer.  The `qftml` binary
//! parses a command line and dispatches to these modules; other front ends (the Python
//! package in `python/`) build the same argument structs and call the same execution path,
//! so their results are bit-identical to the binary's.
//!
//! ```
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cmd {
//!     #[command(flatten)]
//!     sample: cli::sample::SampleArgs,
//! }
//! let cmd = Cmd::try_parse_from([
//!     "sample", "--lattice", "4", "--kappa", "0.2", "--mu2", "1", "--lambda", "0",
//!     "--sweeps", "200", "--therm", "20", "--seed", "3", "--threads", "1",
//! ])
//! .unwrap();
//! let outcome = cli::sample::execute(&cmd.sample, false, |_| {}).unwrap();
//! // A free field: the exact ⟨φ²⟩ comes with the record.
//! let exact = outcome.record.exact_free_field.as_ref().unwrap();
//! assert!((outcome.record.observables.phi2.mean - exact.run.phi2).abs() < 0.1);
//! ```

pub mod action;
pub mod couplings_file;
pub mod data;
pub mod geometry;
pub mod graph;
pub mod irg;
pub mod limits;
#[cfg(feature = "mpi")]
pub mod mpi_ranks;
#[cfg(feature = "mpi")]
pub mod mpi_sample;
pub mod mpi_share;
#[cfg(feature = "mpi")]
pub mod mpi_train;
pub mod output;
pub mod rbm;
pub mod reweight;
pub mod rundir;
pub mod sample;
pub mod train;
