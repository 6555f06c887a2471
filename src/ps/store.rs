//! The shard store: the parameter server's plain logic, with no network.
//!
//! Each shard holds its parameters, its optimizer state, the optimizer
//! kind, a version that counts applied updates, and its applied keys. A
//! store starts empty; the coordinator fills it with [`ShardStore::load_shard`]
//! (at start and on resume from a checkpoint). Every operation is
//! synchronous and may take a few milliseconds on a 10 MB shard, so async
//! callers run it on a blocking thread.
//!
//! Each shard has its own mutex, so updates to different shards run in
//! parallel while a pull waits only for an update of the same shard.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use thiserror::Error;

use super::applied::{AppliedKeys, KeyStatus, UpdateKey, DEFAULT_APPLIED_KEY_WINDOW};
use super::filter::{shard_of, validate_shard_name, ShardFilter};
use crate::nn::optim::{self, Hyper, OptimizerKind};
use crate::nn::{NnError, Params};

/// Everything that defines a shard, as loaded and as exported for a
/// checkpoint. Loading an exported snapshot restores the shard exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardSnapshot {
    /// Shard name, such as `generator.0`.
    pub shard: String,
    /// The shard's tensors, each named `<shard>.<tensor>`.
    pub params: Params,
    /// Optimizer state with the layout `optim::init_state` gives.
    pub state: Params,
    /// Number of updates applied so far (or the checkpoint's count).
    pub version: u64,
    /// Update rule of this shard.
    pub optimizer: OptimizerKind,
    /// Keys already applied, for exactly-once updates across a restart.
    pub applied: AppliedKeys,
}

/// Result of [`ShardStore::pull`].
#[derive(Clone, Debug, PartialEq)]
pub enum PullOutcome {
    /// The caller already has `version`.
    Unchanged { version: u64 },
    /// The current parameters, shared without a copy.
    Changed { version: u64, params: Arc<Params> },
}

/// Result of [`ShardStore::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Shard version produced by this key.
    pub version: u64,
    /// False when the key had been applied before and nothing changed.
    pub applied: bool,
}

/// Name, version and tensor shapes of one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard: String,
    pub version: u64,
    /// (tensor name, shape) in parameter order.
    pub tensors: Vec<(String, Vec<usize>)>,
}

/// Why a store operation was rejected. The stored state is unchanged in
/// every case.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StoreError {
    #[error("shard `{shard}` is not served by this parameter server (it serves `{served}`); send it to the process that serves it")]
    NotServed { shard: String, served: String },
    #[error("shard `{shard}` has not been loaded on this parameter server (it serves `{served}`); load it first")]
    NotLoaded { shard: String, served: String },
    #[error(transparent)]
    InvalidShardName(#[from] super::filter::InvalidShardName),
    #[error("shard `{shard}` cannot hold tensor `{tensor}`: a shard holds only tensors named `{shard}.<name>`")]
    ForeignTensor { shard: String, tensor: String },
    #[error("shard `{shard}` was loaded without tensors; send at least one parameter tensor")]
    EmptyShard { shard: String },
    #[error("{what} of shard `{shard}` does not match its parameters: {source}")]
    Layout { shard: String, what: &'static str, source: Box<NnError> },
    #[error(
        "{what} tensor `{tensor}` of shard `{shard}` holds NaN or infinity; nothing was changed"
    )]
    NonFinite { shard: String, what: &'static str, tensor: String },
    #[error("invalid {name} = {value} for shard `{shard}`: {reason}")]
    InvalidHyper { shard: String, name: &'static str, value: f32, reason: &'static str },
    #[error("update {key} for shard `{shard}` is stale: keys up to {forgotten_up_to} are forgotten, so it may have been applied already")]
    StaleUpdate { shard: String, key: UpdateKey, forgotten_up_to: UpdateKey },
    #[error("optimizer failed on shard `{shard}`: {source}")]
    Optimizer { shard: String, source: Box<NnError> },
    #[error(
        "shard `{shard}` is unusable after an earlier update panicked; reload it from a checkpoint"
    )]
    Poisoned { shard: String },
}

