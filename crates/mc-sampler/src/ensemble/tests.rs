//! Tests of the ensemble file format: round trips, corruption, truncation, versions (and the
//! version-1 fixture), inconsistent contents and the NumPy export.

use std::path::PathBuf;

use mrf_graph::Lattice;
use phi4_action::{Couplings, Observables, PairSet, SufficientStats};
use rand::Rng;
use rand_distr::StandardNormal;

use super::format::{CRC_LEN, PREFIX_LEN};
use super::npy::npy_header;
use super::*;
use crate::chain_rng;
use phi4_action::targets::POINT_A;

/// A version-1 file written by `qftml sample --lattice 4 --kappa 1 --mu2 -0.9515 --lambda
/// 0.7 --algorithm heatbath --sweeps 3 --therm 5 --chains 2 --seed 3` before version 2.
const V1_FIXTURE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/ensemble-v1-4x4.qfe"
));

/// A 5 × 4 lattice (lx ≠ ly, to catch swapped axes) with nearest-neighbour and diagonal
/// couplings, 2 chains of 3 configurations.
fn sample_ensemble() -> StoredEnsemble {
    let (header, chains) = sample_parts();
    StoredEnsemble::from_parts(header, chains).unwrap()
}

fn sample_couplings() -> Couplings {
    let lattice = Lattice::new(5, 4).unwrap();
    Couplings::homogeneous_with_diagonal(&lattice, POINT_A, 0.3).unwrap()
}

