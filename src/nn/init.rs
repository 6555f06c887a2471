//! Initial parameters, as in the MNIST setup of Goodfellow et al. (2014):
//! weights uniform in `[-init_range, init_range]` and biases zero, except
//! the generator's output bias. That bias starts at the logit of the
//! per-pixel mean training image, so G's first samples already have the
//! data's mean.
//!
//! Weights are drawn layer by layer in row-major order from the
//! `InitGenerator` or `InitDiscriminator` stream of the seed, so a seed
//! gives the same parameters on every machine.

use ndarray::{ArrayView1, IxDyn};

use super::params::{Params, Tensor};
use super::rng::{Purpose, Rng, StreamKey};
use super::spec::{
    bias_name, layer_name, param_layout, DiscriminatorSpec, GeneratorSpec, LayerShape,
    DISCRIMINATOR, GENERATOR,
};
use super::{shape_error, NnError};

/// Mean pixel values are clipped to `[MEAN_CLIP, 1 - MEAN_CLIP]` before the
/// logit, so an always-black pixel gets a large but finite bias.
pub const MEAN_CLIP: f32 = 1e-7;

/// Draws G's parameters for `spec`. `mean_image` `(data_dim,)` is the
/// per-pixel mean of the training images, in `[0, 1]`.
pub fn init_generator(
    spec: &GeneratorSpec,
    mean_image: ArrayView1<f32>,
    seed: u64,
) -> Result<Params, NnError> {
    spec.validate()?;
    if mean_image.len() != spec.data_dim {
        return Err(shape_error(
            "init_generator",
            "mean_image",
            &[spec.data_dim],
            mean_image.shape(),
        ));
    }
    if mean_image.iter().any(|v| !v.is_finite()) {
        return Err(NnError::NonFinite {
            name: "mean_image".into(),
        });
    }

    let shapes = spec.layer_shapes();
    let mut params = draw_network(
        GENERATOR,
        &shapes,
        spec.init_range,
        Purpose::InitGenerator,
        seed,
    )?;

    let output_bias = bias_name(&layer_name(GENERATOR, shapes.len() - 1));
    let bias = params.require_mut(&output_bias)?;
    for (b, &mean) in bias.iter_mut().zip(mean_image) {
        let p = f64::from(mean.clamp(MEAN_CLIP, 1.0 - MEAN_CLIP));
        *b = (p / (1.0 - p)).ln() as f32;
    }
    Ok(params)
}

/// Draws D's parameters for `spec`.
pub fn init_discriminator(spec: &DiscriminatorSpec, seed: u64) -> Result<Params, NnError> {
    spec.validate()?;
    draw_network(
        DISCRIMINATOR,
        &spec.layer_shapes(),
        spec.init_range,
        Purpose::InitDiscriminator,
        seed,
    )
}

fn draw_network(
    network: &str,
    shapes: &[LayerShape],
    range: f32,
    purpose: Purpose,
    seed: u64,
) -> Result<Params, NnError> {
    let mut rng = Rng::new(StreamKey::global(seed, purpose));
    let mut params = Params::new();
    for (name, shape) in param_layout(network, shapes) {
        let tensor = if shape.len() == 2 {
            Tensor::from_shape_simple_fn(IxDyn(&shape), || rng.uniform_range(-range, range))
        } else {
            Tensor::zeros(IxDyn(&shape))
        };
        params.insert(name, tensor)?;
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::spec::GanSpec;
    use ndarray::Array1;

    #[test]
    fn paper_init_has_the_right_ranges() {
        let spec = GanSpec::paper_mnist(64);
        let mean = Array1::from_shape_fn(64, |i| i as f32 / 63.0);
        let g = init_generator(&spec.generator, mean.view(), 5).unwrap();
        let d = init_discriminator(&spec.discriminator, 5).unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(d.len(), 6);

        let w = g.matrix("generator.1.weight").unwrap();
        assert!(w.iter().all(|v| v.abs() <= 0.05));
        assert!(
            w.iter().any(|v| v.abs() > 0.04),
            "weights should fill the range"
        );
        assert!(g
            .vector("generator.0.bias")
            .unwrap()
            .iter()
            .all(|&v| v == 0.0));
        let dw = d.matrix("discriminator.0.weight").unwrap();
        assert!(dw.iter().all(|v| v.abs() <= 0.005));
        assert!(d
            .vector("discriminator.2.bias")
            .unwrap()
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn output_bias_is_clipped_logit_of_mean() {
        let spec = GanSpec::paper_mnist(4).generator;
        let mean = Array1::from(vec![0.0f32, 0.5, 0.9, 1.0]);
        let g = init_generator(&spec, mean.view(), 1).unwrap();
        let bias = g.vector("generator.2.bias").unwrap();
        let clip_logit = (1e-7f64 / (1.0 - 1e-7)).ln();
        assert!(
            (f64::from(bias[0]) - clip_logit).abs() < 1e-3,
            "{}",
            bias[0]
        );
        assert_eq!(bias[1], 0.0);
        assert!((f64::from(bias[2]) - (0.9f64 / 0.1).ln()).abs() < 1e-5);
        // 1 - 1e-7 rounds in f32, so the clipped logit is only close to 16.1.
        assert!(bias[3].is_finite(), "{}", bias[3]);
        assert!(bias[3] > 15.0, "{}", bias[3]);
    }

    #[test]
    fn same_seed_same_params() {
        let spec = GanSpec::paper_mnist(16);
        let mean = Array1::from_elem(16, 0.2f32);
        let a = init_generator(&spec.generator, mean.view(), 3).unwrap();
        let b = init_generator(&spec.generator, mean.view(), 3).unwrap();
        let c = init_generator(&spec.generator, mean.view(), 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bad_mean_image_is_an_error() {
        let spec = GanSpec::paper_mnist(16).generator;
        let short = Array1::from_elem(15, 0.2f32);
        assert!(matches!(
            init_generator(&spec, short.view(), 1),
            Err(NnError::ShapeMismatch { .. })
        ));
        let mut nan = Array1::from_elem(16, 0.2f32);
        nan[3] = f32::NAN;
        assert!(matches!(
            init_generator(&spec, nan.view(), 1),
            Err(NnError::NonFinite { .. })
        ));
    }
}
