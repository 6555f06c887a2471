//! The worker's parameter cache, keyed by (shard, version).
//!
//! A task names the version of every shard it must be computed on. Shards
//! whose cached version matches are not fetched again; the others are
//! pulled with the cached version, so an unchanged shard costs one small
//! response. The networks are kept whole (`g`, `d`) and pulled tensors
//! replace theirs in place, so computing a task needs no assembly copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::nn::Params;
use crate::ps::{ClientError, PsClient, PullOutcome};

/// Failure to bring a task's parameters into the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("no parameter server address for shard `{shard}`")]
    NoServer { shard: String },
    #[error("pulling shard `{shard}`: {source}")]
    Pull { shard: String, source: ClientError },
    #[error("pulled shard `{shard}` has tensor `{tensor}`, which belongs to neither network")]
    ForeignTensor { shard: String, tensor: String },
}

/// Result of bringing the cache to a task's versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Every shard is at the requested version.
    Ready,
    /// A shard is past the requested version: the task's step is over.
    Stale,
}

/// The generator's and discriminator's parameters with shard versions.
pub struct ParamCache {
    clients: BTreeMap<String, PsClient>,
    versions: BTreeMap<String, u64>,
    pub g: Arc<Params>,
    pub d: Arc<Params>,
    /// Shards fetched so far (for logs and tests).
    pub pulls: u64,
}

impl ParamCache {
    /// Creates an empty cache that reaches each shard through `clients` (shard -> client).
    pub fn new(clients: BTreeMap<String, PsClient>) -> Self {
        ParamCache { clients, versions: BTreeMap::new(), g: Arc::new(Params::new()), d: Arc::new(Params::new()), pulls: 0 }
    }

    /// Brings every shard in `wanted` (shard, version) to that version.
    pub async fn ensure(&mut self, wanted: &[(String, u64)]) -> Result<Freshness, CacheError> {
        for (shard, version) in wanted {
            let have = self.versions.get(shard).copied();
            if have == Some(*version) {
                continue;
            }
            let client = self.clients.get(shard).ok_or_else(|| CacheError::NoServer { shard: shard.clone() })?;
            let outcome = client
                .pull(shard, have)
                .await
                .map_err(|source| CacheError::Pull { shard: shard.clone(), source })?;
            let (got, params) = match outcome {
                PullOutcome::Unchanged { version } => (version, None),
                PullOutcome::Changed { version, params } => (version, Some(params)),
            };
            if let Some(params) = params {
                self.store(shard, &params)?;
                self.pulls += 1;
            }
            self.versions.insert(shard.clone(), got);
            if got != *version {
                return Ok(Freshness::Stale);
            }
        }
        Ok(Freshness::Ready)
    }

    fn store(&mut self, shard: &str, params: &Params) -> Result<(), CacheError> {
        for (name, tensor) in params.iter() {
            let network = if name.starts_with("generator.") {
                Arc::make_mut(&mut self.g)
            } else if name.starts_with("discriminator.") {
                Arc::make_mut(&mut self.d)
            } else {
                return Err(CacheError::ForeignTensor { shard: shard.to_string(), tensor: name.to_string() });
            };
            match network.get_mut(name) {
                Some(slot) if slot.shape() == tensor.shape() => slot.assign(tensor),
                Some(slot) => *slot = tensor.clone(),
                None => network
                    .insert(name, tensor.clone())
                    .expect("get_mut found no tensor of this name, so the insert is unique"),
            }
        }
        Ok(())
    }
}
