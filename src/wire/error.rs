//! Errors of the wire layer and their gRPC status codes.

use thiserror::Error;
use tonic::Status;

/// A malformed message or tensor stream. Maps to `invalid_argument`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    #[error("{message} is missing the required field `{field}`")]
    MissingField { message: &'static str, field: &'static str },
    #[error("unknown phase code {code}; expected 1 (discriminator), 2 (generator) or 3 (joint)")]
    UnknownPhase { code: i32 },
    #[error("invalid {field} = {value}: {reason}")]
    InvalidValue { field: &'static str, value: String, reason: &'static str },
    #[error("the stream must start with {expected}, but it started with {got}")]
    MissingHeader { expected: &'static str, got: &'static str },
    #[error("{message} arrived twice; a stream carries exactly one")]
    RepeatedHeader { message: &'static str },
    #[error("a tensor header has an empty name; give every tensor its parameter name")]
    EmptyTensorName,
    #[error("tensor `{name}` arrives twice in one stream")]
    DuplicateTensor { name: String },
    #[error("tensor `{name}` declares shape {shape:?}, above the limit of rank {max_rank} and {max_elements} elements")]
    ShapeTooLarge { name: String, shape: Vec<u64>, max_rank: usize, max_elements: u64 },
    #[error("a chunk at byte offset {offset} carries no header, but no tensor is open; start each tensor with a header")]
    ChunkWithoutHeader { offset: u64 },
    #[error("tensor `{name}`: chunk starts at byte offset {got}, expected {expected}; chunks must be contiguous and in order")]
    OffsetGap { name: String, expected: u64, got: u64 },
    #[error("tensor `{name}`: chunk at byte offset {offset} has {len} bytes, not a whole number of f32 values")]
    MisalignedChunk { name: String, offset: u64, len: usize },
    #[error("tensor `{name}`: chunks reach byte {end}, beyond its {expected} bytes from shape {shape:?}")]
    TooManyBytes { name: String, end: u64, expected: u64, shape: Vec<usize> },
    #[error("tensor `{name}`: stream ended after {got} of its {expected} bytes")]
    Truncated { name: String, got: u64, expected: u64 },
    #[error("{message}: {detail}")]
    Unexpected { message: &'static str, detail: String },
}

impl From<WireError> for Status {
    fn from(error: WireError) -> Status {
        Status::invalid_argument(error.to_string())
    }
}

/// Why reading a message stream failed: the peer or transport ended it
/// with a status, or its content was malformed.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error(transparent)]
    Status(#[from] Status),
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl From<ReadError> for Status {
    fn from(error: ReadError) -> Status {
        match error {
            ReadError::Status(status) => status,
            ReadError::Wire(wire) => wire.into(),
        }
    }
}
