//! The coordinator's shared state: membership and the current round.
//!
//! The gRPC adapter calls the worker-facing methods (join, heartbeat,
//! next task, submit, leave); the step driver opens a round, waits for it
//! to complete and takes the summed gradient. One mutex guards both, and
//! two `Notify`s wake the side that waits: workers blocked on a task, and
//! the driver blocked on a round.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::job::JobInfo;
use super::membership::Membership;
use super::round::{Round, StatsSum, SubmitError, SubmitOutcome, TaskSpec};
use crate::nn::{Params, Phase};

/// Rejection of a worker's request.
#[derive(Debug, Error, PartialEq)]
pub enum CoordinatorError {
    #[error("unknown worker id {worker}: it never joined or was declared lost after missing heartbeats; join again")]
    UnknownWorker { worker: u64 },
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// The reply to a worker asking for work.
#[derive(Debug, PartialEq)]
pub enum TaskReply {
    Task(TaskSpec),
    /// Nothing open right now; ask again.
    Wait,
    /// The job has ended.
    Finished,
}

/// Expected gradient names and shapes of each phase, for checking results.
#[derive(Clone, Debug, Default)]
pub struct GradientLayouts {
    pub generator: Vec<(String, Vec<usize>)>,
    pub discriminator: Vec<(String, Vec<usize>)>,
}

impl GradientLayouts {
    /// Names and shapes a gradient of `phase` must have, in order.
    pub fn for_phase(&self, phase: Phase) -> Vec<(String, Vec<usize>)> {
        match phase {
            Phase::Discriminator => self.discriminator.clone(),
            Phase::Generator => self.generator.clone(),
            Phase::Joint => self.generator.iter().chain(&self.discriminator).cloned().collect(),
        }
    }
}

struct State {
    membership: Membership,
    round: Option<Round>,
    expected: Vec<(String, Vec<usize>)>,
    finished: bool,
}

/// State shared by the coordinator's service and its step driver.
pub struct Coordinator {
    job: JobInfo,
    layouts: GradientLayouts,
    worker_timeout: Duration,
    state: Mutex<State>,
    task_ready: Notify,
    round_done: Notify,
}

impl Coordinator {
    /// Creates a coordinator for `job`, declaring a worker lost after `worker_timeout` of silence.
    pub fn new(job: JobInfo, layouts: GradientLayouts, worker_timeout: Duration) -> Self {
        Coordinator {
            job,
            layouts,
            worker_timeout,
            state: Mutex::new(State { membership: Membership::default(), round: None, expected: Vec::new(), finished: false }),
            task_ready: Notify::new(),
            round_done: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only plain data behind, which
        // every method re-validates, so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the job every worker receives on joining.
    pub fn job(&self) -> &JobInfo {
        &self.job
    }

    /// Registers a worker and returns its id.
    pub fn join(&self, name: &str) -> u64 {
        self.lock().membership.join(name, Instant::now())
    }

    /// Records a heartbeat.
    pub fn heartbeat(&self, worker: u64) -> Result<(), CoordinatorError> {
        if self.lock().membership.touch(worker, Instant::now()) {
            Ok(())
        } else {
            Err(CoordinatorError::UnknownWorker { worker })
        }
    }

    /// Hands `worker` a micro-batch, waiting up to `wait` for one to open.
    pub async fn next_task(&self, worker: u64, wait: Duration) -> Result<TaskReply, CoordinatorError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before checking, so a round opened between
            // the check and the wait still wakes this call.
            let notified = self.task_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(reply) = self.try_assign(worker)? {
                return Ok(reply);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(TaskReply::Wait);
            }
        }
    }

    fn try_assign(&self, worker: u64) -> Result<Option<TaskReply>, CoordinatorError> {
        let mut state = self.lock();
        if !state.membership.touch(worker, Instant::now()) {
            return Err(CoordinatorError::UnknownWorker { worker });
        }
        if state.finished {
            return Ok(Some(TaskReply::Finished));
        }
        Ok(state.round.as_mut().and_then(|round| round.assign(worker)).map(TaskReply::Task))
    }

    /// Takes a micro-batch gradient from `worker`.
    pub fn submit(
        &self,
        worker: u64,
        step: u64,
        micro_batch: u32,
        gradient: Params,
        stats: StatsSum,
    ) -> Result<SubmitOutcome, CoordinatorError> {
        let mut state = self.lock();
        if !state.membership.touch(worker, Instant::now()) {
            return Err(CoordinatorError::UnknownWorker { worker });
        }
        let State { round, expected, .. } = &mut *state;
        let Some(round) = round.as_mut() else {
            return Ok(SubmitOutcome::Stale);
        };
        let result = round.submit(worker, step, micro_batch, gradient, stats, expected);
        let complete = round.is_complete();
        drop(state);
        match &result {
            Ok(_) if complete => self.round_done.notify_one(),
            Err(_) => self.task_ready.notify_waiters(),
            Ok(_) => {}
        }
        Ok(result?)
    }

    /// Removes a worker that is shutting down and reopens what it held.
    pub fn leave(&self, worker: u64) -> usize {
        let mut state = self.lock();
        state.membership.leave(worker);
        let released = state.round.as_mut().map_or(0, |round| round.release_worker(worker));
        drop(state);
        if released > 0 {
            self.task_ready.notify_waiters();
        }
        released
    }

    /// Drops workers silent for longer than the timeout and reopens their
    /// micro-batches; returns (id, name, micro-batches released) of each.
    pub fn expire_lost_workers(&self) -> Vec<(u64, String, usize)> {
        let mut state = self.lock();
        let lost = state.membership.expire(Instant::now(), self.worker_timeout);
        let released: Vec<(u64, String, usize)> = lost
            .into_iter()
            .map(|(id, name)| {
                let count = state.round.as_mut().map_or(0, |round| round.release_worker(id));
                (id, name, count)
            })
            .collect();
        drop(state);
        if released.iter().any(|(_, _, count)| *count > 0) {
            self.task_ready.notify_waiters();
        }
        released
    }

    /// Number of live workers.
    pub fn live_workers(&self) -> usize {
        self.lock().membership.len()
    }

    /// Makes `round` the current one and wakes waiting workers.
    pub fn open_round(&self, round: Round) {
        let mut state = self.lock();
        state.expected = self.layouts.for_phase(round.phase());
        state.round = Some(round);
        drop(state);
        self.task_ready.notify_waiters();
    }

    /// Waits until the current round is complete and returns its sum, or
    /// `None` when `cancel` fires first. `on_idle` runs every `tick` while
    /// waiting (the driver expires lost workers there).
    pub async fn wait_round(
        &self,
        cancel: &CancellationToken,
        tick: Duration,
        mut on_idle: impl FnMut(),
    ) -> Option<(Params, StatsSum)> {
        loop {
            let notified = self.round_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.round.as_ref().is_some_and(Round::is_complete) {
                    return state.round.take().and_then(Round::finish);
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = notified => {}
                _ = tokio::time::sleep(tick) => on_idle(),
            }
        }
    }

    /// Marks the job finished, so `next_task` returns `Finished` to every worker.
    pub fn finish(&self) {
        self.lock().finished = true;
        self.task_ready.notify_waiters();
    }
}
