//! The discriminator network: maxout layers, then one affine map to a
//! logit, with inverted dropout on the input of every layer in training.
//! It returns logits; the losses in `loss` turn them into probabilities
//! only implicitly, through softplus.

use ndarray::{Array1, Array2, ArrayView2, Axis, CowArray, Ix2};

use super::dropout::{self, DropoutCache, Mode};
use super::linear::{self, LinearCache, LinearGrads, LinearParams};
use super::maxout::{self, MaxoutCache};
use super::params::Params;
use super::spec::{check_params, layer_name, param_layout, DiscriminatorSpec, DISCRIMINATOR};
use super::{shape_error, InputGrad, NnError};

#[derive(Debug)]
enum LayerCache<'a> {
    Maxout(MaxoutCache<'a>),
    Logit(LinearCache<'a>),
}

#[derive(Debug)]
struct LayerTape<'a> {
    dropout: DropoutCache,
    layer: LayerCache<'a>,
}

/// The forward pass kept for backward: per layer its dropout mask and its
/// cache, and the logits `(rows, 1)`.
#[derive(Debug)]
pub struct DiscriminatorTape<'a> {
    layers: Vec<LayerTape<'a>>,
    logits: Array2<f32>,
}

impl DiscriminatorTape<'_> {
    /// Returns D's logits `(rows, 1)`.
    pub fn logits(&self) -> ArrayView2<'_, f32> {
        self.logits.view()
    }
}

/// Checks that `d` contains exactly the tensors of `spec`.
pub fn check_discriminator_params(spec: &DiscriminatorSpec, d: &Params) -> Result<(), NnError> {
    check_params(
        "discriminator parameters",
        &param_layout(DISCRIMINATOR, &spec.layer_shapes()),
        d,
    )
}

/// Runs D on `xs` `(rows, data_dim)`, drawing dropout masks from `mode`,
/// and keeps what backward needs. Expects `d` already checked against
/// `spec`.
pub fn forward<'a>(
    spec: &DiscriminatorSpec,
    d: &Params,
    xs: CowArray<'a, f32, Ix2>,
    mode: &mut Mode,
) -> Result<DiscriminatorTape<'a>, NnError> {
    if xs.ncols() != spec.data_dim {
        return Err(shape_error(
            "discriminator forward",
            "input",
            &[xs.nrows(), spec.data_dim],
            xs.shape(),
        ));
    }
    let mut layers = Vec::with_capacity(spec.layers.len() + 1);
    let mut xs = xs;
    for (i, maxout_spec) in spec.layers.iter().enumerate() {
        let (dropped, dropout) = dropout::forward(spec.keep(i), xs, mode)?;
        let params = LinearParams::from_params(d, &layer_name(DISCRIMINATOR, i))?;
        let (hs, cache) = maxout::forward(&params, maxout_spec.pieces, dropped)?;
        layers.push(LayerTape {
            dropout,
            layer: LayerCache::Maxout(cache),
        });
        xs = CowArray::from(hs);
    }

    let logit_layer = spec.layers.len();
    let (dropped, dropout) = dropout::forward(spec.keep(logit_layer), xs, mode)?;
    let params = LinearParams::from_params(d, &layer_name(DISCRIMINATOR, logit_layer))?;
    let (logits, cache) = linear::forward(&params, dropped)?;
    layers.push(LayerTape {
        dropout,
        layer: LayerCache::Logit(cache),
    });
    Ok(DiscriminatorTape { layers, logits })
}

