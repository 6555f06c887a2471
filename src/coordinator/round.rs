//! One step's micro-batches: who computes which, and the ordered sum.
//!
//! A [`Round`] cuts a step's global batch into a fixed number of
//! micro-batches and hands them out lowest index first. Results may come
//! back in any order and from any worker. They are summed strictly in
//! micro-batch order (((g0 + g1) + g2) + ...) as soon as a prefix is
//! complete, so the sum is bit-identical whichever worker computed what.

use thiserror::Error;

use crate::coordinator::schedule::StepPlan;
use crate::nn::{Params, Phase};

/// Loss and D-output sums of one micro-batch or of a whole step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatsSum {
    pub rows: u64,
    pub d_loss_sum: f64,
    pub g_loss_sum: f64,
    pub d_real_sum: f64,
    pub d_fake_sum: f64,
}

impl StatsSum {
    fn add(&mut self, other: &StatsSum) {
        self.rows += other.rows;
        self.d_loss_sum += other.d_loss_sum;
        self.g_loss_sum += other.g_loss_sum;
        self.d_real_sum += other.d_real_sum;
        self.d_fake_sum += other.d_fake_sum;
    }
}

/// A micro-batch handed to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub step: u64,
    pub phase: Phase,
    /// Number of the real minibatch the step reads; `None` for a generator step.
    pub batch_number: Option<u64>,
    pub micro_batch: u32,
    pub row_start: u32,
    pub rows: u32,
    /// 1 / global batch size.
    pub loss_scale: f32,
    /// (shard, version) the gradient must be computed on.
    pub shard_versions: Vec<(String, u64)>,
}

/// Outcome of a submitted gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The gradient was taken into the step's sum.
    Accepted,
    /// The micro-batch was already done or belongs to another step; the
    /// gradient was dropped.
    Stale,
}

/// A submitted gradient that cannot be used.
#[derive(Debug, Error, PartialEq)]
pub enum SubmitError {
    #[error("micro-batch {micro_batch} does not exist: step {step} has {count} micro-batches")]
    NoSuchMicroBatch { step: u64, micro_batch: u32, count: u32 },
    #[error("gradient of micro-batch {micro_batch} from worker {worker} has a non-finite value in `{tensor}`")]
    NonFinite { worker: u64, micro_batch: u32, tensor: String },
    #[error("gradient of micro-batch {micro_batch} from worker {worker} does not match the step's parameters: {detail}")]
    Layout { worker: u64, micro_batch: u32, detail: String },
}

/// Checks that `gradient` has exactly the names and shapes of `expected`, in order.
fn check_layout(gradient: &Params, expected: &[(String, Vec<usize>)]) -> Result<(), String> {
    if gradient.len() != expected.len() {
        return Err(format!("{} tensors, expected {}", gradient.len(), expected.len()));
    }
    for ((name, tensor), (expected_name, shape)) in gradient.iter().zip(expected) {
        if name != expected_name {
            return Err(format!("tensor `{name}` where `{expected_name}` was expected"));
        }
        if tensor.shape() != shape.as_slice() {
            return Err(format!("tensor `{name}` has shape {:?}, expected {shape:?}", tensor.shape()));
        }
    }
    Ok(())
}

#[derive(Debug)]
enum Slot {
    Open,
    Assigned { worker: u64 },
    Done,
}

/// The micro-batches of one step.
#[derive(Debug)]
pub struct Round {
    plan: StepPlan,
    shard_versions: Vec<(String, u64)>,
    batch: u32,
    slots: Vec<Slot>,
    /// Results that arrived ahead of the summed prefix, by micro-batch.
    pending: Vec<Option<(Params, StatsSum)>>,
    /// Sum of micro-batches 0..summed_prefix.
    sum: Option<Params>,
    stats: StatsSum,
    summed_prefix: usize,
}

impl Round {
    /// Creates a round for `plan` over `micro_batches` equal parts of `batch` rows,
    /// computed on `shard_versions`. `batch` must divide evenly.
    pub fn new(plan: StepPlan, batch: u32, micro_batches: u32, shard_versions: Vec<(String, u64)>) -> Round {
        let count = micro_batches as usize;
        Round {
            plan,
            shard_versions,
            batch,
            slots: (0..count).map(|_| Slot::Open).collect(),
            pending: (0..count).map(|_| None).collect(),
            sum: None,
            stats: StatsSum::default(),
            summed_prefix: 0,
        }
    }

