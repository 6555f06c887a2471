//! Pure numerics: layers, the generator and discriminator networks, losses,
//! initialisers, optimizers and the portable seeded RNG. Nothing here knows
//! about the network, async runtimes or logging.

pub mod params;
pub mod rng;

pub use params::{Params, Tensor};
pub use rng::{Purpose, Rng, StreamKey};

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

/// Errors from the numerics: each names the operation and the values.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NnError {
    #[error("{op}: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    ShapeMismatch { op: String, name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("tensor `{name}` is missing")]
    MissingTensor { name: String },
    #[error("tensor `{name}` is present twice")]
    DuplicateTensor { name: String },
    #[error("parameter lists differ: {detail}")]
    LayoutMismatch { detail: String },
    #[error("invalid setting {name} = {value}: {reason}")]
    InvalidSetting { name: String, value: String, reason: String },
}
