//! The wire format: generated protobuf code, streamed tensor chunks, and
//! the one place that turns wire messages into domain types.
//!
//! Tensors travel as a name and shape followed by little-endian f32 bytes,
//! split into chunks of [`DEFAULT_CHUNK_BYTES`] so that no message comes
//! near the message-size limit. Every conversion from a wire message
//! rejects malformed input (missing fields, unknown codes, chunks that do
//! not add up to the declared shape) with a [`WireError`], which becomes
//! `invalid_argument` at the service boundary.
//!
//! Clients and servers set [`MAX_MESSAGE_BYTES`] as both their encoding
//! and decoding limit, so nothing depends on tonic's 4 MiB default.

/// Code generated from `proto/*.proto` (package `distgan.v1`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("distgan.v1");
}

mod convert;
mod decode;
mod encode;
mod error;
mod job;
mod stream;
pub mod transport;

pub use convert::{required_shard, ApplyHeader, PullHeader};
pub use decode::TensorDecoder;
pub use encode::{apply_requests, pull_responses, snapshot_parts, TensorChunks};
pub use error::{ReadError, WireError};
pub use job::{join_from_wire, SubmitHeader};
pub use stream::{read_apply, read_apply_gradients, read_apply_header, read_pull, read_snapshot};

/// Default size of one chunk's tensor bytes: 1 MiB.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// Encoding and decoding limit for every gRPC message: 8 MiB. A chunk
/// message is its data plus well under 1 KiB of name, shape and framing,
/// so chunks of up to 4 MiB leave ample room.
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// Largest chunk size a sender may choose: 4 MiB.
pub const MAX_CHUNK_BYTES: usize = 4 << 20;

/// Largest element count a received tensor may declare: 2^26 f32 values
/// (256 MiB). The largest MNIST tensor has 1.44 million.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 26;

/// Largest rank a received tensor may declare.
pub const MAX_TENSOR_RANK: usize = 8;
