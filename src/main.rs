//! The `distgan` binary: parse the command line, set up logging and the
//! BLAS thread count, build a validated configuration, run the role.
//!
//! Exit codes: 0 success; 2 invalid usage, settings or input data (a
//! restart cannot help); 1 any other failure (a restart may help, for
//! example once an unreachable peer is back); 130 stopped by a signal.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tracing::info;

use distgan::cli::{Cli, Command, CoordinatorArgs, EvalArgs, HealthArgs, PsArgs, SampleArgs, TrainArgs, WorkerArgs};
use distgan::config::{ConfigError, TrainConfig};
use distgan::coordinator::checkpoint::CheckpointError;
use distgan::coordinator::{CoordinatorOptions, RunError};
use distgan::ps::{ShardFilter, ShardStore};
use distgan::{commands, launch, worker};

/// Sets the OpenBLAS thread count for the whole process.
fn set_blas_threads(threads: usize) {
    distgan::tuning::set_blas_threads(threads);
    info!(threads, "OpenBLAS threads set");
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let kept = distgan::tuning::keep_freed_memory();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(color).with_writer(std::io::stderr).init();

    tracing::debug!(kept, "allocator keeps freed memory");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let cancel = CancellationToken::new();
    runtime.spawn(stop_on_signal(cancel.clone()));
    let result = runtime.block_on(run(cli.command, cancel.clone()));
    match result {
        Ok(()) if cancel.is_cancelled() => ExitCode::from(130),
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text
/// the message already contains (many errors print their source too).
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// 2 for errors a restart cannot fix, 1 for the rest.
fn exit_code(error: &anyhow::Error) -> u8 {
    let permanent = error.chain().any(|cause| {
        cause.is::<ConfigError>()
            || cause.is::<distgan::data::DataError>()
            || matches!(
                cause.downcast_ref::<RunError>(),
                Some(RunError::Mismatch(_) | RunError::Data(_) | RunError::Checkpoint(CheckpointError::NotFound { .. }))
            )
    });
    if permanent {
        2
    } else {
        1
    }
}

async fn stop_on_signal(cancel: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    info!("stop signal received; finishing the current work");
    cancel.cancel();
}

async fn run(command: Command, cancel: CancellationToken) -> Result<()> {
    match command {
        Command::Train(args) => train(args, cancel).await,
        Command::Ps(args) => ps(args, cancel).await,
        Command::Coordinator(args) => coordinator(args, cancel).await,
        Command::Worker(args) => run_worker(args, cancel).await,
        Command::Sample(args) => sample(args).await,
        Command::Eval(args) => eval(args).await,
        Command::Health(args) => health(args).await,
    }
}

fn validated(args: &TrainArgs) -> Result<TrainConfig> {
    let settings = args.settings()?;
    Ok(settings.validate()?)
}

async fn train(args: TrainArgs, cancel: CancellationToken) -> Result<()> {
    let config = validated(&args)?;
    commands::check_data_dir(&config.settings().data)?;
    let workers = config.settings().workers;
    set_blas_threads((cores() / workers).max(1));
    let mut options = CoordinatorOptions::new(config, Vec::new());
    options.resume = args.resume.is_some();
    options.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let out = options.config.settings().out.clone();
    let summary = launch::train(options, workers, cancel).await.context("training failed")?;
    commands::print_summary(&out, &summary);
    Ok(())
}

async fn ps(args: PsArgs, cancel: CancellationToken) -> Result<()> {
    let filter: ShardFilter = args.shards.parse().with_context(|| format!("invalid --shards `{}`", args.shards))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    set_blas_threads(cores());
    distgan::ps::serve(listener, std::sync::Arc::new(ShardStore::new(filter)), cancel).await?;
    Ok(())
}

async fn coordinator(args: CoordinatorArgs, cancel: CancellationToken) -> Result<()> {
    let config = validated(&args.run)?;
    let mut options = CoordinatorOptions::new(config, args.ps);
    options.resume = args.run.resume.is_some();
    options.retry.attempts = args.connect_attempts.max(1);
    let out = options.config.settings().out.clone();
    let summary = commands::run_coordinator(options, args.listen, cancel).await?;
    commands::print_summary(&out, &summary);
    Ok(())
}

async fn run_worker(args: WorkerArgs, cancel: CancellationToken) -> Result<()> {
    set_blas_threads(args.threads.unwrap_or_else(cores));
    let name = args.name.unwrap_or_else(commands::host_name);
    let options = worker::WorkerOptions {
        coordinator: args.coordinator,
        data_dir: args.data,
        name,
        retry: distgan::ps::ConnectRetry { attempts: args.connect_attempts.max(1), ..Default::default() },
    };
    let health = match args.listen {
        Some(address) => Some(commands::serve_health(address, cancel.child_token()).await?),
        None => None,
    };
    let result = worker::run(options, cancel.clone()).await;
    if let Some((token, server)) = health {
        token.cancel();
        let _ = server.await;
    }
    result?;
    Ok(())
}

async fn sample(args: SampleArgs) -> Result<()> {
    set_blas_threads(cores());
    commands::sample(args).await
}

async fn eval(args: EvalArgs) -> Result<()> {
    set_blas_threads(cores());
    commands::eval(args).await
}

async fn health(args: HealthArgs) -> Result<()> {
    commands::health(&args.addr, Duration::from_millis(args.timeout_ms)).await
}
