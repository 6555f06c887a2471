//! Training settings: the values of a run file or the command line, and the
//! validated configuration the roles run on.
//!
//! [`Settings`] mirrors `config.toml`: every field has a default (the model
//! of Goodfellow et al., 2014, on MNIST),
//! so a file may name only what it changes. [`Settings::validate`] turns it
//! into a [`TrainConfig`], which the coordinator, workers and parameter
//! server take; code past that point never sees an invalid value.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::coordinator::schedule::ScheduleKind;

/// A rejected setting, with the value and what to do.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid {name} = {value}: {fix}")]
    Invalid { name: &'static str, value: String, fix: String },
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

fn invalid(name: &'static str, value: impl ToString, fix: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, value: value.to_string(), fix: fix.into() }
}

/// Network sizes. Defaults are the MNIST model of Goodfellow et al. (2014).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Dimension of the generator's input noise z. Default 100.
    pub noise_dim: usize,
    /// Widths of G's hidden ReLU layers. Default [1200, 1200].
    pub generator_hidden: Vec<usize>,
    /// Maxout units per D hidden layer. Default 240.
    pub maxout_units: usize,
    /// Linear pieces per maxout unit. Default 5.
    pub maxout_pieces: usize,
    /// Number of maxout layers in D. Default 2.
    pub maxout_layers: usize,
    /// `non-saturating` (default, -log D(G(z))) or `minimax` (log(1 - D(G(z)))).
    pub generator_loss: String,
    /// `uniform` (default, on [-sqrt 3, sqrt 3]) or `gaussian`.
    pub noise: String,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            noise_dim: 100,
            generator_hidden: vec![1200, 1200],
            maxout_units: 240,
            maxout_pieces: 5,
            maxout_layers: 2,
            generator_loss: "non-saturating".into(),
            noise: "uniform".into(),
        }
    }
}

/// Optimizer settings.
///
/// The default is Adam (learning rate 2e-4, beta1 0.5), which gives
/// recognisable MNIST digits within a few epochs. The classic
/// momentum SGD (`kind = "momentum"`, learning rate 0.1 with the decay and
/// momentum ramp below) of Goodfellow et al. (2014) is kept exactly. With
/// their model it still
/// draws blurred, collapsed samples after 8 epochs, so it suits long runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerSettings {
    /// `adam` (default) or `momentum`.
    pub kind: String,
    /// Initial learning rate. Default: 0.0002 for Adam, 0.1 for momentum.
    pub learning_rate: Option<f32>,
    /// The learning rate is divided by this after every update. Default 1.000004.
    pub lr_decay: f32,
    /// Lowest learning rate the decay reaches. Default 1e-6.
    pub lr_floor: f32,
    /// Momentum in epoch 1. Default 0.5.
    pub momentum_start: f32,
    /// Momentum from `momentum_saturate_epoch` on. Default 0.7.
    pub momentum_end: f32,
    /// Epoch at which momentum reaches `momentum_end`. Default 250.
    pub momentum_saturate_epoch: u64,
    /// Adam's first-moment decay. Default 0.5.
    pub adam_beta1: f32,
    /// Adam's second-moment decay. Default 0.999.
    pub adam_beta2: f32,
    /// Adam's denominator term. Default 1e-8.
    pub adam_epsilon: f32,
}

impl OptimizerSettings {
    /// Returns the learning rate set, or the default of the chosen optimizer.
    pub fn initial_learning_rate(&self) -> f32 {
        match (self.learning_rate, self.kind.as_str()) {
            (Some(rate), _) => rate,
            (None, "momentum") => 0.1,
            (None, _) => 0.0002,
        }
    }
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings {
            kind: "adam".into(),
            learning_rate: None,
            lr_decay: 1.000004,
            lr_floor: 1e-6,
            momentum_start: 0.5,
            momentum_end: 0.7,
            momentum_saturate_epoch: 250,
            adam_beta1: 0.5,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
        }
    }
}

