//! Seeded minibatch order. Each epoch visits the training images in a
//! Fisher-Yates permutation drawn from the stream
//! `StreamKey { seed, step: epoch, purpose: Shuffle }`, and cuts it into
//! `train_len / batch_size` batches; the remainder of each epoch is
//! dropped so every batch has exactly `batch_size` images. A batch is named
//! by how many batches the run has consumed, so any worker can compute the
//! indices of any batch, or of a micro-batch's slice of it, on its own.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::nn::{Purpose, Rng, StreamKey};

use super::error::DataError;

/// The order in which a run visits the training images.
#[derive(Debug)]
pub struct BatchPlan {
    seed: u64,
    train_len: usize,
    batch_size: usize,
    /// The most recently used epoch and its order, so the many calls for
    /// one epoch's batches shuffle only once.
    cache: Mutex<Option<(u64, Arc<Vec<u32>>)>>,
}

impl Clone for BatchPlan {
    fn clone(&self) -> Self {
        BatchPlan { cache: Mutex::new(None), ..*self }
    }
}

impl BatchPlan {
    /// Plans batches of `batch_size` images over `train_len` training
    /// images. Rejects a zero batch size, a batch larger than the training
    /// set, and more than `u32::MAX` images.
    pub fn new(seed: u64, train_len: usize, batch_size: usize) -> Result<Self, DataError> {
        if batch_size == 0 || batch_size > train_len {
            return Err(DataError::InvalidSetting {
                name: "batch_size",
                value: batch_size.to_string(),
                reason: format!("must be between 1 and the {train_len} training images"),
            });
        }
        if u32::try_from(train_len).is_err() {
            return Err(DataError::InvalidSetting {
                name: "train_len",
                value: train_len.to_string(),
                reason: format!("image indices are 32-bit, so at most {} images", u32::MAX),
            });
        }
        Ok(BatchPlan { seed, train_len, batch_size, cache: Mutex::new(None) })
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of training images the plan draws from.
    pub fn train_len(&self) -> usize {
        self.train_len
    }

    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Complete batches per epoch, `train_len / batch_size` (at least 1).
    pub fn batches_per_epoch(&self) -> u64 {
        (self.train_len / self.batch_size) as u64
    }

    /// The permutation of `0..train_len` for `epoch` (counted from 0).
    pub fn epoch_order(&self, epoch: u64) -> Vec<u32> {
        self.cached_order(epoch).as_ref().clone()
    }

    /// The epoch (from 0) and the training-image indices of the batch
    /// `batch_number`, which counts batches consumed since the run began.
    pub fn batch_indices(&self, batch_number: u64) -> (u64, Vec<u32>) {
        let (epoch, start) = self.locate(batch_number);
        let order = self.cached_order(epoch);
        (epoch, order[start..start + self.batch_size].to_vec())
    }

    /// The indices of rows `range` of batch `batch_number`: a micro-batch's
    /// share of the batch. Returns the epoch too.
    pub fn rows(
        &self,
        batch_number: u64,
        range: Range<usize>,
    ) -> Result<(u64, Vec<u32>), DataError> {
        if range.start > range.end || range.end > self.batch_size {
            return Err(DataError::InvalidSetting {
                name: "row range",
                value: format!("{range:?}"),
                reason: format!("must lie within a batch of {} rows", self.batch_size),
            });
        }
        let (epoch, start) = self.locate(batch_number);
        let order = self.cached_order(epoch);
        Ok((epoch, order[start + range.start..start + range.end].to_vec()))
    }

    /// The epoch of a batch and the position of its first index in that
    /// epoch's order.
    fn locate(&self, batch_number: u64) -> (u64, usize) {
        let per_epoch = self.batches_per_epoch();
        let within = (batch_number % per_epoch) as usize;
        (batch_number / per_epoch, within * self.batch_size)
    }

    fn cached_order(&self, epoch: u64) -> Arc<Vec<u32>> {
        // A poisoned lock still holds a complete (epoch, order) pair or
        // None, because the pair is replaced in one assignment.
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached_epoch, order)) = cache.as_ref() {
            if *cached_epoch == epoch {
                return Arc::clone(order);
            }
        }
        let order = Arc::new(shuffled_order(self.seed, epoch, self.train_len));
        *cache = Some((epoch, Arc::clone(&order)));
        order
    }
}

