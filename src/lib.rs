//! distgan: a distributed trainer for Generative Adversarial Networks.
//!
//! Layout:
//! - `nn`: layers, the generator and discriminator, losses, initialisers,
//!   optimizers and the portable seeded RNG. Pure numerics.
//! - `data`: the IDX reader, dataset splits, seeded minibatch order, noise.
//! - `eval`: Parzen-window log-likelihood and PNG sample grids.
//! - `wire`: the generated protobuf code, streamed tensor chunks, and the
//!   one conversion from wire messages to domain types.
//! - `ps`: the parameter server: the shard store, its gRPC service and the
//!   client the coordinator and workers use.
//! - `coordinator`: the step schedule, membership, ordered gradient sums,
//!   checkpoints, metrics and the run driver, with its gRPC service.
//! - `worker`: joins a job and computes micro-batch gradients.
//! - `config`, `cli`, `commands`, `launch`: validated settings, the command
//!   line, the subcommands, and `distgan train`'s one-process launcher.

// Links OpenBLAS into every binary that uses the library.
extern crate blas_src;

pub mod data;
pub mod eval;
pub mod nn;
pub mod ps;
pub mod wire;
pub mod cli;
pub mod commands;
pub mod config;
pub mod coordinator;
pub mod launch;
pub mod tuning;
pub mod worker;
