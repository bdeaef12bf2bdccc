//! The shipped real data read back with their known facts, and every malformation refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data").join(name)
}

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("qftml-datasets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gunzip(path: &Path) -> Vec<u8> {
    read_maybe_gz(path, "IDX").unwrap()
}

fn idx_header(type_code: u8, dims: &[u32]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn class_counts(labels: &[u8]) -> [usize; 10] {
    let mut counts = [0; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    counts
}

#[test]
fn the_8x8_digits_are_read_with_their_labels() {
    let digits = Dataset::load_images(data("digits8x8-images-idx3-ubyte.gz"), None).unwrap();
    assert_eq!(
        (digits.n_samples(), digits.n_features(), digits.shape()),
        (1797, 64, Some([8, 8]))
    );
    let max = digits.values().iter().copied().fold(0.0, f64::max);
    assert_eq!(max, 16.0);
    assert!(digits.values().iter().all(|&x| x >= 0.0 && x.fract() == 0.0));
    // scikit-learn's load_digits: the number of samples of each class.
    let counts = class_counts(digits.labels().unwrap());
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // The corner pixels of the 8×8 digits are blank in (almost) every image.
    let (mean, _) = digits.moments();
    assert!(mean[0] < 1e-9, "{}", mean[0]);
}

#[test]
fn mnist_reads_gzipped_and_plain_alike() {
    let gz = data("mnist-10k-images-idx3-ubyte.gz");
    let mnist = Dataset::load_images(&gz, None).unwrap();
    assert_eq!((mnist.n_samples(), mnist.shape()), (10_000, Some([28, 28])));
    assert_eq!(mnist.values().iter().copied().fold(0.0, f64::max), 255.0);
    let counts = class_counts(mnist.labels().unwrap());
    assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    // The plain files a user gets by gunzipping MNIST, paired by name.
    let dir = scratch("plain");
    let images = dir.join("t10k-images-idx3-ubyte");
    std::fs::write(&images, gunzip(&gz)).unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte"),
        gunzip(&data("mnist-10k-labels-idx1-ubyte.gz")),
    )
    .unwrap();
    let plain = Dataset::load_images(&images, None).unwrap();
    assert_eq!(plain.values(), mnist.values());
    assert_eq!(plain.labels(), mnist.labels());
    let sevens = plain.with_classes(&[7]).unwrap();
    assert_eq!(sevens.n_samples(), counts[7]);
    assert!(sevens.labels().unwrap().iter().all(|&l| l == 7));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pixel_maps_are_the_documented_affine_maps() {
    let digits = Dataset::load_images(data("digits8x8-images-idx3-ubyte.gz"), None).unwrap();
    let unit = digits.clone().mapped(PixelMap::unit());
    let symmetric = digits.clone().mapped(PixelMap::symmetric());
    for ((&x, &u), &s) in digits.values().iter().zip(unit.values()).zip(symmetric.values()) {
        assert_eq!(u, x / 16.0);
        assert!((s - (2.0 * x / 16.0 - 1.0)).abs() < 1e-15);
    }
    assert_eq!(digits.clone().mapped(PixelMap::Identity), digits);
}

#[test]
fn malformed_idx_files_are_refused_with_the_reason() {
    let path = Path::new("test.idx");
    let mut good = idx_header(0x08, &[2, 2, 2]);
    good.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(idx::parse(&good, path).unwrap().shape, vec![2, 2, 2]);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"P5\n28 28\n".to_vec(), "wrong magic"),
        (vec![0, 0, 0x08], "shorter than"),
        (idx_header(0x07, &[1]), "wrong magic"),
        (idx_header(0x08, &[]), "zero dimensions"),
        (good[..good.len() - 1].to_vec(), "truncated"),
        ([good.clone(), vec![0]].concat(), "trailing bytes"),
        (good[..9].to_vec(), "truncated in the header"),
        (idx_header(0x08, &[u32::MAX, u32::MAX, u32::MAX]), "too large"),
    ];
    for (bytes, fragment) in cases {
        let err = idx::parse(&bytes, path).unwrap_err().to_string();
        assert!(err.contains(fragment), "{fragment}: {err}");
    }
    // Every IDX type decodes big-endian.
    let mut f32s = idx_header(0x0D, &[2]);
    f32s.extend_from_slice(&1.5f32.to_be_bytes());
    f32s.extend_from_slice(&(-2.25f32).to_be_bytes());
    assert_eq!(idx::parse(&f32s, path).unwrap().data, vec![1.5, -2.25]);
    let mut i16s = idx_header(0x0B, &[1]);
    i16s.extend_from_slice(&(-300i16).to_be_bytes());
    assert_eq!(idx::parse(&i16s, path).unwrap().data, vec![-300.0]);
}

