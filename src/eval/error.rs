//! The error type of evaluation. Variants carry the operation, the input
//! and the values involved, so a caller can report them unchanged.

use std::path::PathBuf;

use thiserror::Error;

/// Errors from the Parzen estimate, nearest neighbours, sample grids and
/// interpolation.
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("{op}: {input} has shape {got:?}, expected {expected}")]
    ShapeMismatch { op: &'static str, input: &'static str, expected: String, got: Vec<usize> },

    #[error("{op}: {input} is empty; pass at least one row")]
    Empty { op: &'static str, input: &'static str },

    #[error("{op}: {input} holds the non-finite value {value} at row {row}, column {col}")]
    NonFinite { op: &'static str, input: &'static str, row: usize, col: usize, value: f32 },

    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting { name: &'static str, value: String, reason: String },

    #[error("failed to write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("failed to encode the PNG image {path}: {source}")]
    Png { path: PathBuf, source: png::EncodingError },
}
