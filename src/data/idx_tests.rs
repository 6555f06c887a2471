//! Tests of the IDX reader and writer: round trips, gzip detection by
//! content, and one test per kind of malformed file, each checking the
//! error variant and that the message names the file.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::error::DataError;
use super::idx::{
    parse_images, parse_images_uncompressed, read_images, read_labeled_images, read_labels,
};
use super::idx_writer::{
    encode_images, encode_labels, gzip, write_images, write_labels, Compression,
};

/// Images whose pixels are multiples of 1/255, so a round trip is exact.
fn pattern_images(count: usize, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_fn((count, rows * cols), |(i, p)| ((7 * i + 3 * p) % 256) as f32 / 255.0)
}

fn image_bytes(count: usize, rows: usize, cols: usize) -> Vec<u8> {
    encode_images(pattern_images(count, rows, cols).view(), rows, cols).expect("valid images")
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

fn assert_names_file(err: &DataError, path: &Path) {
    let message = err.to_string();
    let name = path.display().to_string();
    assert!(message.contains(&name), "message {message:?} does not name {name}");
}

/// Header of an image file claiming `dims`, with `data_len` zero bytes.
fn image_file_claiming(dims: [u32; 3], data_len: usize) -> Vec<u8> {
    let mut bytes = 2051u32.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.resize(bytes.len() + data_len, 0);
    bytes
}

#[test]
fn images_round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = pattern_images(5, 3, 4);
    for (name, compression) in
        [("raw-ubyte", Compression::None), ("gz-ubyte.gz", Compression::Gzip)]
    {
        let path = dir.path().join(name);
        write_images(&path, images.view(), 3, 4, compression).expect("write");
        let read = read_images(&path).expect("read back");
        assert_eq!((read.rows, read.cols), (3, 4), "{name}");
        assert_eq!(read.pixels, images, "{name}");
    }
}

#[test]
fn labels_round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let labels = vec![0u8, 9, 3, 3, 7];
    for (name, compression) in [("l-raw", Compression::None), ("l-gz", Compression::Gzip)] {
        let path = dir.path().join(name);
        write_labels(&path, &labels, compression).expect("write");
        assert_eq!(read_labels(&path).expect("read back"), labels, "{name}");
    }
}

#[test]
fn gzip_detected_from_bytes_not_name() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let raw = image_bytes(2, 2, 2);
    let gzip_no_suffix = save(dir.path(), "images-idx3-ubyte", &gzip(&raw).expect("gzip"));
    let raw_with_suffix = save(dir.path(), "images-idx3-ubyte.gz", &raw);
    let expected = pattern_images(2, 2, 2);
    assert_eq!(read_images(&gzip_no_suffix).expect("gzip read").pixels, expected);
    assert_eq!(read_images(&raw_with_suffix).expect("raw read").pixels, expected);
}

#[test]
fn pixels_scale_to_unit_range() {
    let mut bytes = image_file_claiming([1, 1, 3], 0);
    bytes.extend_from_slice(&[0, 128, 255]);
    let images = parse_images(&bytes, Path::new("mem")).expect("valid file");
    assert_eq!(images.pixels.row(0).to_vec(), vec![0.0, 128.0 / 255.0, 1.0]);
}

#[test]
fn labels_file_read_as_images_is_bad_magic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path =
        save(dir.path(), "train-labels-idx1-ubyte", &encode_labels(&[1; 16]).expect("labels"));
    let err = read_images(&path).expect_err("labels are not images");
    assert!(matches!(err, DataError::BadMagic { expected: 2051, found: 2049, .. }), "{err}");
    assert!(err.to_string().contains("other IDX kind"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn unknown_magic_is_bad_magic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut bytes = image_bytes(1, 2, 2);
    bytes[2] = 0x0d; // IDX float elements
    let path = save(dir.path(), "floats-idx3", &bytes);
    let err = read_images(&path).expect_err("float IDX is unsupported");
    assert!(matches!(err, DataError::BadMagic { found: 0x0d03, .. }), "{err}");
    assert!(err.to_string().contains("unsigned bytes"), "{err}");
    assert_names_file(&err, &path);
}

/// Gzip as the gzip tool writes it, with the original name stored, which
/// sets the FNAME flag and makes the first four bytes 1f 8b 08 08.
fn gzip_with_name(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .filename("train-images-idx3-ubyte")
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(raw).expect("in-memory write");
    encoder.finish().expect("in-memory gzip")
}

#[test]
fn gzip_read_as_raw_says_gzip() {
    let path = Path::new("train-images-idx3-ubyte.gz");
    let err = parse_images_uncompressed(&gzip_with_name(&image_bytes(2, 2, 2)), path)
        .expect_err("raw-only reader on gzip data");
    assert!(matches!(err, DataError::BadMagic { found: 529_205_256, .. }), "{err}");
    assert!(err.to_string().contains("this looks like a gzip file"), "{err}");
    assert_names_file(&err, path);
}

#[test]
fn double_gzip_says_gzip() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let twice = gzip(&gzip_with_name(&image_bytes(2, 2, 2))).expect("gzip");
    let path = save(dir.path(), "train-images-idx3-ubyte.gz", &twice);
    let err = read_images(&path).expect_err("compressed twice");
    assert!(matches!(err, DataError::BadMagic { found: 529_205_256, .. }), "{err}");
    assert!(err.to_string().contains("this looks like a gzip file"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn truncated_raw_data() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let bytes = image_bytes(3, 4, 4);
    let path = save(dir.path(), "cut-idx3-ubyte", &bytes[..bytes.len() - 5]);
    let err = read_images(&path).expect_err("cut short");
    assert!(
        matches!(err, DataError::Truncated { part: "data", expected: 48, found: 43, .. }),
        "{err}"
    );
    assert_names_file(&err, &path);
}

#[test]
fn truncated_gzip_stream() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let compressed = gzip(&image_bytes(50, 8, 8)).expect("gzip");
    let path = save(dir.path(), "cut-idx3-ubyte.gz", &compressed[..compressed.len() / 2]);
    let err = read_images(&path).expect_err("gzip cut short");
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = save(dir.path(), "short-idx3-ubyte", &image_bytes(1, 2, 2)[..10]);
    let err = read_images(&path).expect_err("header cut short");
    assert!(
        matches!(err, DataError::Truncated { part: "header", expected: 16, found: 10, .. }),
        "{err}"
    );
    assert_names_file(&err, &path);
}

#[test]
fn header_count_above_file_size() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, compression) in [("more-raw", false), ("more-gz", true)] {
        let bytes = image_file_claiming([6, 2, 2], 5 * 4);
        let bytes = if compression { gzip(&bytes).expect("gzip") } else { bytes };
        let path = save(dir.path(), name, &bytes);
        let err = read_images(&path).expect_err("header claims 6 images, file holds 5");
        assert!(
            matches!(err, DataError::Truncated { expected: 24, found: 20, .. }),
            "{name}: {err}"
        );
        assert_names_file(&err, &path);
    }
}

