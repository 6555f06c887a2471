//! The bodies of the smaller subcommands (`coordinator`, `sample`, `eval`,
//! `health`) and what `train` prints at the end. `main` parses and
//! dispatches; these do the work, with `anyhow` context for the user.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tracing::{info, warn};

use crate::cli::{EvalArgs, SampleArgs};
use crate::config::{ConfigError, Settings};
use crate::coordinator::checkpoint;
use crate::coordinator::job::JobSpec;
use crate::coordinator::outputs;
use crate::coordinator::router::endpoint_uri;
use crate::coordinator::{self, CoordinatorOptions, RunSummary};

/// How long the coordinator keeps serving after the last step so that
/// workers hear that the job finished.
const FINISH_GRACE: Duration = Duration::from_secs(5);

/// Fails with a clear message when the data folder does not exist.
pub fn check_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.exists() && !dir.is_dir() {
        return Err(ConfigError::Invalid {
            name: "data",
            value: dir.display().to_string(),
            fix: "this is a file, not a folder; pass --data with the folder that holds the MNIST IDX files"
                .to_string(),
        });
    }
    if !dir.is_dir() {
        return Err(ConfigError::Invalid {
            name: "data",
            value: dir.display().to_string(),
            fix: "the folder does not exist; pass --data with the folder holding the MNIST IDX files \
                  (the repository ships them in data/mnist, so run from the repository root)"
                .to_string(),
        });
    }
    Ok(())
}

/// The machine's host name, or `worker` when it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "worker".to_string())
}

/// Prints where a finished run left its files.
pub fn print_summary(out: &Path, summary: &RunSummary) {
    println!("trained {} steps; run folder {}", summary.steps, out.display());
    if let Some(path) = &summary.last_checkpoint {
        println!("  checkpoint: {}", path.display());
    }
    println!("  metrics:    {}", out.join("metrics.jsonl").display());
    println!("  samples:    {}", out.join("samples").display());
    if let Some(report) = &summary.eval {
        println!(
            "  Parzen-window log-likelihood on {} test images: {:.1} +- {:.1} nats (sigma {:.4}); {}",
            report.test_images,
            report.test_mean,
            report.test_standard_error,
            report.sigma,
            out.join("eval.json").display()
        );
    }
}

/// Runs a coordinator on `listen` until its job ends or `cancel` fires.
pub async fn run_coordinator(options: CoordinatorOptions, listen: SocketAddr, cancel: CancellationToken) -> Result<RunSummary> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let driver = coordinator::prepare(options).await.context("preparing the run failed")?;
    let shared = Arc::clone(&driver.coordinator);
    let server_token = CancellationToken::new();
    let server = tokio::spawn(coordinator::serve(listener, Arc::clone(&shared), server_token.clone()));

    let summary = driver.run(cancel.clone()).await;
    shared.finish();
    let deadline = tokio::time::Instant::now() + FINISH_GRACE;
    while shared.live_workers() > 0 && tokio::time::Instant::now() < deadline && !cancel.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server_token.cancel();
    match tokio::time::timeout(FINISH_GRACE, server).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "coordinator server ended with an error"),
        Err(_) => warn!("coordinator server did not stop in time"),
        _ => {}
    }
    Ok(summary?)
}

/// The run folder of a checkpoint folder or of a run folder.
fn run_dir_of(path: &Path) -> PathBuf {
    if path.join("config.toml").exists() {
        return path.to_path_buf();
    }
    // checkpoints/step-N inside a run folder
    path.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| path.to_path_buf())
}

/// The run settings, job and generator parameters of a checkpoint.
async fn load_generator(path: &Path, data: Option<PathBuf>) -> Result<(Settings, JobSpec, crate::nn::Params)> {
    if !path.is_dir() {
        bail!(
            "checkpoint {} does not exist or is not a folder; pass a run folder (such as runs/mnist) \
             or one of its checkpoints/step-NNNNNNNN folders",
            path.display()
        );
    }
    let run_dir = run_dir_of(path);
    let config_path = run_dir.join("config.toml");
    let mut settings = Settings::from_file(&config_path)
        .with_context(|| format!("{} is not a run folder or a checkpoint inside one", path.display()))?;
    if let Some(data) = data {
        settings.data = data;
    }
    let (found, skipped) = checkpoint::read_latest(path)?;
    for damaged in skipped {
        warn!(error = %damaged, "skipped a damaged checkpoint");
    }
    info!(path = %found.path.display(), step = found.manifest.step, "checkpoint loaded");
    let config = settings.clone().validate()?;
    let job = JobSpec::from_config(&config, found.manifest.data_dim, 0);
    let mut generator = crate::nn::Params::new();
    for shard in found.shards.into_iter().filter(|s| s.shard.starts_with("generator")) {
        for (name, tensor) in shard.params.into_entries() {
            generator.insert(name, tensor)?;
        }
    }
    Ok((settings, job, generator))
}

/// `distgan sample`.
pub async fn sample(args: SampleArgs) -> Result<()> {
    let (settings, job, generator) = load_generator(&args.checkpoint, args.data.clone()).await?;
    let request = outputs::SampleRequest {
        count: args.n,
        seed: args.seed,
        nearest: args.nearest,
        interpolate: args.interpolate,
    };
    outputs::write_samples_file(&settings, &job, generator, &request, &args.out).await?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// `distgan eval`: prints the Parzen-window result as JSON.
pub async fn eval(args: EvalArgs) -> Result<()> {
    let (mut settings, job, generator) = load_generator(&args.checkpoint, args.data.clone()).await?;
    settings.eval_samples = args.samples;
    let data_settings = settings.clone();
    let data = tokio::task::spawn_blocking(move || outputs::load_run_data(&data_settings)).await??;
    let report = outputs::evaluate(&job, generator, &settings, Arc::new(data.eval_sets)).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Serves only the gRPC health service on `address`, reporting SERVING,
/// until the returned token is cancelled; for roles that serve nothing else.
pub async fn serve_health(
    address: SocketAddr,
    cancel: CancellationToken,
) -> Result<(CancellationToken, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let token = cancel.clone();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = tokio::spawn(async move {
        let served = crate::wire::transport::server()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, token.cancelled_owned())
            .await;
        if let Err(e) = served {
            warn!(%address, error = %e, "health service failed");
        }
    });
    info!(%address, "health service listening");
    Ok((cancel, server))
}

/// `distgan health`: succeeds when the role at `address` reports SERVING.
pub async fn health(address: &str, timeout: Duration) -> Result<()> {
    let probe = async {
        let channel = tonic::transport::Endpoint::from_shared(endpoint_uri(address))?.connect().await?;
        let mut client = HealthClient::new(channel);
        let response = client.check(HealthCheckRequest { service: String::new() }).await?.into_inner();
        anyhow::Ok(response.status())
    };
    let status = tokio::time::timeout(timeout, probe)
        .await
        .with_context(|| format!("health check of {address} timed out after {} ms", timeout.as_millis()))?
        .with_context(|| format!("health check of {address} failed"))?;
    if status != ServingStatus::Serving {
        bail!("{address} is {status:?}, not SERVING");
    }
    println!("{address}: SERVING");
    Ok(())
}
