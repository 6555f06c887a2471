//! End-to-end tests of the distributed runtime: a parameter server, a
//! coordinator and workers started in this process on 127.0.0.1:0, talking
//! real gRPC, training on a small slice of the shipped MNIST.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use distgan::config::{Settings, TrainConfig};
use distgan::coordinator::metrics::StepMetrics;
use distgan::coordinator::{self, CoordinatorOptions, RunSummary};
use distgan::ps::{ShardFilter, ShardStore};
use distgan::worker::{self, WorkerOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn repo_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// A small model on 300 training images, so a step takes milliseconds.
fn small_settings(out: &Path, steps: u64) -> Settings {
    let mut s = Settings {
        data: repo_data(),
        out: out.to_path_buf(),
        steps: Some(steps),
        seed: 11,
        batch: 30,
        micro_batches: 6,
        train_images: 300,
        validation_images: 100,
        sample_every: 0,
        checkpoint_every: 0,
        evaluate: false,
        ..Settings::default()
    };
    s.model.generator_hidden = vec![48, 48];
    s.model.maxout_units = 16;
    s.model.maxout_pieces = 3;
    s
}

/// How to disturb the workers during a run.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Once this many steps are done, kill worker 0 (no goodbye), and let
    /// a client join, take a micro-batch and vanish without submitting it.
    KillWorkerAfter(u64),
}

async fn start_ps(token: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(distgan::ps::serve(listener, Arc::new(ShardStore::new(ShardFilter::All)), token));
    address
}

fn spawn_worker(coordinator: &str, index: usize, token: CancellationToken) -> JoinHandle<()> {
    let options = WorkerOptions {
        coordinator: coordinator.to_string(),
        data_dir: repo_data(),
        name: format!("test-worker-{index}"),
        retry: distgan::ps::ConnectRetry::default(),
    };
    tokio::spawn(async move {
        worker::run(options, token).await.expect("worker failed");
    })
}

