//! Real data for qftml: images and samples read from the formats users have.
//!
//! Learning couplings from data (KL(q‖p)) and training φ⁴ networks start from samples of
//! an unknown distribution `q`: images of handwritten digits, or configurations written by
//! other programs.  This crate reads them into one shape, a [`Dataset`] of `n_samples` rows
//! of `n_features` values (an image row-major, `i = y·width + x`, the lattice's site order),
//! with labels when the format has them:
//! - **IDX** ([`idx`]), MNIST's format, gzipped or not (the magic says which): the files
//!   in the repository's `data/` and the full MNIST files a user downloads; images and labels
//!   are paired by the IDX naming convention (`*-images-idx3-ubyte*` beside
//!   `*-labels-idx1-ubyte*`);
//! - **NumPy `.npy`** ([`npy`]): `float32`, `float64`, `uint8` and the signed integers, C
//!   order, first axis the sample;
//! - **CSV** ([`csv`]): one sample per line, an optional header line.
//!
//! Every size is checked against the bytes present before anything is allocated: a wrong
//! magic, a truncated file, dimensions that disagree or labels that do not match the images
//! are errors that say what is wrong, never a misread.
//!
//! Pixel values become field values by a documented affine map ([`PixelMap`]): by default
//! `x ↦ x / max`, with `max` the format's largest pixel value found in the data (255 for
//! MNIST, 16 for the 8×8 digits), so images live in [0, 1].
//!
//! # Example
//!
//! ```
//! use datasets::{Dataset, PixelMap};
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/digits8x8-images-idx3-ubyte.gz");
//! let digits = Dataset::load_images(path, None)?; // labels from the sibling file
//! assert_eq!((digits.n_samples(), digits.shape()), (1797, Some([8, 8])));
//! let threes = digits.with_classes(&[3])?.mapped(PixelMap::unit());
//! assert!(threes.values().iter().all(|&x| (0.0..=1.0).contains(&x)));
//! # Ok::<(), datasets::DataError>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub mod csv;
pub mod idx;
pub mod npy;

#[cfg(test)]
mod tests;

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not what its format says: the reason says what is wrong.
    #[error("{path} is not a valid {format} file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The format expected (`IDX`, `.npy`, `CSV`).
        format: &'static str,
        /// What is wrong and, where it helps, what to do.
        reason: String,
    },
    /// Images and labels do not belong together.
    #[error("labels {labels} do not match images {images}: {reason}")]
    LabelsMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// A request the data cannot satisfy (a class that has no samples, ...).
    #[error("{0}")]
    Request(String),
}

impl DataError {
    pub(crate) fn malformed(path: &Path, format: &'static str, reason: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.to_path_buf(),
            format,
            reason: reason.into(),
        }
    }
}

