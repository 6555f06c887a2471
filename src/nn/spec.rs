//! Size descriptions of the generator and the discriminator, and the names
//! and shapes of their parameter tensors.
//!
//! Parameters live outside the layers in a [`Params`], so the tensor names
//! are an interface: layer `i` of a network owns `{network}.{i}.weight`
//! with shape `(in_dim, out_dim)` and `{network}.{i}.bias` with shape
//! `(out_dim,)`. A parameter-server shard is one layer, the name up to the
//! last `.`.

use serde::{Deserialize, Serialize};

use super::params::Params;
use super::{shape_error, NnError};

/// Name prefix of every generator tensor.
pub const GENERATOR: &str = "generator";
/// Name prefix of every discriminator tensor.
pub const DISCRIMINATOR: &str = "discriminator";

/// Returns the layer name `{network}.{index}`, which is also its shard name.
pub fn layer_name(network: &str, index: usize) -> String {
    format!("{network}.{index}")
}

/// Returns the weight tensor name of a layer, shape `(in_dim, out_dim)`.
pub fn weight_name(layer: &str) -> String {
    format!("{layer}.weight")
}

/// Returns the bias tensor name of a layer, shape `(out_dim,)`.
pub fn bias_name(layer: &str) -> String {
    format!("{layer}.bias")
}

/// Input and output width of one affine map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub in_dim: usize,
    pub out_dim: usize,
}

/// The generator: `noise_dim -> hidden[0] ReLU -> ... -> data_dim sigmoid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSpec {
    /// Width of the noise z. Default 100.
    pub noise_dim: usize,
    /// Widths of the ReLU layers. Default `[1200, 1200]`.
    pub hidden: Vec<usize>,
    /// Width of a data row (pixels). 784 for MNIST.
    pub data_dim: usize,
    /// Weights start uniform in `[-init_range, init_range]`. Default 0.05.
    pub init_range: f32,
}

/// One maxout layer: `units` outputs, each the max of `pieces` affine maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxoutSpec {
    /// Output width. Default 240.
    pub units: usize,
    /// Affine pieces per unit. Default 5.
    pub pieces: usize,
}

/// The discriminator: maxout layers then one logit, with inverted dropout
/// on the input of every layer during training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscriminatorSpec {
    /// Width of a data row (pixels). 784 for MNIST.
    pub data_dim: usize,
    /// The maxout layers in order. Default two of 240 units x 5 pieces.
    pub layers: Vec<MaxoutSpec>,
    /// Keep probability of the dropout on the data. Default 0.8.
    pub input_keep: f32,
    /// Keep probability of the dropout on each hidden layer. Default 0.5.
    pub hidden_keep: f32,
    /// Weights start uniform in `[-init_range, init_range]`. Default 0.005.
    pub init_range: f32,
}

/// The generator's training objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorLoss {
    /// Minimise `-log D(G(z))`, the form with strong early gradients.
    #[default]
    NonSaturating,
    /// Minimise `log(1 - D(G(z)))`, the minimax game as written.
    Minimax,
}

/// Both networks and the generator's loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanSpec {
    pub generator: GeneratorSpec,
    pub discriminator: DiscriminatorSpec,
    pub generator_loss: GeneratorLoss,
}

impl GanSpec {
    /// Returns the MNIST model of Goodfellow et al. (2014) for rows of
    /// `data_dim` pixels.
    pub fn paper_mnist(data_dim: usize) -> GanSpec {
        GanSpec {
            generator: GeneratorSpec {
                noise_dim: 100,
                hidden: vec![1200, 1200],
                data_dim,
                init_range: 0.05,
            },
            discriminator: DiscriminatorSpec {
                data_dim,
                layers: vec![
                    MaxoutSpec {
                        units: 240,
                        pieces: 5
                    };
                    2
                ],
                input_keep: 0.8,
                hidden_keep: 0.5,
                init_range: 0.005,
            },
            generator_loss: GeneratorLoss::NonSaturating,
        }
    }

    /// Checks every width and probability, and that both networks agree on
    /// `data_dim`.
    pub fn validate(&self) -> Result<(), NnError> {
        self.generator.validate()?;
        self.discriminator.validate()?;
        if self.generator.data_dim != self.discriminator.data_dim {
            return Err(invalid(
                "discriminator.data_dim",
                self.discriminator.data_dim,
                &format!(
                    "must equal generator.data_dim = {}",
                    self.generator.data_dim
                ),
            ));
        }
        Ok(())
    }
}

impl GeneratorSpec {
    /// Checks that every width is positive and the init range is usable.
    pub fn validate(&self) -> Result<(), NnError> {
        positive("generator.noise_dim", self.noise_dim)?;
        positive("generator.data_dim", self.data_dim)?;
        for (i, &width) in self.hidden.iter().enumerate() {
            positive(&format!("generator.hidden[{i}]"), width)?;
        }
        init_range_ok("generator.init_range", self.init_range)
    }

    /// Lists the affine maps in order. The last one produces the data row.
    pub fn layer_shapes(&self) -> Vec<LayerShape> {
        let mut widths = vec![self.noise_dim];
        widths.extend(&self.hidden);
        widths.push(self.data_dim);
        affine_chain(&widths)
    }
}

impl DiscriminatorSpec {
    /// Checks widths, pieces and keep probabilities.
    pub fn validate(&self) -> Result<(), NnError> {
        positive("discriminator.data_dim", self.data_dim)?;
        for (i, layer) in self.layers.iter().enumerate() {
            positive(&format!("discriminator.layers[{i}].units"), layer.units)?;
            positive(&format!("discriminator.layers[{i}].pieces"), layer.pieces)?;
        }
        keep_ok("discriminator.input_keep", self.input_keep)?;
        keep_ok("discriminator.hidden_keep", self.hidden_keep)?;
        init_range_ok("discriminator.init_range", self.init_range)
    }

