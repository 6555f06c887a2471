//! Reassembling tensors from chunk messages, with every check a sender
//! could get wrong: a header before data, a sane shape, contiguous offsets,
//! whole f32 values, and bytes that add up exactly to the shape.

use ndarray::IxDyn;
use prost::bytes::Bytes;

use super::error::WireError;
use super::pb;
use super::{MAX_TENSOR_ELEMENTS, MAX_TENSOR_RANK};
use crate::nn::{Params, Tensor};

/// Collects the tensors of one chunk stream into a [`Params`], in the
/// order their headers arrive. Values are decoded straight into each
/// tensor's final buffer.
#[derive(Debug, Default)]
pub struct TensorDecoder {
    done: Params,
    open: Option<OpenTensor>,
}

#[derive(Debug)]
struct OpenTensor {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
    expected_bytes: u64,
}

impl TensorDecoder {
    /// Creates a decoder with no tensors.
    pub fn new() -> Self {
        TensorDecoder::default()
    }

    /// Adds one chunk. A chunk with a header closes the previous tensor,
    /// which must then be complete.
    pub fn push(&mut self, chunk: pb::TensorChunk) -> Result<(), WireError> {
        if let Some(header) = chunk.header {
            self.close_open()?;
            self.open = Some(open_tensor(header, &self.done)?);
        }
        let Some(open) = self.open.as_mut() else {
            return Err(WireError::ChunkWithoutHeader { offset: chunk.offset });
        };
        open.append(chunk.offset, &chunk.data)
    }

    /// Returns the tensors, checking that the last one is complete.
    pub fn finish(mut self) -> Result<Params, WireError> {
        self.close_open()?;
        Ok(self.done)
    }

    fn close_open(&mut self) -> Result<(), WireError> {
        let Some(open) = self.open.take() else { return Ok(()) };
        let got = 4 * open.values.len() as u64;
        if got != open.expected_bytes {
            return Err(WireError::Truncated {
                name: open.name,
                got,
                expected: open.expected_bytes,
            });
        }
        let tensor = Tensor::from_shape_vec(IxDyn(&open.shape), open.values).map_err(|error| {
            WireError::Unexpected {
                message: "TensorChunk",
                detail: format!("tensor `{}`: {error}", open.name),
            }
        })?;
        self.done
            .insert(open.name.clone(), tensor)
            .map_err(|_| WireError::DuplicateTensor { name: open.name })
    }
}

impl OpenTensor {
    fn append(&mut self, offset: u64, data: &Bytes) -> Result<(), WireError> {
        let expected_offset = 4 * self.values.len() as u64;
        if offset != expected_offset {
            return Err(WireError::OffsetGap {
                name: self.name.clone(),
                expected: expected_offset,
                got: offset,
            });
        }
        if data.len() % 4 != 0 {
            return Err(WireError::MisalignedChunk {
                name: self.name.clone(),
                offset,
                len: data.len(),
            });
        }
        let end = offset + data.len() as u64;
        if end > self.expected_bytes {
            return Err(WireError::TooManyBytes {
                name: self.name.clone(),
                end,
                expected: self.expected_bytes,
                shape: self.shape.clone(),
            });
        }
        let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        self.values.extend(values);
        Ok(())
    }
}

/// Validates a header against the limits and the tensors already received,
/// and allocates the tensor's buffer.
fn open_tensor(header: pb::TensorHeader, done: &Params) -> Result<OpenTensor, WireError> {
    if header.name.is_empty() {
        return Err(WireError::EmptyTensorName);
    }
    if done.get(&header.name).is_some() {
        return Err(WireError::DuplicateTensor { name: header.name });
    }
    let Some(elements) = element_count(&header.shape) else {
        return Err(WireError::ShapeTooLarge {
            name: header.name,
            shape: header.shape,
            max_rank: MAX_TENSOR_RANK,
            max_elements: MAX_TENSOR_ELEMENTS,
        });
    };
    // Every dimension is at most MAX_TENSOR_ELEMENTS, so it fits in usize.
    let shape = header.shape.iter().map(|&d| d as usize).collect();
    Ok(OpenTensor {
        name: header.name,
        shape,
        values: Vec::with_capacity(elements as usize),
        expected_bytes: 4 * elements,
    })
}

/// Product of `shape`, or `None` when the rank, a dimension or the product
/// exceeds the limits (checked without overflow).
fn element_count(shape: &[u64]) -> Option<u64> {
    if shape.len() > MAX_TENSOR_RANK || shape.iter().any(|&d| d > MAX_TENSOR_ELEMENTS) {
        return None;
    }
    shape
        .iter()
        .try_fold(1u64, |count, &d| count.checked_mul(d))
        .filter(|&count| count <= MAX_TENSOR_ELEMENTS)
}
