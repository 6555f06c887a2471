//! One micro-batch's gradient: gather the real rows, draw the noise, run
//! the networks forward and backward.
//!
//! Everything random is drawn from streams keyed by (seed, step, phase,
//! micro-batch), and the rows come from the seeded batch plan, so any
//! worker computes the same bits for the same task.

use ndarray::Array2;

use crate::coordinator::job::JobSpec;
use crate::coordinator::round::{StatsSum, TaskSpec};
use crate::data::{gather_rows, sample_noise, BatchPlan};
use crate::nn::{compute_gradients, GanSpec, MicroBatch, MicroBatchKey, NnError, Params, Purpose, StreamKey};

/// Failure to compute a task.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("task rows {start}..{end} are outside the batch of {batch}")]
    RowsOutOfRange { start: usize, end: usize, batch: usize },
    #[error(transparent)]
    Nn(#[from] NnError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// The training images and the batch plan of a job.
pub struct TrainingData {
    /// `(train_images, data_dim)`.
    pub images: Array2<f32>,
    pub plan: BatchPlan,
}

/// Computes `task`'s gradient on parameters `g` and `d`. The result lists
/// the generator's gradient tensors, then the discriminator's, as the
/// phase produces them.
pub fn compute_task(
    job: &JobSpec,
    spec: &GanSpec,
    data: &TrainingData,
    g: &Params,
    d: &Params,
    task: &TaskSpec,
) -> Result<(Params, StatsSum), ComputeError> {
    let start = task.row_start as usize;
    let end = start + task.rows as usize;
    if end > job.batch {
        return Err(ComputeError::RowsOutOfRange { start, end, batch: job.batch });
    }

    let real = match task.batch_number {
        Some(number) => {
            let (_, indices) = data.plan.batch_indices(number);
            Some(gather_rows(data.images.view(), &indices[start..end])?)
        }
        None => None,
    };
    let noise_key = StreamKey {
        seed: job.seed,
        step: task.step,
        phase: task.phase.code(),
        micro_batch: task.micro_batch,
        purpose: Purpose::Noise,
    };
    let z = sample_noise(job.noise, task.rows as usize, job.noise_dim, noise_key);

    let batch = MicroBatch {
        real: real.as_ref().map(|r| r.view()),
        z: z.view(),
        key: MicroBatchKey { seed: job.seed, step: task.step, phase: task.phase, micro_batch: task.micro_batch },
        loss_scale: task.loss_scale,
    };
    let gradients = compute_gradients(spec, g, d, &batch)?;

    let mut combined = Params::new();
    for part in [gradients.generator, gradients.discriminator].into_iter().flatten() {
        for (name, tensor) in part.into_entries() {
            combined.insert(name, tensor)?;
        }
    }
    let s = gradients.stats;
    let stats = StatsSum {
        rows: s.rows as u64,
        d_loss_sum: s.d_loss_sum,
        g_loss_sum: s.g_loss_sum,
        d_real_sum: s.d_real_sum,
        d_fake_sum: s.d_fake_sum,
    };
    Ok((combined, stats))
}