/// Everything a training run is configured by; the form of `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Folder with the MNIST IDX files. Default `data/mnist`.
    pub data: PathBuf,
    /// Run folder for metrics, samples, checkpoints. Default `runs/mnist`.
    pub out: PathBuf,
    /// Workers started by `distgan train`. Default 2.
    pub workers: usize,
    /// Length of the run in epochs of real data; ignored when `steps` is set. Default 6.
    pub epochs: u64,
    /// Length of the run in steps (parameter updates: with the alternating
    /// schedule, k discriminator steps and then one generator step make an
    /// iteration); overrides `epochs`.
    pub steps: Option<u64>,
    /// Seed of every random draw in the run. Default 1.
    pub seed: u64,
    /// `alternating` (default) or `simultaneous`.
    pub schedule: ScheduleKind,
    /// Discriminator steps per generator step. Default 1.
    pub k: u32,
    /// Global minibatch size. Default 100.
    pub batch: usize,
    /// Micro-batches each step's batch is cut into; fixed for the run so the
    /// result does not depend on the number of workers. Default 2.
    pub micro_batches: u32,
    /// Training images, taken from the start of the training file. Default 50000.
    pub train_images: usize,
    /// Validation images, following the training images. Default 10000.
    pub validation_images: usize,
    /// Write a sample grid every this many steps (0: only at the end). Default 1000.
    pub sample_every: u64,
    /// Write a checkpoint every this many steps (0: only at the end). Default 1000.
    pub checkpoint_every: u64,
    /// Run the Parzen-window evaluation after training. Default true.
    pub evaluate: bool,
    /// Generated samples the Parzen window is fitted on. Default 10000.
    pub eval_samples: usize,
    /// Test images the Parzen estimate is reported on. Default 10000.
    pub eval_test_images: usize,
    /// Validation images sigma is chosen on. Default 1000.
    pub eval_validation_images: usize,
    pub model: ModelSettings,
    pub optimizer: OptimizerSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data: PathBuf::from("data/mnist"),
            out: PathBuf::from("runs/mnist"),
            workers: 2,
            epochs: 6,
            steps: None,
            seed: 1,
            schedule: ScheduleKind::Alternating,
            k: 1,
            batch: 100,
            micro_batches: 2,
            train_images: 50_000,
            validation_images: 10_000,
            sample_every: 1000,
            checkpoint_every: 1000,
            evaluate: true,
            eval_samples: 10_000,
            eval_test_images: 10_000,
            eval_validation_images: 1_000,
            model: ModelSettings::default(),
            optimizer: OptimizerSettings::default(),
        }
    }
}

/// Settings that passed validation. Build one with [`Settings::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    settings: Settings,
}

impl TrainConfig {
    /// Returns the validated settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Rows in each micro-batch: `batch / micro_batches`.
    pub fn micro_batch_rows(&self) -> usize {
        self.settings.batch / self.settings.micro_batches as usize
    }

    /// Returns the settings as `config.toml` text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(&self.settings).expect("Settings holds only TOML-representable fields")
    }
}

