//! NumPy's `.npy` format (versions 1.0 to 3.0): magic `\x93NUMPY`, version, header length,
//! a Python-literal header `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`, then the
//! values.  Read: C order, `float32`, `float64`, `uint8` and the other integer types, either
//! byte order.  Written: `<f8`, C order, version 1.0.

use std::path::Path;

use crate::{DataError, read_maybe_gz};

/// An array read from a `.npy` file: its shape and its values as `f64`, in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values in C (row-major) order.
    pub data: Vec<f64>,
    /// The stored dtype, e.g. `<f4`.
    pub descr: String,
}

/// Reads the `.npy` file at `path`.
pub fn read(path: impl AsRef<Path>) -> Result<Array, DataError> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path, ".npy")?;
    parse(&bytes, path)
}

/// The value of `key` in the header dict, up to the next top-level comma or brace.
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Decodes `.npy` bytes (`path` names the file in errors).
pub fn parse(bytes: &[u8], path: &Path) -> Result<Array, DataError> {
    let bad = |reason: String| DataError::malformed(path, ".npy", reason);
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad("missing the \\x93NUMPY magic".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    let header = bytes
        .get(start..start.saturating_add(header_len))
        .ok_or_else(|| bad("truncated in the header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("the header is not text".into()))?;
    let descr = header_field(header, "descr")
        .and_then(|d| d.strip_prefix('\''))
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| bad("no 'descr' in the header".into()))?;
    let fortran =
        header_field(header, "fortran_order").ok_or_else(|| bad("no 'fortran_order' in the header".into()))?;
    if fortran.starts_with("True") {
        return Err(bad(
            "the array is in Fortran order; save it with numpy.ascontiguousarray(x) first".into(),
        ));
    }
    let shape_text = header_field(header, "shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no 'shape' in the header".into()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad(format!("bad dimension {s:?} in the shape"))))
        .collect::<Result<_, _>>()?;
    let (little, kind, size) = dtype(descr).ok_or_else(|| {
        bad(format!(
            "dtype {descr:?} is not supported; use float32, float64 or an integer type"
        ))
    })?;
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let need = count
        .checked_mul(size)
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    let data = &bytes[start + header_len..];
    if let Some(what) = crate::length_mismatch(data.len(), need) {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {need} data bytes, the file has {}: {what}",
            data.len()
        )));
    }
    let values: Vec<f64> = data.chunks_exact(size).map(|c| decode(c, kind, little)).collect();
    if let Some(k) = values.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!("value {k} is not finite")));
    }
    Ok(Array {
        shape,
        data: values,
        descr: descr.to_owned(),
    })
}

/// Byte order (little?), kind (`f`, `i`, `u`) and size of a dtype string such as `<f4`.
fn dtype(descr: &str) -> Option<(bool, char, usize)> {
    let mut chars = descr.chars();
    let order = chars.next()?;
    let kind = chars.next()?;
    let size: usize = chars.as_str().parse().ok()?;
    let little = match order {
        '<' | '|' => true,
        '>' => false,
        '=' => cfg!(target_endian = "little"),
        _ => return None,
    };
    let ok = match kind {
        'f' => matches!(size, 4 | 8),
        'i' | 'u' => matches!(size, 1 | 2 | 4 | 8),
        _ => false,
    };
    ok.then_some((little, kind, size))
}

fn decode(c: &[u8], kind: char, little: bool) -> f64 {
    let mut b = [0u8; 8];
    b[..c.len()].copy_from_slice(c);
    if !little {
        b[..c.len()].reverse();
    }
    let word = u64::from_le_bytes(b);
    match (kind, c.len()) {
        ('f', 4) => f64::from(f32::from_bits(word as u32)),
        ('f', _) => f64::from_bits(word),
        ('u', _) => word as f64,
        // Sign-extend an integer of `c.len()` bytes.
        (_, n) => {
            let shift = 64 - 8 * n as u32;
            ((word << shift) as i64 >> shift) as f64
        }
    }
}

/// The bytes of a C-ordered `<f8` `.npy` file (version 1.0) holding `values` of `shape`.
///
/// # Panics
///
/// If `values.len()` is not the product of `shape`.
pub fn encode_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        values.len(),
        "values do not fill the shape"
    );
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic, version and length (10 bytes), the dict and a newline, padded to 64 bytes.
    let header_len = (10 + dict.len() + 1).div_ceil(64) * 64 - 10;
    let mut out = Vec::with_capacity(10 + header_len + 8 * values.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&u16::try_from(header_len).expect("a short header").to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
