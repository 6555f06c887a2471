//! Pure numerics: layers, the generator and discriminator networks, losses,
//! initialisers, optimizers and the portable seeded RNG. Nothing here knows
//! about the network, async runtimes or logging.
//!
//! Layout: one layer kind per file (`linear`, `relu`, `sigmoid`, `maxout`,
//! `dropout`); `spec` describes the networks and their tensor names;
//! `init` draws initial parameters; `generator` and `discriminator` chain
//! the layers; `loss` holds the logit losses; `gan` is the gradient entry
//! point a worker calls; `optim` applies gradients on the parameter server.

pub mod discriminator;
pub mod dropout;
pub mod gan;
pub mod generator;
pub mod init;
pub mod linear;
pub mod loss;
pub mod maxout;
pub mod optim;
pub mod params;
pub mod relu;
pub mod rng;
pub mod sigmoid;
pub mod spec;

#[cfg(test)]
mod gan_tests;

pub use discriminator::discriminate;
pub use gan::{compute_gradients, Gradients, MicroBatch, MicroBatchKey, StepStats};
pub use generator::generate;
pub use init::{init_discriminator, init_generator};
pub use optim::{apply, init_state, Hyper, OptimizerKind, Schedule};
pub use params::{Params, Tensor};
pub use rng::{Purpose, Rng, StreamKey};
pub use spec::{DiscriminatorSpec, GanSpec, GeneratorLoss, GeneratorSpec, MaxoutSpec};

use thiserror::Error;

/// Which update of Algorithm 1 a computation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A discriminator update (the k inner steps).
    Discriminator,
    /// A generator update.
    Generator,
    /// Both updates from one batch, as in the `simultaneous` schedule.
    Joint,
}

impl Phase {
    /// The stable numeric code used in random stream keys and on the wire.
    pub fn code(self) -> u32 {
        match self {
            Phase::Discriminator => 1,
            Phase::Generator => 2,
            Phase::Joint => 3,
        }
    }

    /// The phase with numeric code `code`, if any.
    pub fn from_code(code: u32) -> Option<Phase> {
        match code {
            1 => Some(Phase::Discriminator),
            2 => Some(Phase::Generator),
            3 => Some(Phase::Joint),
            _ => None,
        }
    }
}

/// The choice of whether a backward pass computes the gradient with
/// respect to its input. Skipping it saves a matrix product where the result
/// is unused, such as at D's first layer in a discriminator update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputGrad {
    /// Compute and return the input gradient.
    Compute,
    /// Return `None` and skip the work.
    Skip,
}

/// Errors from the numerics: each names the operation and the values.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NnError {
    #[error("{op}: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    ShapeMismatch { op: String, name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("tensor `{name}` has shape {got:?}, expected a tensor of rank {expected}")]
    RankMismatch { name: String, expected: usize, got: Vec<usize> },
    #[error("tensor `{name}` is missing")]
    MissingTensor { name: String },
    #[error("tensor `{name}` is present twice")]
    DuplicateTensor { name: String },
    #[error("parameter lists differ: {detail}")]
    LayoutMismatch { detail: String },
    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting { name: String, value: String, reason: String },
    #[error("{op}: input `{input}` is missing; pass it in the micro-batch")]
    MissingInput { op: String, input: String },
    #[error("tensor `{name}` contains NaN or infinity; check the inputs or lower the learning rate")]
    NonFinite { name: String },
}

/// Builds a [`NnError::ShapeMismatch`] for `op` on `name`.
pub(crate) fn shape_error(op: &str, name: &str, expected: &[usize], got: &[usize]) -> NnError {
    NnError::ShapeMismatch {
        op: op.to_string(),
        name: name.to_string(),
        expected: expected.to_vec(),
        got: got.to_vec(),
    }
}
