//! CSV samples: one sample per line, values separated by commas (or by whitespace, or
//! semicolons), an optional header line of column names, `#` comment lines ignored.  Every
//! sample must have the same number of values.

use std::path::Path;

use crate::{DataError, read_maybe_gz};

/// A table of numbers read from CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The values, row after row.
    pub values: Vec<f64>,
    /// Values per row.
    pub n_columns: usize,
    /// The header line's names, if the file has one.
    pub header: Option<Vec<String>>,
}

/// Reads the CSV file at `path` (gzipped or not).
pub fn read(path: impl AsRef<Path>) -> Result<Table, DataError> {
    let path = path.as_ref();
    let bytes = read_maybe_gz(path, "CSV")?;
    parse(&bytes, path)
}

fn fields(line: &str) -> Vec<&str> {
    line.split([',', ';', ' ', '\t'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect()
}

/// Decodes CSV text (`path` names the file in errors).
pub fn parse(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
    let bad = |reason: String| DataError::malformed(path, "CSV", reason);
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text (is it a binary file?)".into()))?;
    let mut values = Vec::new();
    let mut n_columns = None;
    let mut header = None;
    let mut first = true;
    for (k, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row = fields(line);
        let parsed: Result<Vec<f64>, _> = row.iter().map(|f| f.parse::<f64>()).collect();
        let parsed = match parsed {
            Ok(p) => p,
            Err(_) if first => {
                header = Some(row.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
                n_columns = Some(row.len());
                first = false;
                continue;
            }
            Err(_) => {
                let word = row.iter().find(|f| f.parse::<f64>().is_err()).unwrap_or(&"");
                return Err(bad(format!("line {}: `{word}` is not a number", k + 1)));
            }
        };
        first = false;
        if let Some(x) = parsed.iter().find(|x| !x.is_finite()) {
            return Err(bad(format!("line {}: {x} is not finite", k + 1)));
        }
        match n_columns {
            Some(n) if n != parsed.len() => {
                return Err(bad(format!(
                    "line {} has {} values, the lines before it {n}",
                    k + 1,
                    parsed.len()
                )));
            }
            _ => n_columns = Some(parsed.len()),
        }
        values.extend(parsed);
    }
    let n_columns = n_columns
        .filter(|_| !values.is_empty())
        .ok_or_else(|| bad("no rows of numbers".into()))?;
    Ok(Table {
        values,
        n_columns,
        header,
    })
}
