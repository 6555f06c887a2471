//! Tests of the shard store's logic, called directly without a network.
//! The momentum update is checked against an element-by-element reference.

use ndarray::IxDyn;
use tonic::Code;

use crate::nn::optim::{Hyper, OptimizerKind};
use super::*;
use crate::nn::{Params, Phase, Tensor};

const SHARD: &str = "discriminator.1";
const HYPER: Hyper = Hyper { learning_rate: 0.1, momentum: 0.5 };
/// The store and the reference run the same f32 operations, so they agree
/// to rounding; this bound leaves room for a fused multiply-add.
const TOLERANCE: f32 = 1e-6;

/// A layer of `shard` with a (rows, cols) weight and a (rows,) bias, filled
/// with distinct values derived from `seed`.
fn layer(shard: &str, rows: usize, cols: usize, seed: f32) -> Params {
    let fill = |n: usize| (0..n).map(|i| seed + 0.001 * i as f32).collect::<Vec<_>>();
    let mut params = Params::new();
    let weight = Tensor::from_shape_vec(IxDyn(&[rows, cols]), fill(rows * cols)).unwrap();
    params.insert(format!("{shard}.weight"), weight).unwrap();
    params
        .insert(
            format!("{shard}.bias"),
            Tensor::from_shape_vec(IxDyn(&[rows]), fill(rows)).unwrap(),
        )
        .unwrap();
    params
}

fn snapshot(shard: &str) -> ShardSnapshot {
    let params = layer(shard, 3, 4, 0.25);
    ShardSnapshot {
        shard: shard.to_string(),
        state: crate::nn::optim::init_state(&OptimizerKind::Momentum, &params),
        params,
        version: 0,
        optimizer: OptimizerKind::Momentum,
        applied: AppliedKeys::new(),
    }
}

fn loaded_store() -> ShardStore {
    let store = ShardStore::new("discriminator".parse().unwrap());
    store.load_shard(snapshot(SHARD)).unwrap();
    store
}

fn key(step: u64) -> UpdateKey {
    UpdateKey { step, phase: Phase::Discriminator }
}

/// Classic momentum one element at a time: v = mu v - lr g; theta += v.
fn reference_momentum(
    params: &Params,
    grads: &Params,
    velocity: &Params,
    hyper: &Hyper,
) -> (Params, Params) {
    let (mut params, mut velocity) = (params.clone(), velocity.clone());
    for ((_, theta), ((_, g), (_, v))) in
        params.iter_mut().zip(grads.iter().zip(velocity.iter_mut()))
    {
        for ((theta, g), v) in theta.iter_mut().zip(g.iter()).zip(v.iter_mut()) {
            *v = hyper.momentum * *v - hyper.learning_rate * g;
            *theta += *v;
        }
    }
    (params, velocity)
}

fn assert_close(actual: &Params, expected: &Params) {
    actual.check_same_layout(expected).unwrap();
    for ((name, a), (_, e)) in actual.iter().zip(expected.iter()) {
        for (x, y) in a.iter().zip(e.iter()) {
            assert!((x - y).abs() <= TOLERANCE, "`{name}`: {x} differs from reference {y}");
        }
    }
}

#[test]
fn repeated_key_applies_once() {
    let store = loaded_store();
    let before = store.export(SHARD).unwrap();
    let grads = layer(SHARD, 3, 4, -0.5);

    let first = store.apply(SHARD, key(7), &grads, &HYPER).unwrap();
    let second = store.apply(SHARD, key(7), &grads, &HYPER).unwrap();

    assert_eq!(first, ApplyOutcome { version: 1, applied: true });
    assert_eq!(second, ApplyOutcome { version: 1, applied: false });
    let after = store.export(SHARD).unwrap();
    let (params, velocity) = reference_momentum(&before.params, &grads, &before.state, &HYPER);
    assert_close(&after.params, &params);
    assert_close(&after.state, &velocity);
}

#[test]
fn repeat_of_older_key_returns_its_version() {
    let store = loaded_store();
    let grads = layer(SHARD, 3, 4, 0.1);
    store.apply(SHARD, key(1), &grads, &HYPER).unwrap();
    store.apply(SHARD, key(2), &grads, &HYPER).unwrap();
    let state = store.export(SHARD).unwrap();

    let repeat = store.apply(SHARD, key(1), &grads, &HYPER).unwrap();

    assert_eq!(repeat, ApplyOutcome { version: 1, applied: false });
    assert_eq!(store.export(SHARD).unwrap(), state);
}

