//! Writer for IDX image and label files, raw or gzip-compressed. It exists
//! so tests and tools can build small datasets that the reader in
//! [`super::idx`] accepts; pixels in [0, 1] become the bytes
//! `round(clamp(v, 0, 1) * 255)`, which the reader maps back to `byte / 255`.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use ndarray::ArrayView2;

use super::error::DataError;
use super::idx::{IMAGES_MAGIC, LABELS_MAGIC};

/// How a written IDX file is stored on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes (the `*-ubyte` files). Default.
    #[default]
    None,
    /// Gzip (the `*-ubyte.gz` files).
    Gzip,
}

/// Encodes images `(count, rows * cols)` with values in [0, 1] as the
/// bytes of an uncompressed IDX image file.
pub fn encode_images(
    pixels: ArrayView2<f32>,
    rows: usize,
    cols: usize,
) -> Result<Vec<u8>, DataError> {
    if rows.checked_mul(cols) != Some(pixels.ncols()) {
        return Err(DataError::InvalidSetting {
            name: "rows * cols",
            value: format!("{rows} * {cols}"),
            reason: format!("must equal the {} columns of the pixel array", pixels.ncols()),
        });
    }
    let dims =
        [dim_u32("image count", pixels.nrows())?, dim_u32("rows", rows)?, dim_u32("cols", cols)?];
    let mut out = header(IMAGES_MAGIC, &dims);
    out.extend(pixels.iter().map(|&v| pixel_byte(v)));
    Ok(out)
}

/// Encodes labels as the bytes of an uncompressed IDX label file.
pub fn encode_labels(labels: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = header(LABELS_MAGIC, &[dim_u32("label count", labels.len())?]);
    out.extend_from_slice(labels);
    Ok(out)
}

/// Writes images `(count, rows * cols)` to `path` as an IDX image file.
pub fn write_images(
    path: &Path,
    pixels: ArrayView2<f32>,
    rows: usize,
    cols: usize,
    compression: Compression,
) -> Result<(), DataError> {
    write_bytes(path, &encode_images(pixels, rows, cols)?, compression)
}

/// Writes labels to `path` as an IDX label file.
pub fn write_labels(path: &Path, labels: &[u8], compression: Compression) -> Result<(), DataError> {
    write_bytes(path, &encode_labels(labels)?, compression)
}

/// Writes already encoded IDX bytes, compressing them if asked.
pub fn write_bytes(path: &Path, raw: &[u8], compression: Compression) -> Result<(), DataError> {
    let io_error = |source| DataError::Io { path: path.to_path_buf(), source };
    let bytes = match compression {
        Compression::None => raw.to_vec(),
        Compression::Gzip => gzip(raw).map_err(io_error)?,
    };
    std::fs::write(path, bytes).map_err(io_error)
}

/// Compresses bytes with gzip at the default level.
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(raw)?;
    encoder.finish()
}

/// Maps a value in [0, 1] to a byte, clamping values outside the range
/// (NaN becomes 0).
fn pixel_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn dim_u32(name: &'static str, value: usize) -> Result<u32, DataError> {
    u32::try_from(value).map_err(|_| DataError::InvalidSetting {
        name,
        value: value.to_string(),
        reason: "IDX dimensions are 32-bit; split the data into smaller files".into(),
    })
}
