//! The command line: what the user typed, before validation.
//!
//! Each subcommand's flags are parsed by clap into the structs here. Flags
//! that mirror `config.toml` settings are optional and override the file,
//! which overrides the defaults; [`TrainArgs::settings`] does that merge
//! and validation happens in [`crate::config::Settings::validate`]. Every
//! address flag can also come from an environment variable, named beside
//! it, for containers and cluster launchers.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigError, Settings};
use crate::coordinator::schedule::ScheduleKind;

/// distgan: train the GAN of Goodfellow et al. (2014) across machines.
#[derive(Debug, Parser)]
#[command(name = "distgan", version, about)]
pub struct Cli {
    /// Log filter, as in RUST_LOG (for example `info` or `distgan=debug`).
    #[arg(long, global = true, env = "DISTGAN_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train with the parameter server, coordinator and workers in one process.
    Train(TrainArgs),
    /// Run a parameter server.
    Ps(PsArgs),
    /// Run the coordinator of a job.
    Coordinator(CoordinatorArgs),
    /// Run a worker.
    Worker(WorkerArgs),
    /// Write a PNG grid of samples from a checkpoint.
    Sample(SampleArgs),
    /// Run the Parzen-window evaluation on a checkpoint and print JSON.
    Eval(EvalArgs),
    /// Probe a role's gRPC health service; exit 0 when it is serving.
    Health(HealthArgs),
}

/// Run settings shared by `train` and `coordinator`.
#[derive(Debug, Args, Default)]
pub struct TrainArgs {
    /// TOML file with run settings; flags override it.
    #[arg(long, env = "DISTGAN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Continue the run in this run folder from its last checkpoint.
    #[arg(long, conflicts_with_all = ["config"])]
    pub resume: Option<PathBuf>,
    /// Folder with the MNIST IDX files. Default `data/mnist`.
    #[arg(long, env = "DISTGAN_DATA")]
    pub data: Option<PathBuf>,
    /// Run folder for metrics, samples and checkpoints. Default `runs/mnist`.
    #[arg(long, env = "DISTGAN_OUT")]
    pub out: Option<PathBuf>,
    /// Workers started in this process (train only). Default 2.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Length of the run in epochs of real data. Default 6.
    #[arg(long, conflicts_with = "steps")]
    pub epochs: Option<u64>,
    /// Length of the run in steps (parameter updates).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Seed of every random draw. Default 1.
    #[arg(long)]
    pub seed: Option<u64>,
    /// `alternating` (k D steps, then a G step) or `simultaneous`.
    #[arg(long, value_parser = parse_schedule)]
    pub schedule: Option<ScheduleKind>,
    /// Discriminator steps per generator step. Default 1.
    #[arg(long)]
    pub k: Option<u32>,
    /// Global minibatch size. Default 100.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Micro-batches per step; fixed for the run. Default 2.
    #[arg(long)]
    pub micro_batches: Option<u32>,
    /// Training images used, from the start of the file. Default 50000.
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Write a sample grid every this many steps. Default 1000.
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Write a checkpoint every this many steps. Default 1000.
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// `adam` (default) or `momentum` (the paper's classic momentum SGD).
    #[arg(long, value_parser = ["adam", "momentum"])]
    pub optimizer: Option<String>,
    /// Initial learning rate. Default: 0.0002 for Adam, 0.1 for momentum.
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Skip the Parzen-window evaluation at the end.
    #[arg(long)]
    pub no_eval: bool,
    /// Generated samples for the Parzen-window evaluation. Default 10000.
    #[arg(long)]
    pub eval_samples: Option<usize>,
}

fn parse_schedule(text: &str) -> Result<ScheduleKind, String> {
    match text {
        "alternating" => Ok(ScheduleKind::Alternating),
        "simultaneous" => Ok(ScheduleKind::Simultaneous),
        other => Err(format!("unknown schedule `{other}`: use `alternating` or `simultaneous`")),
    }
}