#[test]
fn non_finite_gradient_leaves_state_untouched() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let store = loaded_store();
        store.apply(SHARD, key(1), &layer(SHARD, 3, 4, 0.3), &HYPER).unwrap();
        let before = store.export(SHARD).unwrap();
        let mut grads = layer(SHARD, 3, 4, 0.2);
        grads.get_mut(&format!("{SHARD}.bias")).unwrap()[[2]] = bad;

        let error = store.apply(SHARD, key(2), &grads, &HYPER).unwrap_err();

        assert!(
            matches!(&error, StoreError::NonFinite { tensor, .. } if tensor == "discriminator.1.bias"),
            "{error}"
        );
        assert!(error.to_string().contains(SHARD), "{error}");
        assert_eq!(tonic::Status::from(error).code(), Code::InvalidArgument);
        let after = store.export(SHARD).unwrap();
        assert_bitwise_equal(&after.params, &before.params);
        assert_bitwise_equal(&after.state, &before.state);
        assert_eq!(after.version, before.version);
        assert_eq!(after.applied, before.applied, "a rejected key must stay unapplied");
    }
}

#[test]
fn rejected_key_can_be_retried() {
    let store = loaded_store();
    let mut grads = layer(SHARD, 3, 4, 0.2);
    grads.get_mut(&format!("{SHARD}.weight")).unwrap()[[0, 0]] = f32::NAN;
    store.apply(SHARD, key(3), &grads, &HYPER).unwrap_err();

    let retry = store.apply(SHARD, key(3), &layer(SHARD, 3, 4, 0.2), &HYPER).unwrap();

    assert_eq!(retry, ApplyOutcome { version: 1, applied: true });
}

fn assert_bitwise_equal(actual: &Params, expected: &Params) {
    actual.check_same_layout(expected).unwrap();
    for ((name, a), (_, e)) in actual.iter().zip(expected.iter()) {
        let same = a.iter().zip(e.iter()).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "tensor `{name}` changed");
    }
}

#[test]
fn layout_mismatch_is_rejected() {
    let wrong_shape = layer(SHARD, 4, 3, 0.1);
    let mut missing = Params::new();
    missing.insert(format!("{SHARD}.weight"), Tensor::zeros(IxDyn(&[3, 4]))).unwrap();
    let mut extra = layer(SHARD, 3, 4, 0.1);
    extra.insert(format!("{SHARD}.scale"), Tensor::zeros(IxDyn(&[1]))).unwrap();

    for (case, grads) in
        [("wrong shape", wrong_shape), ("missing tensor", missing), ("extra tensor", extra)]
    {
        let store = loaded_store();
        let before = store.export(SHARD).unwrap();
        let error = store.apply(SHARD, key(1), &grads, &HYPER).unwrap_err();
        assert!(matches!(error, StoreError::Layout { .. }), "{case}: {error}");
        assert_eq!(store.export(SHARD).unwrap(), before, "{case}: state changed");
    }
}

#[test]
fn unknown_shard_is_rejected_with_served_list() {
    let store = loaded_store();
    let grads = layer("generator.0", 3, 4, 0.1);

    let not_served = store.apply("generator.0", key(1), &grads, &HYPER).unwrap_err();
    let not_loaded = store.pull("discriminator.2", None).unwrap_err();

    assert!(matches!(not_served, StoreError::NotServed { .. }), "{not_served}");
    assert!(not_served.to_string().contains("generator.0"), "{not_served}");
    assert!(not_served.to_string().contains("`discriminator`"), "{not_served}");
    assert_eq!(tonic::Status::from(not_served).code(), Code::NotFound);
    assert!(matches!(not_loaded, StoreError::NotLoaded { .. }), "{not_loaded}");
    assert_eq!(tonic::Status::from(not_loaded).code(), Code::FailedPrecondition);
}

