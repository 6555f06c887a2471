//! The worker's life: join, load the data, then compute tasks until the
//! job ends or the worker is stopped.
//!
//! A heartbeat task runs beside the task loop. On cancellation the worker
//! finishes the micro-batch it is computing, submits it, and leaves the
//! job, so the coordinator reassigns nothing it would not have to.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::Code;
use tracing::{debug, info, warn};

use super::cache::{Freshness, ParamCache};
use super::compute::{compute_task, TrainingData};
use super::WorkerError;
use crate::coordinator::job::{JobInfo, JobSpec};
use crate::coordinator::round::TaskSpec;
use crate::coordinator::router::endpoint_uri;
use crate::ps::{ConnectRetry, PsClient};
use crate::wire::pb::coordinator_client::CoordinatorClient;
use crate::wire::pb::{self, next_task_response, submit_request};
use crate::wire::{join_from_wire, SubmitHeader, TensorChunks, DEFAULT_CHUNK_BYTES, MAX_MESSAGE_BYTES};

/// Worker settings: where its job and its data are.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Coordinator address, `host:port` or a URI.
    pub coordinator: String,
    /// Folder with the training IDX files.
    pub data_dir: PathBuf,
    /// Name for the coordinator's logs.
    pub name: String,
    /// Retries when connecting to the coordinator or a parameter server.
    pub retry: ConnectRetry,
}

/// Counts of what a worker did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub tasks: u64,
    pub stale: u64,
    pub pulls: u64,
}

type Client = CoordinatorClient<Channel>;

