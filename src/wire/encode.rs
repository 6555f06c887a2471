//! Splitting tensors into chunk messages, lazily.
//!
//! Each chunk's bytes are written once, straight from the tensor's f32
//! values into the chunk's buffer, when the stream asks for that chunk. A
//! sender therefore holds one chunk in flight, not a second copy of the
//! whole shard.

use std::iter;
use std::sync::Arc;

use prost::bytes::Bytes;

use super::convert::ApplyHeader;
use super::pb::{self, apply_request, pull_response, snapshot_part};
use super::MAX_CHUNK_BYTES;
use crate::nn::{Params, Tensor};
use crate::ps::{PullOutcome, ShardSnapshot};

/// An iterator over the chunks of every tensor in a [`Params`], in order.
///
/// Each chunk holds at most `chunk_bytes` bytes (clamped to 4 bytes ..=
/// [`MAX_CHUNK_BYTES`] and rounded down to whole f32 values). A tensor with
/// no elements still yields one chunk carrying its header.
pub struct TensorChunks {
    params: Arc<Params>,
    tensor_index: usize,
    next_element: usize,
    header_sent: bool,
    chunk_elements: usize,
}

impl TensorChunks {
    /// Creates the chunk iterator for `params`.
    pub fn new(params: Arc<Params>, chunk_bytes: usize) -> Self {
        let chunk_elements = chunk_bytes.clamp(4, MAX_CHUNK_BYTES) / 4;
        TensorChunks {
            params,
            tensor_index: 0,
            next_element: 0,
            header_sent: false,
            chunk_elements,
        }
    }
}

impl Iterator for TensorChunks {
    type Item = pb::TensorChunk;

    fn next(&mut self) -> Option<pb::TensorChunk> {
        loop {
            let (name, tensor) = self.params.iter().nth(self.tensor_index)?;
            let total = tensor.len();
            if self.header_sent && self.next_element >= total {
                self.tensor_index += 1;
                self.next_element = 0;
                self.header_sent = false;
                continue;
            }

            let start = self.next_element;
            let end = total.min(start + self.chunk_elements);
            let header = (!self.header_sent).then(|| pb::TensorHeader {
                name: name.to_string(),
                shape: tensor.shape().iter().map(|&d| d as u64).collect(),
            });
            self.header_sent = true;
            self.next_element = end;
            return Some(pb::TensorChunk {
                header,
                offset: 4 * start as u64,
                data: le_bytes(tensor, start, end),
            });
        }
    }
}

/// Encodes elements `start..end` (in logical row-major order) as
/// little-endian bytes.
fn le_bytes(tensor: &Tensor, start: usize, end: usize) -> Bytes {
    let mut bytes = vec![0u8; 4 * (end - start)];
    let targets = bytes.chunks_exact_mut(4);
    match tensor.as_slice() {
        Some(values) => {
            targets.zip(&values[start..end]).for_each(|(t, v)| t.copy_from_slice(&v.to_le_bytes()))
        }
        // NOTE: a non-standard layout is walked from the start for every
        // chunk; parameters are always stored row-major, so this is rare.
        None => targets
            .zip(tensor.iter().skip(start))
            .for_each(|(t, v)| t.copy_from_slice(&v.to_le_bytes())),
    }
    Bytes::from(bytes)
}

/// The messages of a shard snapshot: header, parameter chunks, state chunks.
pub fn snapshot_parts(
    snapshot: ShardSnapshot,
    chunk_bytes: usize,
) -> impl Iterator<Item = pb::SnapshotPart> + Send + 'static {
    let header = pb::ShardHeader::from(&snapshot);
    let part = |item| pb::SnapshotPart { item: Some(item) };
    let params = TensorChunks::new(Arc::new(snapshot.params), chunk_bytes);
    let state = TensorChunks::new(Arc::new(snapshot.state), chunk_bytes);

    iter::once(part(snapshot_part::Item::Header(header)))
        .chain(params.map(move |chunk| part(snapshot_part::Item::Param(chunk))))
        .chain(state.map(move |chunk| part(snapshot_part::Item::State(chunk))))
}

/// The messages answering a pull: a header, then chunks unless unchanged.
pub fn pull_responses(
    outcome: PullOutcome,
    chunk_bytes: usize,
) -> impl Iterator<Item = pb::PullResponse> + Send + 'static {
    let response = |item| pb::PullResponse { item: Some(item) };
    let (header, params) = match outcome {
        PullOutcome::Unchanged { version } => (pb::PullHeader { version, unchanged: true }, None),
        PullOutcome::Changed { version, params } => {
            (pb::PullHeader { version, unchanged: false }, Some(params))
        }
    };
    let chunks = params.into_iter().flat_map(move |params| TensorChunks::new(params, chunk_bytes));

    iter::once(response(pull_response::Item::Header(header)))
        .chain(chunks.map(move |chunk| response(pull_response::Item::Chunk(chunk))))
}

/// The messages of an apply request: the header, then gradient chunks.
pub fn apply_requests(
    header: ApplyHeader,
    grads: Arc<Params>,
    chunk_bytes: usize,
) -> impl Iterator<Item = pb::ApplyRequest> + Send + 'static {
    let request = |item| pb::ApplyRequest { item: Some(item) };
    let chunks = TensorChunks::new(grads, chunk_bytes);

    iter::once(request(apply_request::Item::Header(header.into())))
        .chain(chunks.map(move |chunk| request(apply_request::Item::Gradient(chunk))))
}
