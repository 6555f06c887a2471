//! The one place where wire messages become domain types and back.
//!
//! Conversions from the wire never trust a field: an absent message field,
//! an unknown enum code or an empty name is a [`WireError`].

use super::error::WireError;
use super::pb;
use crate::nn::Phase;
use crate::nn::optim::{Hyper, OptimizerKind};
use crate::ps::{AppliedKeys, ShardInfo, ShardSnapshot, UpdateKey};

/// The header of an apply stream: which shard, which update, and the
/// hyperparameters to apply it with.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyHeader {
    pub shard: String,
    pub key: UpdateKey,
    pub hyper: Hyper,
}

/// The first message of a pull stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullHeader {
    pub version: u64,
    /// True when the caller's version is current and no chunks follow.
    pub unchanged: bool,
}

/// Returns `value` unless it is absent.
pub(crate) fn required<T>(
    value: Option<T>,
    message: &'static str,
    field: &'static str,
) -> Result<T, WireError> {
    value.ok_or(WireError::MissingField { message, field })
}

/// Returns a shard name unless it is empty.
pub fn required_shard(shard: String, message: &'static str) -> Result<String, WireError> {
    if shard.is_empty() {
        return Err(WireError::MissingField { message, field: "shard" });
    }
    Ok(shard)
}

impl From<Phase> for pb::Phase {
    fn from(phase: Phase) -> pb::Phase {
        match phase {
            Phase::Discriminator => pb::Phase::Discriminator,
            Phase::Generator => pb::Phase::Generator,
            Phase::Joint => pb::Phase::Joint,
        }
    }
}

fn phase_from_wire(code: i32) -> Result<Phase, WireError> {
    u32::try_from(code).ok().and_then(Phase::from_code).ok_or(WireError::UnknownPhase { code })
}

impl From<UpdateKey> for pb::UpdateKey {
    fn from(key: UpdateKey) -> pb::UpdateKey {
        pb::UpdateKey { step: key.step, phase: pb::Phase::from(key.phase).into() }
    }
}

impl TryFrom<pb::UpdateKey> for UpdateKey {
    type Error = WireError;

    fn try_from(key: pb::UpdateKey) -> Result<UpdateKey, WireError> {
        Ok(UpdateKey { step: key.step, phase: phase_from_wire(key.phase)? })
    }
}

impl From<OptimizerKind> for pb::Optimizer {
    fn from(kind: OptimizerKind) -> pb::Optimizer {
        let kind = match kind {
            OptimizerKind::Momentum => pb::optimizer::Kind::Momentum(pb::MomentumOptimizer {}),
            OptimizerKind::Adam { beta1, beta2, epsilon } => {
                pb::optimizer::Kind::Adam(pb::AdamOptimizer { beta1, beta2, epsilon })
            }
        };
        pb::Optimizer { kind: Some(kind) }
    }
}

impl TryFrom<pb::Optimizer> for OptimizerKind {
    type Error = WireError;

    fn try_from(optimizer: pb::Optimizer) -> Result<OptimizerKind, WireError> {
        match required(optimizer.kind, "Optimizer", "kind")? {
            pb::optimizer::Kind::Momentum(_) => Ok(OptimizerKind::Momentum),
            pb::optimizer::Kind::Adam(adam) => {
                for (field, value) in [
                    ("adam.beta1", adam.beta1),
                    ("adam.beta2", adam.beta2),
                    ("adam.epsilon", adam.epsilon),
                ] {
                    if !value.is_finite() {
                        return Err(WireError::InvalidValue {
                            field,
                            value: value.to_string(),
                            reason: "it must be finite",
                        });
                    }
                }
                Ok(OptimizerKind::Adam {
                    beta1: adam.beta1,
                    beta2: adam.beta2,
                    epsilon: adam.epsilon,
                })
            }
        }
    }
}

impl From<&AppliedKeys> for pb::AppliedKeys {
    fn from(applied: &AppliedKeys) -> pb::AppliedKeys {
        let recent = applied
            .recent()
            .map(|(key, version)| pb::AppliedUpdate { key: Some(key.into()), version });
        pb::AppliedKeys {
            recent: recent.collect(),
            forgotten_up_to: applied.forgotten_up_to().map(Into::into),
        }
    }
}

