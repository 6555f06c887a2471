//! Running the parameter server on a listener until a shutdown token fires.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::service::PsService;
use super::store::ShardStore;
use crate::wire::pb::parameter_server_server::ParameterServerServer;
use crate::wire::MAX_MESSAGE_BYTES;

/// Serves `store` on `listener` with the `ParameterServer` service and the
/// standard gRPC health service (`grpc.health.v1.Health`), which reports
/// SERVING for the overall server and for `distgan.v1.ParameterServer`.
///
/// Both directions of every RPC are limited to [`MAX_MESSAGE_BYTES`] per
/// message. Returns after `shutdown` is cancelled and in-flight RPCs end.
pub async fn serve(
    listener: TcpListener,
    store: Arc<ShardStore>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let address = listener.local_addr().ok();
    let served = store.filter().to_string();
    let service = ParameterServerServer::new(PsService::new(store))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<ParameterServerServer<PsService>>().await;

    // Small answers (unchanged pulls, apply results) must not wait for
    // Nagle's algorithm, and a custom incoming stream skips tonic's own
    // TCP_NODELAY setting, so each connection sets it here.
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok::<_, std::io::Error>(stream)
    });

    info!(?address, served, "parameter server listening");
    crate::wire::transport::server()
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    info!(?address, "parameter server stopped");
    Ok(())
}