fn sample_parts() -> (EnsembleHeader, Vec<StoredChain>) {
    let couplings = sample_couplings();
    let header = EnsembleHeader::new(&couplings, "heatbath", 42, 2, 100, 30, 10)
        .unwrap()
        .with_provenance("command", "qftml sample --lattice 5x4")
        .with_provenance("version", "0.1.0");
    let chains = (0..2)
        .map(|c| {
            let mut rng = chain_rng(5, c);
            let configs: Vec<f64> = (0..60).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
            StoredChain::measure(&couplings, configs).unwrap()
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
    let back = StoredEnsemble::read(&path).unwrap();
    let measurements = StoredEnsemble::read_measurements(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, ensemble);
    assert_eq!(measurements, ensemble.clone().without_configs());
    assert!(back.has_configs() && !measurements.has_configs());
    assert_eq!(measurements.configs().count(), 0);
    assert_eq!(back.couplings(), &sample_couplings());
    assert_eq!(back.header().couplings.pair_set, "both");
    assert_eq!(back.header().provenance["command"], "qftml sample --lattice 5x4");
    assert_eq!((back.n_sites(), back.n_configs(), back.chains().len()), (20, 6, 2));
    let configs: Vec<&[f64]> = back.configs().collect();
    assert_eq!(configs.len(), 6);
    assert_eq!(configs[3], &ensemble.chains()[1].configs[..20]);
    // Actions are stored exactly, and the observables rebuilt from the sums agree with a
    // direct measurement.
    assert_eq!(back.chains()[1].actions[2], sample_couplings().action(configs[5]));
    let m2 = back.observable("m2").unwrap();
    let direct = Observables::measure(&sample_couplings(), configs[5]);
    assert!((m2[1][2] - direct.m2).abs() < 1e-14);
    assert_eq!(measurements.observable("m2").unwrap(), m2);
    assert!(back.observable("magnetisation").is_none());
}

/// Configurations that span several streamed chunks are spot-checked and read alike.
#[test]
fn measurements_stream_past_chunk_boundaries() {
    let lattice = Lattice::new(60, 60).unwrap();
    let couplings = phi4_action::targets::a(&lattice).unwrap();
    let header = EnsembleHeader::new(&couplings, "heatbath", 1, 1, 0, 73, 1).unwrap();
    let mut rng = chain_rng(9, 0);
    let configs: Vec<f64> = (0..73 * 3600).map(|_| rng.sample::<f64, _>(StandardNormal)).collect();
    let ensemble =
        StoredEnsemble::from_parts(header, vec![StoredChain::measure(&couplings, configs).unwrap()]).unwrap();
    let path = temp_path("chunks.qens");
    ensemble.write(&path).unwrap();
    let back = StoredEnsemble::read_measurements(&path);
    // A tampered configuration in the middle of a chunk is found by the spot check.
    let mut bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back.unwrap(), ensemble.clone().without_configs());
    // Configuration 72 (checked, the last) spans the second chunk boundary.
    let at = bytes.len() - CRC_LEN - 8 * 600;
    bytes[at + 3] ^= 0x40;
    let len = bytes.len();
    let crc = crc32fast::hash(&bytes[PREFIX_LEN..len - CRC_LEN]);
    bytes[len - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let msg = StoredEnsemble::read_measurements(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("chain 0: configuration 72 has"), "{msg}");
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
    assert!(StoredEnsemble::read(&path).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_layout_is_as_documented() {
    let ensemble = sample_ensemble();
    let bytes = ensemble.to_bytes();
    assert_eq!(&bytes[..8], b"QFTMLENS");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    assert_eq!(bytes.len(), 20 + len + 4);
    let crc = u32::from_le_bytes(bytes[20 + len..].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[20..20 + len]));
    let record_len = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    assert_eq!(len, 8 + record_len + 8 * 6 * 20);
    // The configurations follow the record as raw little-endian f64, chain by chain.
    let block = &bytes[28 + record_len..20 + len];
    let first = f64::from_le_bytes(block[..8].try_into().unwrap());
    let of_chain_1 = f64::from_le_bytes(block[8 * 60..8 * 61].try_into().unwrap());
    assert_eq!(
        (first, of_chain_1),
        (ensemble.chains()[0].configs[0], ensemble.chains()[1].configs[0])
    );
}

/// Every single flipped byte anywhere in the file is an error, for both readers.
#[test]
fn every_flipped_byte_is_an_error() {
    let bytes = sample_ensemble().to_bytes();
    let path = temp_path("flipped.qens");
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= mask;
            assert!(
                StoredEnsemble::from_bytes(&bad).is_err(),
                "flipping byte {i} with {mask:#x} was not detected"
            );
            if mask == 0x80 {
                std::fs::write(&path, &bad).unwrap();
                assert!(
                    StoredEnsemble::read_measurements(&path).is_err(),
                    "flipping byte {i} was not detected by read_measurements"
                );
            }
        }
    }
    std::fs::remove_file(&path).unwrap();
    let mut bad = bytes.clone();
    bad[100] ^= 0x10;
    let msg = StoredEnsemble::from_bytes(&bad).unwrap_err().to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
}

/// Every truncation, and trailing data, is an error.
#[test]
fn every_truncation_is_an_error() {
    let bytes = sample_ensemble().to_bytes();
    for len in 0..bytes.len() {
        assert!(
            StoredEnsemble::from_bytes(&bytes[..len]).is_err(),
            "truncation to {len} bytes was not detected"
        );
    }
    let msg = StoredEnsemble::from_bytes(&bytes[..bytes.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("truncated"), "{msg}");
    let mut longer = bytes.clone();
    longer.push(0);
    let msg = StoredEnsemble::from_bytes(&longer).unwrap_err().to_string();
    assert!(msg.contains("trailing data"), "{msg}");
    let path = temp_path("truncated.qens");
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let msg = StoredEnsemble::read_measurements(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn wrong_magic_and_versions_are_errors() {
    let bytes = sample_ensemble().to_bytes();
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(b"\x93NUMPY\x01\x00");
    let msg = StoredEnsemble::from_bytes(&bad).unwrap_err().to_string();
    assert!(msg.contains("not a qftml ensemble file"), "{msg}");

    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    match StoredEnsemble::from_bytes(&future) {
        Err(SamplerError::UnsupportedEnsembleVersion { found, supported, .. }) => {
            assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
    let path = temp_path("future.qens");
    std::fs::write(&path, &future).unwrap();
    let msg = StoredEnsemble::read(&path).unwrap_err().to_string();
    let streamed = StoredEnsemble::read_measurements(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(msg.contains("format version 3") && msg.contains("future.qens"), "{msg}");
    assert_eq!(streamed, msg);

    let msg = StoredEnsemble::read(temp_path("does-not-exist.qens"))
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("cannot read"), "{msg}");
}

/// The version-1 fixture is read by measuring every configuration once: exact actions
/// (the stored `action_density · V` agrees to rounding) and sums, and it writes back as
/// version 2.
#[test]
fn version_1_files_are_converted_on_read() {
    assert_eq!(u32::from_le_bytes(V1_FIXTURE[8..12].try_into().unwrap()), 1);
    let v1 = StoredEnsemble::from_bytes(V1_FIXTURE).unwrap();
    let couplings = v1.couplings().clone();
    let lattice = Lattice::new(4, 4).unwrap();
    assert_eq!(couplings.as_homogeneous().unwrap().kappa, 1.0);
    assert_eq!((v1.n_sites(), v1.chains().len(), v1.n_configs()), (16, 2, 6));
    assert!(v1.header().provenance["converted"].contains("version 1"));
    for chain in v1.chains() {
        for (k, phi) in chain.configs.chunks_exact(16).enumerate() {
            assert_eq!(chain.actions[k], couplings.action(phi));
            assert_eq!(chain.sums[k], SufficientStats::measure(&lattice, phi));
        }
    }
    let v2 = StoredEnsemble::from_bytes(&v1.to_bytes()).unwrap();
    assert_eq!(v2, v1);
    let path = temp_path("v1.qens");
    std::fs::write(&path, V1_FIXTURE).unwrap();
    let measurements = StoredEnsemble::read_measurements(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(measurements, v1.without_configs());
}

/// A well-formed file (valid checksum) whose contents do not belong together is an error
/// that says what is wrong.
#[track_caller]
fn check_rejected(tamper: impl FnOnce(&mut EnsembleHeader, &mut Vec<StoredChain>), expected: &str) {
    let (mut header, mut chains) = sample_parts();
    tamper(&mut header, &mut chains);
    let mut bytes = Vec::new();
    format::write_v2(&mut bytes, &header, &chains).unwrap();
    match StoredEnsemble::from_bytes(&bytes) {
        Err(e) => assert!(e.to_string().contains(expected), "{e} does not mention {expected:?}"),
        Ok(_) => panic!("tampered ensemble was accepted (expected {expected:?})"),
    }
    assert!(StoredEnsemble::from_parts(header, chains).is_err());
}

#[test]
fn inconsistent_contents_are_errors() {
    check_rejected(|_, c| c[1].actions[2] += 1e-6, "configuration 2 has action");
    check_rejected(|_, c| c[0].configs[7] += 1e-3, "configuration 0 has action");
    check_rejected(|_, c| c[0].sums[1].nnn *= 1.0 + 1e-6, "configuration 1 has nnn");
    check_rejected(
        |_, c| c[1].configs[5] = f64::NAN,
        "chain 1: configuration 0, site 5 is NaN",
    );
    check_rejected(
        |_, c| c[0].actions[0] = f64::INFINITY,
        "action of configuration 0 is inf",
    );
    check_rejected(|_, c| c[0].sums[0].phi4 = f64::NAN, "sum of configuration 0");
    check_rejected(|_, c| c[1].configs.truncate(40), "configuration block");
    check_rejected(|_, c| c[0].sums.pop().map(|_| ()).unwrap(), "3 actions but 2 sets");
    check_rejected(|h, _| h.n_chains = 3, "says 3 chains but 2");
    check_rejected(|h, c| (h.n_chains, *c) = (0, vec![]), "at least one chain");
    check_rejected(|h, _| h.couplings.pair_set = "hexagonal".into(), "unknown pair set");
    check_rejected(|h, _| h.couplings.b[3] = -0.1, "b[3]");
    check_rejected(
        |h, _| h.couplings.w.pop().map(|_| ()).unwrap(),
        "couplings: w has 79 entries",
    );
    check_rejected(|h, _| h.couplings.lattice[0] = 2, "configuration block");
    check_rejected(|h, _| h.measure_every = 0, "measure_every");
    // Changed couplings no longer reproduce the stored actions.
    check_rejected(|h, _| h.couplings.a[0] += 0.01, "do not belong together");
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
    assert!(StoredChain::measure(&c, vec![0.0; 3]).is_err());
    for set in PairSet::ALL {
        assert_eq!(PairSet::from_name(set.name()), Some(set));
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
    let second: Vec<f64> = ensemble.chains()[0].observables(20).nth(1).unwrap().to_array().into();
    assert_eq!(&data[8..16], &second[..]);
    let NpyArray::F64 { shape, data } = read("actions.npy") else {
        panic!("actions.npy is not <f8")
    };
    assert_eq!((shape, data[5]), (vec![6], ensemble.chains()[1].actions[2]));
    let NpyArray::F64 { shape, data } = read("sums.npy") else {
        panic!("sums.npy is not <f8")
    };
    assert_eq!(
        (shape, &data[25..30]),
        (vec![6, 5], &ensemble.chains()[1].sums[2].to_array()[..])
    );
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
