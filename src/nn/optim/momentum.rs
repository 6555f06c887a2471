//! Classic momentum SGD, as in the MNIST setup of Goodfellow et al. (2014):
//! `v = mu v - lr g; theta += v`.

use ndarray::Zip;

use super::Hyper;
use crate::nn::params::Params;
use crate::nn::NnError;

/// Name of the velocity tensor of parameter `name`.
pub(super) fn velocity_name(name: &str) -> String {
    format!("{name}_velocity")
}

/// Applies one update; the caller has checked every layout.
pub(super) fn apply(
    params: &mut Params,
    grads: &Params,
    state: &mut Params,
    hyper: &Hyper,
) -> Result<(), NnError> {
    let (lr, mu) = (hyper.learning_rate, hyper.momentum);
    for (name, theta) in params.iter_mut() {
        let g = grads.require(name)?;
        let v = state.require_mut(&velocity_name(name))?;
        Zip::from(theta).and(v).and(g).for_each(|theta, v, &g| {
            *v = mu * *v - lr * g;
            *theta += *v;
        });
    }
    Ok(())
}
