//! Criterion benchmarks of qftml live in `benches/`; run them with `cargo bench -p qftml-benches`.
