//! The coordinator's gRPC adapter: converts messages and calls
//! [`Coordinator`]. Errors become a `Status` in [`status_of`] alone.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, error, info, warn};

use super::round::SubmitError;
use super::state::{Coordinator, CoordinatorError, TaskReply};
use crate::wire::pb::coordinator_server::{self, CoordinatorServer};
use crate::wire::pb::{self, next_task_response, submit_request};
use crate::wire::{SubmitHeader, TensorDecoder, WireError, MAX_MESSAGE_BYTES};

/// Time a `NextTask` call waits for a micro-batch before it returns `Wait`.
pub const TASK_WAIT: Duration = Duration::from_millis(500);

/// The tonic service over a shared [`Coordinator`].
pub struct CoordinatorService {
    coordinator: Arc<Coordinator>,
}

impl CoordinatorService {
    pub fn new(coordinator: Arc<Coordinator>) -> Self {
        CoordinatorService { coordinator }
    }
}

/// The one conversion of coordinator errors to gRPC statuses.
fn status_of(error: CoordinatorError) -> Status {
    match &error {
        CoordinatorError::UnknownWorker { .. } => Status::not_found(error.to_string()),
        CoordinatorError::Submit(SubmitError::NoSuchMicroBatch { .. } | SubmitError::Layout { .. }) => {
            Status::invalid_argument(error.to_string())
        }
        CoordinatorError::Submit(SubmitError::NonFinite { .. }) => Status::failed_precondition(error.to_string()),
    }
}

#[tonic::async_trait]
impl coordinator_server::Coordinator for CoordinatorService {
    async fn join(&self, request: Request<pb::JoinRequest>) -> Result<Response<pb::JoinResponse>, Status> {
        let name = request.into_inner().name;
        let worker_id = self.coordinator.join(&name);
        info!(worker_id, name, live = self.coordinator.live_workers(), "worker joined");
        let mut response = pb::JoinResponse::from(self.coordinator.job());
        response.worker_id = worker_id;
        Ok(Response::new(response))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        self.coordinator.heartbeat(request.into_inner().worker_id).map_err(status_of)?;
        Ok(Response::new(pb::HeartbeatResponse {}))
    }

    async fn next_task(
        &self,
        request: Request<pb::NextTaskRequest>,
    ) -> Result<Response<pb::NextTaskResponse>, Status> {
        let worker_id = request.into_inner().worker_id;
        let reply = self.coordinator.next_task(worker_id, TASK_WAIT).await.map_err(status_of)?;
        let item = match reply {
            TaskReply::Task(task) => {
                debug!(worker_id, step = task.step, micro_batch = task.micro_batch, "task assigned");
                next_task_response::Item::Task((&task).into())
            }
            TaskReply::Wait => next_task_response::Item::Wait(pb::Wait {}),
            TaskReply::Finished => next_task_response::Item::Finished(pb::Finished {}),
        };
        Ok(Response::new(pb::NextTaskResponse { item: Some(item) }))
    }

    async fn submit(
        &self,
        request: Request<Streaming<pb::SubmitRequest>>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let (header, gradient) = read_submission(request.into_inner()).await?;
        let coordinator = Arc::clone(&self.coordinator);
        let outcome = tokio::task::spawn_blocking(move || {
            coordinator.submit(header.worker_id, header.step, header.micro_batch, gradient, header.stats)
        })
        .await
        .map_err(|e| Status::internal(format!("gradient summation task failed: {e}")))?;
        match outcome {
            Ok(outcome) => {
                let accepted = outcome == super::round::SubmitOutcome::Accepted;
                if !accepted {
                    debug!(worker_id = header.worker_id, step = header.step, micro_batch = header.micro_batch, "stale gradient dropped");
                }
                Ok(Response::new(pb::SubmitResponse { accepted }))
            }
            Err(e) => {
                error!(worker_id = header.worker_id, step = header.step, micro_batch = header.micro_batch, error = %e, "gradient rejected");
                Err(status_of(e))
            }
        }
    }

    async fn leave(&self, request: Request<pb::LeaveRequest>) -> Result<Response<pb::LeaveResponse>, Status> {
        let worker_id = request.into_inner().worker_id;
        let released = self.coordinator.leave(worker_id);
        info!(worker_id, released, "worker left");
        Ok(Response::new(pb::LeaveResponse {}))
    }
}

/// Reads a submit stream: its header, then the gradient tensors.
async fn read_submission(mut stream: Streaming<pb::SubmitRequest>) -> Result<(SubmitHeader, crate::nn::Params), Status> {
    let first = stream.message().await?.ok_or(WireError::MissingHeader { expected: "SubmitHeader", got: "end of stream" })?;
    let header = match first.item {
        Some(submit_request::Item::Header(header)) => SubmitHeader::try_from(header)?,
        _ => return Err(WireError::MissingHeader { expected: "SubmitHeader", got: "a gradient chunk" }.into()),
    };
    let mut decoder = TensorDecoder::new();
    while let Some(message) = stream.message().await? {
        match message.item {
            Some(submit_request::Item::Gradient(chunk)) => decoder.push(chunk)?,
            Some(submit_request::Item::Header(_)) => {
                return Err(WireError::RepeatedHeader { message: "SubmitHeader" }.into())
            }
            None => return Err(WireError::MissingField { message: "SubmitRequest", field: "item" }.into()),
        }
    }
    Ok((header, decoder.finish()?))
}

/// Serves `coordinator` on `listener` with the gRPC health service until
/// `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    coordinator: Arc<Coordinator>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let address = listener.local_addr().ok();
    let service = CoordinatorServer::new(CoordinatorService::new(coordinator))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<CoordinatorServer<CoordinatorService>>().await;
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    });
    info!(?address, "coordinator listening");
    let result = crate::wire::transport::server()
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await;
    if let Err(e) = &result {
        warn!(?address, error = %e, "coordinator server failed");
    }
    info!(?address, "coordinator stopped");
    result
}
