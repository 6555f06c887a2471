//! Optimizers that apply an aggregated gradient on the parameter server.
//!
//! Optimizer state is a plain [`Params`] so a shard can hold, send and
//! checkpoint it like parameters. State tensors are named after their
//! parameter with a suffix joined by `_` (`generator.0.weight_velocity`),
//! so the layer name (everything before the last `.`) stays the shard.
//!
//! [`apply`] checks the gradient and the state against the parameters
//! before it changes anything, so a rejected update leaves all three as
//! they were.

mod adam;
mod momentum;
mod schedule;

pub use schedule::Schedule;

use serde::{Deserialize, Serialize};

use super::params::Params;
use super::NnError;

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Classic momentum: `v = mu v - lr g; theta += v`.
    Momentum,
    /// Adam (Kingma and Ba, 2015) with bias correction. `Hyper::momentum`
    /// is unused; `beta1` plays its part.
    Adam {
        beta1: f32,
        beta2: f32,
        epsilon: f32,
    },
}

impl OptimizerKind {
    /// Adam with the published defaults: beta1 0.9, beta2 0.999, epsilon 1e-8.
    pub fn adam() -> Self {
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }

    /// Checks that the Adam coefficients are usable.
    pub fn validate(&self) -> Result<(), NnError> {
        if let OptimizerKind::Adam {
            beta1,
            beta2,
            epsilon,
        } = *self
        {
            unit_interval("adam beta1", beta1)?;
            unit_interval("adam beta2", beta2)?;
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return Err(invalid(
                    "adam epsilon",
                    epsilon,
                    "must be finite and positive, e.g. 1e-8",
                ));
            }
        }
        Ok(())
    }
}

/// The per-update settings, usually taken from a [`Schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Step size. The MNIST schedule starts at 0.1.
    pub learning_rate: f32,
    /// Momentum coefficient mu in `[0, 1)`, used by `Momentum` only.
    pub momentum: f32,
}

/// Fresh optimizer state for `params`: zeros, including Adam's step count.
pub fn init_state(kind: &OptimizerKind, params: &Params) -> Params {
    let mut state = Params::new();
    for (name, tensor) in params.iter() {
        for (state_name, shape) in state_layout(kind, name, tensor.shape()) {
            state
                .insert(state_name, super::Tensor::zeros(shape))
                .expect("parameter names are unique, so suffixed state names are too");
        }
    }
    state
}

/// Applies `grads` to `params` and advances `state`. `grads` must have the
/// layout of `params`, and `state` the layout [`init_state`] gives; all
/// gradient values must be finite.
pub fn apply(
    kind: &OptimizerKind,
    params: &mut Params,
    grads: &Params,
    state: &mut Params,
    hyper: &Hyper,
) -> Result<(), NnError> {
    kind.validate()?;
    validate_hyper(kind, hyper)?;
    params.check_same_layout(grads)?;
    if let Some(name) = grads.first_non_finite() {
        return Err(NnError::NonFinite {
            name: name.to_string(),
        });
    }
    check_state(kind, params, state)?;

    match *kind {
        OptimizerKind::Momentum => momentum::apply(params, grads, state, hyper),
        OptimizerKind::Adam {
            beta1,
            beta2,
            epsilon,
        } => adam::apply(
            params,
            grads,
            state,
            hyper,
            adam::Coefficients {
                beta1,
                beta2,
                epsilon,
            },
        ),
    }
}

/// Lists the state tensors of one parameter, with their shapes.
fn state_layout(kind: &OptimizerKind, name: &str, shape: &[usize]) -> Vec<(String, Vec<usize>)> {
    match kind {
        OptimizerKind::Momentum => vec![(momentum::velocity_name(name), shape.to_vec())],
        OptimizerKind::Adam { .. } => vec![
            (adam::first_moment_name(name), shape.to_vec()),
            (adam::second_moment_name(name), shape.to_vec()),
            (adam::step_name(name), vec![1]),
        ],
    }
}

fn check_state(kind: &OptimizerKind, params: &Params, state: &Params) -> Result<(), NnError> {
    let mut expected = 0;
    for (name, tensor) in params.iter() {
        for (state_name, shape) in state_layout(kind, name, tensor.shape()) {
            let found = state.require(&state_name)?;
            if found.shape() != shape.as_slice() {
                return Err(super::shape_error(
                    "optimizer state",
                    &state_name,
                    &shape,
                    found.shape(),
                ));
            }
            expected += 1;
        }
    }
    if state.len() != expected {
        return Err(NnError::LayoutMismatch {
            detail: format!(
                "optimizer state has {} tensors, expected {expected} for {kind:?}; rebuild it with init_state",
                state.len()
            ),
        });
    }
    Ok(())
}

fn validate_hyper(kind: &OptimizerKind, hyper: &Hyper) -> Result<(), NnError> {
    if !(hyper.learning_rate.is_finite() && hyper.learning_rate >= 0.0) {
        return Err(invalid(
            "learning_rate",
            hyper.learning_rate,
            "must be finite and not negative",
        ));
    }
    if *kind == OptimizerKind::Momentum {
        unit_interval("momentum", hyper.momentum)?;
    }
    Ok(())
}

fn unit_interval(name: &str, value: f32) -> Result<(), NnError> {
    if !(0.0..1.0).contains(&value) {
        return Err(invalid(name, value, "must be in [0, 1)"));
    }
    Ok(())
}

fn invalid(name: &str, value: f32, reason: &str) -> NnError {
    NnError::InvalidSetting {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