    /// Returns the step this round computes.
    pub fn plan(&self) -> &StepPlan {
        &self.plan
    }

    /// Hands the lowest open micro-batch to `worker`, if any is open.
    pub fn assign(&mut self, worker: u64) -> Option<TaskSpec> {
        let index = self.slots.iter().position(|s| matches!(s, Slot::Open))?;
        self.slots[index] = Slot::Assigned { worker };
        let rows = self.batch / self.slots.len() as u32;
        Some(TaskSpec {
            step: self.plan.step,
            phase: self.plan.phase,
            batch_number: self.plan.batch_number,
            micro_batch: index as u32,
            row_start: index as u32 * rows,
            rows,
            loss_scale: 1.0 / self.batch as f32,
            shard_versions: self.shard_versions.clone(),
        })
    }

    /// Reopens every micro-batch `worker` held; returns how many.
    pub fn release_worker(&mut self, worker: u64) -> usize {
        let mut released = 0;
        for slot in &mut self.slots {
            if matches!(slot, Slot::Assigned { worker: w } if *w == worker) {
                *slot = Slot::Open;
                released += 1;
            }
        }
        released
    }

    /// Takes `worker`'s gradient for `micro_batch` of step `step`.
    ///
    /// `expected` lists the names and shapes the phase's gradient must have.
    /// A rejected gradient reopens the micro-batch if `worker` held it, so
    /// another worker can compute it.
    pub fn submit(
        &mut self,
        worker: u64,
        step: u64,
        micro_batch: u32,
        gradient: Params,
        stats: StatsSum,
        expected: &[(String, Vec<usize>)],
    ) -> Result<SubmitOutcome, SubmitError> {
        let count = self.slots.len() as u32;
        if step != self.plan.step {
            return Ok(SubmitOutcome::Stale);
        }
        let index = micro_batch as usize;
        let Some(slot) = self.slots.get(index) else {
            return Err(SubmitError::NoSuchMicroBatch { step, micro_batch, count });
        };
        if matches!(slot, Slot::Done) {
            return Ok(SubmitOutcome::Stale);
        }
        if let Err(detail) = check_layout(&gradient, expected) {
            self.release_slot(index, worker);
            return Err(SubmitError::Layout { worker, micro_batch, detail });
        }
        if let Some(tensor) = gradient.first_non_finite() {
            let tensor = tensor.to_string();
            self.release_slot(index, worker);
            return Err(SubmitError::NonFinite { worker, micro_batch, tensor });
        }
        self.slots[index] = Slot::Done;
        self.pending[index] = Some((gradient, stats));
        self.fold_prefix();
        Ok(SubmitOutcome::Accepted)
    }

    fn release_slot(&mut self, index: usize, worker: u64) {
        if matches!(self.slots[index], Slot::Assigned { worker: w } if w == worker) {
            self.slots[index] = Slot::Open;
        }
    }

    /// Adds every result that continues the summed prefix, in order.
    fn fold_prefix(&mut self) {
        while let Some(Some((gradient, stats))) = self.pending.get_mut(self.summed_prefix).map(Option::take) {
            match &mut self.sum {
                None => self.sum = Some(gradient),
                Some(sum) => sum
                    .add_assign(&gradient)
                    .expect("every accepted gradient was checked against the same layout"),
            }
            self.stats.add(&stats);
            self.summed_prefix += 1;
        }
    }

    /// Returns whether every micro-batch has been summed.
    pub fn is_complete(&self) -> bool {
        self.summed_prefix == self.slots.len()
    }