    /// Lists the affine maps in order. Each maxout layer maps to
    /// `units * pieces` columns, and the last map is the `(units, 1)` logit.
    pub fn layer_shapes(&self) -> Vec<LayerShape> {
        let mut shapes = Vec::with_capacity(self.layers.len() + 1);
        let mut in_dim = self.data_dim;
        for layer in &self.layers {
            shapes.push(LayerShape {
                in_dim,
                out_dim: layer.units * layer.pieces,
            });
            in_dim = layer.units;
        }
        shapes.push(LayerShape { in_dim, out_dim: 1 });
        shapes
    }

    /// Returns the keep probability of the dropout in front of layer `index`.
    pub fn keep(&self, index: usize) -> f32 {
        if index == 0 {
            self.input_keep
        } else {
            self.hidden_keep
        }
    }
}

fn affine_chain(widths: &[usize]) -> Vec<LayerShape> {
    widths
        .windows(2)
        .map(|pair| LayerShape {
            in_dim: pair[0],
            out_dim: pair[1],
        })
        .collect()
}

/// Lists the (name, shape) of every tensor of `network` in canonical
/// order: for each layer its weight, then its bias.
pub fn param_layout(network: &str, shapes: &[LayerShape]) -> Vec<(String, Vec<usize>)> {
    let mut layout = Vec::with_capacity(2 * shapes.len());
    for (i, shape) in shapes.iter().enumerate() {
        let layer = layer_name(network, i);
        layout.push((weight_name(&layer), vec![shape.in_dim, shape.out_dim]));
        layout.push((bias_name(&layer), vec![shape.out_dim]));
    }
    layout
}

/// Checks that `params` contains exactly the tensors of `layout`, by name
/// and shape, in any order.
pub fn check_params(
    op: &str,
    layout: &[(String, Vec<usize>)],
    params: &Params,
) -> Result<(), NnError> {
    for (name, shape) in layout {
        let tensor = params.require(name)?;
        if tensor.shape() != shape.as_slice() {
            return Err(shape_error(op, name, shape, tensor.shape()));
        }
    }
    if params.len() != layout.len() {
        let extra = params
            .iter()
            .map(|(name, _)| name)
            .find(|name| layout.iter().all(|(expected, _)| expected != name))
            .unwrap_or("?");
        return Err(NnError::LayoutMismatch {
            detail: format!(
                "{op}: {} tensors against {} expected; `{extra}` is not part of the network",
                params.len(),
                layout.len()
            ),
        });
    }
    Ok(())
}

fn invalid(name: &str, value: impl ToString, reason: &str) -> NnError {
    NnError::InvalidSetting {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn positive(name: &str, value: usize) -> Result<(), NnError> {
    if value == 0 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    Ok(())
}

fn keep_ok(name: &str, keep: f32) -> Result<(), NnError> {
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(invalid(
            name,
            keep,
            "a keep probability must be in (0, 1]; use 1 for no dropout",
        ));
    }
    Ok(())
}

fn init_range_ok(name: &str, range: f32) -> Result<(), NnError> {
    if !(range.is_finite() && range >= 0.0) {
        return Err(invalid(name, range, "must be finite and not negative"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_shapes_match_the_released_model() {
        let spec = GanSpec::paper_mnist(784);
        spec.validate().unwrap();
        let g = spec.generator.layer_shapes();
        assert_eq!(
            g.iter().map(|s| (s.in_dim, s.out_dim)).collect::<Vec<_>>(),
            vec![(100, 1200), (1200, 1200), (1200, 784)]
        );
        let d = spec.discriminator.layer_shapes();
        assert_eq!(
            d.iter().map(|s| (s.in_dim, s.out_dim)).collect::<Vec<_>>(),
            vec![(784, 1200), (240, 1200), (240, 1)]
        );
    }

    #[test]
    fn layout_names_are_exact() {
        let spec = GanSpec::paper_mnist(64);
        let layout = param_layout(DISCRIMINATOR, &spec.discriminator.layer_shapes());
        let names: Vec<&str> = layout.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "discriminator.0.weight",
                "discriminator.0.bias",
                "discriminator.1.weight",
                "discriminator.1.bias",
                "discriminator.2.weight",
                "discriminator.2.bias",
            ]
        );
        assert_eq!(layout[4].1, vec![240, 1]);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let mut spec = GanSpec::paper_mnist(784);
        spec.discriminator.hidden_keep = 0.0;
        assert!(matches!(
            spec.validate(),
            Err(NnError::InvalidSetting { .. })
        ));

        let mut spec = GanSpec::paper_mnist(784);
        spec.discriminator.data_dim = 64;
        assert!(matches!(
            spec.validate(),
            Err(NnError::InvalidSetting { .. })
        ));

        let mut spec = GanSpec::paper_mnist(784);
        spec.generator.hidden[1] = 0;
        assert!(matches!(
            spec.validate(),
            Err(NnError::InvalidSetting { .. })
        ));

        let mut spec = GanSpec::paper_mnist(784);
        spec.discriminator.layers[0].pieces = 0;
        assert!(matches!(
            spec.validate(),
            Err(NnError::InvalidSetting { .. })
        ));
    }

    #[test]
    fn spec_round_trips_through_toml() {
        let spec = GanSpec {
            generator_loss: GeneratorLoss::Minimax,
            ..GanSpec::paper_mnist(64)
        };
        let text = toml::to_string(&spec).unwrap();
        assert!(text.contains("generator_loss = \"minimax\""), "{text}");
        let back: GanSpec = toml::from_str(&text).unwrap();
        assert_eq!(back, spec);
    }
}
