//! Tests of `compute_gradients` against finite differences of its own
//! reported losses, and of the properties distribution relies on.

use ndarray::{s, Array1, Array2};

use super::gan::{compute_gradients, Gradients, MicroBatch, MicroBatchKey};
use super::init::{init_discriminator, init_generator};
use super::optim::{apply, init_state, Hyper, OptimizerKind};
use super::params::Params;
use super::rng::{Purpose, Rng, StreamKey};
use super::spec::{DiscriminatorSpec, GanSpec, GeneratorLoss, GeneratorSpec, MaxoutSpec};
use super::{NnError, Phase, Tensor};

const ROWS: usize = 4;

/// data_dim 6, G 3 -> 5 -> 6, D two maxout layers of 3 units x 2 pieces.
/// Init ranges of 0.5 give gradients well above f32 rounding noise.
fn small_spec(keep: f32) -> GanSpec {
    GanSpec {
        generator: GeneratorSpec {
            noise_dim: 3,
            hidden: vec![5],
            data_dim: 6,
            init_range: 0.5,
        },
        discriminator: DiscriminatorSpec {
            data_dim: 6,
            layers: vec![
                MaxoutSpec {
                    units: 3,
                    pieces: 2
                };
                2
            ],
            input_keep: keep.max(0.8),
            hidden_keep: keep,
            init_range: 0.5,
        },
        generator_loss: GeneratorLoss::NonSaturating,
    }
}

struct Fixture {
    spec: GanSpec,
    g: Params,
    d: Params,
    real: Array2<f32>,
    z: Array2<f32>,
}

fn fixture(spec: GanSpec, rows: usize) -> Fixture {
    let data_dim = spec.generator.data_dim;
    let mut rng = Rng::new(StreamKey::global(42, Purpose::Eval));
    let mean = Array1::from_shape_fn(data_dim, |_| rng.uniform_range(0.2, 0.8));
    let g = init_generator(&spec.generator, mean.view(), 1).unwrap();
    let mut d = init_discriminator(&spec.discriminator, 2).unwrap();
    // Zero biases tie every maxout piece on a row whose input dropout
    // zeroed, and a max is not differentiable at a tie.
    for (name, tensor) in d.iter_mut() {
        if name.ends_with(".bias") {
            tensor.mapv_inplace(|_| rng.uniform_range(-0.5, 0.5));
        }
    }
    let real = Array2::from_shape_fn((rows, data_dim), |_| rng.uniform_f32());
    let z = Array2::from_shape_fn((rows, spec.generator.noise_dim), |_| {
        rng.uniform_range(-1.7, 1.7)
    });
    Fixture {
        spec,
        g,
        d,
        real,
        z,
    }
}

fn key(phase: Phase, micro_batch: u32) -> MicroBatchKey {
    MicroBatchKey {
        seed: 7,
        step: 3,
        phase,
        micro_batch,
    }
}

fn run(f: &Fixture, g: &Params, d: &Params, phase: Phase, loss_scale: f32) -> Gradients {
    let batch = MicroBatch {
        real: Some(f.real.view()),
        z: f.z.view(),
        key: key(phase, 0),
        loss_scale,
    };
    compute_gradients(&f.spec, g, d, &batch).unwrap()
}

fn moved(params: &Params, name: &str, idx: usize, delta: f32) -> Params {
    let mut out = params.clone();
    let tensor = out.require_mut(name).unwrap();
    tensor.as_slice_mut().expect("init gives standard layout")[idx] += delta;
    out
}

/// Compares every element of every tensor of `grads` with central
/// differences of `objective` (f64 sums of f32 forward passes), step 1e-3.
/// Tolerance: 1e-3 absolute plus 2% of the larger magnitude, which covers
/// f32 rounding of losses near 1 divided by the 2e-3 step (about 1e-4).
fn check_against_finite_differences(
    what: &str,
    params: &Params,
    grads: &Params,
    objective: impl Fn(&Params) -> f64,
) {
    let eps = 1e-3f32;
    for (name, tensor) in params.iter() {
        let analytic = grads.require(name).unwrap();
        for idx in 0..tensor.len() {
            let plus = objective(&moved(params, name, idx, eps));
            let minus = objective(&moved(params, name, idx, -eps));
            let numeric = (plus - minus) / (2.0 * f64::from(eps));
            let got = f64::from(analytic.as_slice().unwrap()[idx]);
            let tolerance = 1e-3 + 0.02 * numeric.abs().max(got.abs());
            assert!(
                (numeric - got).abs() <= tolerance,
                "{what}: {name}[{idx}] numeric {numeric} analytic {got}"
            );
        }
    }
}

