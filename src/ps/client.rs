//! The client the coordinator and the workers use to reach a parameter
//! server: connection with bounded retries, and one method per RPC that
//! streams tensors with the wire module's encoder and decoder.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tracing::warn;

use super::applied::UpdateKey;
use crate::nn::optim::Hyper;
use super::store::{ApplyOutcome, PullOutcome, ShardInfo, ShardSnapshot};
use crate::nn::Params;
use crate::wire::pb::parameter_server_client::ParameterServerClient;
use crate::wire::{
    self, pb, ApplyHeader, ReadError, WireError, DEFAULT_CHUNK_BYTES, MAX_MESSAGE_BYTES,
};

/// How [`PsClient::connect`] retries a server that is not up yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRetry {
    /// Connection attempts before giving up (at least 1). Default is 20.
    pub attempts: u32,
    /// Wait after the first failed attempt; it doubles after each further
    /// failure. Default is 50 ms.
    pub initial_backoff: Duration,
    /// Upper bound of the wait between attempts. Default is 1 s.
    pub max_backoff: Duration,
}

impl Default for ConnectRetry {
    fn default() -> Self {
        ConnectRetry {
            attempts: 20,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Why a parameter-server call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid parameter-server endpoint `{endpoint}`: {source}; use a URI such as http://127.0.0.1:50051")]
    InvalidEndpoint { endpoint: String, source: tonic::transport::Error },
    #[error("could not connect to the parameter server at `{endpoint}` after {attempts} attempts: {source}")]
    Connect { endpoint: String, attempts: u32, source: tonic::transport::Error },
    #[error("parameter server returned {}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    #[error("malformed answer from the parameter server: {0}")]
    Wire(#[from] WireError),
}

impl ClientError {
    /// The gRPC code of a status error, if this is one.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Status(status) => Some(status.code()),
            _ => None,
        }
    }
}

impl From<ReadError> for ClientError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Status(status) => ClientError::Status(status),
            ReadError::Wire(wire) => ClientError::Wire(wire),
        }
    }
}

/// The shards a server holds and the filter it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardList {
    /// The server's shard filter, `*` for every shard.
    pub served: String,
    pub shards: Vec<ShardInfo>,
}

/// A cheap-to-clone handle on one parameter server. Calls through clones
/// share one HTTP/2 connection and may run concurrently.
#[derive(Clone, Debug)]
pub struct PsClient {
    client: ParameterServerClient<Channel>,
    chunk_bytes: usize,
}

impl PsClient {
    /// Connects to `endpoint` (such as `http://127.0.0.1:50051`), retrying
    /// as `retry` says. Messages are limited to [`MAX_MESSAGE_BYTES`] each way.
    pub async fn connect(
        endpoint: impl Into<String>,
        retry: &ConnectRetry,
    ) -> Result<PsClient, ClientError> {
        let endpoint = endpoint.into();
        let target = crate::wire::transport::endpoint(endpoint.clone())
            .map_err(|source| ClientError::InvalidEndpoint { endpoint: endpoint.clone(), source })?
            .tcp_nodelay(true);

        let attempts = retry.attempts.max(1);
        let mut backoff = retry.initial_backoff;
        let mut attempt = 1;
        let channel = loop {
            match target.connect().await {
                Ok(channel) => break channel,
                Err(source) if attempt >= attempts => {
                    return Err(ClientError::Connect { endpoint, attempts, source });
                }
                Err(error) => {
                    warn!(endpoint, attempt, attempts, ?backoff, %error, "parameter server not reachable, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(retry.max_backoff);
                    attempt += 1;
                }
            }
        };
        Ok(PsClient::from_channel(channel))
    }

    /// Wraps an existing channel, with the same message limits as `connect`.
    pub fn from_channel(channel: Channel) -> PsClient {
        let client = ParameterServerClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        PsClient { client, chunk_bytes: DEFAULT_CHUNK_BYTES }
    }

    /// Sets the tensor bytes per sent chunk (clamped to 4 bytes ..= 4 MiB).
    /// Default is [`DEFAULT_CHUNK_BYTES`], 1 MiB.
    pub fn with_chunk_bytes(mut self, chunk_bytes: usize) -> PsClient {
        self.chunk_bytes = chunk_bytes;
        self
    }

    /// Lists the server's shards with their versions and tensor shapes.
    pub async fn describe(&self) -> Result<ShardList, ClientError> {
        let response = self.client.clone().describe(pb::DescribeRequest {}).await?.into_inner();
        let shards: Result<Vec<ShardInfo>, WireError> =
            response.shards.into_iter().map(TryInto::try_into).collect();
        Ok(ShardList { served: response.served, shards: shards? })
    }

    /// Installs or replaces a shard and returns its version.
    pub async fn load_shard(&self, snapshot: ShardSnapshot) -> Result<u64, ClientError> {
        let parts = wire::snapshot_parts(snapshot, self.chunk_bytes);
        let response = self.client.clone().load_shard(futures::stream::iter(parts)).await?;
        Ok(response.into_inner().version)
    }

    /// Fetches `shard` unless `have_version` is still current.
    pub async fn pull(
        &self,
        shard: &str,
        have_version: Option<u64>,
    ) -> Result<PullOutcome, ClientError> {
        let request = pb::PullRequest { shard: shard.to_string(), have_version };
        let responses = self.client.clone().pull(request).await?.into_inner();
        Ok(wire::read_pull(responses).await?)
    }

    /// Sends one aggregated gradient for `shard`, to be applied once for `key`.
    pub async fn apply(
        &self,
        shard: &str,
        key: UpdateKey,
        hyper: Hyper,
        grads: Arc<Params>,
    ) -> Result<ApplyOutcome, ClientError> {
        let header = ApplyHeader { shard: shard.to_string(), key, hyper };
        let requests = wire::apply_requests(header, grads, self.chunk_bytes);
        let response =
            self.client.clone().apply(futures::stream::iter(requests)).await?.into_inner();
        Ok(ApplyOutcome { version: response.version, applied: response.applied })
    }

    /// Fetches everything needed to restore `shard` exactly.
    pub async fn export(&self, shard: &str) -> Result<ShardSnapshot, ClientError> {
        let request = pb::ExportRequest { shard: shard.to_string() };
        let parts = self.client.clone().export(request).await?.into_inner();
        Ok(wire::read_snapshot(parts).await?)
    }
}