    /// Workers holding a micro-batch of this round.
    pub fn assigned_workers(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Assigned { worker } => Some(*worker),
                _ => None,
            })
            .collect()
    }

    /// Returns the summed gradient and stats, or `None` until [`Round::is_complete`].
    pub fn finish(self) -> Option<(Params, StatsSum)> {
        if self.is_complete() {
            self.sum.map(|sum| (sum, self.stats))
        } else {
            None
        }
    }

    /// Returns the phase of this round's step.
    pub fn phase(&self) -> Phase {
        self.plan.phase
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Tensor;
    use ndarray::IxDyn;

    fn plan(step: u64) -> StepPlan {
        StepPlan { step, phase: Phase::Discriminator, iteration: 0, batch_number: Some(0), epoch: 1 }
    }

    fn gradient(value: f32) -> Params {
        let mut p = Params::new();
        p.insert("discriminator.0.weight", Tensor::from_elem(IxDyn(&[2, 2]), value)).unwrap();
        p
    }

    fn layout() -> Vec<(String, Vec<usize>)> {
        vec![("discriminator.0.weight".to_string(), vec![2, 2])]
    }

    fn stats() -> StatsSum {
        StatsSum { rows: 5, d_loss_sum: 1.0, ..StatsSum::default() }
    }

    #[test]
    fn micro_batches_go_out_lowest_first() {
        let mut round = Round::new(plan(0), 20, 4, vec![]);
        let a = round.assign(7).unwrap();
        let b = round.assign(8).unwrap();
        assert_eq!((a.micro_batch, a.row_start, a.rows), (0, 0, 5));
        assert_eq!((b.micro_batch, b.row_start), (1, 5));
        assert_eq!(round.release_worker(7), 1);
        assert_eq!(round.assign(9).unwrap().micro_batch, 0, "released micro-batch is handed out again");
    }

    #[test]
    fn sum_follows_micro_batch_order() {
        // Values chosen so float addition order changes the result.
        let values = [1e8f32, 1.0, -1e8, 1.0];
        let expected = ((values[0] + values[1]) + values[2]) + values[3];
        let mut round = Round::new(plan(3), 4, 4, vec![]);
        for worker in 0..4 {
            round.assign(worker).unwrap();
        }
        let shape = layout();
        for index in [3usize, 1, 0, 2] {
            let outcome = round.submit(index as u64, 3, index as u32, gradient(values[index]), stats(), &shape);
            assert_eq!(outcome, Ok(SubmitOutcome::Accepted));
        }
        assert!(round.is_complete());
        let (sum, stats) = round.finish().unwrap();
        assert_eq!(sum.get("discriminator.0.weight").unwrap()[[0, 0]], expected);
        assert_eq!(stats.rows, 20);
    }

    #[test]
    fn repeat_and_other_step_are_stale() {
        let mut round = Round::new(plan(3), 4, 2, vec![]);
        round.assign(1).unwrap();
        let shape = layout();
        assert_eq!(round.submit(1, 3, 0, gradient(1.0), stats(), &shape), Ok(SubmitOutcome::Accepted));
        assert_eq!(round.submit(2, 3, 0, gradient(5.0), stats(), &shape), Ok(SubmitOutcome::Stale));
        assert_eq!(round.submit(1, 2, 1, gradient(5.0), stats(), &shape), Ok(SubmitOutcome::Stale));
        assert!(!round.is_complete());
    }

    #[test]
    fn non_finite_gradient_is_rejected_and_reopened() {
        let mut round = Round::new(plan(0), 4, 2, vec![]);
        round.assign(4).unwrap();
        let err = round.submit(4, 0, 0, gradient(f32::NAN), stats(), &layout()).unwrap_err();
        assert!(matches!(err, SubmitError::NonFinite { worker: 4, micro_batch: 0, .. }), "{err}");
        assert_eq!(round.assign(5).unwrap().micro_batch, 0);
    }

    #[test]
    fn wrong_layout_and_index_are_rejected() {
        let mut round = Round::new(plan(0), 4, 2, vec![]);
        let mut wrong = Params::new();
        wrong.insert("discriminator.0.weight", Tensor::zeros(IxDyn(&[3]))).unwrap();
        let err = round.submit(1, 0, 0, wrong, stats(), &layout()).unwrap_err();
        assert!(matches!(err, SubmitError::Layout { .. }), "{err}");
        let err = round.submit(1, 0, 9, gradient(0.0), stats(), &layout()).unwrap_err();
        assert_eq!(err, SubmitError::NoSuchMicroBatch { step: 0, micro_batch: 9, count: 2 });
    }
}
