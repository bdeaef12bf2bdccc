//! Training data as the networks see them: one example per column.

use nalgebra::DMatrix;

use crate::units::UnitKind;
use crate::{Network, RbmError};

/// Examples of the visible layer, `n_features × n_samples` (one example per column, so an
/// example is contiguous).
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    matrix: DMatrix<f64>,
    /// Every value is 0 or 1 (checked once, so that an epoch of a Bernoulli layer need not
    /// scan the data again).
    zero_one: bool,
}

impl Data {
    /// Data from rows of `n_features` values (row-major, the layout of `datasets::Dataset`).
    pub fn from_rows(values: &[f64], n_features: usize) -> Result<Self, RbmError> {
        if n_features == 0 || values.is_empty() || !values.len().is_multiple_of(n_features) {
            return Err(RbmError::InvalidData(format!(
                "{} values are not a whole number of examples of {n_features} features",
                values.len()
            )));
        }
        if let Some(x) = values.iter().find(|x| !x.is_finite()) {
            return Err(RbmError::InvalidData(format!("value {x} is not a finite number")));
        }
        let n = values.len() / n_features;
        Ok(Self {
            matrix: DMatrix::from_column_slice(n_features, n, values),
            zero_one: values.iter().all(|&x| x == 0.0 || x == 1.0),
        })
    }

    /// Binary data: every value `≥ threshold` becomes 1, every other 0.
    pub fn binarized(&self, threshold: f64) -> Self {
        Self {
            matrix: self.matrix.map(|x| if x >= threshold { 1.0 } else { 0.0 }),
            zero_one: true,
        }
    }

    /// Examples as columns.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }
    /// Number of examples.
    pub fn n_samples(&self) -> usize {
        self.matrix.ncols()
    }
    /// Values per example.
    pub fn n_features(&self) -> usize {
        self.matrix.nrows()
    }
    /// Example `k`.
    pub fn example(&self, k: usize) -> &[f64] {
        let n = self.n_features();
        &self.matrix.as_slice()[k * n..(k + 1) * n]
    }

    /// Checks that the network's visible layer can take these data: the sizes agree and
    /// binary units see only their two values.
    pub fn check_fits(&self, network: &Network) -> Result<(), RbmError> {
        if self.n_features() != network.n_visible() {
            return Err(RbmError::InvalidData(format!(
                "the examples have {} values but the network has {} visible units",
                self.n_features(),
                network.n_visible()
            )));
        }
        let layer = network.visible();
        let known_zero_one = self.zero_one && layer.kind() == UnitKind::Bernoulli;
        if let Some(values) = layer.kind().binary_values()
            && !known_zero_one
            && let Some(x) = self.matrix.iter().find(|&&x| !layer.admits(x))
        {
            return Err(RbmError::InvalidData(format!(
                "{} visible units take the values {} and {}, but the data hold {x}; binarize the data first",
                layer.kind().name(),
                values[0],
                values[1]
            )));
        }
        Ok(())
    }
}
