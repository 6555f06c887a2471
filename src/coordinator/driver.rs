//! The step driver: runs the schedule from the first step to the last.
//!
//! For each step it opens a round of micro-batches, waits for the workers
//! to complete it, applies the summed gradient to the parameter servers
//! under the key (step, phase), and records the step. Between steps it
//! writes sample grids and checkpoints when they are due.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::checkpoint::{self, Manifest};
use super::metrics::{MetricsLog, StepMetrics};
use super::outputs::{self, EvalSets};
use super::round::{Round, StatsSum};
use super::router::ShardRouter;
use super::schedule::{Schedule, StepPlan};
use super::state::Coordinator;
use super::RunError;
use crate::config::TrainConfig;
use crate::coordinator::job::JobSpec;
use crate::nn::optim::{Hyper, Schedule as RateSchedule};
use crate::nn::Phase;
use crate::ps::UpdateKey;

/// Maximum wait for the checkpoint written when a run is stopped.
pub const STOP_CHECKPOINT_WAIT: Duration = Duration::from_secs(30);

/// The step driver and everything it needs, built by [`super::setup`].
pub struct Driver {
    pub config: TrainConfig,
    pub job: JobSpec,
    pub schedule: Schedule,
    pub rates: RateSchedule,
    pub coordinator: Arc<Coordinator>,
    pub router: ShardRouter,
    pub versions: BTreeMap<String, u64>,
    pub eval_sets: Arc<EvalSets>,
    pub start_step: u64,
    pub total_steps: u64,
    /// How often lost workers are looked for while a round runs.
    pub membership_tick: Duration,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

/// Summary of a finished or cancelled run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub steps: u64,
    pub last_checkpoint: Option<std::path::PathBuf>,
    pub eval: Option<outputs::EvalReport>,
}

impl Driver {
    /// Runs every remaining step, then the final outputs. Returns early,
    /// with the steps done so far and a checkpoint of them, when `cancel`
    /// fires.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<RunSummary, RunError> {
        let run_dir = self.config.settings().out.clone();
        let mut metrics = MetricsLog::open(&run_dir.join("metrics.jsonl"), self.start_step)
            .map_err(|source| RunError::Io { path: run_dir.join("metrics.jsonl"), source })?;
        let bar = self.progress_bar();
        let mut last_checkpoint = None;

