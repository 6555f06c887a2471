//! Routing of shards to the parameter servers that serve them.
//!
//! The coordinator connects to every parameter-server address it was
//! given, asks each which shards it serves, and routes every shard to the
//! first server that serves it. Shard-wide operations (apply, pull,
//! export, load) go through here.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use thiserror::Error;

use crate::nn::optim::Hyper;
use crate::nn::Params;
use crate::ps::{
    shard_of, ApplyOutcome, ClientError, ConnectRetry, PsClient, PullOutcome, ShardFilter, ShardSnapshot, UpdateKey,
};

/// A routing or parameter-server failure.
#[derive(Debug, Error)]
pub enum RouterError {
    #[error("no parameter server serves shard `{shard}`; start one with `--shards {shard}` or `--shards '*'`")]
    Unserved { shard: String },
    #[error("parameter server {address} reports an invalid shard filter `{served}`: {reason}")]
    BadFilter { address: String, served: String, reason: String },
    #[error("parameter server {address}: {source}")]
    Client { address: String, source: ClientError },
    #[error("tensor `{name}` belongs to no shard: tensor names have the form `<network>.<layer>.<tensor>`")]
    Unsharded { name: String },
}

/// Clients of every parameter server and the shard routing.
#[derive(Clone)]
pub struct ShardRouter {
    servers: Vec<(String, ShardFilter, PsClient)>,
    routes: BTreeMap<String, usize>,
}

/// Turns `host:port` into a URI tonic accepts; a URI is kept as given.
pub fn endpoint_uri(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    }
}

impl ShardRouter {
    /// Connects to every address and learns what each serves.
    pub async fn connect(addresses: &[String], retry: &ConnectRetry) -> Result<ShardRouter, RouterError> {
        let mut servers = Vec::new();
        for address in addresses {
            let client_error = |source| RouterError::Client { address: address.clone(), source };
            let client = PsClient::connect(endpoint_uri(address), retry).await.map_err(client_error)?;
            let list = client.describe().await.map_err(|source| RouterError::Client { address: address.clone(), source })?;
            let filter: ShardFilter = list.served.parse().map_err(|e: crate::ps::InvalidShardName| RouterError::BadFilter {
                address: address.clone(),
                served: list.served.clone(),
                reason: e.to_string(),
            })?;
            servers.push((address.clone(), filter, client));
        }
        Ok(ShardRouter { servers, routes: BTreeMap::new() })
    }

    /// Routes each of `shards` to the first server serving it.
    pub fn route(&mut self, shards: impl IntoIterator<Item = String>) -> Result<(), RouterError> {
        for shard in shards {
            let index = self
                .servers
                .iter()
                .position(|(_, filter, _)| filter.serves(&shard))
                .ok_or_else(|| RouterError::Unserved { shard: shard.clone() })?;
            self.routes.insert(shard, index);
        }
        Ok(())
    }

    /// Every routed shard with the address of its server, in name order.
    pub fn locations(&self) -> Vec<(String, String)> {
        self.routes.iter().map(|(shard, &i)| (shard.clone(), self.servers[i].0.clone())).collect()
    }

    /// Every routed shard, in name order.
    pub fn shards(&self) -> Vec<String> {
        self.routes.keys().cloned().collect()
    }

    fn client(&self, shard: &str) -> Result<(&str, &PsClient), RouterError> {
        let &index = self.routes.get(shard).ok_or_else(|| RouterError::Unserved { shard: shard.to_string() })?;
        let (address, _, client) = &self.servers[index];
        Ok((address, client))
    }

    fn wrap(&self, shard: &str) -> impl Fn(ClientError) -> RouterError + '_ {
        let address = self.client(shard).map(|(a, _)| a.to_string()).unwrap_or_default();
        move |source| RouterError::Client { address: address.clone(), source }
    }

    /// Loads every snapshot into its server; returns (shard, version).
    pub async fn load_all(&self, snapshots: Vec<ShardSnapshot>) -> Result<Vec<(String, u64)>, RouterError> {
        try_join_all(snapshots.into_iter().map(|snapshot| async move {
            let shard = snapshot.shard.clone();
            let (_, client) = self.client(&shard)?;
            let version = client.load_shard(snapshot).await.map_err(self.wrap(&shard))?;
            Ok((shard, version))
        }))
        .await
    }

    /// Applies the gradient tensors in `gradient`, each to its shard, for
    /// `key`, with `hyper_of(shard)`; returns (shard, outcome).
    pub async fn apply_all(
        &self,
        gradient: Params,
        key: UpdateKey,
        hyper_of: impl Fn(&str) -> Hyper,
    ) -> Result<Vec<(String, ApplyOutcome)>, RouterError> {
        let parts = split_by_shard(gradient)?;
        try_join_all(parts.into_iter().map(|(shard, part)| {
            let hyper = hyper_of(&shard);
            async move {
                let (_, client) = self.client(&shard)?;
                let outcome = client.apply(&shard, key, hyper, Arc::new(part)).await.map_err(self.wrap(&shard))?;
                Ok((shard, outcome))
            }
        }))
        .await
    }

    /// Pulls the current parameters of every shard whose name starts with
    /// `network`, concatenated in shard order.
    pub async fn pull_network(&self, network: &str) -> Result<Params, RouterError> {
        let shards: Vec<String> = self.routes.keys().filter(|s| s.starts_with(network)).cloned().collect();
        let pulled = try_join_all(shards.iter().map(|shard| async move {
            let (_, client) = self.client(shard)?;
            client.pull(shard, None).await.map_err(self.wrap(shard))
        }))
        .await?;
        let mut params = Params::new();
        for outcome in pulled {
            if let PullOutcome::Changed { params: part, .. } = outcome {
                for (name, tensor) in part.iter() {
                    params
                        .insert(name, tensor.clone())
                        .map_err(|_| RouterError::Unsharded { name: name.to_string() })?;
                }
            }
        }
        Ok(params)
    }

    /// Exports every routed shard, for a checkpoint.
    pub async fn export_all(&self) -> Result<Vec<ShardSnapshot>, RouterError> {
        try_join_all(self.routes.keys().map(|shard| async move {
            let (_, client) = self.client(shard)?;
            client.export(shard).await.map_err(self.wrap(shard))
        }))
        .await
    }
}

/// Splits a gradient into per-shard lists, keeping tensor order.
pub fn split_by_shard(params: Params) -> Result<Vec<(String, Params)>, RouterError> {
    let mut parts: Vec<(String, Params)> = Vec::new();
    for (name, tensor) in params.into_entries() {
        let shard = shard_of(&name).ok_or_else(|| RouterError::Unsharded { name: name.clone() })?.to_string();
        if parts.last().is_none_or(|(last, _)| *last != shard) {
            parts.push((shard.clone(), Params::new()));
        }
        let (_, part) = parts.last_mut().expect("a part for this shard was pushed just above");
        part.insert(name.clone(), tensor).map_err(|_| RouterError::Unsharded { name })?;
    }
    Ok(parts)
}
