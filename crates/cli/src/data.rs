//! `qftml data`: exact, independent samples of known distributions, as `.npy`, for tests
//! and demonstrations of learning from data.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use mc_sampler::chain_rng;
use mc_sampler::exact::ExactGaussian;
use phi4_action::gaussian::{FreeField, GaussianMrf};
use phi4_action::{Homogeneous, targets};
use rand::Rng;
use rand_distr::StandardNormal;
use records::{DataRecord, Record};

use crate::geometry::LatticeSize;
use crate::limits;
use crate::output::{Output, provenance, write_atomic};

/// The largest data file `qftml data` writes, in values (2^27, 1 GiB).
const MAX_VALUES: u128 = 1 << 27;
/// The largest lattice of exact free-field draws (dense Cholesky factor).
const MAX_FREE_FIELD_SITES: usize = 4096;

/// Write exact independent samples of a known distribution as a `.npy` file of shape
/// (samples, Ly, Lx), for learning from data.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub distribution: Distribution,
}

/// The distributions `qftml data` draws from.
#[derive(Debug, Subcommand)]
pub enum Distribution {
    /// The free field S = −κ Σ_⟨ij⟩ φ_iφ_j + (μ² + 4κ)/2 Σ φ_i², shifted by a constant mean:
    /// exact draws from the Cholesky factor of the quadratic form (at most 4096 sites).
    Gaussian(GaussianArgs),
    /// Independent Gaussian sites with the given means and variances.
    Independent(IndependentArgs),
}

/// Flags shared by every distribution.
#[derive(Debug, Args)]
pub struct Common {
    /// Periodic lattice size, L or LxLy.
    #[arg(long, allow_hyphen_values = true)]
    pub lattice: LatticeSize,
    /// Number of samples.
    #[arg(long, default_value_t = 1000, allow_hyphen_values = true, value_parser = limits::whole_usize)]
    pub samples: usize,
    /// Seed of the draws.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = limits::whole_number)]
    pub seed: u64,
    /// The `.npy` file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: Output,
}

/// `qftml data gaussian`.
#[derive(Debug, Args)]
pub struct GaussianArgs {
    #[command(flatten)]
    pub common: Common,
    /// Hopping parameter κ.
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub kappa: f64,
    /// Bare mass squared μ² (> 0 for κ ≥ 0: the quadratic form must be positive definite).
    #[arg(long, allow_hyphen_values = true, value_parser = limits::finite)]
    pub mu2: f64,
    /// The mean of every site.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = limits::finite)]
    pub mean: f64,
}

/// `qftml data independent`.
#[derive(Debug, Args)]
pub struct IndependentArgs {
    #[command(flatten)]
    pub common: Common,
    /// Means: one value for every site, or one per site (comma-separated, site order).
    #[arg(long, default_value = "0", allow_hyphen_values = true)]
    pub means: String,
    /// Variances (> 0): one value for every site, or one per site.
    #[arg(long, default_value = "1")]
    pub variances: String,
}

pub fn run(args: &DataArgs) -> Result<()> {
    match &args.distribution {
        Distribution::Gaussian(g) => gaussian(g),
        Distribution::Independent(i) => independent(i),
    }
}

/// The lattice, checked against the size limits and the number of values.
fn checked_lattice(common: &Common) -> Result<mrf_graph::Lattice> {
    let lattice = common.lattice.lattice()?;
    let values = common.samples as u128 * lattice.n_sites() as u128;
    if common.samples == 0 {
        bail!("--samples 0 writes nothing; give --samples 1 or more");
    }
    if values > MAX_VALUES {
        bail!(
            "--samples {} on {} sites is {values} values, more than the {MAX_VALUES} qftml writes at once; \
             use fewer --samples",
            common.samples,
            lattice.n_sites()
        );
    }
    Ok(lattice)
}

