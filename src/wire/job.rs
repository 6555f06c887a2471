//! Conversions of the coordinator's messages: the job, tasks, step stats
//! and submit headers. Malformed input becomes a [`WireError`].

use std::time::Duration;

use super::error::WireError;
use super::pb;
use crate::coordinator::job::{JobInfo, JobSpec};
use crate::coordinator::round::{StatsSum, TaskSpec};
use crate::data::NoiseKind;
use crate::nn::{GeneratorLoss, Phase};

fn phase_from_wire(code: i32) -> Result<Phase, WireError> {
    u32::try_from(code).ok().and_then(Phase::from_code).ok_or(WireError::UnknownPhase { code })
}

fn usize_field(field: &'static str, value: u32) -> Result<usize, WireError> {
    if value == 0 {
        return Err(WireError::InvalidValue { field, value: value.to_string(), reason: "must be at least 1" });
    }
    Ok(value as usize)
}

impl From<&JobSpec> for pb::JobSpec {
    fn from(job: &JobSpec) -> Self {
        pb::JobSpec {
            seed: job.seed,
            noise_dim: job.noise_dim as u32,
            generator_hidden: job.generator_hidden.iter().map(|&w| w as u32).collect(),
            data_dim: job.data_dim as u32,
            maxout_units: job.maxout_units as u32,
            maxout_pieces: job.maxout_pieces as u32,
            maxout_layers: job.maxout_layers as u32,
            generator_loss: match job.generator_loss {
                GeneratorLoss::NonSaturating => pb::GeneratorLoss::NonSaturating,
                GeneratorLoss::Minimax => pb::GeneratorLoss::Minimax,
            } as i32,
            noise: match job.noise {
                NoiseKind::Uniform => pb::NoiseKind::Uniform,
                NoiseKind::Gaussian => pb::NoiseKind::Gaussian,
            } as i32,
            train_images: job.train_images as u32,
            batch: job.batch as u32,
            micro_batches: job.micro_batches,
            train_fingerprint: job.train_fingerprint,
        }
    }
}

impl TryFrom<pb::JobSpec> for JobSpec {
    type Error = WireError;

    fn try_from(job: pb::JobSpec) -> Result<Self, WireError> {
        let generator_loss = match pb::GeneratorLoss::try_from(job.generator_loss) {
            Ok(pb::GeneratorLoss::NonSaturating) => GeneratorLoss::NonSaturating,
            Ok(pb::GeneratorLoss::Minimax) => GeneratorLoss::Minimax,
            _ => {
                return Err(WireError::InvalidValue {
                    field: "JobSpec.generator_loss",
                    value: job.generator_loss.to_string(),
                    reason: "use 1 (non-saturating) or 2 (minimax)",
                })
            }
        };
        let noise = match pb::NoiseKind::try_from(job.noise) {
            Ok(pb::NoiseKind::Uniform) => NoiseKind::Uniform,
            Ok(pb::NoiseKind::Gaussian) => NoiseKind::Gaussian,
            _ => {
                return Err(WireError::InvalidValue {
                    field: "JobSpec.noise",
                    value: job.noise.to_string(),
                    reason: "use 1 (uniform) or 2 (gaussian)",
                })
            }
        };
        let batch = usize_field("JobSpec.batch", job.batch)?;
        let micro_batches = usize_field("JobSpec.micro_batches", job.micro_batches)?;
        if batch % micro_batches != 0 {
            return Err(WireError::InvalidValue {
                field: "JobSpec.micro_batches",
                value: micro_batches.to_string(),
                reason: "must divide the batch size",
            });
        }
        Ok(JobSpec {
            seed: job.seed,
            noise_dim: usize_field("JobSpec.noise_dim", job.noise_dim)?,
            generator_hidden: job
                .generator_hidden
                .iter()
                .map(|&w| usize_field("JobSpec.generator_hidden", w))
                .collect::<Result<_, _>>()?,
            data_dim: usize_field("JobSpec.data_dim", job.data_dim)?,
            maxout_units: usize_field("JobSpec.maxout_units", job.maxout_units)?,
            maxout_pieces: usize_field("JobSpec.maxout_pieces", job.maxout_pieces)?,
            maxout_layers: usize_field("JobSpec.maxout_layers", job.maxout_layers)?,
            generator_loss,
            noise,
            train_images: usize_field("JobSpec.train_images", job.train_images)?,
            batch,
            micro_batches: job.micro_batches,
            train_fingerprint: job.train_fingerprint,
        })
    }
}

