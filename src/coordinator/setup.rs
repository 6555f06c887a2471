//! Preparing a run: data, the job, the parameter servers' initial state.
//!
//! A new run initialises G and D from the seed (G's output bias from the
//! mean training image), gives every shard fresh optimizer state at
//! version 0, and loads the shards into the parameter servers. A resumed
//! run loads the newest verified checkpoint instead and starts at its step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::checkpoint;
use super::driver::Driver;
use super::job::{fingerprint, JobInfo, JobSpec};
use super::router::ShardRouter;
use super::schedule::Schedule;
use super::state::{Coordinator, GradientLayouts};
use super::RunError;
use crate::config::TrainConfig;
use crate::nn::optim::{self, OptimizerKind, Schedule as RateSchedule};
use crate::nn::{init_discriminator, init_generator, Params};
use crate::ps::{AppliedKeys, ConnectRetry, ShardSnapshot};

/// Coordinator settings beyond the training settings: addresses and timing.
#[derive(Clone, Debug)]
pub struct CoordinatorOptions {
    pub config: TrainConfig,
    /// Parameter-server addresses (`host:port`).
    pub ps_addresses: Vec<String>,
    /// Continue from the run folder's newest checkpoint.
    pub resume: bool,
    /// How often workers send heartbeats. Default 1 s.
    pub heartbeat_interval: Duration,
    /// Silence after which a worker is declared lost. Default 5 s.
    pub worker_timeout: Duration,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    pub retry: ConnectRetry,
}

impl CoordinatorOptions {
    /// Options with the default timing for `config` and `ps_addresses`.
    pub fn new(config: TrainConfig, ps_addresses: Vec<String>) -> Self {
        CoordinatorOptions {
            config,
            ps_addresses,
            resume: false,
            heartbeat_interval: Duration::from_secs(1),
            worker_timeout: Duration::from_secs(5),
            progress: false,
            retry: ConnectRetry::default(),
        }
    }
}

fn optimizer_kind(config: &TrainConfig) -> OptimizerKind {
    let o = &config.settings().optimizer;
    match o.kind.as_str() {
        "adam" => OptimizerKind::Adam { beta1: o.adam_beta1, beta2: o.adam_beta2, epsilon: o.adam_epsilon },
        _ => OptimizerKind::Momentum,
    }
}

fn rate_schedule(config: &TrainConfig) -> RateSchedule {
    let o = &config.settings().optimizer;
    RateSchedule {
        initial_learning_rate: o.initial_learning_rate(),
        decay_factor: f64::from(o.lr_decay),
        min_learning_rate: o.lr_floor,
        initial_momentum: o.momentum_start,
        final_momentum: o.momentum_end,
        start_epoch: 1,
        saturate_epoch: o.momentum_saturate_epoch,
    }
}

/// Splits freshly initialised parameters into version-0 shard snapshots.
fn initial_snapshots(params: Params, kind: &OptimizerKind) -> Result<Vec<ShardSnapshot>, RunError> {
    super::router::split_by_shard(params)?
        .into_iter()
        .map(|(shard, params)| {
            let state = optim::init_state(kind, &params);
            Ok(ShardSnapshot { shard, params, state, version: 0, optimizer: kind.clone(), applied: AppliedKeys::new() })
        })
        .collect()
}

fn layouts_of(snapshots: &[ShardSnapshot]) -> GradientLayouts {
    let mut layouts = GradientLayouts::default();
    for snapshot in snapshots {
        let target = if snapshot.shard.starts_with("generator") { &mut layouts.generator } else { &mut layouts.discriminator };
        target.extend(snapshot.params.iter().map(|(name, t)| (name.to_string(), t.shape().to_vec())));
    }
    layouts
}

/// Loads the data, fills the parameter servers and builds the driver.
pub async fn prepare(options: CoordinatorOptions) -> Result<Driver, RunError> {
    let config = options.config.clone();
    let settings = config.settings().clone();
    std::fs::create_dir_all(&settings.out).map_err(|source| RunError::Io { path: settings.out.clone(), source })?;

    let data_settings = settings.clone();
    let data = tokio::task::spawn_blocking(move || super::outputs::load_run_data(&data_settings))
        .await
        .map_err(|e| RunError::Task(e.to_string()))??;
    let data_dim = data.train.ncols();
    let job = JobSpec::from_config(&config, data_dim, fingerprint(data.train.as_slice().unwrap_or(&[])));
    let spec = job.gan_spec();

    let mut router = ShardRouter::connect(&options.ps_addresses, &options.retry).await?;
    let (snapshots, start_step) = if options.resume {
        let (found, skipped) = checkpoint::read_latest(&settings.out)?;
        for damaged in skipped {
            warn!(error = %damaged, "skipped a damaged checkpoint");
        }
        if found.manifest.seed != settings.seed || found.manifest.data_dim != data_dim {
            return Err(RunError::Mismatch(format!(
                "checkpoint {} has seed {} and {} pixels per image, the run has seed {} and {}",
                found.path.display(),
                found.manifest.seed,
                found.manifest.data_dim,
                settings.seed,
                data_dim
            )));
        }
        info!(path = %found.path.display(), step = found.manifest.step, "resuming from checkpoint");
        (found.shards, found.manifest.step)
    } else {
        let kind = optimizer_kind(&config);
        let mean = crate::data::mean_image(data.train.view());
        let mut snapshots = initial_snapshots(init_generator(&spec.generator, mean.view(), settings.seed)?, &kind)?;
        snapshots.extend(initial_snapshots(init_discriminator(&spec.discriminator, settings.seed)?, &kind)?);
        (snapshots, 0)
    };
    // Workers fill their caches shard by shard in name order, so their
    // gradients list tensors in that order; the expected layout follows it.
    let mut snapshots = snapshots;
    snapshots.sort_by(|a, b| a.shard.cmp(&b.shard));
    let layouts = layouts_of(&snapshots);
    router.route(snapshots.iter().map(|s| s.shard.clone()))?;
    let versions: BTreeMap<String, u64> = router.load_all(snapshots).await?.into_iter().collect();

    let config_path = settings.out.join("config.toml");
    std::fs::write(&config_path, config.to_toml()).map_err(|source| RunError::Io { path: config_path, source })?;

    let schedule = Schedule {
        kind: settings.schedule,
        k: settings.k,
        batches_per_epoch: (settings.train_images / settings.batch) as u64,
    };
    let total_steps = settings
        .steps
        .unwrap_or_else(|| schedule.iterations_for_epochs(settings.epochs) * schedule.steps_per_iteration());
    let info = JobInfo { spec: job.clone(), shard_locations: router.locations(), heartbeat_interval: options.heartbeat_interval };
    let coordinator = Arc::new(Coordinator::new(info, layouts, options.worker_timeout));
    info!(start_step, total_steps, shards = versions.len(), "run prepared");

    Ok(Driver {
        config,
        job,
        schedule,
        rates: rate_schedule(&options.config),
        coordinator,
        router,
        versions,
        eval_sets: Arc::new(data.eval_sets),
        start_step,
        total_steps,
        membership_tick: options.heartbeat_interval,
        progress: options.progress,
    })
}
