//! Tests of the ensemble file format: round trips, corruption, truncation, versions,
//! inconsistent contents and the NumPy export.

use std::path::PathBuf;

use mrf_graph::Lattice;
use phi4_action::{Couplings, Homogeneous, Observables, PairSet};
use rand::Rng;
use rand_distr::StandardNormal;

use super::*;
use crate::chain_rng;

/// A 5 × 4 lattice (lx ≠ ly, to catch swapped axes) with nearest-neighbour and diagonal
/// couplings, 2 chains of 3 configurations.
fn sample_ensemble() -> Ensemble {
    let (header, chains) = sample_parts();
    Ensemble::from_parts(header, chains).unwrap()
}

fn sample_couplings() -> Couplings {
    let lattice = Lattice::new(5, 4).unwrap();
    Couplings::homogeneous_with_diagonal(
        &lattice,
        Homogeneous {
            kappa: 1.0,
            mu2: -0.9515,
            lambda: 0.7,
        },
        0.3,
    )
    .unwrap()
}

fn sample_parts() -> (EnsembleHeader, Vec<Chain>) {
    let couplings = sample_couplings();
    let header = EnsembleHeader::new(&couplings, "heatbath", 42, 2, 100, 30, 10)
        .unwrap()
        .with_provenance("command", "qftml sample --lattice 5x4")
        .with_provenance("version", "0.1.0");
    let chains = (0..2)
        .map(|c| {
            let mut rng = chain_rng(5, c);
            let mut chain = Chain::default();
            for _ in 0..3 {
                let phi: Vec<f64> = (0..20).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
                chain.push(&couplings, &phi);
            }
            chain
        })
        .collect();
    (header, chains)
}

/// A fresh path in the system temporary directory; removed by the caller.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("qftml-ensemble-test-{}-{name}", std::process::id()))
}

#[test]
fn round_trip_through_a_file() {
    let ensemble = sample_ensemble();
    let path = temp_path("round-trip.qens");
    ensemble.write(&path).unwrap();
    let back = Ensemble::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, ensemble);
    assert_eq!(back.couplings().unwrap(), sample_couplings());
    assert_eq!(back.header().pair_set, "both");
    assert_eq!(back.header().provenance["command"], "qftml sample --lattice 5x4");
    assert_eq!((back.n_sites(), back.n_configs(), back.chains().len()), (20, 6, 2));
    let configs: Vec<&[f64]> = back.configs().collect();
    assert_eq!(configs.len(), 6);
    assert_eq!(configs[3], &ensemble.chains()[1].configs[..20]);
    let m2 = back.observable("m2").unwrap();
    assert_eq!(m2[1][2], ensemble.chains()[1].observables[2][2]);
    assert!(back.observable("magnetisation").is_none());
}

/// No temporary file is left behind, and an existing file is replaced.
#[test]
fn writing_is_atomic_and_replaces() {
    let dir = temp_path("atomic-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("e.qens");
    std::fs::write(&path, b"old contents").unwrap();
    sample_ensemble().write(&path).unwrap();
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("e.qens")]);
    assert!(Ensemble::read(&path).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_layout_is_as_documented() {
    let bytes = sample_ensemble().to_bytes();
    assert_eq!(&bytes[..8], b"QFTMLENS");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 20 + len + 4);
    let crc = u32::from_le_bytes(bytes[20 + len..].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[20..20 + len]));
}

/// Every single flipped byte anywhere in the file is an error.
#[test]
fn every_flipped_byte_is_an_error() {
    let bytes = sample_ensemble().to_bytes();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            assert!(
                Ensemble::from_bytes(&bad).is_err(),
                "flipping byte {i} with {mask:#x} was not detected"
            );
        }
    }
    let mut bad = bytes.clone();
    bad[100] ^= 0x10;
    let msg = Ensemble::from_bytes(&bad).unwrap_err().to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