impl TryFrom<pb::AppliedKeys> for AppliedKeys {
    type Error = WireError;

    fn try_from(applied: pb::AppliedKeys) -> Result<AppliedKeys, WireError> {
        let mut recent = Vec::with_capacity(applied.recent.len());
        for update in applied.recent {
            let key = UpdateKey::try_from(required(update.key, "AppliedUpdate", "key")?)?;
            recent.push((key, update.version));
        }
        let forgotten_up_to = applied.forgotten_up_to.map(UpdateKey::try_from).transpose()?;
        Ok(AppliedKeys::from_parts(recent, forgotten_up_to))
    }
}

impl From<&ShardSnapshot> for pb::ShardHeader {
    fn from(snapshot: &ShardSnapshot) -> pb::ShardHeader {
        pb::ShardHeader {
            shard: snapshot.shard.clone(),
            version: snapshot.version,
            optimizer: Some(snapshot.optimizer.into()),
            applied: Some((&snapshot.applied).into()),
        }
    }
}

/// Converts a shard header into a snapshot whose tensors are still empty.
pub(crate) fn snapshot_from_header(header: pb::ShardHeader) -> Result<ShardSnapshot, WireError> {
    let optimizer = required(header.optimizer, "ShardHeader", "optimizer")?;
    Ok(ShardSnapshot {
        shard: required_shard(header.shard, "ShardHeader")?,
        params: Default::default(),
        state: Default::default(),
        version: header.version,
        optimizer: optimizer.try_into()?,
        // An absent record means no key has been applied yet.
        applied: header.applied.map(AppliedKeys::try_from).transpose()?.unwrap_or_default(),
    })
}

impl From<ApplyHeader> for pb::ApplyHeader {
    fn from(header: ApplyHeader) -> pb::ApplyHeader {
        pb::ApplyHeader {
            shard: header.shard,
            key: Some(header.key.into()),
            learning_rate: header.hyper.learning_rate,
            momentum: header.hyper.momentum,
        }
    }
}

impl TryFrom<pb::ApplyHeader> for ApplyHeader {
    type Error = WireError;

    fn try_from(header: pb::ApplyHeader) -> Result<ApplyHeader, WireError> {
        let key = required(header.key, "ApplyHeader", "key")?;
        Ok(ApplyHeader {
            shard: required_shard(header.shard, "ApplyHeader")?,
            key: key.try_into()?,
            hyper: Hyper { learning_rate: header.learning_rate, momentum: header.momentum },
        })
    }
}

impl From<pb::PullHeader> for PullHeader {
    fn from(header: pb::PullHeader) -> PullHeader {
        PullHeader { version: header.version, unchanged: header.unchanged }
    }
}

impl From<ShardInfo> for pb::ShardDescription {
    fn from(info: ShardInfo) -> pb::ShardDescription {
        let tensors = info.tensors.into_iter().map(|(name, shape)| pb::TensorHeader {
            name,
            shape: shape.into_iter().map(|d| d as u64).collect(),
        });
        pb::ShardDescription {
            shard: info.shard,
            version: info.version,
            tensors: tensors.collect(),
        }
    }
}

impl TryFrom<pb::ShardDescription> for ShardInfo {
    type Error = WireError;

    fn try_from(description: pb::ShardDescription) -> Result<ShardInfo, WireError> {
        let mut tensors = Vec::with_capacity(description.tensors.len());
        for tensor in description.tensors {
            let shape: Result<Vec<usize>, _> =
                tensor.shape.iter().map(|&d| usize::try_from(d)).collect();
            let shape = shape.map_err(|_| WireError::InvalidValue {
                field: "ShardDescription.tensors.shape",
                value: format!("{:?}", tensor.shape),
                reason: "a dimension does not fit in this machine's usize",
            })?;
            tensors.push((tensor.name, shape));
        }
        Ok(ShardInfo {
            shard: required_shard(description.shard, "ShardDescription")?,
            version: description.version,
            tensors,
        })
    }
}