impl Settings {
    /// Reads a TOML settings file; absent keys keep their defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
    }

    /// Checks every value and returns the validated configuration.
    pub fn validate(mut self) -> Result<TrainConfig, ConfigError> {
        self.validate_run()?;
        self.validate_model()?;
        self.validate_optimizer()?;
        // Record the resolved rate, so config.toml states what the run used.
        self.optimizer.learning_rate = Some(self.optimizer.initial_learning_rate());
        Ok(TrainConfig { settings: self })
    }

    fn validate_run(&self) -> Result<(), ConfigError> {
        if self.workers == 0 || self.workers > 256 {
            return Err(invalid("workers", self.workers, "use 1 to 256 workers"));
        }
        if self.batch == 0 {
            return Err(invalid("batch", self.batch, "use a batch of at least 1"));
        }
        let micro = self.micro_batches as usize;
        if micro == 0 || self.batch % micro != 0 {
            return Err(invalid(
                "micro_batches",
                self.micro_batches,
                format!("use a divisor of the batch size {}", self.batch),
            ));
        }
        if self.k == 0 {
            return Err(invalid("k", self.k, "use at least 1 discriminator step per generator step"));
        }
        if self.steps == Some(0) || (self.steps.is_none() && self.epochs == 0) {
            return Err(invalid("steps/epochs", 0, "train for at least 1 step or epoch"));
        }
        if self.train_images < self.batch {
            return Err(invalid(
                "train_images",
                self.train_images,
                format!("use at least one batch ({}) of training images", self.batch),
            ));
        }
        if self.evaluate && (self.eval_samples == 0 || self.eval_test_images == 0 || self.eval_validation_images == 0) {
            return Err(invalid("eval_*", 0, "use at least 1 sample and image, or set evaluate = false"));
        }
        if self.evaluate && self.eval_validation_images > self.validation_images {
            return Err(invalid(
                "eval_validation_images",
                self.eval_validation_images,
                format!("use at most validation_images ({})", self.validation_images),
            ));
        }
        Ok(())
    }

    fn validate_model(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        if m.noise_dim == 0 || m.maxout_units == 0 || m.maxout_pieces == 0 || m.maxout_layers == 0 {
            return Err(invalid("model sizes", format!("{m:?}"), "every size must be at least 1"));
        }
        if m.generator_hidden.iter().any(|&w| w == 0) {
            return Err(invalid("model.generator_hidden", format!("{:?}", m.generator_hidden), "widths must be at least 1"));
        }
        if !["non-saturating", "minimax"].contains(&m.generator_loss.as_str()) {
            return Err(invalid("model.generator_loss", &m.generator_loss, "use `non-saturating` or `minimax`"));
        }
        if !["uniform", "gaussian"].contains(&m.noise.as_str()) {
            return Err(invalid("model.noise", &m.noise, "use `uniform` or `gaussian`"));
        }
        Ok(())
    }

    fn validate_optimizer(&self) -> Result<(), ConfigError> {
        let o = &self.optimizer;
        if !["momentum", "adam"].contains(&o.kind.as_str()) {
            return Err(invalid("optimizer.kind", &o.kind, "use `momentum` or `adam`"));
        }
        let positive = |name, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(invalid(name, v, "use a finite value above 0"))
            }
        };
        positive("optimizer.learning_rate", o.initial_learning_rate())?;
        positive("optimizer.lr_floor", o.lr_floor)?;
        positive("optimizer.adam_epsilon", o.adam_epsilon)?;
        if !(o.lr_decay.is_finite() && o.lr_decay >= 1.0) {
            return Err(invalid("optimizer.lr_decay", o.lr_decay, "use a finite value of at least 1 (1 means no decay)"));
        }
        for (name, v) in [
            ("optimizer.momentum_start", o.momentum_start),
            ("optimizer.momentum_end", o.momentum_end),
            ("optimizer.adam_beta1", o.adam_beta1),
            ("optimizer.adam_beta2", o.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(invalid(name, v, "use a value in [0, 1)"));
            }
        }
        if o.momentum_saturate_epoch == 0 {
            return Err(invalid("optimizer.momentum_saturate_epoch", 0, "use an epoch of at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Settings::default().validate().unwrap();
        assert_eq!(config.micro_batch_rows(), 50);
    }

    #[test]
    fn micro_batches_must_divide_batch() {
        let err = Settings { micro_batches: 3, ..Settings::default() }.validate().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("micro_batches = 3"), "{message}");
        assert!(message.contains("divisor of the batch size 100"), "{message}");
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let cases: Vec<(Settings, &str)> = vec![
            (Settings { workers: 0, ..Settings::default() }, "workers = 0"),
            (Settings { k: 0, ..Settings::default() }, "k = 0"),
            (Settings { batch: 0, ..Settings::default() }, "batch = 0"),
            (Settings { steps: Some(0), ..Settings::default() }, "steps/epochs"),
            (Settings { train_images: 10, ..Settings::default() }, "train_images = 10"),
        ];
        for (settings, expected) in cases {
            let message = settings.validate().unwrap_err().to_string();
            assert!(message.contains(expected), "{message} should name {expected}");
        }
        let mut settings = Settings::default();
        settings.optimizer.learning_rate = Some(f32::NAN);
        assert!(settings.validate().unwrap_err().to_string().contains("optimizer.learning_rate"));
        let mut settings = Settings::default();
        settings.model.noise = "cauchy".into();
        assert!(settings.validate().unwrap_err().to_string().contains("model.noise = cauchy"));
    }

    #[test]
    fn toml_round_trip_keeps_settings() {
        let config = Settings { k: 3, seed: 9, ..Settings::default() }.validate().unwrap();
        let back: Settings = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(&back, config.settings());
        assert_eq!(back.optimizer.learning_rate, Some(0.0002));
    }

    #[test]
    fn learning_rate_defaults_per_optimizer() {
        let mut settings = Settings::default();
        settings.optimizer.kind = "momentum".into();
        assert_eq!(settings.clone().validate().unwrap().settings().optimizer.learning_rate, Some(0.1));
        settings.optimizer.learning_rate = Some(0.05);
        assert_eq!(settings.validate().unwrap().settings().optimizer.learning_rate, Some(0.05));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = toml::from_str::<Settings>("bacth = 10").unwrap_err();
        assert!(err.to_string().contains("bacth"), "{err}");
    }
}

#[cfg(test)]
mod shipped_config_tests {
    use super::*;

    #[test]
    fn paper_config_file_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/paper.toml");
        let config = Settings::from_file(&path).unwrap().validate().unwrap();
        let optimizer = &config.settings().optimizer;
        assert_eq!(optimizer.kind, "momentum");
        assert_eq!(optimizer.learning_rate, Some(0.1));
        assert_eq!(config.settings().model, ModelSettings::default());
    }
}