/// Backpropagates `dlogits` `(rows, 1)` through the recorded pass. Adds
/// D's parameter gradients into `grads` when given; returns the gradient
/// with respect to D's input `(rows, data_dim)` when `input` is
/// [`InputGrad::Compute`].
pub fn backward(
    spec: &DiscriminatorSpec,
    d: &Params,
    tape: &DiscriminatorTape,
    dlogits: Array2<f32>,
    mut grads: Option<&mut Params>,
    input: InputGrad,
) -> Result<Option<Array2<f32>>, NnError> {
    if dlogits.shape() != tape.logits.shape() {
        return Err(shape_error(
            "discriminator backward",
            "logit gradient",
            tape.logits.shape(),
            dlogits.shape(),
        ));
    }
    if tape.layers.len() != spec.layers.len() + 1 {
        return Err(NnError::LayoutMismatch {
            detail: format!(
                "discriminator backward: the tape has {} layers but the spec {}; run forward with the same spec",
                tape.layers.len(),
                spec.layers.len() + 1
            ),
        });
    }
    if grads.is_none() && input == InputGrad::Skip {
        return Ok(None);
    }
    let mut dy = dlogits;
    for (i, layer_tape) in tape.layers.iter().enumerate().rev() {
        let layer = layer_name(DISCRIMINATOR, i);
        let params = LinearParams::from_params(d, &layer)?;
        let layer_grads = match grads.as_deref_mut() {
            Some(all) => Some(LinearGrads::from_params(all, &layer)?),
            None => None,
        };
        let layer_input = if i > 0 { InputGrad::Compute } else { input };
        let dx = match &layer_tape.layer {
            LayerCache::Maxout(cache) => {
                maxout::backward(&params, cache, dy.view(), layer_grads, layer_input)?
            }
            LayerCache::Logit(cache) => {
                linear::backward(&params, cache, dy.view(), layer_grads, layer_input)?
            }
        };
        let Some(mut dx) = dx else {
            return Ok(None);
        };
        dropout::backward_in_place(&layer_tape.dropout, &mut dx)?;
        dy = dx;
    }
    Ok(Some(dy))
}

/// Computes D's logits `(rows,)` for `xs` `(rows, data_dim)`, without dropout.
pub fn discriminate(
    spec: &DiscriminatorSpec,
    d: &Params,
    xs: ArrayView2<f32>,
) -> Result<Array1<f32>, NnError> {
    spec.validate()?;
    check_discriminator_params(spec, d)?;
    let tape = forward(spec, d, CowArray::from(xs), &mut Mode::Eval)?;
    Ok(tape.logits.remove_axis(Axis(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::init::init_discriminator;
    use crate::nn::rng::{Purpose, Rng, StreamKey};
    use crate::nn::spec::GanSpec;

    #[test]
    fn discriminate_is_deterministic_and_sized() {
        let spec = GanSpec::paper_mnist(64).discriminator;
        let d = init_discriminator(&spec, 2).unwrap();
        let xs = Array2::from_shape_fn((7, 64), |(i, j)| ((i + j) % 5) as f32 / 5.0);
        let a = discriminate(&spec, &d, xs.view()).unwrap();
        let b = discriminate(&spec, &d, xs.view()).unwrap();
        assert_eq!(a.len(), 7);
        assert_eq!(a, b);
    }

    #[test]
    fn training_pass_uses_dropout() {
        let mut spec = GanSpec::paper_mnist(64).discriminator;
        spec.init_range = 0.5;
        let d = init_discriminator(&spec, 2).unwrap();
        let xs = Array2::from_shape_fn((3, 64), |(i, j)| ((i + j) % 5) as f32 / 5.0);
        let eval = discriminate(&spec, &d, xs.view()).unwrap();
        let mut rng = Rng::new(StreamKey::global(1, Purpose::DropoutReal));
        let train = forward(
            &spec,
            &d,
            CowArray::from(xs.view()),
            &mut Mode::Train(&mut rng),
        )
        .unwrap();
        assert_ne!(train.logits().column(0), eval);
    }

    #[test]
    fn wrong_width_is_an_error() {
        let spec = GanSpec::paper_mnist(64).discriminator;
        let d = init_discriminator(&spec, 2).unwrap();
        let xs = Array2::zeros((3, 63));
        assert!(matches!(
            discriminate(&spec, &d, xs.view()),
            Err(NnError::ShapeMismatch { .. })
        ));
        let other = init_discriminator(&GanSpec::paper_mnist(63).discriminator, 2).unwrap();
        let xs = Array2::zeros((3, 64));
        assert!(matches!(
            discriminate(&spec, &other, xs.view()),
            Err(NnError::ShapeMismatch { .. })
        ));
    }
}