async fn connect(options: &WorkerOptions) -> Result<Client, WorkerError> {
    let uri = endpoint_uri(&options.coordinator);
    let endpoint = crate::wire::transport::endpoint(uri.clone())
        .map_err(|e| WorkerError::Address { address: options.coordinator.clone(), reason: e.to_string() })?
        .tcp_nodelay(true);
    let mut backoff = options.retry.initial_backoff;
    let attempts = options.retry.attempts.max(1);
    for attempt in 1..=attempts {
        match endpoint.connect().await {
            Ok(channel) => {
                return Ok(CoordinatorClient::new(channel)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES))
            }
            Err(e) if attempt == attempts => {
                return Err(WorkerError::Unreachable { address: uri, attempts, reason: e.to_string() })
            }
            Err(e) => {
                warn!(address = uri, attempt, attempts, error = %e, "coordinator not reachable, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(options.retry.max_backoff);
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

async fn join(client: &mut Client, name: &str) -> Result<(u64, JobInfo), WorkerError> {
    let response = client.join(pb::JoinRequest { name: name.to_string() }).await?.into_inner();
    Ok(join_from_wire(response)?)
}

/// Runs a worker until the job finishes or `cancel` fires.
pub async fn run(options: WorkerOptions, cancel: CancellationToken) -> Result<WorkerSummary, WorkerError> {
    // A stop signal also ends the connection retries.
    let mut client = tokio::select! {
        client = connect(&options) => client?,
        _ = cancel.cancelled() => return Ok(WorkerSummary::default()),
    };
    let (mut worker_id, job) = join(&mut client, &options.name).await?;
    info!(worker_id, name = options.name, "joined the job");

    let data = Arc::new(load_training_data(&options.data_dir, &job.spec).await?);
    let mut cache = ParamCache::new(connect_shards(&job, &options.retry).await?);
    let spec = Arc::new(job.spec.gan_spec());
    let heartbeat_cancel = cancel.child_token();
    let mut heartbeat = spawn_heartbeat(client.clone(), worker_id, job.heartbeat_interval, heartbeat_cancel.clone());
    let mut summary = WorkerSummary::default();

    let result = loop {
        if cancel.is_cancelled() {
            break Ok(());
        }
        let reply = tokio::select! {
            reply = client.next_task(pb::NextTaskRequest { worker_id }) => reply,
            _ = cancel.cancelled() => break Ok(()),
        };
        let task = match reply {
            Ok(response) => match response.into_inner().item {
                Some(next_task_response::Item::Task(task)) => TaskSpec::try_from(task)?,
                Some(next_task_response::Item::Finished(_)) => break Ok(()),
                Some(next_task_response::Item::Wait(_)) | None => continue,
            },
            Err(status) if status.code() == Code::NotFound => {
                warn!(worker_id, message = status.message(), "coordinator dropped this worker; joining again");
                (worker_id, _) = join(&mut client, &options.name).await?;
                heartbeat = spawn_heartbeat(client.clone(), worker_id, job.heartbeat_interval, heartbeat_cancel.clone());
                continue;
            }
            Err(status) => break Err(WorkerError::from(status)),
        };
        match run_task(&mut client, worker_id, &job.spec, &spec, &data, &mut cache, &task).await {
            Ok(true) => summary.tasks += 1,
            Ok(false) => summary.stale += 1,
            Err(e) => break Err(e),
        }
    };

    heartbeat_cancel.cancel();
    drop(heartbeat);
    summary.pulls = cache.pulls;
    if let Err(status) = client.leave(pb::LeaveRequest { worker_id }).await {
        debug!(worker_id, error = %status, "leave was not delivered; the coordinator will time this worker out");
    }
    info!(worker_id, tasks = summary.tasks, stale = summary.stale, pulls = summary.pulls, "worker stopped");
    result.map(|()| summary)
}

/// Computes and submits one task; returns false when it turned out stale.
async fn run_task(
    client: &mut Client,
    worker_id: u64,
    job: &JobSpec,
    spec: &Arc<crate::nn::GanSpec>,
    data: &Arc<TrainingData>,
    cache: &mut ParamCache,
    task: &TaskSpec,
) -> Result<bool, WorkerError> {
    if cache.ensure(&task.shard_versions).await? == Freshness::Stale {
        debug!(worker_id, step = task.step, "task is stale: parameters moved on");
        return Ok(false);
    }

    let (job_copy, spec, data, task_copy) = (job.clone(), Arc::clone(spec), Arc::clone(data), task.clone());
    let (g, d) = (Arc::clone(&cache.g), Arc::clone(&cache.d));
    let (gradient, stats) = tokio::task::spawn_blocking(move || compute_task(&job_copy, &spec, &data, &g, &d, &task_copy))
        .await
        .map_err(|e| WorkerError::Task(e.to_string()))??;

    let header = SubmitHeader { worker_id, step: task.step, phase: task.phase, micro_batch: task.micro_batch, stats };
    let request = |item| pb::SubmitRequest { item: Some(item) };
    let messages = std::iter::once(request(submit_request::Item::Header((&header).into()))).chain(
        TensorChunks::new(Arc::new(gradient), DEFAULT_CHUNK_BYTES).map(move |chunk| request(submit_request::Item::Gradient(chunk))),
    );
    let accepted = client.submit(futures::stream::iter(messages)).await?.into_inner().accepted;
    debug!(worker_id, step = task.step, micro_batch = task.micro_batch, accepted, "gradient submitted");
    Ok(accepted)
}

/// The heartbeat task. Dropping it stops the heartbeats, so a worker whose
/// task loop is dropped (a crash inside the process) also goes silent, and
/// the coordinator reassigns its micro-batches.
struct Heartbeat(JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn spawn_heartbeat(mut client: Client, worker_id: u64, interval: Duration, cancel: CancellationToken) -> Heartbeat {
    Heartbeat(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match client.heartbeat(pb::HeartbeatRequest { worker_id }).await {
                Ok(_) => failures = 0,
                Err(status) => {
                    failures += 1;
                    if failures == 1 || failures.is_power_of_two() {
                        warn!(worker_id, failures, error = %status, "heartbeat failed");
                    }
                }
            }
        }
    }))
}

async fn connect_shards(job: &JobInfo, retry: &ConnectRetry) -> Result<BTreeMap<String, PsClient>, WorkerError> {
    let mut by_address: BTreeMap<String, PsClient> = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for (shard, address) in &job.shard_locations {
        if !by_address.contains_key(address) {
            let client = PsClient::connect(endpoint_uri(address), retry)
                .await
                .map_err(|e| WorkerError::ParameterServer { address: address.clone(), reason: e.to_string() })?;
            by_address.insert(address.clone(), client);
        }
        clients.insert(shard.clone(), by_address[address].clone());
    }
    Ok(clients)
}

async fn load_training_data(dir: &std::path::Path, job: &JobSpec) -> Result<TrainingData, WorkerError> {
    let dir = dir.to_path_buf();
    let job = job.clone();
    tokio::task::spawn_blocking(move || super::data::load_for_job(&dir, &job))
        .await
        .map_err(|e| WorkerError::Task(e.to_string()))?
}