#[test]
fn labels_that_do_not_match_the_images_are_refused() {
    let dir = scratch("labels");
    let images = dir.join("x-images-idx3-ubyte");
    let mut bytes = idx_header(0x08, &[3, 2, 2]);
    bytes.extend_from_slice(&[0; 12]);
    std::fs::write(&images, &bytes).unwrap();
    // No sibling: no labels, and no class can be chosen.
    let unlabelled = Dataset::load_images(&images, None).unwrap();
    assert!(unlabelled.labels().is_none());
    assert!(
        unlabelled
            .with_classes(&[1])
            .unwrap_err()
            .to_string()
            .contains("no labels")
    );
    // Two labels for three images.
    let labels = dir.join("x-labels-idx1-ubyte");
    let mut two = idx_header(0x08, &[2]);
    two.extend_from_slice(&[1, 2]);
    std::fs::write(&labels, &two).unwrap();
    let err = Dataset::load_images(&images, None).unwrap_err().to_string();
    assert!(err.contains("2 labels for 3 images"), "{err}");
    // The images file given as labels.
    let err = Dataset::load_images(&images, Some(&images)).unwrap_err().to_string();
    assert!(err.contains("is it an images file"), "{err}");
    // A class that no image has.
    let mut three = idx_header(0x08, &[3]);
    three.extend_from_slice(&[1, 2, 1]);
    std::fs::write(&labels, &three).unwrap();
    let ok = Dataset::load_images(&images, None).unwrap();
    assert_eq!(ok.with_classes(&[1]).unwrap().n_samples(), 2);
    assert!(
        ok.with_classes(&[9])
            .unwrap_err()
            .to_string()
            .contains("no sample of class")
    );
    // A corrupted gzip stream.
    let gz = dir.join("bad-images-idx3-ubyte.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&bytes).unwrap();
    let mut compressed = encoder.finish().unwrap();
    let cut = compressed.len() / 2;
    compressed.truncate(cut);
    std::fs::write(&gz, &compressed).unwrap();
    let err = Dataset::load_images(&gz, None).unwrap_err().to_string();
    assert!(err.contains("gzip stream is corrupted"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `.npy` file by hand: header dict, padding, data.
fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let header_len = (10 + dict.len() + 1).div_ceil(64) * 64 - 10;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(10 + header_len - 1, b' ');
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

#[test]
fn npy_reads_the_common_dtypes_in_either_byte_order() {
    let path = Path::new("x.npy");
    let f32s: Vec<u8> = [1.5f32, -0.25, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let a = npy::parse(&npy_bytes("<f4", false, "(2, 2)", &f32s), path).unwrap();
    assert_eq!((a.shape, a.data), (vec![2, 2], vec![1.5, -0.25, 3.0, 4.0]));
    let u8s = npy::parse(&npy_bytes("|u1", false, "(3,)", &[0, 128, 255]), path).unwrap();
    assert_eq!(u8s.data, vec![0.0, 128.0, 255.0]);
    let big: Vec<u8> = [2.5f64, -1.0].iter().flat_map(|x| x.to_be_bytes()).collect();
    assert_eq!(
        npy::parse(&npy_bytes(">f8", false, "(2,)", &big), path).unwrap().data,
        vec![2.5, -1.0]
    );
    let i16s: Vec<u8> = [-7i16, 300].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(
        npy::parse(&npy_bytes("<i2", false, "(2,)", &i16s), path).unwrap().data,
        vec![-7.0, 300.0]
    );
    let values = [0.5, -1.25, 2.0, 8.0, 1e-3, -0.0];
    assert_eq!(
        npy::parse(&npy::encode_f64(&[2, 3], &values), path).unwrap().data,
        values
    );
    let scalar = npy::parse(&npy::encode_f64(&[], &[4.0]), path).unwrap();
    assert_eq!((scalar.shape, scalar.data), (vec![], vec![4.0]));
}

#[test]
fn malformed_npy_files_are_refused_with_the_reason() {
    let path = Path::new("x.npy");
    let eight: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not numpy at all".to_vec(), "magic"),
        (npy_bytes("<f8", true, "(2,)", &eight), "Fortran order"),
        (npy_bytes("<f8", false, "(3,)", &eight), "truncated"),
        (npy_bytes("<f8", false, "(1,)", &eight), "trailing bytes"),
        (npy_bytes("<c16", false, "(1,)", &eight), "not supported"),
        (npy_bytes("O", false, "(2,)", &eight), "not supported"),
        (npy_bytes("<f8", false, "(a,)", &eight), "bad dimension"),
        (
            npy_bytes("<f8", false, "(4294967296, 4294967296, 4294967296)", &eight),
            "too large",
        ),
        (
            npy::encode_f64(&[2], &[1.0, 2.0])[..40].to_vec(),
            "truncated in the header",
        ),
    ];
    for (bytes, fragment) in cases {
        let err = npy::parse(&bytes, path).unwrap_err().to_string();
        assert!(err.contains(fragment), "{fragment}: {err}");
    }
    let nan: Vec<u8> = f64::NAN.to_le_bytes().to_vec();
    assert!(
        npy::parse(&npy_bytes("<f8", false, "(1,)", &nan), path)
            .unwrap_err()
            .to_string()
            .contains("not finite")
    );
}

#[test]
fn csv_with_header_comments_and_any_separator() {
    let path = Path::new("x.csv");
    let t = csv::parse(b"# samples\nx0,x1,x2\n1,2,3\n4.5, -5 ,6e-1\n\n", path).unwrap();
    assert_eq!(t.n_columns, 3);
    assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.5, -5.0, 0.6]);
    assert_eq!(t.header.unwrap(), vec!["x0", "x1", "x2"]);
    let ws = csv::parse(b"1 2\n3\t4\n", path).unwrap();
    assert_eq!((ws.n_columns, ws.values), (2, vec![1.0, 2.0, 3.0, 4.0]));
    for (text, fragment) in [
        (&b"1,2\n3\n"[..], "line 2 has 1 values"),
        (b"1,2\n3,x\n", "`x` is not a number"),
        (b"a,b\n", "no rows"),
        (b"", "no rows"),
        (b"1,inf\n", "not finite"),
        (b"\xff\xfe", "not UTF-8"),
    ] {
        let err = csv::parse(text, path).unwrap_err().to_string();
        assert!(err.contains(fragment), "{fragment}: {err}");
    }
}

#[test]
fn load_tells_the_formats_apart() {
    let dir = scratch("load");
    let npy_path = dir.join("samples.npy");
    std::fs::write(&npy_path, npy::encode_f64(&[3, 2, 2], &[0.0; 12])).unwrap();
    let from_npy = Dataset::load(&npy_path).unwrap();
    assert_eq!((from_npy.n_samples(), from_npy.shape()), (3, Some([2, 2])));
    let csv_path = dir.join("samples.txt");
    std::fs::write(&csv_path, "1,2\n3,4\n5,6\n").unwrap();
    let from_csv = Dataset::load(&csv_path).unwrap();
    assert_eq!((from_csv.n_samples(), from_csv.n_features()), (3, 2));
    assert_eq!(from_csv.sample(2), &[5.0, 6.0]);
    let digits = Dataset::load(data("digits8x8-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(digits.n_samples(), 1797);
    assert!(digits.labels().is_some());
    assert_eq!(digits.first(10).n_samples(), 10);
    let err = Dataset::load(dir.join("missing.npy")).unwrap_err().to_string();
    assert!(err.contains("cannot read"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small real file (ten 8×8 digits, plain IDX): every truncation point, and every bit of
/// the header flipped, is an error or a consistent read, never a panic.
#[test]
fn every_truncation_and_header_flip_of_a_small_file_is_refused() {
    let digits = Dataset::load_images(data("digits8x8-images-idx3-ubyte.gz"), None)
        .unwrap()
        .first(10);
    let mut bytes = idx_header(0x08, &[10, 8, 8]);
    bytes.extend(digits.values().iter().map(|&x| x as u8));
    let path = Path::new("ten-digits.idx");
    assert_eq!(idx::parse(&bytes, path).unwrap().data, digits.values());
    assert_truncations_refused_and_flips_consistent("", &bytes, 4 + 4 * 3, |b| {
        idx::parse(b, path).ok().map(|a| (a.shape, a.data.len()))
    });
    // The same for a .npy file.
    let npy_bytes = npy::encode_f64(&[10, 64], digits.values());
    let header_end = npy_bytes.len() - 8 * 640;
    assert_truncations_refused_and_flips_consistent("npy ", &npy_bytes, header_end, |b| {
        npy::parse(b, path).ok().map(|a| (a.shape, a.data.len()))
    });
}

/// `parse` (the shape and the number of values of what it accepts) refuses every truncation
/// of `bytes`, and what it accepts after one bit of the first `header_len` bytes is flipped
/// has as many values as its shape says; `label` begins the messages.
fn assert_truncations_refused_and_flips_consistent(
    label: &str,
    bytes: &[u8],
    header_len: usize,
    parse: impl Fn(&[u8]) -> Option<(Vec<usize>, usize)>,
) {
    for cut in 0..bytes.len() {
        assert!(parse(&bytes[..cut]).is_none(), "{label}truncated at {cut} was accepted");
    }
    for bit in 0..8 * header_len {
        let mut flipped = bytes.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        if let Some((shape, n_values)) = parse(&flipped) {
            let n: usize = shape.iter().product();
            assert_eq!(n, n_values, "{label}bit {bit}: shape and data disagree");
        }
    }
}
