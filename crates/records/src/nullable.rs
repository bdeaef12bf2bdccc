//! `f64` fields that may be NaN or infinite: JSON has no such numbers, so they are written as
//! `null` and read back as NaN (`#[serde(with = "crate::nullable")]`).

use serde::{Deserialize, Deserializer, Serializer};

/// Write a finite number as itself and anything else as `null`.
pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else {
        s.serialize_none()
    }
}

/// Read a number, or `null` as NaN.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