/// How `len` data bytes fall short of, or run past, the `need` bytes a header announces, in
/// words; `None` when they match.
pub(crate) fn length_mismatch(len: usize, need: usize) -> Option<&'static str> {
    match len.cmp(&need) {
        std::cmp::Ordering::Less => Some("the file is truncated"),
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some("trailing bytes after the data"),
    }
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path, format: &'static str) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&raw[..]), &mut out)
            .map_err(|e| DataError::malformed(path, format, format!("the gzip stream is corrupted ({e})")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An affine map from stored values (pixels) to field values: `x ↦ offset + scale · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PixelMap {
    /// `x ↦ lo + (hi − lo) · x / max`, with `max` the largest value in the data (so the data
    /// span `[lo, hi]` when their smallest value is 0, as pixels are).
    Range {
        /// Field value of a pixel 0.
        lo: f64,
        /// Field value of the largest pixel.
        hi: f64,
    },
    /// The values as stored.
    Identity,
}

impl PixelMap {
    /// `x / max`: images in [0, 1], the default.
    pub fn unit() -> Self {
        PixelMap::Range { lo: 0.0, hi: 1.0 }
    }

    /// `2 x / max − 1`: images in [−1, 1], symmetric for φ⁴ fields.
    pub fn symmetric() -> Self {
        PixelMap::Range { lo: -1.0, hi: 1.0 }
    }
}

/// Samples as rows of values, with an optional image shape and optional labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    values: Vec<f64>,
    n_samples: usize,
    n_features: usize,
    shape: Option<[usize; 2]>,
    labels: Option<Vec<u8>>,
    source: PathBuf,
}

impl Dataset {
    /// A dataset from rows (`values.len() = n_samples · n_features`).
    pub fn from_rows(values: Vec<f64>, n_features: usize, source: impl Into<PathBuf>) -> Result<Self, DataError> {
        if n_features == 0 || !values.len().is_multiple_of(n_features) {
            return Err(DataError::Request(format!(
                "{} values do not make rows of {n_features}",
                values.len()
            )));
        }
        Ok(Self {
            n_samples: values.len() / n_features,
            n_features,
            values,
            shape: None,
            labels: None,
            source: source.into(),
        })
    }

    /// Images from an IDX file (`*-images-idx3-ubyte`, gzipped or not) with labels from
    /// `labels`, or by default from the sibling `*-labels-idx1-ubyte*` file when it exists.
    pub fn load_images(path: impl AsRef<Path>, labels: Option<&Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let images = idx::read(path)?;
        let [n, height, width] = images.shape[..] else {
            return Err(DataError::malformed(
                path,
                "IDX",
                format!(
                    "images have three dimensions (count, rows, columns), this file has {:?}",
                    images.shape
                ),
            ));
        };
        let label_path = labels.map(Path::to_path_buf).or_else(|| idx::sibling_labels(path));
        let labels = match label_path {
            Some(lp) => Some(idx::read_labels(&lp, path, n)?),
            None => None,
        };
        Ok(Self {
            values: images.data,
            n_samples: n,
            n_features: height * width,
            shape: Some([height, width]),
            labels,
            source: path.to_path_buf(),
        })
    }

    /// Any supported file, by its magic: IDX (gzipped or not), `.npy`, else CSV.  An array
    /// of more than two dimensions keeps its last two as the image shape.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let head = read_maybe_gz(path, "data")?;
        if head.starts_with(b"\x93NUMPY") {
            let array = npy::parse(&head, path)?;
            return Self::from_array(array.shape, array.data, path);
        }
        if head.len() >= 4 && head[0] == 0 && head[1] == 0 && idx::is_type_code(head[2]) {
            let array = idx::parse(&head, path)?;
            if array.shape.len() == 3 {
                return Self::load_images(path, None);
            }
            return Self::from_array(array.shape, array.data, path);
        }
        let table = csv::parse(&head, path)?;
        Self::from_rows(table.values, table.n_columns, path)
    }

    fn from_array(shape: Vec<usize>, data: Vec<f64>, path: &Path) -> Result<Self, DataError> {
        let (n, features, image) = match shape[..] {
            [] => (1, 1, None),
            [n] => (n, 1, None),
            [n, f] => (n, f, None),
            [n, h, w] => (n, h * w, Some([h, w])),
            _ => {
                return Err(DataError::Request(format!(
                    "{}: arrays of shape {shape:?} are not samples; use (n, features) or (n, height, width)",
                    path.display()
                )));
            }
        };
        Ok(Self {
            values: data,
            n_samples: n,
            n_features: features,
            shape: image,
            labels: None,
            source: path.to_path_buf(),
        })
    }

    /// Number of samples (rows).
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// Values per sample.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// `[height, width]` of image data.
    pub fn shape(&self) -> Option<[usize; 2]> {
        self.shape
    }

    /// Every value, sample after sample.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Sample `k`.
    pub fn sample(&self, k: usize) -> &[f64] {
        &self.values[k * self.n_features..(k + 1) * self.n_features]
    }

    /// The samples, in order.
    pub fn samples(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.n_features)
    }

    /// The labels, when the data have them.
    pub fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    /// The file the data came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Only the samples whose label is one of `classes` (in their order in the file).
    pub fn with_classes(&self, classes: &[u8]) -> Result<Self, DataError> {
        let labels = self.labels.as_ref().ok_or_else(|| {
            DataError::Request(format!(
                "{} has no labels, so no class can be chosen; give the labels file",
                self.source.display()
            ))
        })?;
        let keep: Vec<usize> = (0..self.n_samples).filter(|&k| classes.contains(&labels[k])).collect();
        if keep.is_empty() {
            return Err(DataError::Request(format!(
                "no sample of class {classes:?} in {}",
                self.source.display()
            )));
        }
        Ok(self.subset(&keep))
    }

    /// The first `n` samples (all if fewer).
    pub fn first(&self, n: usize) -> Self {
        let keep: Vec<usize> = (0..n.min(self.n_samples)).collect();
        self.subset(&keep)
    }

    fn subset(&self, keep: &[usize]) -> Self {
        Self {
            values: keep.iter().flat_map(|&k| self.sample(k).iter().copied()).collect(),
            n_samples: keep.len(),
            n_features: self.n_features,
            shape: self.shape,
            labels: self.labels.as_ref().map(|l| keep.iter().map(|&k| l[k]).collect()),
            source: self.source.clone(),
        }
    }

    /// The values mapped by `map` (see [`PixelMap`]).
    pub fn mapped(mut self, map: PixelMap) -> Self {
        if let PixelMap::Range { lo, hi } = map {
            let max = self.values.iter().copied().fold(0.0_f64, f64::max);
            let scale = if max > 0.0 { (hi - lo) / max } else { 0.0 };
            for x in &mut self.values {
                *x = lo + scale * *x;
            }
        }
        self
    }

    /// Per-feature mean and (population) variance.
    pub fn moments(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.n_samples.max(1) as f64;
        let mut mean = vec![0.0; self.n_features];
        for s in self.samples() {
            for (m, x) in mean.iter_mut().zip(s) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; self.n_features];
        for s in self.samples() {
            for ((v, m), x) in var.iter_mut().zip(&mean).zip(s) {
                *v += (x - m) * (x - m);
            }
        }
        var.iter_mut().for_each(|v| *v /= n);
        (mean, var)
    }
}