impl From<&JobInfo> for pb::JoinResponse {
    fn from(info: &JobInfo) -> Self {
        pb::JoinResponse {
            worker_id: 0,
            job: Some((&info.spec).into()),
            shards: info
                .shard_locations
                .iter()
                .map(|(shard, address)| pb::ShardLocation { shard: shard.clone(), address: address.clone() })
                .collect(),
            heartbeat_interval_ms: info.heartbeat_interval.as_millis() as u64,
        }
    }
}

/// Converts a join response into the worker id and the job.
pub fn join_from_wire(response: pb::JoinResponse) -> Result<(u64, JobInfo), WireError> {
    let job = response.job.ok_or(WireError::MissingField { message: "JoinResponse", field: "job" })?;
    let info = JobInfo {
        spec: job.try_into()?,
        shard_locations: response.shards.into_iter().map(|s| (s.shard, s.address)).collect(),
        heartbeat_interval: Duration::from_millis(response.heartbeat_interval_ms.max(1)),
    };
    Ok((response.worker_id, info))
}

impl From<&TaskSpec> for pb::Task {
    fn from(task: &TaskSpec) -> Self {
        pb::Task {
            key: Some(pb::UpdateKey { step: task.step, phase: task.phase.code() as i32 }),
            micro_batch: task.micro_batch,
            batch_number: task.batch_number,
            row_start: task.row_start,
            rows: task.rows,
            loss_scale: task.loss_scale,
            shards: task
                .shard_versions
                .iter()
                .map(|(shard, version)| pb::ShardVersion { shard: shard.clone(), version: *version })
                .collect(),
        }
    }
}

impl TryFrom<pb::Task> for TaskSpec {
    type Error = WireError;

    fn try_from(task: pb::Task) -> Result<Self, WireError> {
        let key = task.key.ok_or(WireError::MissingField { message: "Task", field: "key" })?;
        let phase = phase_from_wire(key.phase)?;
        if phase != Phase::Generator && task.batch_number.is_none() {
            return Err(WireError::MissingField { message: "Task", field: "batch_number" });
        }
        if task.rows == 0 || !(task.loss_scale.is_finite() && task.loss_scale > 0.0) {
            return Err(WireError::InvalidValue {
                field: "Task.rows/loss_scale",
                value: format!("{}/{}", task.rows, task.loss_scale),
                reason: "rows must be at least 1 and loss_scale positive",
            });
        }
        Ok(TaskSpec {
            step: key.step,
            phase,
            batch_number: task.batch_number,
            micro_batch: task.micro_batch,
            row_start: task.row_start,
            rows: task.rows,
            loss_scale: task.loss_scale,
            shard_versions: task.shards.into_iter().map(|s| (s.shard, s.version)).collect(),
        })
    }
}

impl From<&StatsSum> for pb::StepStats {
    fn from(stats: &StatsSum) -> Self {
        pb::StepStats {
            rows: stats.rows as u32,
            d_loss_sum: stats.d_loss_sum,
            g_loss_sum: stats.g_loss_sum,
            d_real_sum: stats.d_real_sum,
            d_fake_sum: stats.d_fake_sum,
        }
    }
}

impl From<pb::StepStats> for StatsSum {
    fn from(stats: pb::StepStats) -> Self {
        StatsSum {
            rows: u64::from(stats.rows),
            d_loss_sum: stats.d_loss_sum,
            g_loss_sum: stats.g_loss_sum,
            d_real_sum: stats.d_real_sum,
            d_fake_sum: stats.d_fake_sum,
        }
    }
}

/// A submit stream's header as domain values.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmitHeader {
    pub worker_id: u64,
    pub step: u64,
    pub phase: Phase,
    pub micro_batch: u32,
    pub stats: StatsSum,
}

impl TryFrom<pb::SubmitHeader> for SubmitHeader {
    type Error = WireError;

    fn try_from(header: pb::SubmitHeader) -> Result<Self, WireError> {
        let key = header.key.ok_or(WireError::MissingField { message: "SubmitHeader", field: "key" })?;
        let stats = header.stats.ok_or(WireError::MissingField { message: "SubmitHeader", field: "stats" })?;
        Ok(SubmitHeader {
            worker_id: header.worker_id,
            step: key.step,
            phase: phase_from_wire(key.phase)?,
            micro_batch: header.micro_batch,
            stats: stats.into(),
        })
    }
}

impl From<&SubmitHeader> for pb::SubmitHeader {
    fn from(header: &SubmitHeader) -> Self {
        pb::SubmitHeader {
            worker_id: header.worker_id,
            key: Some(pb::UpdateKey { step: header.step, phase: header.phase.code() as i32 }),
            micro_batch: header.micro_batch,
            stats: Some((&header.stats).into()),
        }
    }
}
