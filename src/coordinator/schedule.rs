//! Algorithm 1 as a pure function of the global step.
//!
//! A *step* is one parameter update round, numbered from 0 over the whole
//! run. Under the `alternating` schedule the steps cycle through k
//! discriminator steps, each on a fresh real minibatch and fresh noise, then
//! one generator step on fresh noise; one such cycle is an *iteration*.
//! Under `simultaneous` every step is a joint step on one real minibatch
//! that updates both networks, and an iteration is one step. Because every
//! quantity here is derived from the step number alone, a resumed run or a
//! run with any number of workers walks exactly the same schedule.

use serde::{Deserialize, Serialize};

use crate::nn::Phase;

/// Kind of schedule: the updates each step performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// k discriminator steps, then one generator step (Algorithm 1).
    Alternating,
    /// Both gradients from one batch, both updates at once.
    Simultaneous,
}

/// Plan of one global step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepPlan {
    /// Global step number, from 0.
    pub step: u64,
    /// Phase: the network or networks the step updates.
    pub phase: Phase,
    /// Iteration of Algorithm 1's outer loop the step belongs to, from 0.
    pub iteration: u64,
    /// Number of the real minibatch the step reads, counted over the run,
    /// or `None` for a generator step, which reads no real data.
    pub batch_number: Option<u64>,
    /// Epoch, from 1, of the most recent real minibatch at this step.
    pub epoch: u64,
}

/// The step schedule of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    /// Discriminator steps per generator step; at least 1. Ignored by the
    /// simultaneous schedule.
    pub k: u32,
    /// Real minibatches in one epoch (training examples / batch size).
    pub batches_per_epoch: u64,
}

impl Schedule {
    /// Number of steps in one iteration of the outer loop.
    pub fn steps_per_iteration(&self) -> u64 {
        match self.kind {
            ScheduleKind::Alternating => u64::from(self.k) + 1,
            ScheduleKind::Simultaneous => 1,
        }
    }

    /// Number of real minibatches one iteration consumes.
    pub fn batches_per_iteration(&self) -> u64 {
        match self.kind {
            ScheduleKind::Alternating => u64::from(self.k),
            ScheduleKind::Simultaneous => 1,
        }
    }

    /// Number of whole iterations that `epochs` epochs of real data last,
    /// rounded down, and at least 1.
    pub fn iterations_for_epochs(&self, epochs: u64) -> u64 {
        (epochs * self.batches_per_epoch / self.batches_per_iteration()).max(1)
    }

    /// Returns the plan of global step `step`.
    pub fn plan(&self, step: u64) -> StepPlan {
        let per_iteration = self.steps_per_iteration();
        let iteration = step / per_iteration;
        let position = step % per_iteration;
        let (phase, batch_number) = match self.kind {
            ScheduleKind::Simultaneous => (Phase::Joint, Some(iteration)),
            ScheduleKind::Alternating if position < u64::from(self.k) => {
                (Phase::Discriminator, Some(iteration * u64::from(self.k) + position))
            }
            ScheduleKind::Alternating => (Phase::Generator, None),
        };
        // A generator step counts in the epoch of the last real batch read.
        let last_batch = batch_number
            .unwrap_or(((iteration + 1) * self.batches_per_iteration()).saturating_sub(1));
        let epoch = last_batch / self.batches_per_epoch.max(1) + 1;
        StepPlan { step, phase, iteration, batch_number, epoch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alternating(k: u32) -> Schedule {
        Schedule { kind: ScheduleKind::Alternating, k, batches_per_epoch: 10 }
    }

    #[test]
    fn k3_gives_three_d_steps_per_g_step() {
        let schedule = alternating(3);
        let phases: Vec<Phase> = (0..8).map(|s| schedule.plan(s).phase).collect();
        use Phase::{Discriminator as D, Generator as G};
        assert_eq!(phases, [D, D, D, G, D, D, D, G]);
    }

    #[test]
    fn each_d_step_reads_a_fresh_batch() {
        let schedule = alternating(3);
        let batches: Vec<Option<u64>> = (0..8).map(|s| schedule.plan(s).batch_number).collect();
        assert_eq!(batches, [Some(0), Some(1), Some(2), None, Some(3), Some(4), Some(5), None]);
    }

    #[test]
    fn epoch_advances_after_batches_per_epoch() {
        let schedule = alternating(1);
        assert_eq!(schedule.plan(0).epoch, 1);
        assert_eq!(schedule.plan(19).epoch, 1, "G step after batch 9");
        assert_eq!(schedule.plan(20).epoch, 2, "D step on batch 10");
        assert_eq!(schedule.plan(21).iteration, 10);
    }

    #[test]
    fn simultaneous_steps_are_joint() {
        let schedule = Schedule { kind: ScheduleKind::Simultaneous, k: 5, batches_per_epoch: 4 };
        let plan = schedule.plan(9);
        assert_eq!(plan.phase, Phase::Joint);
        assert_eq!(plan.batch_number, Some(9));
        assert_eq!(plan.epoch, 3);
        assert_eq!(schedule.iterations_for_epochs(2), 8);
    }
}