fn gaussian(args: &GaussianArgs) -> Result<()> {
    let lattice = checked_lattice(&args.common)?;
    if lattice.n_sites() > MAX_FREE_FIELD_SITES {
        bail!(
            "exact free-field draws factor a dense {n}×{n} matrix; use a lattice of at most {MAX_FREE_FIELD_SITES} sites",
            n = lattice.n_sites()
        );
    }
    let params = Homogeneous {
        kappa: args.kappa,
        mu2: args.mu2,
        lambda: 0.0,
    };
    let couplings = targets::homogeneous(&lattice, params, 0.0, 0.0).map_err(|e| {
        anyhow::anyhow!(
            "--kappa {} --mu2 {} is not a normalisable free field ({e}); raise --mu2",
            args.kappa,
            args.mu2
        )
    })?;
    let mrf = GaussianMrf::from_couplings(&couplings).context("a free field is Gaussian")?;
    let exact = FreeField::from_couplings(&couplings).context("a homogeneous free field")?;
    let sampler = ExactGaussian::new(&mrf);
    let mut rng = chain_rng(args.common.seed, 0);
    let mut values = Vec::with_capacity(args.common.samples * lattice.n_sites());
    for _ in 0..args.common.samples {
        values.extend(sampler.sample(&mut rng).into_iter().map(|x| x + args.mean));
    }
    let moments = [args.mean, exact.phi2().re, exact.nn().re];
    write(&args.common, "free-field", &lattice, &values, moments)
}

/// Comma-separated values: one (broadcast to every site) or one per site.
fn per_site(text: &str, flag: &str, n_sites: usize) -> Result<Vec<f64>> {
    let values: Vec<f64> = text
        .split(',')
        .map(|t| limits::finite(t).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .collect::<Result<_>>()?;
    match values.len() {
        1 => Ok(vec![values[0]; n_sites]),
        n if n == n_sites => Ok(values),
        n => bail!("{flag} has {n} values; give one, or one per site ({n_sites})"),
    }
}

fn independent(args: &IndependentArgs) -> Result<()> {
    let lattice = checked_lattice(&args.common)?;
    let v = lattice.n_sites();
    let means = per_site(&args.means, "--means", v)?;
    let variances = per_site(&args.variances, "--variances", v)?;
    if let Some(k) = variances.iter().position(|&s| s <= 0.0) {
        bail!(
            "--variances: site {k} has variance {} ≤ 0; give positive variances",
            variances[k]
        );
    }
    let mut rng = chain_rng(args.common.seed, 0);
    let mut values = Vec::with_capacity(args.common.samples * v);
    for _ in 0..args.common.samples {
        for (m, s2) in means.iter().zip(&variances) {
            let z: f64 = rng.sample(StandardNormal);
            values.push(m + s2.sqrt() * z);
        }
    }
    let mean = means.iter().sum::<f64>() / v as f64;
    let variance = variances.iter().sum::<f64>() / v as f64;
    write(&args.common, "independent", &lattice, &values, [mean, variance, 0.0])
}

/// Writes the `.npy` file and prints the record with the exact site mean, site variance
/// and neighbour covariance (each averaged over sites or pairs).
fn write(
    common: &Common,
    distribution: &str,
    lattice: &mrf_graph::Lattice,
    values: &[f64],
    [mean, variance, nn_covariance]: [f64; 3],
) -> Result<()> {
    let shape = vec![common.samples, lattice.ly(), lattice.lx()];
    write_atomic(&common.out, &datasets::npy::encode_f64(&shape, values))?;
    let record = DataRecord {
        schema: DataRecord::SCHEMA,
        distribution: distribution.into(),
        file: common.out.display().to_string(),
        shape,
        seed: common.seed,
        exact_mean: mean,
        exact_variance: variance,
        exact_nn_covariance: nn_covariance,
        provenance: provenance(),
    };
    common.output.emit(&record, |r| {
        println!(
            "{} samples of shape {:?} ({}) written to {}",
            r.shape[0],
            &r.shape[1..],
            r.distribution,
            r.file
        );
        println!(
            "exact: mean {:.6}, variance {:.6}, neighbour covariance {:.6}",
            r.exact_mean, r.exact_variance, r.exact_nn_covariance
        );
    })
}
