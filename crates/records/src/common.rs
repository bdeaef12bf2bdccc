//! Pieces shared by several records: provenance and estimates with errors.

use serde::{Deserialize, Serialize};

/// Where a result comes from: program, version, source revision, command line, time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `qftml`.
    pub program: String,
    /// The program's version.
    pub version: String,
    /// The git revision the program was built from (`unknown` outside a checkout).
    pub git_revision: String,
    /// The command line, program name first.
    pub command_line: Vec<String>,
    /// Seconds since the Unix epoch when the result was made.
    pub unix_time: u64,
}

impl Provenance {
    /// The entries as `(key, value)` strings, for headers that store provenance as text.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        vec![
            ("program", self.program.clone()),
            ("version", self.version.clone()),
            ("git_revision", self.git_revision.clone()),
            ("command_line", self.command_line.join(" ")),
            ("unix_time", self.unix_time.to_string()),
        ]
    }
}

/// A real number with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanErr {
    /// Central value.
    #[serde(with = "crate::nullable")]
    pub mean: f64,
    /// Standard error.
    #[serde(with = "crate::nullable")]
    pub err: f64,
}

/// A real or complex estimate: `{mean, err}` for real values, `{re, im, err_re, err_im}`
/// for complex ones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Estimate {
    /// A real value.
    Real(MeanErr),
    /// A complex value.
    Complex {
        /// Real part.
        #[serde(with = "crate::nullable")]
        re: f64,
        /// Imaginary part.
        #[serde(with = "crate::nullable")]
        im: f64,
        /// Error of the real part.
        #[serde(with = "crate::nullable")]
        err_re: f64,
        /// Error of the imaginary part.
        #[serde(with = "crate::nullable")]
        err_im: f64,
    },
}

impl Estimate {
    /// Real part.
    pub fn re(&self) -> f64 {
        match *self {
            Estimate::Real(m) => m.mean,
            Estimate::Complex { re, .. } => re,
        }
    }

    /// Imaginary part (0 for a real value).
    pub fn im(&self) -> f64 {
        match *self {
            Estimate::Real(_) => 0.0,
            Estimate::Complex { im, .. } => im,
        }
    }

    /// Error of the real part.
    pub fn err_re(&self) -> f64 {
        match *self {
            Estimate::Real(m) => m.err,
            Estimate::Complex { err_re, .. } => err_re,
        }
    }

    /// Error of the imaginary part (0 for a real value).
    pub fn err_im(&self) -> f64 {
        match *self {
            Estimate::Real(_) => 0.0,
            Estimate::Complex { err_im, .. } => err_im,
        }
    }
}
