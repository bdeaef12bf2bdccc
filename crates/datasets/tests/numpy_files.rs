//! Files written by NumPy itself (`numpy.save`, see the fixtures' names), read back; and the
//! `<f8` writer byte for byte against NumPy's output.

use std::path::{Path, PathBuf};

use datasets::{Dataset, npy};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `np.arange(12).reshape(3, 4) * 0.5 - 1.25`.
fn expected() -> Vec<f64> {
    (0..12).map(|k| k as f64 * 0.5 - 1.25).collect()
}

#[test]
fn numpy_float64_float32_uint8_and_big_endian_int16() {
    let f64s = npy::read(fixture("f64_3x4.npy")).unwrap();
    assert_eq!(
        (f64s.shape.as_slice(), f64s.data.as_slice()),
        (&[3, 4][..], expected().as_slice())
    );
    let f32s = npy::read(fixture("f32_3x4.npy")).unwrap();
    assert_eq!((f32s.descr.as_str(), f32s.data), ("<f4", expected()));
    let u8s = npy::read(fixture("u8_2x2x3.npy")).unwrap();
    assert_eq!(u8s.shape, vec![2, 2, 3]);
    assert_eq!(u8s.data, (0..12).map(|k| (k * 20) as f64).collect::<Vec<_>>());
    let be = npy::read(fixture("i16_be.npy")).unwrap();
    assert_eq!((be.descr.as_str(), be.data), (">i2", vec![-7.0, 300.0, 12.0]));
    let images = Dataset::load(fixture("u8_2x2x3.npy")).unwrap();
    assert_eq!((images.n_samples(), images.shape()), (2, Some([2, 3])));
}

#[test]
fn numpy_arrays_we_cannot_read_as_samples_are_refused() {
    let fortran = npy::read(fixture("f64_fortran.npy")).unwrap_err().to_string();
    assert!(fortran.contains("ascontiguousarray"), "{fortran}");
    let boolean = npy::read(fixture("bool.npy")).unwrap_err().to_string();
    assert!(boolean.contains("not supported"), "{boolean}");
}

#[test]
fn the_float64_writer_matches_numpy_byte_for_byte() {
    let numpy = std::fs::read(fixture("f64_3x4.npy")).unwrap();
    assert_eq!(npy::encode_f64(&[3, 4], &expected()), numpy);
}
