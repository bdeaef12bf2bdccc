//! MNIST's IDX format: two zero bytes, a type code, the number of dimensions, each dimension
//! as a big-endian `u32`, then the values big-endian in row-major order.  Files may be
//! gzipped (as MNIST is distributed); the gzip magic says so, not the file name.

use std::path::{Path, PathBuf};

use crate::{DataError, read_maybe_gz};

/// An IDX array: its shape, its values as `f64`, and the type code it was stored with.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values in row-major order.
    pub data: Vec<f64>,
    /// The IDX type code (0x08 `u8`, 0x09 `i8`, 0x0B `i16`, 0x0C `i32`, 0x0D `f32`, 0x0E `f64`).
    pub type_code: u8,
}

/// Whether `code` is an IDX type code.
pub fn is_type_code(code: u8) -> bool {
    element_size(code).is_some()
}

fn element_size(code: u8) -> Option<usize> {
    match code {
        0x08 | 0x09 => Some(1),
        0x0B => Some(2),
        0x0C | 0x0D => Some(4),
        0x0E => Some(8),
        _ => None,
    }
}

/// Reads the IDX file at `path`, gzipped or not.
pub fn read(path: impl AsRef<Path>) -> Result<Array, DataError> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path, "IDX")?;
    parse(&bytes, path)
}

/// Decodes IDX bytes (`path` names the file in errors).
pub fn parse(bytes: &[u8], path: &Path) -> Result<Array, DataError> {
    let bad = |reason: String| DataError::malformed(path, "IDX", reason);
    if bytes.len() < 4 {
        return Err(bad(format!("{} bytes, shorter than the 4-byte magic", bytes.len())));
    }
    let type_code = bytes[2];
    let size = match (bytes[0], bytes[1], element_size(type_code)) {
        (0, 0, Some(size)) => size,
        _ => {
            return Err(bad(format!(
                "wrong magic {:02x} {:02x} {:02x} {:02x} (expected 00 00, a type code such as 08, and the number \
                 of dimensions)",
                bytes[0], bytes[1], bytes[2], bytes[3]
            )));
        }
    };
    let n_dims = bytes[3] as usize;
    if n_dims == 0 {
        return Err(bad("zero dimensions".into()));
    }
    let header_len = 4 + 4 * n_dims;
    let dims = bytes
        .get(4..header_len)
        .ok_or_else(|| bad(format!("truncated in the header ({n_dims} dimensions announced)")))?;
    let shape: Vec<usize> = dims
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| bad(format!("dimensions {shape:?} are too large")))?;
    let data = &bytes[header_len..];
    if let Some(what) = crate::length_mismatch(data.len(), count) {
        return Err(bad(format!(
            "dimensions {shape:?} need {count} data bytes, the file has {}: {what}",
            data.len()
        )));
    }
    let values: Vec<f64> = match type_code {
        0x08 => data.iter().map(|&b| f64::from(b)).collect(),
        0x09 => data.iter().map(|&b| f64::from(b as i8)).collect(),
        0x0B => data
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_be_bytes([c[0], c[1]])))
            .collect(),
        0x0C => data
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        0x0D => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    };
    if let Some(k) = values.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!("value {k} is not finite")));
    }
    Ok(Array {
        shape,
        data: values,
        type_code,
    })
}

/// The labels file that the IDX convention pairs with the images file `images`
/// (`train-images-idx3-ubyte.gz` → `train-labels-idx1-ubyte.gz`, with or without `.gz`),
/// if it exists.
pub fn sibling_labels(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    if !name.contains("images") {
        return None;
    }
    let base = name.replace("images", "labels").replace("idx3", "idx1");
    let stem = base.strip_suffix(".gz").unwrap_or(&base).to_owned();
    [base.clone(), stem.clone(), format!("{stem}.gz")]
        .into_iter()
        .map(|candidate| images.with_file_name(candidate))
        .find(|p| p.is_file())
}

/// Reads the labels at `path` for the `n_images` images of `images`: a one-dimensional
/// `u8` IDX array of exactly `n_images` entries.
pub fn read_labels(path: &Path, images: &Path, n_images: usize) -> Result<Vec<u8>, DataError> {
    let array = read(path)?;
    let mismatch = |reason: String| DataError::LabelsMismatch {
        images: images.to_path_buf(),
        labels: path.to_path_buf(),
        reason,
    };
    if array.type_code != 0x08 || array.shape.len() != 1 {
        return Err(mismatch(format!(
            "labels are a one-dimensional array of bytes, this file has shape {:?} (type {:#04x}); \
             is it an images file?",
            array.shape, array.type_code
        )));
    }
    if array.shape[0] != n_images {
        return Err(mismatch(format!(
            "{} labels for {n_images} images; give the labels file of these images (--labels)",
            array.shape[0]
        )));
    }
    Ok(array.data.iter().map(|&x| x as u8).collect())
}
