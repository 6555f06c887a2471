//! The generator network: affine layers with ReLU between them and a
//! sigmoid on the output, so samples are pixel intensities in `(0, 1)`.
//! It has no dropout, so training and evaluation forward passes agree.

use ndarray::{Array2, ArrayView2, CowArray};

use super::linear::{self, LinearCache, LinearGrads, LinearParams};
use super::params::Params;
use super::spec::{check_params, layer_name, param_layout, GeneratorSpec, GENERATOR};
use super::{relu, shape_error, sigmoid, InputGrad, NnError};

/// The forward pass kept for backward: one cache per affine layer, whose
/// inputs are z and the ReLU outputs, and the sigmoid output.
#[derive(Debug)]
pub struct GeneratorTape<'a> {
    layers: Vec<LinearCache<'a>>,
    output: Array2<f32>,
}

impl GeneratorTape<'_> {
    /// Returns the generated rows `(rows, data_dim)`.
    pub fn output(&self) -> ArrayView2<'_, f32> {
        self.output.view()
    }

    /// Consumes the tape into the generated rows `(rows, data_dim)`.
    pub fn into_output(self) -> Array2<f32> {
        self.output
    }
}

/// Checks that `g` contains exactly the tensors of `spec`.
pub fn check_generator_params(spec: &GeneratorSpec, g: &Params) -> Result<(), NnError> {
    check_params(
        "generator parameters",
        &param_layout(GENERATOR, &spec.layer_shapes()),
        g,
    )
}

/// Runs G on `z` `(rows, noise_dim)` and keeps what backward needs.
/// Expects `g` already checked against `spec`.
pub fn forward<'a>(
    spec: &GeneratorSpec,
    g: &Params,
    z: ArrayView2<'a, f32>,
) -> Result<GeneratorTape<'a>, NnError> {
    if z.ncols() != spec.noise_dim {
        return Err(shape_error(
            "generator forward",
            "z",
            &[z.nrows(), spec.noise_dim],
            z.shape(),
        ));
    }
    // layer_shapes always ends with the output layer, so depth >= 1.
    let output_layer = spec.layer_shapes().len() - 1;
    let mut layers = Vec::with_capacity(output_layer + 1);
    let mut xs = CowArray::from(z);
    for i in 0..output_layer {
        let params = LinearParams::from_params(g, &layer_name(GENERATOR, i))?;
        let (mut hs, cache) = linear::forward(&params, xs)?;
        layers.push(cache);
        relu::forward_in_place(&mut hs);
        xs = CowArray::from(hs);
    }

    let params = LinearParams::from_params(g, &layer_name(GENERATOR, output_layer))?;
    let (mut output, cache) = linear::forward(&params, xs)?;
    layers.push(cache);
    sigmoid::forward_in_place(&mut output);
    Ok(GeneratorTape { layers, output })
}

/// Backpropagates `d_output` `(rows, data_dim)`, the loss gradient with
/// respect to G's samples, and adds G's parameter gradients into `grads`.
pub fn backward(
    spec: &GeneratorSpec,
    g: &Params,
    tape: &GeneratorTape,
    mut d_output: Array2<f32>,
    grads: &mut Params,
) -> Result<(), NnError> {
    sigmoid::backward_in_place(&mut d_output, tape.output.view())?;
    let mut dy = d_output;
    for i in (0..spec.layer_shapes().len()).rev() {
        let layer = layer_name(GENERATOR, i);
        let params = LinearParams::from_params(g, &layer)?;
        let layer_grads = LinearGrads::from_params(grads, &layer)?;
        // z is sampled, not learned, so its gradient is never used.
        let input = if i == 0 {
            InputGrad::Skip
        } else {
            InputGrad::Compute
        };
        let Some(mut dx) = linear::backward(
            &params,
            &tape.layers[i],
            dy.view(),
            Some(layer_grads),
            input,
        )?
        else {
            break;
        };
        // The input of layer i is the ReLU output of layer i - 1.
        relu::backward_in_place(&mut dx, tape.layers[i].input())?;
        dy = dx;
    }
    Ok(())
}

/// Generates samples `(rows, data_dim)` from `z` `(rows, noise_dim)`.
pub fn generate(
    spec: &GeneratorSpec,
    g: &Params,
    z: ArrayView2<f32>,
) -> Result<Array2<f32>, NnError> {
    spec.validate()?;
    check_generator_params(spec, g)?;
    Ok(forward(spec, g, z)?.into_output())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::init_generator;
    use crate::nn::spec::GanSpec;
    use ndarray::{Array1, Array2};

    #[test]
    fn generate_has_the_data_shape_and_range() {
        let spec = GanSpec::paper_mnist(64).generator;
        let mean = Array1::from_elem(64, 0.3f32);
        let g = init_generator(&spec, mean.view(), 1).unwrap();
        let z = Array2::from_shape_fn((5, 100), |(i, j)| ((i * 100 + j) % 17) as f32 / 10.0 - 0.8);
        let xs = generate(&spec, &g, z.view()).unwrap();
        assert_eq!(xs.dim(), (5, 64));
        assert!(xs.iter().all(|&v| v > 0.0), "sigmoid outputs are positive");
        assert!(xs.iter().all(|&v| v < 1.0), "sigmoid outputs are below 1");
        // Small weights leave samples near the mean image the bias encodes.
        assert!(xs.iter().all(|&v| (v - 0.3).abs() < 0.1), "{xs}");
    }

    #[test]
    fn wrong_noise_width_is_an_error() {
        let spec = GanSpec::paper_mnist(64).generator;
        let g = init_generator(&spec, Array1::from_elem(64, 0.3f32).view(), 1).unwrap();
        let z = Array2::zeros((5, 99));
        assert!(matches!(
            generate(&spec, &g, z.view()),
            Err(NnError::ShapeMismatch { .. })
        ));
        let mut wrong = g.clone();
        *wrong.require_mut("generator.1.weight").unwrap() =
            crate::nn::Tensor::zeros(ndarray::IxDyn(&[1200, 3]));
        let z = Array2::zeros((5, 100));
        assert!(matches!(
            generate(&spec, &wrong, z.view()),
            Err(NnError::ShapeMismatch { .. })
        ));
    }
}