#[test]
fn pull_with_current_version_is_unchanged() {
    let store = loaded_store();
    store.apply(SHARD, key(1), &layer(SHARD, 3, 4, 0.1), &HYPER).unwrap();

    let current = store.pull(SHARD, Some(1)).unwrap();
    let stale = store.pull(SHARD, Some(0)).unwrap();
    let fresh = store.pull(SHARD, None).unwrap();

    assert_eq!(current, PullOutcome::Unchanged { version: 1 });
    let exported = store.export(SHARD).unwrap().params;
    for outcome in [stale, fresh] {
        let PullOutcome::Changed { version, params } = outcome else {
            panic!("expected parameters")
        };
        assert_eq!(version, 1);
        assert_eq!(*params, exported);
    }
}

#[test]
fn forgotten_key_is_stale() {
    let store = ShardStore::new(ShardFilter::All).with_applied_key_window(2);
    store.load_shard(snapshot(SHARD)).unwrap();
    let grads = layer(SHARD, 3, 4, 0.1);
    for step in 1..=3 {
        store.apply(SHARD, key(step), &grads, &HYPER).unwrap();
    }

    let error = store.apply(SHARD, key(1), &grads, &HYPER).unwrap_err();

    assert!(matches!(error, StoreError::StaleUpdate { .. }), "{error}");
    assert_eq!(store.export(SHARD).unwrap().version, 3);
}

#[test]
fn export_then_load_restores_exactly() {
    let store = loaded_store();
    store.apply(SHARD, key(4), &layer(SHARD, 3, 4, 0.1), &HYPER).unwrap();
    let exported = store.export(SHARD).unwrap();

    let restored = ShardStore::new(ShardFilter::All);
    restored.load_shard(exported.clone()).unwrap();

    assert_eq!(restored.export(SHARD).unwrap(), exported);
    let repeat = restored.apply(SHARD, key(4), &layer(SHARD, 3, 4, 0.9), &HYPER).unwrap();
    assert_eq!(repeat, ApplyOutcome { version: 1, applied: false });
}

#[test]
fn invalid_loads_are_rejected() {
    let foreign = ShardSnapshot { params: layer("discriminator.2", 3, 4, 0.1), ..snapshot(SHARD) };
    let bad_state = ShardSnapshot { state: layer(SHARD, 4, 3, 0.0), ..snapshot(SHARD) };
    let mut non_finite = snapshot(SHARD);
    non_finite.params.get_mut(&format!("{SHARD}.bias")).unwrap()[[0]] = f32::INFINITY;
    let empty = ShardSnapshot { params: Params::new(), state: Params::new(), ..snapshot(SHARD) };
    let bad_name = ShardSnapshot { shard: "critic.1".into(), ..snapshot(SHARD) };
    let not_served = snapshot("generator.0");

    let cases = [
        ("foreign tensor", foreign),
        ("state layout", bad_state),
        ("non-finite parameter", non_finite),
        ("empty shard", empty),
        ("invalid name", bad_name),
        ("not served", not_served),
    ];
    for (case, snapshot) in cases {
        let store = ShardStore::new("discriminator".parse().unwrap());
        let result = store.load_shard(snapshot);
        assert!(result.is_err(), "{case}: load should fail");
        assert!(store.describe().is_empty(), "{case}: nothing should be loaded");
    }
}

#[test]
fn invalid_hyperparameters_are_rejected() {
    let store = loaded_store();
    let grads = layer(SHARD, 3, 4, 0.1);
    for hyper in [
        Hyper { learning_rate: 0.0, momentum: 0.5 },
        Hyper { learning_rate: f32::NAN, momentum: 0.5 },
        Hyper { learning_rate: 0.1, momentum: 1.0 },
        Hyper { learning_rate: 0.1, momentum: -0.1 },
    ] {
        let error = store.apply(SHARD, key(1), &grads, &hyper).unwrap_err();
        assert!(matches!(error, StoreError::InvalidHyper { .. }), "{hyper:?}: {error}");
    }
    assert_eq!(store.export(SHARD).unwrap().version, 0);
}

#[test]
fn describe_lists_shapes_and_versions() {
    let store = loaded_store();
    store.apply(SHARD, key(1), &layer(SHARD, 3, 4, 0.1), &HYPER).unwrap();

    let shards = store.describe();

    let expected = ShardInfo {
        shard: SHARD.into(),
        version: 1,
        tensors: vec![
            ("discriminator.1.weight".into(), vec![3, 4]),
            ("discriminator.1.bias".into(), vec![3]),
        ],
    };
    assert_eq!(shards, vec![expected]);
}
