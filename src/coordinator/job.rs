//! The job: what every worker must agree on to compute the same gradients.
//!
//! The coordinator builds a [`JobSpec`] from the validated configuration
//! and the loaded data, and sends it to each worker on joining. A worker
//! rebuilds the networks and the batch plan from it alone, and checks its
//! own copy of the training data against the fingerprint.

use std::time::Duration;

use crate::config::TrainConfig;
use crate::data::NoiseKind;
use crate::nn::{DiscriminatorSpec, GanSpec, GeneratorLoss, GeneratorSpec, MaxoutSpec};

/// The settings a worker needs, as sent on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub seed: u64,
    pub noise_dim: usize,
    pub generator_hidden: Vec<usize>,
    /// Pixels per image.
    pub data_dim: usize,
    pub maxout_units: usize,
    pub maxout_pieces: usize,
    pub maxout_layers: usize,
    pub generator_loss: GeneratorLoss,
    pub noise: NoiseKind,
    /// Training images, from the start of the training file.
    pub train_images: usize,
    /// Global batch size.
    pub batch: usize,
    pub micro_batches: u32,
    /// [`fingerprint`] of the training images.
    pub train_fingerprint: u64,
}

impl JobSpec {
    /// The job of `config` on training data of `data_dim` pixels per image.
    pub fn from_config(config: &TrainConfig, data_dim: usize, train_fingerprint: u64) -> JobSpec {
        let s = config.settings();
        JobSpec {
            seed: s.seed,
            noise_dim: s.model.noise_dim,
            generator_hidden: s.model.generator_hidden.clone(),
            data_dim,
            maxout_units: s.model.maxout_units,
            maxout_pieces: s.model.maxout_pieces,
            maxout_layers: s.model.maxout_layers,
            generator_loss: match s.model.generator_loss.as_str() {
                "minimax" => GeneratorLoss::Minimax,
                _ => GeneratorLoss::NonSaturating,
            },
            noise: match s.model.noise.as_str() {
                "gaussian" => NoiseKind::Gaussian,
                _ => NoiseKind::Uniform,
            },
            train_images: s.train_images,
            batch: s.batch,
            micro_batches: s.micro_batches,
            train_fingerprint,
        }
    }

    /// The networks this job trains.
    pub fn gan_spec(&self) -> GanSpec {
        let mut spec = GanSpec::paper_mnist(self.data_dim);
        spec.generator = GeneratorSpec {
            noise_dim: self.noise_dim,
            hidden: self.generator_hidden.clone(),
            data_dim: self.data_dim,
            ..spec.generator
        };
        spec.discriminator = DiscriminatorSpec {
            data_dim: self.data_dim,
            layers: vec![MaxoutSpec { units: self.maxout_units, pieces: self.maxout_pieces }; self.maxout_layers],
            ..spec.discriminator
        };
        spec.generator_loss = self.generator_loss;
        spec
    }
}

/// What a worker receives on joining.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInfo {
    pub spec: JobSpec,
    /// (shard, parameter-server address) of every shard.
    pub shard_locations: Vec<(String, String)>,
    /// How often workers send heartbeats.
    pub heartbeat_interval: Duration,
}

/// FNV-1a over the bits of every value: a cheap check that two processes
/// loaded the same training images.
pub fn fingerprint(values: &[f32]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for value in values {
        for byte in value.to_bits().to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}