/// Every truncation, and trailing data, is an error.
#[test]
fn every_truncation_is_an_error() {
    let bytes = sample_ensemble().to_bytes();
    for len in 0..bytes.len() {
        assert!(
            Ensemble::from_bytes(&bytes[..len]).is_err(),
            "truncation to {len} bytes was not detected"
        );
    }
    let msg = Ensemble::from_bytes(&bytes[..bytes.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("truncated"), "{msg}");
    let mut longer = bytes.clone();
    longer.push(0);
    let msg = Ensemble::from_bytes(&longer).unwrap_err().to_string();
    assert!(msg.contains("trailing data"), "{msg}");
}

#[test]
fn wrong_magic_and_versions_are_errors() {
    let bytes = sample_ensemble().to_bytes();
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(b"\x93NUMPY\x01\x00");
    let msg = Ensemble::from_bytes(&bad).unwrap_err().to_string();
    assert!(msg.contains("not a qftml ensemble file"), "{msg}");

    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match Ensemble::from_bytes(&future) {
        Err(SamplerError::UnsupportedEnsembleVersion { found, supported, .. }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    let path = temp_path("future.qens");
    std::fs::write(&path, &future).unwrap();
    let msg = Ensemble::read(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("format version 2") && msg.contains("future.qens"), "{msg}");

    let msg = Ensemble::read(temp_path("does-not-exist.qens"))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("cannot read"), "{msg}");
}

/// A well-formed file (valid checksum) whose contents do not belong together is an error
/// that says what is wrong.
#[track_caller]
fn check_rejected(tamper: impl FnOnce(&mut EnsembleHeader, &mut Vec<Chain>), expected: &str) {
    let (mut header, mut chains) = sample_parts();
    tamper(&mut header, &mut chains);
    let bytes = encode(&header, &chains);
    match Ensemble::from_bytes(&bytes) {
        Err(e) => assert!(e.to_string().contains(expected), "{e} does not mention {expected:?}"),
        Ok(_) => panic!("tampered ensemble was accepted (expected {expected:?})"),
    }
    assert!(Ensemble::from_parts(header, chains).is_err());
}

#[test]
fn inconsistent_contents_are_errors() {
    check_rejected(|_, c| c[1].actions[2] += 1e-6, "configuration 2 has action");
    check_rejected(|_, c| c[0].configs[7] += 1e-3, "configuration 0 has action");
    check_rejected(|_, c| c[0].observables[1][6] *= 1.0 + 1e-6, "configuration 1 has nn");
    check_rejected(
        |_, c| c[1].configs[5] = f64::NAN,
        "chain 1: configuration 0, site 5 is NaN",
    );
    check_rejected(
        |_, c| c[0].actions[0] = f64::INFINITY,
        "action of configuration 0 is inf",
    );
    check_rejected(
        |_, c| c[0].observables[0][0] = f64::NAN,
        "observable of configuration 0",
    );
    check_rejected(|_, c| c[1].configs.truncate(59), "59 configuration values");
    check_rejected(
        |_, c| c[0].observables.pop().map(|_| ()).unwrap(),
        "3 actions but 2 rows",
    );
    check_rejected(|h, _| h.n_chains = 3, "says 3 chains but 2");
    check_rejected(|h, c| (h.n_chains, *c) = (0, vec![]), "at least one chain");
    check_rejected(|h, _| h.pair_set = "hexagonal".into(), "unknown pair set");
    check_rejected(|h, _| h.b[3] = -0.1, "b[3]");
    check_rejected(|h, _| h.w.pop().map(|_| ()).unwrap(), "couplings: w has 79 entries");
    check_rejected(|h, _| h.lx = 2, "lattice 2x4");
    check_rejected(|h, _| h.measure_every = 0, "measure_every");
    check_rejected(|h, _| h.observable_names.swap(0, 1), "observable names");
    // Changed couplings no longer reproduce the stored actions.
    check_rejected(|h, _| h.a[0] += 0.01, "do not belong together");
}

/// Large chains are checked on 8 evenly spaced configurations, first and last included.
#[test]
fn checked_configurations_span_the_chain() {
    assert_eq!(checked_indices(5), vec![0, 1, 2, 3, 4]);
    assert_eq!(checked_indices(100), vec![0, 14, 28, 42, 56, 70, 84, 99]);
}

#[test]
fn header_needs_lattice_couplings() {
    let graph = mrf_graph::Graph::from_edges(3, vec![[0, 1], [1, 2]]).unwrap();
    let c = Couplings::new(graph, vec![0.1; 2], vec![1.0; 3], vec![0.1; 3], vec![0.0; 3]).unwrap();
    let msg = EnsembleHeader::new(&c, "heatbath", 1, 1, 0, 1, 1)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("periodic lattice"), "{msg}");
    for set in [PairSet::NearestNeighbour, PairSet::Diagonal, PairSet::Both] {
        assert_eq!(parse_pair_set(pair_set_name(set)).unwrap(), set);
    }
}

#[test]
fn npy_header_is_padded_to_64_bytes() {
    let h = npy_header("<f8", &[3, 4, 5]);
    assert_eq!(h.len() % 64, 0);
    assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
    assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
    let dict = std::str::from_utf8(&h[10..]).unwrap();
    assert!(dict.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4, 5), }"));
    assert!(dict.ends_with(" \n"));
    assert!(
        std::str::from_utf8(&npy_header("<i8", &[7])[10..])
            .unwrap()
            .contains("'shape': (7,), }")
    );
}

/// The NumPy export reads back with the shapes and values of the ensemble.
#[test]
fn npy_export_round_trips() {
    let ensemble = sample_ensemble();
    let dir = temp_path("npy");
    ensemble.export_npy(&dir).unwrap();
    let read = |name: &str| read_npy(dir.join(name)).unwrap();
    let NpyArray::F64 { shape, data } = read("configs.npy") else {
        panic!("configs.npy is not <f8")
    };
    assert_eq!(shape, vec![6, 4, 5]);
    let expected: Vec<f64> = ensemble.configs().flatten().copied().collect();
    assert_eq!(data, expected);
    // configs[k, y, x] is site y·lx + x of configuration k.
    assert_eq!(data[(4 * 4 + 2) * 5 + 3], ensemble.chains()[1].configs[20 + 2 * 5 + 3]);
    let NpyArray::F64 { shape, data } = read("observables.npy") else {
        panic!("observables.npy is not <f8")
    };
    assert_eq!(shape, vec![6, Observables::NAMES.len()]);
    assert_eq!(&data[8..16], &ensemble.chains()[0].observables[1]);
    let NpyArray::F64 { shape, data } = read("actions.npy") else {
        panic!("actions.npy is not <f8")
    };
    assert_eq!((shape, data[5]), (vec![6], ensemble.chains()[1].actions[2]));
    assert_eq!(
        read("chain.npy"),
        NpyArray::I64 {
            shape: vec![6],
            data: vec![0, 0, 0, 1, 1, 1]
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn npy_errors() {
    let path = temp_path("bad.npy");
    let err = write_npy(&path, &[2, 2], NpyValues::F64(Box::new([1.0, 2.0, 3.0].into_iter())));
    assert!(err.unwrap_err().to_string().contains("3 values for shape [2, 2]"));
    assert!(!path.exists());
    write_npy(&path, &[2], NpyValues::F64(Box::new([1.0, 2.0].into_iter()))).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    std::fs::write(&path, &bytes).unwrap();
    let msg = read_npy(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("needs 16 data bytes, found 15"), "{msg}");
}
