//! The coordinator: runs Algorithm 1 over global steps, owns membership,
//! sums micro-batch gradients in a fixed order, and sends each shard its
//! part of the sum. It also owns the learning-rate and momentum schedules,
//! sample grids, checkpoints and the final evaluation.
//!
//! Plain logic: [`schedule`] (what each step does), [`round`] (one step's
//! micro-batches and the ordered sum), [`membership`], [`state`] (what the
//! service and the driver share). Around it: [`service`] (the tonic
//! adapter), [`setup`] and [`driver`] (the run), [`checkpoint`],
//! [`metrics`] and [`outputs`] (files in the run folder).

pub mod checkpoint;
pub mod driver;
pub mod job;
pub mod membership;
pub mod metrics;
pub mod outputs;
pub mod round;
pub mod router;
pub mod schedule;
pub mod service;
pub mod setup;
pub mod state;

use std::path::PathBuf;

use thiserror::Error;

pub use driver::{Driver, RunSummary};
pub use service::serve;
pub use setup::{prepare, CoordinatorOptions};
pub use state::Coordinator;

/// The error that stopped a run.
#[derive(Debug, Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    #[error(transparent)]
    Router(#[from] router::RouterError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("cannot resume: {0}; resume with the settings the run was started with")]
    Mismatch(String),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error("a background task failed: {0}")]
    Task(String),
}
