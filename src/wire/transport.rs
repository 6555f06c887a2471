//! HTTP/2 settings shared by every distgan server and client.
//!
//! Tensors of several megabytes cross every connection each step, and
//! HTTP/2's default flow-control window (65,535 bytes per stream) would
//! stop a sender after every 64 KiB until the receiver's window update
//! arrives. Every server and client therefore opens larger windows, and
//! disables Nagle's algorithm so small responses leave at once.

use std::time::Duration;

use tonic::transport::{Endpoint, Server};

/// Per-stream flow-control window: 16 MiB, more than the largest shard.
pub const STREAM_WINDOW_BYTES: u32 = 16 << 20;

/// Per-connection flow-control window: 64 MiB, room for several streams.
pub const CONNECTION_WINDOW_BYTES: u32 = 64 << 20;

/// Returns a server builder with distgan's HTTP/2 settings.
pub fn server() -> Server {
    Server::builder()
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
}

/// Returns a client endpoint for `uri` with distgan's HTTP/2 settings.
pub fn endpoint(uri: String) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(uri)?
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5)))
}