#[test]
fn header_count_below_file_size() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, compression) in [("fewer-raw", false), ("fewer-gz", true)] {
        let bytes = image_file_claiming([4, 2, 2], 5 * 4);
        let bytes = if compression { gzip(&bytes).expect("gzip") } else { bytes };
        let path = save(dir.path(), name, &bytes);
        let err = read_images(&path).expect_err("header claims 4 images, file holds 5");
        assert!(matches!(err, DataError::TrailingBytes { expected: 16, .. }), "{name}: {err}");
        assert_names_file(&err, &path);
    }
}

#[test]
fn image_and_label_counts_differ() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = save(dir.path(), "train-images-idx3-ubyte", &image_bytes(5, 2, 2));
    let labels =
        save(dir.path(), "train-labels-idx1-ubyte", &encode_labels(&[1; 4]).expect("labels"));
    let err = read_labeled_images(&images, &labels).expect_err("5 images, 4 labels");
    assert!(
        matches!(err, DataError::CountMismatch { image_count: 5, label_count: 4, .. }),
        "{err}"
    );
    assert_names_file(&err, &images);
    assert_names_file(&err, &labels);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = save(dir.path(), "empty-idx3-ubyte", b"");
    let err = read_images(&path).expect_err("empty");
    assert!(matches!(err, DataError::EmptyFile { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn empty_after_gzip() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = save(dir.path(), "empty-idx3-ubyte.gz", &gzip(b"").expect("gzip"));
    let err = read_images(&path).expect_err("empty after decompression");
    assert!(matches!(err, DataError::EmptyFile { .. }), "{err}");
    assert!(err.to_string().contains("gzip"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn html_page_under_idx_name() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n";
    let path = save(dir.path(), "train-images-idx3-ubyte", page);
    let err = read_images(&path).expect_err("HTML page");
    assert!(matches!(err, DataError::NotIdx { kind: "HTML page", .. }), "{err}");
    assert!(err.to_string().contains("HTML page"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn text_file_under_idx_name() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = save(dir.path(), "train-labels-idx1-ubyte", b"Access denied\n");
    let err = read_labels(&path).expect_err("text");
    assert!(matches!(err, DataError::NotIdx { kind: "text file", .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn zero_dimension() {
    let dir = tempfile::tempdir().expect("temporary directory");
    for dims in [[0, 28, 28], [10, 0, 28], [10, 28, 0]] {
        let path = save(dir.path(), "zero-idx3-ubyte", &image_file_claiming(dims, 0));
        let err = read_images(&path).expect_err("zero dimension");
        assert!(
            matches!(&err, DataError::ZeroDimension { dims: d, .. } if d == &dims.to_vec()),
            "{err}"
        );
        assert_names_file(&err, &path);
    }
}

#[test]
fn billion_images_rejected_without_allocating() {
    // 10^9 images of 784 bytes would need 784 GB; the check runs before
    // any buffer of that size exists, so this test would abort otherwise.
    let dir = tempfile::tempdir().expect("temporary directory");
    for (name, compression) in [("huge-raw", false), ("huge-gz", true)] {
        let bytes = image_file_claiming([1_000_000_000, 28, 28], 784);
        let bytes = if compression { gzip(&bytes).expect("gzip") } else { bytes };
        let path = save(dir.path(), name, &bytes);
        let err = read_images(&path).expect_err("header claims 10^9 images");
        assert!(
            matches!(err, DataError::Truncated { expected: 784_000_000_000, found: 784, .. }),
            "{name}: {err}"
        );
        assert_names_file(&err, &path);
    }
}

#[test]
fn header_size_overflow() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = save(dir.path(), "overflow-idx3-ubyte", &image_file_claiming([u32::MAX; 3], 0));
    let err = read_images(&path).expect_err("product overflows u64");
    assert!(matches!(err, DataError::SizeOverflow { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn missing_file_is_io_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("absent-idx3-ubyte");
    let err = read_images(&path).expect_err("missing");
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn writer_rejects_wrong_image_size() {
    let err =
        encode_images(pattern_images(2, 3, 3).view(), 3, 4).expect_err("9 columns, 3x4 images");
    assert!(matches!(err, DataError::InvalidSetting { .. }), "{err}");
}