struct Shard {
    params: Arc<Params>,
    state: Params,
    optimizer: OptimizerKind,
    version: u64,
    applied: AppliedKeys,
}

/// The shards of one parameter-server process.
pub struct ShardStore {
    filter: ShardFilter,
    applied_key_window: usize,
    shards: RwLock<BTreeMap<String, Arc<Mutex<Shard>>>>,
}

impl ShardStore {
    /// Creates an empty store serving the shards `filter` matches.
    pub fn new(filter: ShardFilter) -> Self {
        ShardStore {
            filter,
            applied_key_window: DEFAULT_APPLIED_KEY_WINDOW,
            shards: RwLock::new(BTreeMap::new()),
        }
    }

    /// Sets how many recent keys each shard remembers for exactly-once
    /// updates (at least 1). Default is [`DEFAULT_APPLIED_KEY_WINDOW`].
    pub fn with_applied_key_window(mut self, window: usize) -> Self {
        self.applied_key_window = window.max(1);
        self
    }

    /// The filter of shards this store serves.
    pub fn filter(&self) -> &ShardFilter {
        &self.filter
    }

    /// Installs or replaces a shard after validating its name, its tensors'
    /// names, the state's layout and that every value is finite. Returns the
    /// loaded version.
    pub fn load_shard(&self, snapshot: ShardSnapshot) -> Result<u64, StoreError> {
        let ShardSnapshot { shard: name, params, state, version, optimizer, applied } = snapshot;
        validate_shard_name(&name)?;
        self.check_served(&name)?;
        check_loadable(&name, &params, &state, &optimizer)?;

        let shard = Shard { params: Arc::new(params), state, optimizer, version, applied };
        let mut shards = self.shards.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        shards.insert(name, Arc::new(Mutex::new(shard)));
        Ok(version)
    }

    /// Returns the shard's parameters unless `have_version` is current.
    pub fn pull(&self, shard: &str, have_version: Option<u64>) -> Result<PullOutcome, StoreError> {
        self.with_shard(shard, |entry| {
            if have_version == Some(entry.version) {
                return Ok(PullOutcome::Unchanged { version: entry.version });
            }
            Ok(PullOutcome::Changed { version: entry.version, params: Arc::clone(&entry.params) })
        })
    }

    /// Applies `grads` to `shard` once for `key` and returns the new
    /// version. A key applied before returns the version it produced and
    /// changes nothing. Gradients with another layout or any NaN or
    /// infinity are rejected before anything changes.
    pub fn apply(
        &self,
        shard: &str,
        key: UpdateKey,
        grads: &Params,
        hyper: &Hyper,
    ) -> Result<ApplyOutcome, StoreError> {
        let window = self.applied_key_window;
        self.with_shard(shard, |entry| {
            match entry.applied.status(key) {
                KeyStatus::Applied { version } => {
                    return Ok(ApplyOutcome { version, applied: false })
                }
                KeyStatus::Stale { forgotten_up_to } => {
                    return Err(StoreError::StaleUpdate {
                        shard: shard.into(),
                        key,
                        forgotten_up_to,
                    })
                }
                KeyStatus::New => {}
            }

            check_hyper(shard, hyper)?;
            entry.params.check_same_layout(grads).map_err(|source| StoreError::Layout {
                shard: shard.into(),
                what: "gradient",
                source: Box::new(source),
            })?;
            if let Some(tensor) = grads.first_non_finite() {
                let tensor = tensor.to_string();
                return Err(StoreError::NonFinite {
                    shard: shard.into(),
                    what: "gradient",
                    tensor,
                });
            }

            // Copies the parameters only while a pull still streams the old ones.
            let params = Arc::make_mut(&mut entry.params);
            optim::apply(&entry.optimizer, params, grads, &mut entry.state, hyper).map_err(
                |source| StoreError::Optimizer { shard: shard.into(), source: Box::new(source) },
            )?;
            entry.version += 1;
            entry.applied.record(key, entry.version, window);
            Ok(ApplyOutcome { version: entry.version, applied: true })
        })
    }

