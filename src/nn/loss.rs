//! The GAN losses, computed on D's logits and never on probabilities.
//!
//! Binary cross-entropy with a logit `l` is `softplus(-l)` for a real
//! target and `softplus(l)` for a fake one, where
//! `softplus(x) = max(x, 0) + ln(1 + exp(-|x|))` stays finite for every
//! finite `x`. Its derivative is `sigmoid(x)`.
//!
//! - D loss per row: `0.5 (softplus(-l_real) + softplus(l_fake))`.
//! - G loss per row, non-saturating: `softplus(-l_fake)`, i.e. `-log D(G(z))`.
//! - G loss per row, minimax: `-softplus(l_fake)`, i.e. `log(1 - D(G(z)))`.
//!
//! Loss sums are returned in f64 for reporting. Logit gradients are
//! multiplied by `loss_scale`, so backpropagating them yields
//! `loss_scale * sum over rows` of the per-row gradients.

use ndarray::{Array2, ArrayView2};

use super::sigmoid::{sigmoid, sigmoid_f64};
use super::spec::GeneratorLoss;

/// `ln(1 + exp(x))` without overflow, in f64.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The label a logit is scored against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Training data, label 1: loss `softplus(-l)`.
    Real,
    /// Generated data, label 0: loss `softplus(l)`.
    Fake,
}

/// Binary cross-entropy of one logit and its derivative with respect to
/// the logit.
pub fn bce_with_logits(logit: f32, target: Target) -> (f64, f32) {
    let l = f64::from(logit);
    match target {
        // d/dl softplus(-l) = -sigmoid(-l)
        Target::Real => (softplus(-l), -sigmoid(-logit)),
        // d/dl softplus(l) = sigmoid(l)
        Target::Fake => (softplus(l), sigmoid(logit)),
    }
}

/// Loss sum over rows and the scaled logit gradient `(rows, 1)`.
#[derive(Clone, Debug)]
pub struct LogitLoss {
    pub loss_sum: f64,
    pub dlogits: Array2<f32>,
}

/// Computes one half of the D loss, `0.5 * BCE(l, target)`, for logits
/// `(rows, 1)`.
pub fn discriminator_half(logits: ArrayView2<f32>, target: Target, loss_scale: f32) -> LogitLoss {
    let mut loss_sum = 0.0;
    let dlogits = logits.mapv(|l| {
        let (loss, grad) = bce_with_logits(l, target);
        loss_sum += 0.5 * loss;
        0.5 * grad * loss_scale
    });
    LogitLoss { loss_sum, dlogits }
}

/// Computes the G loss of `kind` for fake logits `(rows, 1)`.
pub fn generator(logits: ArrayView2<f32>, kind: GeneratorLoss, loss_scale: f32) -> LogitLoss {
    let mut loss_sum = 0.0;
    let dlogits = logits.mapv(|l| {
        let (loss, grad) = match kind {
            GeneratorLoss::NonSaturating => bce_with_logits(l, Target::Real),
            GeneratorLoss::Minimax => {
                let (loss, grad) = bce_with_logits(l, Target::Fake);
                (-loss, -grad)
            }
        };
        loss_sum += loss;
        grad * loss_scale
    });
    LogitLoss { loss_sum, dlogits }
}

/// Sums `sigmoid(l)` over the rows of `logits` `(rows, 1)`.
pub fn probability_sum(logits: ArrayView2<f32>) -> f64 {
    logits.iter().map(|&l| sigmoid_f64(f64::from(l))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bce_is_finite_at_extreme_logits() {
        let ln2 = std::f64::consts::LN_2;
        for logit in [-100.0f32, -20.0, 0.0, 20.0, 100.0] {
            for target in [Target::Real, Target::Fake] {
                let (loss, grad) = bce_with_logits(logit, target);
                assert!(loss.is_finite(), "loss at {logit} {target:?}: {loss}");
                assert!(loss >= 0.0, "loss at {logit} {target:?}: {loss}");
                assert!(grad.is_finite(), "gradient at {logit} {target:?}: {grad}");
                assert!(grad.abs() <= 1.0, "gradient at {logit} {target:?}: {grad}");
            }
        }
        let (loss, grad) = bce_with_logits(100.0, Target::Fake);
        assert!((loss - 100.0).abs() < 1e-12, "softplus(100) = {loss}");
        assert!((grad - 1.0).abs() < 1e-6, "gradient {grad}");
        let (loss, grad) = bce_with_logits(-100.0, Target::Real);
        assert!((loss - 100.0).abs() < 1e-12, "softplus(100) = {loss}");
        assert!((grad + 1.0).abs() < 1e-6, "gradient {grad}");
        let (loss, grad) = bce_with_logits(100.0, Target::Real);
        assert!(loss > 0.0, "softplus(-100) = {loss}");
        assert!(loss < 1e-40, "softplus(-100) = {loss}");
        assert!(grad.abs() < 1e-40, "gradient {grad}");
        for target in [Target::Real, Target::Fake] {
            let (loss, grad) = bce_with_logits(0.0, target);
            assert!((loss - ln2).abs() < 1e-15, "logit 0 {target:?}: {loss}");
            assert_eq!(grad.abs(), 0.5);
        }
        let (loss, _) = bce_with_logits(-20.0, Target::Fake);
        assert!(
            (loss - (-20.0f64).exp()).abs() < 1e-15,
            "softplus(-20) = {loss}"
        );
    }

    /// Central differences in f64 on the f64 loss, step 1e-4; the
    /// tolerance 1e-6 also covers the f32 rounding of the gradient.
    #[test]
    fn gradients_match_finite_differences() {
        let eps = 1e-4;
        for logit in [-5.0f32, -0.3, 0.0, 0.7, 4.0] {
            for target in [Target::Real, Target::Fake] {
                let at = |x: f64| match target {
                    Target::Real => softplus(-x),
                    Target::Fake => softplus(x),
                };
                let l = f64::from(logit);
                let numeric = (at(l + eps) - at(l - eps)) / (2.0 * eps);
                let (_, grad) = bce_with_logits(logit, target);
                assert!(
                    (numeric - f64::from(grad)).abs() < 1e-6,
                    "{logit} {target:?}: {numeric} vs {grad}"
                );
            }
        }
    }

    #[test]
    fn losses_follow_their_formulas() {
        let logits = array![[0.0f32], [2.0]];
        let real = discriminator_half(logits.view(), Target::Real, 0.5);
        let want = 0.5 * (softplus(0.0) + softplus(-2.0));
        assert!((real.loss_sum - want).abs() < 1e-12);
        assert!((real.dlogits[[0, 0]] - (-0.5 * 0.5 * 0.5)).abs() < 1e-7);

        let ns = generator(logits.view(), GeneratorLoss::NonSaturating, 1.0);
        assert!((ns.loss_sum - (softplus(0.0) + softplus(-2.0))).abs() < 1e-12);
        let minimax = generator(logits.view(), GeneratorLoss::Minimax, 1.0);
        assert!((minimax.loss_sum + softplus(0.0) + softplus(2.0)).abs() < 1e-12);
        assert!((minimax.dlogits[[1, 0]] + sigmoid(2.0)).abs() < 1e-7);
        assert!((probability_sum(logits.view()) - (0.5 + sigmoid_f64(2.0))).abs() < 1e-12);
    }
}
