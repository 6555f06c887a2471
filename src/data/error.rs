//! The error type of the data layer. Every variant names the file or the
//! setting involved and says what to do, so a user who typed a wrong path or
//! downloaded a broken file can fix it from the message alone.

use std::path::PathBuf;

use thiserror::Error;

/// Errors from reading IDX files, splitting datasets, planning batches and
/// sampling noise.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("failed to read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path} is empty (0 bytes{detail}); download it again")]
    EmptyFile { path: PathBuf, detail: &'static str },

    #[error(
        "{path} is a {kind}, not an IDX file (it starts with {start:?}); \
         download the file again from the dataset's site"
    )]
    NotIdx { path: PathBuf, kind: &'static str, start: String },

    #[error("{path} has magic number {found} (0x{found:08x}), expected {expected} for an IDX {what} file; {hint}")]
    BadMagic { path: PathBuf, what: &'static str, expected: u32, found: u32, hint: &'static str },

    #[error("{path} is truncated: its {part} needs {expected} bytes but only {found} are present; download it again")]
    Truncated { path: PathBuf, part: &'static str, expected: u64, found: u64 },

    #[error(
        "{path} holds more data than its header describes: the header {dims:?} \
         needs {expected} data bytes but at least {found} follow; the header or the file is corrupt"
    )]
    TrailingBytes { path: PathBuf, dims: Vec<u32>, expected: u64, found: u64 },

    #[error("{path} has a zero dimension in its header {dims:?}; an IDX image file needs count, rows and cols of at least 1")]
    ZeroDimension { path: PathBuf, dims: Vec<u32> },

    #[error("{path} has header dimensions {dims:?} whose byte count overflows 64 bits; the header is corrupt")]
    SizeOverflow { path: PathBuf, dims: Vec<u32> },

    #[error("failed to decompress {path} as gzip: {source}; the download is probably cut short or corrupt")]
    Gzip { path: PathBuf, source: std::io::Error },

    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels; use files from the same set")]
    CountMismatch { images: PathBuf, labels: PathBuf, image_count: usize, label_count: usize },

    #[error("no {what} file found in {dir}; tried {tried:?}")]
    NotFound { dir: PathBuf, what: String, tried: Vec<String> },

    #[error(
        "{path} holds {available} images but the split needs {requested} \
         ({detail}); lower the split counts or use the full dataset"
    )]
    TooFewImages { path: PathBuf, available: usize, requested: usize, detail: String },

    #[error("{images} holds {image_rows}x{image_cols} images but {other} holds {other_rows}x{other_cols}; use files from the same set")]
    ImageSizeMismatch {
        images: PathBuf,
        image_rows: usize,
        image_cols: usize,
        other: PathBuf,
        other_rows: usize,
        other_cols: usize,
    },

    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting { name: &'static str, value: String, reason: String },

    #[error("row index {index} is out of range for data with {rows} rows")]
    RowOutOfRange { index: u32, rows: usize },
}
