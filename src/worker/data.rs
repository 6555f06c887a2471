//! Loading a worker's training images for a job and checking they are the
//! coordinator's: same count, same pixels per image, same fingerprint.

use std::path::Path;

use super::compute::TrainingData;
use crate::coordinator::job::{fingerprint, JobSpec};
use crate::data::{BatchPlan, DataError, Dataset, SplitSpec};

/// Mismatch or read failure of the worker's data for a job.
#[derive(Debug, thiserror::Error)]
pub enum JobDataError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(
        "training images in {dir} differ from the coordinator's ({what}); give every worker the same data folder contents"
    )]
    Mismatch { dir: String, what: String },
}

/// Loads the job's training images from `dir` and its batch plan.
pub fn load_for_job(dir: &Path, job: &JobSpec) -> Result<TrainingData, super::WorkerError> {
    let split = SplitSpec { train_count: Some(job.train_images), validation_count: 0, test_count: Some(0) };
    let dataset = Dataset::load(dir, &split).map_err(JobDataError::from)?;
    let images = dataset.train;
    let mismatch = |what: String| JobDataError::Mismatch { dir: dir.display().to_string(), what };
    if images.ncols() != job.data_dim {
        return Err(mismatch(format!("{} pixels per image, the job has {}", images.ncols(), job.data_dim)).into());
    }
    let local = fingerprint(images.as_slice().unwrap_or(&[]));
    if local != job.train_fingerprint {
        return Err(mismatch(format!("fingerprint {local:016x}, the job has {:016x}", job.train_fingerprint)).into());
    }
    let plan = BatchPlan::new(job.seed, job.train_images, job.batch).map_err(JobDataError::from)?;
    Ok(TrainingData { images, plan })
}