/// Runs a whole job with `workers` workers and returns its summary.
async fn run_job(config: TrainConfig, workers: usize, fault: Fault) -> RunSummary {
    let servers = CancellationToken::new();
    let ps = start_ps(servers.clone()).await;
    let mut options = CoordinatorOptions::new(config.clone(), vec![ps]);
    options.heartbeat_interval = Duration::from_millis(50);
    options.worker_timeout = Duration::from_millis(300);
    let driver = coordinator::prepare(options).await.expect("prepare failed");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(coordinator::serve(listener, Arc::clone(&driver.coordinator), servers.clone()));

    let handles: Vec<JoinHandle<()>> =
        (0..workers).map(|i| spawn_worker(&address, i, CancellationToken::new())).collect();
    let metrics_path = config.settings().out.join("metrics.jsonl");
    let killer = match fault {
        Fault::KillWorkerAfter(steps) => {
            let victim = handles[0].abort_handle();
            let coordinator = address.clone();
            Some(tokio::spawn(async move {
                while steps_done(&metrics_path) < steps {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                victim.abort();
                take_task_and_vanish(&coordinator).await;
            }))
        }
        Fault::None => None,
    };

    let summary = tokio::time::timeout(Duration::from_secs(300), driver.run(CancellationToken::new()))
        .await
        .expect("run timed out")
        .expect("run failed");
    if let Some(killer) = killer {
        killer.await.unwrap();
    }
    for handle in handles {
        let _ = tokio::time::timeout(Duration::from_secs(10), handle).await.expect("worker did not stop");
    }
    servers.cancel();
    summary
}

/// Joins as a worker, takes one micro-batch and returns without
/// submitting it or sending a heartbeat: a worker that dies mid-step.
async fn take_task_and_vanish(coordinator: &str) {
    use distgan::wire::pb::{coordinator_client::CoordinatorClient, next_task_response, JoinRequest, NextTaskRequest};
    let mut client = CoordinatorClient::connect(format!("http://{coordinator}")).await.unwrap();
    let worker_id = client.join(JoinRequest { name: "vanishing".into() }).await.unwrap().into_inner().worker_id;
    for _ in 0..100 {
        let reply = client.next_task(NextTaskRequest { worker_id }).await.unwrap().into_inner();
        if let Some(next_task_response::Item::Task(_)) = reply.item {
            return;
        }
    }
    panic!("the vanishing worker never received a task");
}

fn steps_done(metrics: &Path) -> u64 {
    std::fs::read_to_string(metrics).map_or(0, |text| text.lines().count() as u64)
}

fn read_metrics(out: &Path) -> Vec<StepMetrics> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The bytes of the final checkpoint's parameter files.
fn final_parameters(summary: &RunSummary) -> (Vec<u8>, Vec<u8>) {
    let dir = summary.last_checkpoint.as_ref().expect("a final checkpoint");
    (
        std::fs::read(dir.join("generator.safetensors")).unwrap(),
        std::fs::read(dir.join("discriminator.safetensors")).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_train_with_finite_losses() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_settings(dir.path(), 8).validate().unwrap();
    let summary = run_job(config, 2, Fault::None).await;
    assert_eq!(summary.steps, 8);

    let metrics = read_metrics(dir.path());
    assert_eq!(metrics.len(), 8);
    for line in &metrics {
        assert!(line.d_loss.is_none_or(f64::is_finite), "step {}: d_loss {:?}", line.step, line.d_loss);
        assert!(line.g_loss.is_none_or(f64::is_finite), "step {}: g_loss {:?}", line.step, line.g_loss);
        assert!(line.d_fake.is_finite());
    }
    assert!(dir.path().join("config.toml").exists());
    assert!(dir.path().join("samples/step-00000008.png").exists());

    let checkpoint = distgan::coordinator::checkpoint::read(summary.last_checkpoint.as_ref().unwrap()).unwrap();
    assert_eq!(checkpoint.manifest.step, 8);
    for shard in &checkpoint.shards {
        // 8 alternating steps with k = 1: 4 updates of each network.
        assert_eq!(shard.version, 4, "shard {} moved once per its steps", shard.shard);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn k3_runs_three_d_steps_per_g_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = small_settings(dir.path(), 8);
    settings.k = 3;
    run_job(settings.validate().unwrap(), 1, Fault::None).await;
    let phases: Vec<String> = read_metrics(dir.path()).into_iter().map(|m| m.phase).collect();
    let d = "discriminator".to_string();
    let g = "generator".to_string();
    assert_eq!(phases, [d.clone(), d.clone(), d.clone(), g.clone(), d.clone(), d.clone(), d, g]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn result_is_independent_of_workers_and_faults() {
    let steps = 12;
    let run = |workers, fault| async move {
        let dir = tempfile::tempdir().unwrap();
        let config = small_settings(dir.path(), steps).validate().unwrap();
        let summary = run_job(config, workers, fault).await;
        (final_parameters(&summary), dir)
    };
    let (one, _a) = run(1, Fault::None).await;
    let (three, _b) = run(3, Fault::None).await;
    let (killed, _c) = run(3, Fault::KillWorkerAfter(steps / 2)).await;
    assert!(one.0 == three.0, "3 workers changed the generator");
    assert!(one.1 == three.1, "3 workers changed the discriminator");
    assert!(one.0 == killed.0, "a killed worker changed the generator");
    assert!(one.1 == killed.1, "a killed worker changed the discriminator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_matches_uninterrupted_run() {
    let full_dir = tempfile::tempdir().unwrap();
    let full = run_job(small_settings(full_dir.path(), 10).validate().unwrap(), 2, Fault::None).await;

    let split_dir = tempfile::tempdir().unwrap();
    let mut first = small_settings(split_dir.path(), 6);
    first.checkpoint_every = 6;
    run_job(first.validate().unwrap(), 2, Fault::None).await;

    let servers = CancellationToken::new();
    let ps = start_ps(servers.clone()).await;
    let mut options = CoordinatorOptions::new(small_settings(split_dir.path(), 10).validate().unwrap(), vec![ps]);
    options.resume = true;
    let driver = coordinator::prepare(options).await.unwrap();
    assert_eq!(driver.start_step, 6);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(coordinator::serve(listener, Arc::clone(&driver.coordinator), servers.clone()));
    let worker = spawn_worker(&address, 0, CancellationToken::new());
    let resumed = driver.run(CancellationToken::new()).await.unwrap();
    worker.await.unwrap();
    servers.cancel();

    assert_eq!(final_parameters(&full), final_parameters(&resumed));
    assert_eq!(read_metrics(split_dir.path()).len(), 10);
}

/// Starts a coordinator on a fresh parameter server and one worker, and
/// runs the driver until it ends or `cancel` fires.
async fn run_cancellable(config: TrainConfig, resume: bool, cancel: CancellationToken) -> RunSummary {
    let servers = CancellationToken::new();
    let ps = start_ps(servers.clone()).await;
    let mut options = CoordinatorOptions::new(config, vec![ps]);
    options.resume = resume;
    let driver = coordinator::prepare(options).await.expect("prepare failed");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(coordinator::serve(listener, Arc::clone(&driver.coordinator), servers.clone()));
    let worker = spawn_worker(&address, 0, cancel.child_token());

    let summary = tokio::time::timeout(Duration::from_secs(300), driver.run(cancel))
        .await
        .expect("run timed out")
        .expect("run failed");
    tokio::time::timeout(Duration::from_secs(10), worker).await.expect("worker did not stop").unwrap();
    servers.cancel();
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_writes_checkpoint_to_resume_from() {
    let full_dir = tempfile::tempdir().unwrap();
    let full = run_job(small_settings(full_dir.path(), 12).validate().unwrap(), 1, Fault::None).await;

    // Stopped once 4 steps are done; no periodic checkpoint is due.
    let split_dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let metrics_path = split_dir.path().join("metrics.jsonl");
    let stopper = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while steps_done(&metrics_path) < 4 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            cancel.cancel();
        })
    };
    let stopped = run_cancellable(small_settings(split_dir.path(), 12).validate().unwrap(), false, cancel).await;
    stopper.await.unwrap();
    assert!(stopped.steps >= 4, "stopped after {} steps, before the stop was requested", stopped.steps);
    assert!(stopped.steps < 12, "the run finished before the stop took effect");
    let written = stopped.last_checkpoint.as_ref().expect("a checkpoint written at the stop");
    let manifest = distgan::coordinator::checkpoint::read(written).unwrap().manifest;
    assert_eq!(manifest.step, stopped.steps, "the checkpoint holds the steps done before the stop");

    let resumed =
        run_cancellable(small_settings(split_dir.path(), 12).validate().unwrap(), true, CancellationToken::new()).await;
    assert_eq!(resumed.steps, 12);
    assert!(final_parameters(&full) == final_parameters(&resumed), "stop and resume changed the result");
    assert_eq!(read_metrics(split_dir.path()).len(), 12);
}