#[test]
fn discriminator_loss_gradient_matches_finite_differences() {
    let f = fixture(small_spec(0.5), ROWS);
    let scale = 1.0 / ROWS as f32;
    let grads = run(&f, &f.g, &f.d, Phase::Discriminator, scale);
    let d_grads = grads.discriminator.expect("D phase returns D gradients");
    assert!(grads.generator.is_none());
    check_against_finite_differences("D loss", &f.d, &d_grads, |d| {
        run(&f, &f.g, d, Phase::Discriminator, scale)
            .stats
            .d_loss_sum
            * f64::from(scale)
    });
}

#[test]
fn generator_loss_gradient_matches_finite_differences() {
    for kind in [GeneratorLoss::NonSaturating, GeneratorLoss::Minimax] {
        let mut spec = small_spec(0.5);
        spec.generator_loss = kind;
        let f = fixture(spec, ROWS);
        let scale = 1.0 / ROWS as f32;
        let grads = run(&f, &f.g, &f.d, Phase::Generator, scale);
        let g_grads = grads.generator.expect("G phase returns G gradients");
        assert!(grads.discriminator.is_none());
        check_against_finite_differences(&format!("G loss {kind:?}"), &f.g, &g_grads, |g| {
            run(&f, g, &f.d, Phase::Generator, scale).stats.g_loss_sum * f64::from(scale)
        });
    }
}

#[test]
fn joint_gradients_match_finite_differences() {
    let f = fixture(small_spec(0.5), ROWS);
    let scale = 0.5;
    let grads = run(&f, &f.g, &f.d, Phase::Joint, scale);
    let d_grads = grads
        .discriminator
        .expect("joint phase returns D gradients");
    let g_grads = grads.generator.expect("joint phase returns G gradients");
    check_against_finite_differences("joint D loss", &f.d, &d_grads, |d| {
        run(&f, &f.g, d, Phase::Joint, scale).stats.d_loss_sum * f64::from(scale)
    });
    check_against_finite_differences("joint G loss", &f.g, &g_grads, |g| {
        run(&f, g, &f.d, Phase::Joint, scale).stats.g_loss_sum * f64::from(scale)
    });
}

/// Without dropout the masks cannot differ, so the joint phase must give
/// the same gradients as the two separate phases.
#[test]
fn joint_equals_separate_phases_without_dropout() {
    let f = fixture(small_spec(1.0), ROWS);
    let joint = run(&f, &f.g, &f.d, Phase::Joint, 0.25);
    let d_only = run(&f, &f.g, &f.d, Phase::Discriminator, 0.25);
    let g_only = run(&f, &f.g, &f.d, Phase::Generator, 0.25);
    assert_eq!(joint.discriminator, d_only.discriminator);
    assert_eq!(joint.generator, g_only.generator);
    assert_eq!(joint.stats.d_loss_sum, d_only.stats.d_loss_sum);
    assert_eq!(joint.stats.g_loss_sum, g_only.stats.g_loss_sum);
}

