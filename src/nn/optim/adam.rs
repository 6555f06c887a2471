//! Adam (Kingma and Ba, 2015, Algorithm 1) with bias correction:
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `theta -= lr m_hat / (sqrt(v_hat) + eps)` with `m_hat = m / (1 - b1^t)`
//! and `v_hat = v / (1 - b2^t)`.
//!
//! The step count `t` is kept per parameter as a one-element f32 tensor.
//! It counts exactly up to 2^24 updates; beyond that it stops growing,
//! which changes nothing because both corrections are 1 in f32 by then.

use ndarray::Zip;

use super::Hyper;
use crate::nn::params::Params;
use crate::nn::NnError;

pub(super) struct Coefficients {
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
}

pub(super) fn first_moment_name(name: &str) -> String {
    format!("{name}_adam_m")
}

pub(super) fn second_moment_name(name: &str) -> String {
    format!("{name}_adam_v")
}

pub(super) fn step_name(name: &str) -> String {
    format!("{name}_adam_step")
}

/// Applies one update; the caller has checked every layout.
pub(super) fn apply(
    params: &mut Params,
    grads: &Params,
    state: &mut Params,
    hyper: &Hyper,
    c: Coefficients,
) -> Result<(), NnError> {
    check_steps(params, state)?;
    for (name, theta) in params.iter_mut() {
        let g = grads.require(name)?;
        let step = state.require_mut(&step_name(name))?;
        let t = step[[0]] + 1.0;
        step[[0]] = t;
        let bias1 = 1.0 - f64::from(c.beta1).powf(f64::from(t));
        let bias2 = 1.0 - f64::from(c.beta2).powf(f64::from(t));
        // theta -= lr m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)
        let step_size = (f64::from(hyper.learning_rate) / bias1) as f32;
        let v_scale = (1.0 / bias2) as f32;

        let (m, v) = state.require_pair_mut(&first_moment_name(name), &second_moment_name(name))?;
        Zip::from(theta)
            .and(m)
            .and(v)
            .and(g)
            .for_each(|theta, m, v, &g| {
                *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                *theta -= step_size * *m / ((*v * v_scale).sqrt() + c.epsilon);
            });
    }
    Ok(())
}

/// Rejects a step count that is not a non-negative whole number, before any
/// tensor changes.
fn check_steps(params: &Params, state: &Params) -> Result<(), NnError> {
    for (name, _) in params.iter() {
        let step_tensor = step_name(name);
        let t = state.require(&step_tensor)?[[0]];
        if !(t.is_finite() && t >= 0.0 && t.fract() == 0.0) {
            return Err(NnError::InvalidSetting {
                name: step_tensor,
                value: t.to_string(),
                reason: "an Adam step count must be a whole number >= 0; the state is corrupt, rebuild it with init_state"
                    .into(),
            });
        }
    }
    Ok(())
}