    /// Copies everything needed to restore `shard` exactly.
    pub fn export(&self, shard: &str) -> Result<ShardSnapshot, StoreError> {
        self.with_shard(shard, |entry| {
            Ok(ShardSnapshot {
                shard: shard.to_string(),
                params: Params::clone(&entry.params),
                state: entry.state.clone(),
                version: entry.version,
                optimizer: entry.optimizer,
                applied: entry.applied.clone(),
            })
        })
    }

    /// Lists the loaded shards in name order. A shard whose lock was
    /// poisoned is left out.
    pub fn describe(&self) -> Vec<ShardInfo> {
        let shards: Vec<(String, Arc<Mutex<Shard>>)> = {
            let map = self.shards.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            map.iter().map(|(name, shard)| (name.clone(), Arc::clone(shard))).collect()
        };
        let describe_one = |(name, shard): (String, Arc<Mutex<Shard>>)| {
            let entry = shard.lock().ok()?;
            let tensors = entry.params.iter().map(|(n, t)| (n.to_string(), t.shape().to_vec()));
            Some(ShardInfo { shard: name, version: entry.version, tensors: tensors.collect() })
        };
        shards.into_iter().filter_map(describe_one).collect()
    }

    /// Checks that `shard` is served and loaded, without locking it.
    pub fn check_available(&self, shard: &str) -> Result<(), StoreError> {
        self.find(shard).map(|_| ())
    }

    fn check_served(&self, shard: &str) -> Result<(), StoreError> {
        if self.filter.serves(shard) {
            return Ok(());
        }
        Err(StoreError::NotServed { shard: shard.to_string(), served: self.filter.to_string() })
    }

    fn find(&self, shard: &str) -> Result<Arc<Mutex<Shard>>, StoreError> {
        self.check_served(shard)?;
        let shards = self.shards.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let not_loaded =
            || StoreError::NotLoaded { shard: shard.to_string(), served: self.filter.to_string() };
        shards.get(shard).cloned().ok_or_else(not_loaded)
    }

    /// Runs `operation` on the locked shard. The map lock is released first,
    /// so a long update never blocks other shards or a load.
    fn with_shard<T>(
        &self,
        shard: &str,
        operation: impl FnOnce(&mut Shard) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let entry = self.find(shard)?;
        let mut locked =
            entry.lock().map_err(|_| StoreError::Poisoned { shard: shard.to_string() })?;
        operation(&mut locked)
    }
}

fn check_loadable(
    shard: &str,
    params: &Params,
    state: &Params,
    optimizer: &OptimizerKind,
) -> Result<(), StoreError> {
    if params.is_empty() {
        return Err(StoreError::EmptyShard { shard: shard.to_string() });
    }
    if let Some((tensor, _)) = params.iter().find(|(name, _)| shard_of(name) != Some(shard)) {
        return Err(StoreError::ForeignTensor {
            shard: shard.to_string(),
            tensor: tensor.to_string(),
        });
    }
    let expected_state = optim::init_state(optimizer, params);
    expected_state.check_same_layout(state).map_err(|source| StoreError::Layout {
        shard: shard.to_string(),
        what: "optimizer state",
        source: Box::new(source),
    })?;
    for (what, tensors) in [("parameter", params), ("optimizer state", state)] {
        if let Some(tensor) = tensors.first_non_finite() {
            let tensor = tensor.to_string();
            return Err(StoreError::NonFinite { shard: shard.to_string(), what, tensor });
        }
    }
    Ok(())
}

fn check_hyper(shard: &str, hyper: &Hyper) -> Result<(), StoreError> {
    let invalid = |name, value, reason| StoreError::InvalidHyper {
        shard: shard.to_string(),
        name,
        value,
        reason,
    };
    let lr = hyper.learning_rate;
    if !(lr.is_finite() && lr > 0.0) {
        return Err(invalid("learning_rate", lr, "it must be finite and greater than 0"));
    }
    let mu = hyper.momentum;
    if !(mu.is_finite() && (0.0..1.0).contains(&mu)) {
        return Err(invalid("momentum", mu, "it must be in [0, 1)"));
    }
    Ok(())
}