fn bits(params: &Params) -> Vec<u32> {
    params
        .iter()
        .flat_map(|(_, t)| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
        .collect()
}

fn momentum_step(params: &mut Params, grads: &Params) {
    let mut state = init_state(&OptimizerKind::Momentum, params);
    let hyper = Hyper {
        learning_rate: 0.1,
        momentum: 0.5,
    };
    apply(&OptimizerKind::Momentum, params, grads, &mut state, &hyper).unwrap();
}

#[test]
fn discriminator_step_leaves_generator_unchanged() {
    let f = fixture(small_spec(0.5), ROWS);
    let (g_before, d_before) = (bits(&f.g), bits(&f.d));
    let grads = run(&f, &f.g, &f.d, Phase::Discriminator, 0.25);
    let mut d = f.d.clone();
    momentum_step(
        &mut d,
        grads
            .discriminator
            .as_ref()
            .expect("D phase returns D gradients"),
    );
    assert!(grads.generator.is_none());
    assert_eq!(bits(&f.g), g_before);
    assert_ne!(bits(&d), d_before, "a D step must move D");
}

#[test]
fn generator_step_leaves_discriminator_unchanged() {
    let f = fixture(small_spec(0.5), ROWS);
    let (g_before, d_before) = (bits(&f.g), bits(&f.d));
    let grads = run(&f, &f.g, &f.d, Phase::Generator, 0.25);
    let mut g = f.g.clone();
    momentum_step(
        &mut g,
        grads
            .generator
            .as_ref()
            .expect("G phase returns G gradients"),
    );
    assert!(grads.discriminator.is_none());
    assert_eq!(bits(&f.d), d_before);
    assert_ne!(bits(&g), g_before, "a G step must move G");
}

/// Largest element difference over the largest magnitude, per tensor.
fn max_relative_difference(a: &Params, b: &Params) -> f64 {
    a.check_same_layout(b).unwrap();
    a.iter()
        .zip(b.iter())
        .map(|((_, x), (_, y))| {
            let scale = x
                .iter()
                .chain(y.iter())
                .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
            let diff = x
                .iter()
                .zip(y.iter())
                .fold(0.0f64, |m, (p, q)| m.max(f64::from((p - q).abs())));
            if scale == 0.0 {
                diff
            } else {
                diff / scale
            }
        })
        .fold(0.0, f64::max)
}

/// A batch of 8 with loss_scale 1/8 equals the sum of its two halves, each
/// with loss_scale 1/8, to 1e-5 of each tensor's largest element (the sums
/// run in a different order, so they need not agree bit for bit).
#[test]
fn micro_batch_gradients_add_up() {
    let f = fixture(small_spec(1.0), 8);
    let scale = 1.0 / 8.0;
    for phase in [Phase::Discriminator, Phase::Generator, Phase::Joint] {
        let whole = run(&f, &f.g, &f.d, phase, scale);
        let mut sum: Option<Gradients> = None;
        for (index, rows) in [(0u32, 0..4), (1, 4..8)] {
            let batch = MicroBatch {
                real: Some(f.real.slice(s![rows.clone(), ..])),
                z: f.z.slice(s![rows, ..]),
                key: key(phase, index),
                loss_scale: scale,
            };
            let part = compute_gradients(&f.spec, &f.g, &f.d, &batch).unwrap();
            sum = Some(match sum {
                None => part,
                Some(mut acc) => {
                    for (total, more) in [
                        (&mut acc.generator, &part.generator),
                        (&mut acc.discriminator, &part.discriminator),
                    ] {
                        if let (Some(total), Some(more)) = (total.as_mut(), more.as_ref()) {
                            total.add_assign(more).unwrap();
                        }
                    }
                    acc.stats.add(&part.stats);
                    acc
                }
            });
        }
        let sum = sum.expect("two micro-batches ran");
        for (what, a, b) in [
            ("G", &whole.generator, &sum.generator),
            ("D", &whole.discriminator, &sum.discriminator),
        ] {
            assert_eq!(a.is_some(), b.is_some(), "{phase:?} {what}");
            if let (Some(a), Some(b)) = (a, b) {
                let diff = max_relative_difference(a, b);
                assert!(diff <= 1e-5, "{phase:?} {what}: relative difference {diff}");
            }
        }
        assert_eq!(sum.stats.rows, 8);
        assert!(
            (sum.stats.g_loss_sum - whole.stats.g_loss_sum).abs() < 1e-5,
            "{phase:?} G loss sum"
        );
        assert!(
            (sum.stats.d_loss_sum - whole.stats.d_loss_sum).abs() < 1e-5,
            "{phase:?} D loss sum"
        );
    }
}

#[test]
fn gradients_are_reproducible_and_keyed() {
    let f = fixture(small_spec(0.5), ROWS);
    for phase in [Phase::Discriminator, Phase::Generator, Phase::Joint] {
        let a = run(&f, &f.g, &f.d, phase, 0.25);
        let b = run(&f, &f.g, &f.d, phase, 0.25);
        assert_eq!(
            a.generator.as_ref().map(bits),
            b.generator.as_ref().map(bits),
            "{phase:?}"
        );
        assert_eq!(
            a.discriminator.as_ref().map(bits),
            b.discriminator.as_ref().map(bits),
            "{phase:?}"
        );
        assert_eq!(a.stats, b.stats);

        let other_key = MicroBatch {
            real: Some(f.real.view()),
            z: f.z.view(),
            key: key(phase, 1),
            loss_scale: 0.25,
        };
        let c = compute_gradients(&f.spec, &f.g, &f.d, &other_key).unwrap();
        assert_ne!(
            a.stats, c.stats,
            "{phase:?}: another micro-batch key must draw other masks"
        );
    }
}

#[test]
fn stats_are_consistent() {
    let f = fixture(small_spec(0.5), ROWS);
    let stats = run(&f, &f.g, &f.d, Phase::Discriminator, 0.25).stats;
    assert_eq!(stats.rows, ROWS);
    assert!(stats.d_loss_sum > 0.0, "{stats:?}");
    assert!(stats.g_loss_sum > 0.0, "{stats:?}");
    assert!(stats.d_real_sum > 0.0, "{stats:?}");
    assert!(stats.d_real_sum < ROWS as f64, "{stats:?}");
    assert!(stats.d_fake_sum > 0.0, "{stats:?}");
    assert!(stats.d_fake_sum < ROWS as f64, "{stats:?}");
    let g_stats = run(&f, &f.g, &f.d, Phase::Generator, 0.25).stats;
    assert_eq!(g_stats.d_loss_sum, 0.0);
    assert_eq!(g_stats.d_real_sum, 0.0);
}

#[test]
fn paper_model_runs_on_eight_by_eight_images() {
    let f = fixture(GanSpec::paper_mnist(64), 10);
    let grads = run(&f, &f.g, &f.d, Phase::Joint, 0.1);
    let g = grads.generator.expect("joint phase returns G gradients");
    let d = grads
        .discriminator
        .expect("joint phase returns D gradients");
    g.check_same_layout(&f.g).unwrap();
    d.check_same_layout(&f.d).unwrap();
    assert_eq!(g.first_non_finite(), None);
    assert_eq!(d.first_non_finite(), None);
    // At init D outputs about 0.5 everywhere, so each D loss row is near ln 2.
    let mean_d_loss = grads.stats.d_loss_sum / 10.0;
    assert!(
        (mean_d_loss - std::f64::consts::LN_2).abs() < 0.05,
        "{mean_d_loss}"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let f = fixture(small_spec(0.5), ROWS);
    let wide_z = Array2::zeros((ROWS, 4));
    let wide_real = Array2::zeros((ROWS, 7));
    let short_real = Array2::zeros((ROWS - 1, 6));
    let empty_z = Array2::zeros((0, 3));
    let good = |phase| MicroBatch {
        real: Some(f.real.view()),
        z: f.z.view(),
        key: key(phase, 0),
        loss_scale: 0.25,
    };
    let cases: Vec<(&str, MicroBatch)> = vec![
        (
            "z width",
            MicroBatch {
                z: wide_z.view(),
                ..good(Phase::Generator)
            },
        ),
        (
            "real width",
            MicroBatch {
                real: Some(wide_real.view()),
                ..good(Phase::Discriminator)
            },
        ),
        (
            "real rows",
            MicroBatch {
                real: Some(short_real.view()),
                ..good(Phase::Joint)
            },
        ),
        (
            "real missing",
            MicroBatch {
                real: None,
                ..good(Phase::Discriminator)
            },
        ),
        (
            "real missing in joint",
            MicroBatch {
                real: None,
                ..good(Phase::Joint)
            },
        ),
        (
            "no rows",
            MicroBatch {
                z: empty_z.view(),
                ..good(Phase::Generator)
            },
        ),
        (
            "zero scale",
            MicroBatch {
                loss_scale: 0.0,
                ..good(Phase::Joint)
            },
        ),
        (
            "NaN scale",
            MicroBatch {
                loss_scale: f32::NAN,
                ..good(Phase::Joint)
            },
        ),
    ];
    for (what, batch) in cases {
        assert!(
            compute_gradients(&f.spec, &f.g, &f.d, &batch).is_err(),
            "{what}"
        );
    }
    let no_real = MicroBatch {
        real: None,
        ..good(Phase::Generator)
    };
    assert!(
        compute_gradients(&f.spec, &f.g, &f.d, &no_real).is_ok(),
        "G phase needs no real rows"
    );

    let batch = good(Phase::Joint);
    let mut transposed = f.d.clone();
    *transposed.require_mut("discriminator.1.weight").unwrap() =
        Tensor::zeros(ndarray::IxDyn(&[6, 3]));
    assert!(matches!(
        compute_gradients(&f.spec, &f.g, &transposed, &batch),
        Err(NnError::ShapeMismatch { .. })
    ));
    let missing = f.g.select(|name| name != "generator.1.bias");
    assert!(matches!(
        compute_gradients(&f.spec, &missing, &f.d, &batch),
        Err(NnError::MissingTensor { .. })
    ));
    let mut extra = f.g.clone();
    extra
        .insert("generator.9.weight", Tensor::zeros(ndarray::IxDyn(&[1, 1])))
        .unwrap();
    assert!(matches!(
        compute_gradients(&f.spec, &extra, &f.d, &batch),
        Err(NnError::LayoutMismatch { .. })
    ));
    let mut bad_spec = f.spec.clone();
    bad_spec.discriminator.input_keep = 1.5;
    assert!(matches!(
        compute_gradients(&bad_spec, &f.g, &f.d, &batch),
        Err(NnError::InvalidSetting { .. })
    ));
    assert!(matches!(
        compute_gradients(
            &f.spec,
            &f.g,
            &f.d,
            &MicroBatch {
                real: None,
                ..good(Phase::Discriminator)
            }
        ),
        Err(NnError::MissingInput { .. })
    ));
}

#[test]
fn empty_inputs_give_empty_outputs() {
    let f = fixture(small_spec(0.5), ROWS);
    let no_z = Array2::zeros((0, 3));
    let samples = super::generate(&f.spec.generator, &f.g, no_z.view()).unwrap();
    assert_eq!(samples.dim(), (0, 6));
    let no_rows = Array2::zeros((0, 6));
    let logits = super::discriminate(&f.spec.discriminator, &f.d, no_rows.view()).unwrap();
    assert_eq!(logits.len(), 0);
}
