//! Cross-crate tests of qftml live in `tests/`: the architecture rules (layering) and
//! physics checks that span several crates.
