//! Reading whole message streams into domain values: a shard snapshot, a
//! pull answer, an apply request. Each reader expects its header first and
//! feeds the chunks that follow to a [`TensorDecoder`].

use std::sync::Arc;

use futures::{Stream, StreamExt};
use tonic::Status;

use super::convert::{required, snapshot_from_header, ApplyHeader, PullHeader};
use super::decode::TensorDecoder;
use super::error::{ReadError, WireError};
use super::pb::{self, apply_request, pull_response, snapshot_part};
use crate::nn::Params;
use crate::ps::{PullOutcome, ShardSnapshot};

/// Reads a `ShardHeader` followed by parameter and state chunks.
pub async fn read_snapshot<S>(mut parts: S) -> Result<ShardSnapshot, ReadError>
where
    S: Stream<Item = Result<pb::SnapshotPart, Status>> + Unpin,
{
    let first = parts.next().await.transpose()?.and_then(|part| part.item);
    let mut snapshot = match first {
        Some(snapshot_part::Item::Header(header)) => snapshot_from_header(header)?,
        other => {
            return Err(
                missing_header("a ShardHeader", describe_snapshot_item(other.as_ref())).into()
            )
        }
    };

    let (mut params, mut state) = (TensorDecoder::new(), TensorDecoder::new());
    while let Some(part) = parts.next().await.transpose()? {
        match required(part.item, "SnapshotPart", "item")? {
            snapshot_part::Item::Header(_) => {
                return Err(WireError::RepeatedHeader { message: "ShardHeader" }.into())
            }
            snapshot_part::Item::Param(chunk) => params.push(chunk)?,
            snapshot_part::Item::State(chunk) => state.push(chunk)?,
        }
    }
    snapshot.params = params.finish()?;
    snapshot.state = state.finish()?;
    Ok(snapshot)
}

/// Reads a pull answer: its header, then the parameters unless unchanged.
pub async fn read_pull<S>(mut responses: S) -> Result<PullOutcome, ReadError>
where
    S: Stream<Item = Result<pb::PullResponse, Status>> + Unpin,
{
    let first = responses.next().await.transpose()?.and_then(|response| response.item);
    let header = match first {
        Some(pull_response::Item::Header(header)) => PullHeader::from(header),
        Some(pull_response::Item::Chunk(_)) => {
            return Err(missing_header("a PullHeader", "a TensorChunk").into())
        }
        None => return Err(missing_header("a PullHeader", "nothing").into()),
    };

    let mut decoder = TensorDecoder::new();
    while let Some(response) = responses.next().await.transpose()? {
        match required(response.item, "PullResponse", "item")? {
            pull_response::Item::Header(_) => {
                return Err(WireError::RepeatedHeader { message: "PullHeader" }.into())
            }
            pull_response::Item::Chunk(chunk) if !header.unchanged => decoder.push(chunk)?,
            pull_response::Item::Chunk(_) => {
                let detail =
                    "tensor chunks follow a header that marks the shard unchanged".to_string();
                return Err(WireError::Unexpected { message: "PullResponse", detail }.into());
            }
        }
    }
    if header.unchanged {
        return Ok(PullOutcome::Unchanged { version: header.version });
    }
    Ok(PullOutcome::Changed { version: header.version, params: Arc::new(decoder.finish()?) })
}

/// Reads an `ApplyHeader` followed by gradient chunks.
pub async fn read_apply<S>(mut requests: S) -> Result<(ApplyHeader, Params), ReadError>
where
    S: Stream<Item = Result<pb::ApplyRequest, Status>> + Unpin,
{
    let header = read_apply_header(&mut requests).await?;
    let grads = read_apply_gradients(requests).await?;
    Ok((header, grads))
}

/// Reads the first message of an apply stream, which must be its header.
pub async fn read_apply_header<S>(requests: &mut S) -> Result<ApplyHeader, ReadError>
where
    S: Stream<Item = Result<pb::ApplyRequest, Status>> + Unpin,
{
    let first = requests.next().await.transpose()?.and_then(|request| request.item);
    match first {
        Some(apply_request::Item::Header(header)) => Ok(ApplyHeader::try_from(header)?),
        Some(apply_request::Item::Gradient(_)) => {
            Err(missing_header("an ApplyHeader", "a TensorChunk").into())
        }
        None => Err(missing_header("an ApplyHeader", "nothing").into()),
    }
}

/// Reads the gradient chunks that follow an apply stream's header.
pub async fn read_apply_gradients<S>(mut requests: S) -> Result<Params, ReadError>
where
    S: Stream<Item = Result<pb::ApplyRequest, Status>> + Unpin,
{
    let mut grads = TensorDecoder::new();
    while let Some(request) = requests.next().await.transpose()? {
        match required(request.item, "ApplyRequest", "item")? {
            apply_request::Item::Header(_) => {
                return Err(WireError::RepeatedHeader { message: "ApplyHeader" }.into())
            }
            apply_request::Item::Gradient(chunk) => grads.push(chunk)?,
        }
    }
    Ok(grads.finish()?)
}

fn missing_header(expected: &'static str, got: &'static str) -> WireError {
    WireError::MissingHeader { expected, got }
}

fn describe_snapshot_item(item: Option<&snapshot_part::Item>) -> &'static str {
    match item {
        Some(snapshot_part::Item::Header(_)) => "a ShardHeader",
        Some(snapshot_part::Item::Param(_)) => "a parameter chunk",
        Some(snapshot_part::Item::State(_)) => "a state chunk",
        None => "nothing",
    }
}
