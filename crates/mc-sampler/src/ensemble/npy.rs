//! NumPy `.npy` files (version 1.0 written, 1.0 to 3.0 read): the header is written here, so
//! no extra dependency is needed (the format is a 10-byte prefix and a Python dict literal).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::SamplerError;

/// Values for [`write_npy`], streamed in C (row-major) order.
pub enum NpyValues<'a> {
    /// Little-endian `f64` (`<f8`).
    F64(Box<dyn Iterator<Item = f64> + 'a>),
    /// Little-endian `i64` (`<i8`).
    I64(Box<dyn Iterator<Item = i64> + 'a>),
}

/// A `.npy` array read back by [`read_npy`].
#[derive(Debug, Clone, PartialEq)]
pub enum NpyArray {
    /// `<f8` data.
    F64 {
        /// The shape.
        shape: Vec<usize>,
        /// Values in C order.
        data: Vec<f64>,
    },
    /// `<i8` data.
    I64 {
        /// The shape.
        shape: Vec<usize>,
        /// Values in C order.
        data: Vec<i64>,
    },
}

/// The NPY 1.0 header for a C-ordered array: magic, version, header length and the dict,
/// padded with spaces and a final newline to a multiple of 64 bytes.
pub(crate) fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    let header_len = dict.len() + (64 - unpadded % 64) % 64 + 1;
    let mut out = Vec::with_capacity(10 + header_len);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(
        &u16::try_from(header_len)
            .expect("npy header fits in 64 KiB")
            .to_le_bytes(),
    );
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    out
}

/// Write a C-ordered array of shape `shape` as an NPY 1.0 file, atomically.  A number of
/// values other than the product of `shape` is an error (and leaves no file).
pub fn write_npy(path: impl AsRef<Path>, shape: &[usize], values: NpyValues<'_>) -> Result<(), SamplerError> {
    let path = path.as_ref();
    let expected: usize = shape.iter().product();
    let mut count = 0usize;
    records::write_atomic_with(path, |w| {
        let descr = match values {
            NpyValues::F64(_) => "<f8",
            NpyValues::I64(_) => "<i8",
        };
        w.write_all(&npy_header(descr, shape))?;
        match values {
            NpyValues::F64(mut it) => it.try_for_each(|x| {
                count += 1;
                w.write_all(&x.to_le_bytes())
            })?,
            NpyValues::I64(mut it) => it.try_for_each(|x| {
                count += 1;
                w.write_all(&x.to_le_bytes())
            })?,
        }
        if count != expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{count} values for shape {shape:?}, which needs {expected}"),
            ));
        }
        Ok(())
    })
    .map_err(super::io_error("write", path))
}

/// Read a C-ordered `<f8` or `<i8` `.npy` file (format versions 1.0 to 3.0).
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray, SamplerError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(super::io_error("read", path))?;
    parse_npy(&bytes).map_err(|reason| SamplerError::InvalidNpy {
        path: path.into(),
        reason,
    })
}

fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("missing the \\x93NUMPY magic".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let end = start + header_len;
    let header = bytes.get(start..end).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not UTF-8")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(&format!("'{key}':"))
            .ok_or(format!("no '{key}' in the header"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed 'descr'")?;
    if !field("fortran_order")?.starts_with("False") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed 'shape'")?;
    let shape: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad dimension {s:?}")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[end..];
    if data.len() != 8 * n {
        return Err(format!(
            "shape {shape:?} needs {} data bytes, found {}",
            8 * n,
            data.len()
        ));
    }
    let words = data.chunks_exact(8).map(|c| <[u8; 8]>::try_from(c).expect("8 bytes"));
    match descr {
        "<f8" => Ok(NpyArray::F64 {
            shape,
            data: words.map(f64::from_le_bytes).collect(),
        }),
        "<i8" => Ok(NpyArray::I64 {
            shape,
            data: words.map(i64::from_le_bytes).collect(),
        }),
        other => Err(format!("unsupported dtype {other:?} (only '<f8' and '<i8')")),
    }
}
