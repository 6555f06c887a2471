//! Temporary stand-in for `crate::nn::optim` with the same signatures.
//!
//! The parameter server codes against the optimizer API of `nn::optim`;
//! until that module exists, this copy implements classic momentum so the
//! server can be built and tested. Replace every `optim_shim` path with
//! `crate::nn::optim` and delete this file once it lands.

use crate::nn::{NnError, Params};

/// Which update rule a shard uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// Classic momentum: v = mu v - lr g; theta += v.
    Momentum,
    /// Adam with its decay rates and denominator epsilon.
    Adam { beta1: f32, beta2: f32, epsilon: f32 },
}

/// Per-update hyperparameters, set by the coordinator's schedules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// Step size lr (dimensionless, > 0).
    pub learning_rate: f32,
    /// Momentum coefficient mu in [0, 1).
    pub momentum: f32,
}

/// Returns the zeroed optimizer state for `params`: one velocity tensor per
/// parameter, with the parameter's name and shape.
pub fn init_state(_kind: &OptimizerKind, params: &Params) -> Params {
    params.zeros_like()
}

/// Applies one update of `kind` to `params` from `grads`, advancing `state`.
///
/// `grads` and `state` must have the layout of `params`; nothing changes
/// when they do not.
pub fn apply(
    kind: &OptimizerKind,
    params: &mut Params,
    grads: &Params,
    state: &mut Params,
    hyper: &Hyper,
) -> Result<(), NnError> {
    if let OptimizerKind::Adam { .. } = kind {
        // NOTE: Adam arrives with `nn::optim`; this copy rejects it.
        return Err(NnError::InvalidSetting {
            name: "optimizer".into(),
            value: "adam".into(),
            reason: "not available in this build; use momentum".into(),
        });
    }
    params.check_same_layout(grads)?;
    params.check_same_layout(state)?;
    let (lr, mu) = (hyper.learning_rate, hyper.momentum);
    let velocities = state.iter_mut().map(|(_, v)| v);
    for (((_, theta), (_, g)), v) in params.iter_mut().zip(grads.iter()).zip(velocities) {
        // v = mu v - lr g; theta += v
        v.zip_mut_with(g, |v, &g| *v = mu * *v - lr * g);
        *theta += &*v;
    }
    Ok(())
}