/// Fisher-Yates permutation of `0..len` from the epoch's shuffle stream.
fn shuffled_order(seed: u64, epoch: u64, len: usize) -> Vec<u32> {
    let key = StreamKey { seed, step: epoch, phase: 0, micro_batch: 0, purpose: Purpose::Shuffle };
    let mut order: Vec<u32> = (0..len as u32).collect();
    Rng::new(key).shuffle(&mut order);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain Fisher-Yates written out, to check the plan uses exactly the
    /// documented stream and algorithm.
    fn reference_order(seed: u64, epoch: u64, len: usize) -> Vec<u32> {
        let key =
            StreamKey { seed, step: epoch, phase: 0, micro_batch: 0, purpose: Purpose::Shuffle };
        let mut rng = Rng::new(key);
        let mut order: Vec<u32> = (0..len as u32).collect();
        for i in (1..len).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        order
    }

    #[test]
    fn epoch_order_matches_reference() {
        let plan = BatchPlan::new(11, 103, 10).expect("valid plan");
        for epoch in [0, 1, 7] {
            assert_eq!(plan.epoch_order(epoch), reference_order(11, epoch, 103));
        }
        assert_ne!(plan.epoch_order(0), plan.epoch_order(1));
    }

    #[test]
    fn batches_walk_epochs_and_drop_remainder() {
        let plan = BatchPlan::new(3, 25, 10).expect("valid plan");
        assert_eq!(plan.batches_per_epoch(), 2);
        let epoch0 = reference_order(3, 0, 25);
        let epoch1 = reference_order(3, 1, 25);
        assert_eq!(plan.batch_indices(0), (0, epoch0[0..10].to_vec()));
        assert_eq!(plan.batch_indices(1), (0, epoch0[10..20].to_vec()));
        assert_eq!(plan.batch_indices(2), (1, epoch1[0..10].to_vec()));
        assert_eq!(plan.batch_indices(3), (1, epoch1[10..20].to_vec()));
        // Going back to an earlier epoch after the cache moved on.
        assert_eq!(plan.batch_indices(1), (0, epoch0[10..20].to_vec()));
    }

    #[test]
    fn rows_are_slices_of_the_batch() {
        let plan = BatchPlan::new(5, 100, 20).expect("valid plan");
        let (epoch, batch) = plan.batch_indices(13);
        assert_eq!(epoch, 2);
        let first = plan.rows(13, 0..8).expect("in range");
        let second = plan.rows(13, 8..20).expect("in range");
        assert_eq!(first, (2, batch[..8].to_vec()));
        assert_eq!(second, (2, batch[8..].to_vec()));
    }

    #[test]
    fn rows_reject_range_outside_batch() {
        let plan = BatchPlan::new(5, 100, 20).expect("valid plan");
        let err = plan.rows(0, 10..21).expect_err("past the batch");
        assert!(matches!(err, DataError::InvalidSetting { name: "row range", .. }), "{err}");
    }

    #[test]
    fn new_rejects_bad_batch_size() {
        for batch_size in [0, 11] {
            let err = BatchPlan::new(0, 10, batch_size).expect_err("invalid batch size");
            assert!(matches!(err, DataError::InvalidSetting { name: "batch_size", .. }), "{err}");
        }
    }

    #[test]
    fn clone_gives_same_batches() {
        let plan = BatchPlan::new(9, 50, 7).expect("valid plan");
        let copy = plan.clone();
        assert_eq!(plan.batch_indices(12), copy.batch_indices(12));
    }
}
