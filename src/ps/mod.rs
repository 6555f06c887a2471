//! The parameter server: shards of the generator's and the discriminator's
//! parameters with their optimizer state, served by version and updated
//! exactly once per (step, phase) key.
//!
//! [`ShardStore`] is the plain logic, callable without a network.
//! [`PsService`] is the thin tonic adapter over it, [`serve`] runs it with
//! the standard gRPC health service, and [`PsClient`] is what the
//! coordinator and the workers use to talk to it.

mod applied;
mod client;
mod filter;
mod server;
mod service;
mod store;

#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod wire_tests;

pub use applied::{AppliedKeys, KeyStatus, UpdateKey, DEFAULT_APPLIED_KEY_WINDOW};
pub use client::{ClientError, ConnectRetry, PsClient, ShardList};
pub use filter::{shard_of, validate_shard_name, InvalidShardName, ShardFilter, NETWORKS};
pub use server::serve;
pub use service::PsService;
pub use store::{ApplyOutcome, PullOutcome, ShardInfo, ShardSnapshot, ShardStore, StoreError};
