//! Ensembles on disk.