impl TrainArgs {
    /// Merges defaults, the config file (or the resumed run's `config.toml`)
    /// and the flags, in that order of precedence from lowest.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut settings = match (&self.resume, &self.config) {
            (Some(run), _) => Settings::from_file(&run.join("config.toml"))?,
            (None, Some(file)) => Settings::from_file(file)?,
            (None, None) => Settings::default(),
        };
        if let Some(run) = &self.resume {
            settings.out = run.clone();
        }
        self.override_settings(&mut settings);
        Ok(settings)
    }

    fn override_settings(&self, s: &mut Settings) {
        if let Some(v) = &self.data {
            s.data = v.clone();
        }
        if let Some(v) = &self.out {
            s.out = v.clone();
        }
        if let Some(v) = self.epochs {
            s.epochs = v;
            s.steps = None;
        }
        set(&mut s.workers, self.workers);
        set(&mut s.seed, self.seed);
        set(&mut s.schedule, self.schedule);
        set(&mut s.k, self.k);
        set(&mut s.batch, self.batch);
        set(&mut s.micro_batches, self.micro_batches);
        set(&mut s.train_images, self.train_images);
        set(&mut s.sample_every, self.sample_every);
        set(&mut s.checkpoint_every, self.checkpoint_every);
        set(&mut s.eval_samples, self.eval_samples);
        if self.steps.is_some() {
            s.steps = self.steps;
        }
        if let Some(kind) = &self.optimizer {
            s.optimizer.kind = kind.clone();
            // A rate chosen for the other optimizer would be wrong here.
            s.optimizer.learning_rate = None;
        }
        if self.learning_rate.is_some() {
            s.optimizer.learning_rate = self.learning_rate;
        }
        if self.no_eval {
            s.evaluate = false;
        }
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Address to listen on.
    #[arg(long, env = "DISTGAN_LISTEN_ADDR", default_value = "0.0.0.0:7070")]
    pub listen: SocketAddr,
    /// Shards this process serves: `*` for all, or a comma-separated list
    /// of shard names or prefixes (`generator`, `discriminator.1`).
    #[arg(long, env = "DISTGAN_SHARDS", default_value = "*")]
    pub shards: String,
}

#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// Address to listen on.
    #[arg(long, env = "DISTGAN_LISTEN_ADDR", default_value = "0.0.0.0:7071")]
    pub listen: SocketAddr,
    /// Parameter-server addresses, comma-separated (`host:port`).
    #[arg(long, env = "DISTGAN_PS_ADDR", value_delimiter = ',', required = true)]
    pub ps: Vec<String>,
    /// Connection attempts to each parameter server before giving up.
    #[arg(long, env = "DISTGAN_CONNECT_ATTEMPTS", default_value_t = 20)]
    pub connect_attempts: u32,
    #[command(flatten)]
    pub run: TrainArgs,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Coordinator address (`host:port`).
    #[arg(long, env = "DISTGAN_COORDINATOR_ADDR")]
    pub coordinator: String,
    /// Folder with the MNIST IDX files. Default `data/mnist`.
    #[arg(long, env = "DISTGAN_DATA", default_value = "data/mnist")]
    pub data: PathBuf,
    /// Name shown in the coordinator's logs. Default: the host name.
    #[arg(long, env = "DISTGAN_WORKER_NAME")]
    pub name: Option<String>,
    /// OpenBLAS threads for this worker. Default: the machine's cores.
    #[arg(long, env = "DISTGAN_THREADS")]
    pub threads: Option<usize>,
    /// Address for the worker's gRPC health service, for orchestrators'
    /// probes (the worker serves nothing else). Default: no listener.
    #[arg(long, env = "DISTGAN_LISTEN_ADDR")]
    pub listen: Option<SocketAddr>,
    /// Connection attempts to the coordinator and parameter servers before
    /// giving up; waits between attempts double from 50 ms up to 1 s.
    #[arg(long, env = "DISTGAN_CONNECT_ATTEMPTS", default_value_t = 20)]
    pub connect_attempts: u32,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A checkpoint folder, or a run folder (its latest checkpoint is used).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of samples. Default 100.
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// Put each sample's nearest training image beside it.
    #[arg(long)]
    pub nearest: bool,
    /// Rows of linear interpolations between random points in z instead.
    #[arg(long)]
    pub interpolate: bool,
    /// Seed of the noise. Default 0.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder with the MNIST IDX files, for `--nearest`. Default: the run's.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A checkpoint folder, or a run folder (its latest checkpoint is used).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Folder with the MNIST IDX files. Default: the run's.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Generated samples the window is fitted on. Default 10000.
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of the role to probe (`host:port`).
    #[arg(long, env = "DISTGAN_HEALTH_ADDR")]
    pub addr: String,
    /// Give up after this many milliseconds. Default 2000.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}
