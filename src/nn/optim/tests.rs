//! Optimizer updates against scalar re-implementations of the formulas.

use ndarray::IxDyn;

use super::*;
use crate::nn::Tensor;

fn params(values: &[f32]) -> Params {
    let mut p = Params::new();
    p.insert(
        "layer.0.weight",
        Tensor::from_shape_vec(IxDyn(&[2, 2]), values[..4].to_vec()).unwrap(),
    )
    .unwrap();
    p.insert(
        "layer.0.bias",
        Tensor::from_shape_vec(IxDyn(&[1]), values[4..5].to_vec()).unwrap(),
    )
    .unwrap();
    p
}

fn flat(p: &Params) -> Vec<f32> {
    p.iter()
        .flat_map(|(_, t)| t.iter().copied().collect::<Vec<_>>())
        .collect()
}

#[test]
fn momentum_follows_the_classic_rule() {
    let theta0 = [1.0f32, -2.0, 0.5, 0.0, 3.0];
    let g1 = [0.1f32, 0.2, -0.3, 0.4, -0.5];
    let g2 = [-0.2f32, 0.1, 0.0, 0.3, 0.6];
    let (lr, mu) = (0.1f32, 0.5f32);
    let mut p = params(&theta0);
    let mut state = init_state(&OptimizerKind::Momentum, &p);
    let hyper = Hyper {
        learning_rate: lr,
        momentum: mu,
    };
    apply(
        &OptimizerKind::Momentum,
        &mut p,
        &params(&g1),
        &mut state,
        &hyper,
    )
    .unwrap();
    apply(
        &OptimizerKind::Momentum,
        &mut p,
        &params(&g2),
        &mut state,
        &hyper,
    )
    .unwrap();

    for i in 0..5 {
        let v1 = -lr * g1[i];
        let v2 = mu * v1 - lr * g2[i];
        let want = theta0[i] + v1 + v2;
        assert!(
            (flat(&p)[i] - want).abs() < 1e-6,
            "element {i}: {} vs {want}",
            flat(&p)[i]
        );
        assert!((flat(&state)[i] - v2).abs() < 1e-6, "velocity {i}");
    }
    let names: Vec<&str> = state.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["layer.0.weight_velocity", "layer.0.bias_velocity"]);
}

#[test]
fn adam_follows_the_published_rule() {
    let theta0 = [1.0f32, -2.0, 0.5, 0.0, 3.0];
    let grads = [
        [0.1f32, 0.2, -0.3, 0.4, -0.5],
        [-0.2, 0.1, 0.0, 0.3, 0.6],
        [0.05, -0.4, 0.2, 0.3, 0.1],
    ];
    let kind = OptimizerKind::adam();
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8f64, 0.01f64);
    let mut p = params(&theta0);
    let mut state = init_state(&kind, &p);
    let hyper = Hyper {
        learning_rate: lr as f32,
        momentum: 0.0,
    };
    for g in &grads {
        apply(&kind, &mut p, &params(g), &mut state, &hyper).unwrap();
    }

    for i in 0..5 {
        let (mut theta, mut m, mut v) = (f64::from(theta0[i]), 0.0f64, 0.0f64);
        for (t, g) in grads.iter().enumerate() {
            let g = f64::from(g[i]);
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let t = (t + 1) as i32;
            theta -= lr * (m / (1.0 - b1.powi(t))) / ((v / (1.0 - b2.powi(t))).sqrt() + eps);
        }
        let got = f64::from(flat(&p)[i]);
        assert!((got - theta).abs() < 1e-5, "element {i}: {got} vs {theta}");
    }
    assert_eq!(state.require("layer.0.bias_adam_step").unwrap()[[0]], 3.0);
}

#[test]
fn bad_updates_change_nothing() {
    let mut p = params(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let before = p.clone();
    let hyper = Hyper {
        learning_rate: 0.1,
        momentum: 0.5,
    };
    let mut state = init_state(&OptimizerKind::Momentum, &p);

    let mut nan = params(&[0.1; 5]);
    nan.require_mut("layer.0.bias").unwrap()[[0]] = f32::NAN;
    let err = apply(&OptimizerKind::Momentum, &mut p, &nan, &mut state, &hyper).unwrap_err();
    assert!(matches!(err, NnError::NonFinite { .. }), "{err}");

    let short = params(&[0.1; 5]).select(|n| n.ends_with("weight"));
    let err = apply(&OptimizerKind::Momentum, &mut p, &short, &mut state, &hyper).unwrap_err();
    assert!(matches!(err, NnError::LayoutMismatch { .. }), "{err}");

    let mut adam_state = init_state(&OptimizerKind::adam(), &p);
    let err = apply(
        &OptimizerKind::Momentum,
        &mut p,
        &params(&[0.1; 5]),
        &mut adam_state,
        &hyper,
    )
    .unwrap_err();
    assert!(matches!(err, NnError::MissingTensor { .. }), "{err}");

    let mut corrupt = init_state(&OptimizerKind::adam(), &p);
    corrupt.require_mut("layer.0.bias_adam_step").unwrap()[[0]] = 1.5;
    let err = apply(
        &OptimizerKind::adam(),
        &mut p,
        &params(&[0.1; 5]),
        &mut corrupt,
        &hyper,
    )
    .unwrap_err();
    assert!(matches!(err, NnError::InvalidSetting { .. }), "{err}");

    for bad in [
        Hyper {
            learning_rate: -1.0,
            momentum: 0.5,
        },
        Hyper {
            learning_rate: 0.1,
            momentum: 1.0,
        },
    ] {
        let err = apply(
            &OptimizerKind::Momentum,
            &mut p,
            &params(&[0.1; 5]),
            &mut state,
            &bad,
        )
        .unwrap_err();
        assert!(matches!(err, NnError::InvalidSetting { .. }), "{err}");
    }
    let bad_adam = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 1.0,
        epsilon: 1e-8,
    };
    assert!(apply(&bad_adam, &mut p, &params(&[0.1; 5]), &mut corrupt, &hyper).is_err());

    assert_eq!(p, before);
    assert_eq!(state, init_state(&OptimizerKind::Momentum, &p));
}
