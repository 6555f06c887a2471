//! The worker: joins a job, computes micro-batch gradients on its own copy
//! of the data with parameters pulled from the parameter servers, and
//! streams them to the coordinator. It never applies an update itself.
//!
//! [`compute_task`](compute::compute_task) is the plain logic; [`run`] is
//! the gRPC loop around it.

pub mod cache;
pub mod compute;
mod data;
mod run;

pub use run::{run, WorkerOptions, WorkerSummary};

use thiserror::Error;
use tonic::Status;

/// The error that stopped a worker.
#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("invalid coordinator address `{address}`: {reason}; use host:port such as 127.0.0.1:7071")]
    Address { address: String, reason: String },
    #[error("coordinator at {address} unreachable after {attempts} attempts: {reason}; check that it runs and the address is right")]
    Unreachable { address: String, attempts: u32, reason: String },
    #[error("parameter server at {address} unreachable: {reason}")]
    ParameterServer { address: String, reason: String },
    #[error("coordinator returned {}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    #[error("malformed message from the coordinator: {0}")]
    Wire(#[from] crate::wire::WireError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error(transparent)]
    Compute(#[from] compute::ComputeError),
    #[error(transparent)]
    Data(#[from] data::JobDataError),
    #[error("a background task failed: {0}")]
    Task(String),
}
