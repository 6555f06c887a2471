//! `distgan train`: the parameter server, the coordinator and N workers in
//! one process, talking gRPC over loopback.
//!
//! This is the same code the separate `ps`, `coordinator` and `worker`
//! processes run; only the addresses are chosen here (127.0.0.1 with
//! ports the system picks).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::coordinator::{self, CoordinatorOptions, RunError, RunSummary};
use crate::ps::{self, ShardFilter, ShardStore};
use crate::worker::{self, WorkerOptions};

/// How long shutdown waits for workers and servers to stop.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

/// Runs a whole training job in this process with `workers` workers.
pub async fn train(options: CoordinatorOptions, workers: usize, cancel: CancellationToken) -> Result<RunSummary, RunError> {
    let servers = CancellationToken::new();
    let mut tasks = JoinSet::new();

    let ps_listener = bind().await?;
    let ps_address = local_address(&ps_listener)?;
    let store = Arc::new(ShardStore::new(ShardFilter::All));
    let ps_token = servers.clone();
    tasks.spawn(async move {
        if let Err(e) = ps::serve(ps_listener, store, ps_token).await {
            warn!(error = %e, "parameter server failed");
        }
    });

    let options = CoordinatorOptions { ps_addresses: vec![ps_address], ..options };
    let data_dir = options.config.settings().data.clone();
    let driver = coordinator::prepare(options).await?;
    let coordinator_listener = bind().await?;
    let coordinator_address = local_address(&coordinator_listener)?;
    let shared = Arc::clone(&driver.coordinator);
    let coordinator_token = servers.clone();
    tasks.spawn(async move {
        if let Err(e) = coordinator::serve(coordinator_listener, shared, coordinator_token).await {
            warn!(error = %e, "coordinator server failed");
        }
    });

    let mut worker_tasks = JoinSet::new();
    for index in 0..workers {
        let options = WorkerOptions {
            coordinator: coordinator_address.clone(),
            data_dir: data_dir.clone(),
            name: format!("worker-{index}"),
            retry: ps::ConnectRetry::default(),
        };
        let token = cancel.child_token();
        worker_tasks.spawn(async move {
            if let Err(e) = worker::run(options, token).await {
                warn!(error = %e, "worker stopped on an error");
            }
        });
    }
    info!(workers, coordinator = coordinator_address, "training in one process");

    let summary = driver.run(cancel.clone()).await;
    if summary.is_err() {
        cancel.cancel();
    }
    wait_bounded(&mut worker_tasks, "workers").await;
    servers.cancel();
    wait_bounded(&mut tasks, "servers").await;
    summary
}

async fn bind() -> Result<TcpListener, RunError> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| RunError::Io { path: "127.0.0.1:0".into(), source })
}

fn local_address(listener: &TcpListener) -> Result<String, RunError> {
    listener
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|source| RunError::Io { path: "listener".into(), source })
}

async fn wait_bounded(tasks: &mut JoinSet<()>, what: &str) {
    let drained = tokio::time::timeout(SHUTDOWN_WAIT, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(what, seconds = SHUTDOWN_WAIT.as_secs(), "did not stop in time; aborting");
        tasks.abort_all();
    }
}
