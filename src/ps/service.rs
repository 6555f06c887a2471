//! The `ParameterServer` gRPC service: a thin adapter that reads request
//! streams with the wire module, runs the [`ShardStore`] operation on a
//! blocking thread (an update touches up to 10 MB), and streams answers
//! back chunk by chunk.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info, warn};

use super::store::{ShardStore, StoreError};
use crate::wire::pb::parameter_server_server::ParameterServer;
use crate::wire::{self, pb, DEFAULT_CHUNK_BYTES};

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The gRPC face of a [`ShardStore`].
#[derive(Clone)]
pub struct PsService {
    store: Arc<ShardStore>,
    chunk_bytes: usize,
}

impl PsService {
    /// Serves `store`, sending [`DEFAULT_CHUNK_BYTES`] per chunk.
    pub fn new(store: Arc<ShardStore>) -> Self {
        PsService { store, chunk_bytes: DEFAULT_CHUNK_BYTES }
    }

    /// Sets the tensor bytes per streamed chunk (clamped to 4 bytes ..=
    /// 4 MiB). Default is [`DEFAULT_CHUNK_BYTES`], 1 MiB.
    pub fn with_chunk_bytes(mut self, chunk_bytes: usize) -> Self {
        self.chunk_bytes = chunk_bytes;
        self
    }
}

/// The one mapping from store errors to gRPC status codes.
impl From<StoreError> for Status {
    fn from(error: StoreError) -> Status {
        let message = error.to_string();
        match error {
            StoreError::NotServed { .. } => Status::not_found(message),
            StoreError::NotLoaded { .. }
            | StoreError::StaleUpdate { .. }
            | StoreError::Poisoned { .. } => Status::failed_precondition(message),
            StoreError::InvalidShardName(_)
            | StoreError::ForeignTensor { .. }
            | StoreError::EmptyShard { .. }
            | StoreError::Layout { .. }
            | StoreError::NonFinite { .. }
            | StoreError::InvalidHyper { .. }
            | StoreError::Optimizer { .. } => Status::invalid_argument(message),
        }
    }
}

/// Runs a store operation on tokio's blocking pool.
async fn run_blocking<T, F>(operation: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let joined = tokio::task::spawn_blocking(operation).await;
    let result = joined
        .map_err(|error| Status::internal(format!("shard store operation failed: {error}")))?;
    Ok(result?)
}

#[tonic::async_trait]
impl ParameterServer for PsService {
    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let store = Arc::clone(&self.store);
        let shards = run_blocking(move || Ok(store.describe())).await?;
        let served = self.store.filter().to_string();
        let shards = shards.into_iter().map(Into::into).collect();
        Ok(Response::new(pb::DescribeResponse { served, shards }))
    }

    async fn load_shard(
        &self,
        request: Request<Streaming<pb::SnapshotPart>>,
    ) -> Result<Response<pb::LoadShardResponse>, Status> {
        let snapshot = wire::read_snapshot(request.into_inner()).await?;
        let shard = snapshot.shard.clone();

        let store = Arc::clone(&self.store);
        let version = run_blocking(move || store.load_shard(snapshot)).await?;
        info!(shard, version, "loaded shard");
        Ok(Response::new(pb::LoadShardResponse { version }))
    }

    type PullStream = ResponseStream<pb::PullResponse>;

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let request = request.into_inner();
        let shard = wire::required_shard(request.shard, "PullRequest")?;
        let have_version = request.have_version;

        let store = Arc::clone(&self.store);
        let outcome = run_blocking(move || store.pull(&shard, have_version)).await?;
        debug!(?have_version, ?outcome, "pull");
        let responses = wire::pull_responses(outcome, self.chunk_bytes).map(Ok);
        Ok(Response::new(Box::pin(futures::stream::iter(responses))))
    }

    async fn apply(
        &self,
        request: Request<Streaming<pb::ApplyRequest>>,
    ) -> Result<Response<pb::ApplyResponse>, Status> {
        let mut requests = request.into_inner();
        let header = wire::read_apply_header(&mut requests).await?;
        // Rejects a shard this process does not hold before its gradient arrives.
        self.store.check_available(&header.shard)?;
        let grads = wire::read_apply_gradients(requests).await?;

        let store = Arc::clone(&self.store);
        let (shard, key) = (header.shard.clone(), header.key);
        let result =
            run_blocking(move || store.apply(&header.shard, header.key, &grads, &header.hyper))
                .await;
        match &result {
            Ok(outcome) => {
                debug!(shard, step = key.step, phase = ?key.phase, version = outcome.version, applied = outcome.applied, "apply")
            }
            Err(status) => {
                warn!(shard, step = key.step, phase = ?key.phase, error = status.message(), "rejected update")
            }
        }
        let outcome = result?;
        Ok(Response::new(pb::ApplyResponse { version: outcome.version, applied: outcome.applied }))
    }

    type ExportStream = ResponseStream<pb::SnapshotPart>;

    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let shard = wire::required_shard(request.into_inner().shard, "ExportRequest")?;

        let store = Arc::clone(&self.store);
        let snapshot = run_blocking(move || store.export(&shard)).await?;
        info!(shard = snapshot.shard, version = snapshot.version, "exporting shard");
        let parts = wire::snapshot_parts(snapshot, self.chunk_bytes).map(Ok);
        Ok(Response::new(Box::pin(futures::stream::iter(parts))))
    }
}