        for step in self.start_step..self.total_steps {
            let plan = self.schedule.plan(step);
            let started = Instant::now();
            let Some((gradient, stats)) = self.run_round(plan, &cancel).await else {
                info!(step, "training cancelled");
                bar.abandon();
                let last_checkpoint = self.checkpoint_on_stop(step, last_checkpoint).await;
                return Ok(RunSummary { steps: step, last_checkpoint, eval: None });
            };

            let hyper = self.hyper(&plan);
            let key = UpdateKey { step, phase: plan.phase };
            let outcomes = self.router.apply_all(gradient, key, |shard| hyper(shard)).await?;
            for (shard, outcome) in outcomes {
                if !outcome.applied {
                    warn!(step, shard, version = outcome.version, "update was applied before; kept the earlier result");
                }
                self.versions.insert(shard, outcome.version);
            }

            let line = self.step_metrics(&plan, &stats, started.elapsed());
            metrics.write(&line).map_err(|source| RunError::Io { path: metrics.path().to_path_buf(), source })?;
            self.show_progress(&bar, &line);
            debug!(step, phase = ?plan.phase, d_loss = line.d_loss, g_loss = line.g_loss, "step done");

            let done = step + 1;
            let settings = self.config.settings();
            if settings.sample_every > 0 && done % settings.sample_every == 0 && done < self.total_steps {
                self.write_samples(done).await?;
            }
            if settings.checkpoint_every > 0 && done % settings.checkpoint_every == 0 && done < self.total_steps {
                last_checkpoint = Some(self.write_checkpoint(done).await?);
            }
        }
        bar.finish_and_clear();
        self.finish(last_checkpoint).await
    }

    async fn run_round(&self, plan: StepPlan, cancel: &CancellationToken) -> Option<(crate::nn::Params, StatsSum)> {
        let versions: Vec<(String, u64)> = self.versions.iter().map(|(s, v)| (s.clone(), *v)).collect();
        let settings = self.config.settings();
        let round = Round::new(plan, settings.batch as u32, settings.micro_batches, versions);
        self.coordinator.open_round(round);
        let coordinator = Arc::clone(&self.coordinator);
        self.coordinator
            .wait_round(cancel, self.membership_tick, move || {
                for (worker_id, name, released) in coordinator.expire_lost_workers() {
                    warn!(worker_id, name, released, "worker lost: no heartbeat within the timeout; its micro-batches are reassigned");
                }
            })
            .await
    }

    /// Learning rate and momentum of each shard at `plan`.
    fn hyper(&self, plan: &StepPlan) -> impl Fn(&str) -> Hyper {
        let (d_updates, g_updates) = updates_before(&self.schedule, plan);
        let momentum = self.rates.momentum(plan.epoch);
        let d_rate = self.rates.learning_rate(d_updates);
        let g_rate = self.rates.learning_rate(g_updates);
        move |shard: &str| Hyper {
            learning_rate: if shard.starts_with("generator") { g_rate } else { d_rate },
            momentum,
        }
    }

    fn step_metrics(&self, plan: &StepPlan, stats: &StatsSum, elapsed: Duration) -> StepMetrics {
        let rows = stats.rows.max(1) as f64;
        let (d_updates, g_updates) = updates_before(&self.schedule, plan);
        let updates = if plan.phase == Phase::Generator { g_updates } else { d_updates };
        let has_d = plan.phase != Phase::Generator;
        let has_g = plan.phase != Phase::Discriminator;
        StepMetrics {
            step: plan.step,
            iteration: plan.iteration,
            epoch: plan.epoch,
            phase: phase_name(plan.phase).to_string(),
            d_loss: has_d.then(|| stats.d_loss_sum / rows),
            g_loss: has_g.then(|| stats.g_loss_sum / rows),
            d_real: has_d.then(|| stats.d_real_sum / rows),
            d_fake: stats.d_fake_sum / rows,
            learning_rate: self.rates.learning_rate(updates),
            momentum: self.rates.momentum(plan.epoch),
            samples_per_sec: stats.rows as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }

    fn progress_bar(&self) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(self.total_steps);
        bar.set_position(self.start_step);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} step {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")
                .expect("the progress template is a valid constant"),
        );
        bar
    }

    fn show_progress(&self, bar: &ProgressBar, line: &StepMetrics) {
        bar.set_position(line.step + 1);
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        bar.set_message(format!(
            "epoch {} D loss {} G loss {} {:.0} samples/s",
            line.epoch,
            fmt(line.d_loss),
            fmt(line.g_loss),
            line.samples_per_sec
        ));
    }

    async fn write_samples(&self, done: u64) -> Result<(), RunError> {
        let generator = self.router.pull_network("generator").await?;
        let path = self.config.settings().out.join("samples").join(format!("step-{done:08}.png"));
        outputs::write_sample_grid(&self.job, generator, path.clone()).await?;
        info!(step = done, path = %path.display(), "sample grid written");
        Ok(())
    }

    async fn write_checkpoint(&self, done: u64) -> Result<std::path::PathBuf, RunError> {
        let snapshots = self.router.export_all().await?;
        let settings = self.config.settings();
        let manifest = Manifest {
            format: 0,
            step: done,
            seed: settings.seed,
            schedule: format!("{:?}", settings.schedule).to_lowercase(),
            k: settings.k,
            data_dim: self.job.data_dim,
            shards: Vec::new(),
            files: Vec::new(),
        };
        let run_dir = settings.out.clone();
        let path = tokio::task::spawn_blocking(move || checkpoint::write(&run_dir, manifest, &snapshots))
            .await
            .map_err(|e| RunError::Task(e.to_string()))??;
        info!(step = done, path = %path.display(), "checkpoint written");
        Ok(path)
    }

    /// Writes a checkpoint of the `done` steps finished before a stop, so
    /// that a resumed run (a Slurm job stopped before its time limit, say)
    /// repeats no step. The parameter servers hold exactly those steps,
    /// because a stop discards the unfinished step before any update. When
    /// they no longer respond within [`STOP_CHECKPOINT_WAIT`], the previous
    /// checkpoint stays the newest.
    async fn checkpoint_on_stop(&self, done: u64, last: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
        let written_already = last.as_deref() == Some(&checkpoint::checkpoint_dir(&self.config.settings().out, done));
        if done == self.start_step || written_already {
            return last;
        }
        match tokio::time::timeout(STOP_CHECKPOINT_WAIT, self.write_checkpoint(done)).await {
            Ok(Ok(path)) => Some(path),
            Ok(Err(error)) => {
                warn!(step = done, %error, "checkpoint at the stop failed; a resumed run starts from the previous one");
                last
            }
            Err(_) => {
                warn!(step = done, seconds = STOP_CHECKPOINT_WAIT.as_secs(), "checkpoint at the stop timed out; a resumed run starts from the previous one");
                last
            }
        }
    }

    async fn finish(self, last_checkpoint: Option<std::path::PathBuf>) -> Result<RunSummary, RunError> {
        let done = self.total_steps;
        self.coordinator.finish();
        self.write_samples(done).await?;
        let checkpoint = if last_checkpoint.as_deref() == Some(&checkpoint::checkpoint_dir(&self.config.settings().out, done)) {
            last_checkpoint
        } else {
            Some(self.write_checkpoint(done).await?)
        };
        let eval = if self.config.settings().evaluate {
            let generator = self.router.pull_network("generator").await?;
            let report = outputs::evaluate(&self.job, generator, self.config.settings(), Arc::clone(&self.eval_sets)).await?;
            let path = self.config.settings().out.join("eval.json");
            outputs::write_json(&path, &report)?;
            info!(
                test_log_likelihood = report.test_mean,
                standard_error = report.test_standard_error,
                sigma = report.sigma,
                path = %path.display(),
                "Parzen-window evaluation written"
            );
            Some(report)
        } else {
            None
        };
        Ok(RunSummary { steps: done, last_checkpoint: checkpoint, eval })
    }
}

/// Discriminator and generator updates completed before `plan`'s step.
pub fn updates_before(schedule: &Schedule, plan: &StepPlan) -> (u64, u64) {
    match plan.phase {
        Phase::Joint => (plan.step, plan.step),
        _ => {
            let k = u64::from(schedule.k);
            let position = plan.step % schedule.steps_per_iteration();
            (plan.iteration * k + position.min(k), plan.iteration)
        }
    }
}

/// The phase as written in metrics.
pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Discriminator => "discriminator",
        Phase::Generator => "generator",
        Phase::Joint => "joint",
    }
}
