//! One training iteration of the MNIST model of Goodfellow et al. (2014) in
//! one process: a D step on real and generated rows, then a G step. Each
//! step is a `compute_gradients` call followed by an optimizer `apply`, the
//! calls a single worker and the parameter server make.

use distgan::nn::{
    apply, compute_gradients, init_discriminator, init_generator, init_state, GanSpec, Hyper,
    MicroBatch, MicroBatchKey, NnError, OptimizerKind, Params, Phase, Purpose, Rng, Schedule,
    StepStats, StreamKey,
};
use ndarray::{s, Array2, Axis};

/// Pixels per MNIST image (28 x 28).
pub const IMAGE_DIM: usize = 784;

/// Batches of real rows kept in memory and cycled through.
const POOL_BATCHES: usize = 10;

/// The MNIST GAN with its parameters, optimizer state and a pool of real
/// rows.
pub struct Trainer {
    spec: GanSpec,
    batch: usize,
    seed: u64,
    generator: Params,
    discriminator: Params,
    generator_state: Params,
    discriminator_state: Params,
    optimizer: OptimizerKind,
    schedule: Schedule,
    /// `(POOL_BATCHES * batch, IMAGE_DIM)` pixels, uniform in [0, 1).
    real_pool: Array2<f32>,
    iterations_done: u64,
}

/// The losses of one iteration, means over the batch.
#[derive(Clone, Copy, Debug)]
pub struct IterationLosses {
    pub d_loss: f64,
    pub g_loss: f64,
}

impl Trainer {
    /// Builds the model for `batch` rows per step. Real rows are random
    /// pixels of MNIST's shape: GEMM speed does not depend on the values.
    pub fn new(batch: usize, seed: u64) -> Result<Self, NnError> {
        let spec = GanSpec::paper_mnist(IMAGE_DIM);
        spec.validate()?;

        let mut rng = Rng::new(StreamKey::global(seed, Purpose::Shuffle));
        let real_pool =
            Array2::from_shape_simple_fn((POOL_BATCHES * batch, IMAGE_DIM), || rng.uniform_f32());
        let mean_image = real_pool
            .mean_axis(Axis(0))
            .expect("the pool has at least one row");

        let generator = init_generator(&spec.generator, mean_image.view(), seed)?;
        let discriminator = init_discriminator(&spec.discriminator, seed)?;
        let optimizer = OptimizerKind::Momentum;
        let generator_state = init_state(&optimizer, &generator);
        let discriminator_state = init_state(&optimizer, &discriminator);

        Ok(Trainer {
            spec,
            batch,
            seed,
            generator,
            discriminator,
            generator_state,
            discriminator_state,
            optimizer,
            schedule: Schedule::default(),
            real_pool,
            iterations_done: 0,
        })
    }

    /// Returns the model description.
    pub fn spec(&self) -> &GanSpec {
        &self.spec
    }

    /// Runs one iteration (k = 1): a D step, then a G step.
    pub fn iteration(&mut self) -> Result<IterationLosses, NnError> {
        let step = self.iterations_done;
        let hyper = Hyper {
            learning_rate: self.schedule.learning_rate(step),
            momentum: self.schedule.momentum(1),
        };

        let d_stats = self.discriminator_step(step, &hyper)?;
        let g_stats = self.generator_step(step, &hyper)?;

        self.iterations_done += 1;
        let rows = self.batch as f64;
        Ok(IterationLosses {
            d_loss: d_stats.d_loss_sum / rows,
            g_loss: g_stats.g_loss_sum / rows,
        })
    }

    fn discriminator_step(&mut self, step: u64, hyper: &Hyper) -> Result<StepStats, NnError> {
        let first_row = (step as usize % POOL_BATCHES) * self.batch;
        let real = self
            .real_pool
            .slice(s![first_row..first_row + self.batch, ..]);
        let key = self.key(step, Phase::Discriminator);
        let z = self.noise(key);
        let batch = MicroBatch {
            real: Some(real),
            z: z.view(),
            key,
            loss_scale: 1.0 / self.batch as f32,
        };

        let gradients =
            compute_gradients(&self.spec, &self.generator, &self.discriminator, &batch)?;
        let grads = gradients
            .discriminator
            .expect("the discriminator phase returns D's gradients");
        apply(
            &self.optimizer,
            &mut self.discriminator,
            &grads,
            &mut self.discriminator_state,
            hyper,
        )?;
        Ok(gradients.stats)
    }

    fn generator_step(&mut self, step: u64, hyper: &Hyper) -> Result<StepStats, NnError> {
        let key = self.key(step, Phase::Generator);
        let z = self.noise(key);
        let batch = MicroBatch {
            real: None,
            z: z.view(),
            key,
            loss_scale: 1.0 / self.batch as f32,
        };

        let gradients =
            compute_gradients(&self.spec, &self.generator, &self.discriminator, &batch)?;
        let grads = gradients
            .generator
            .expect("the generator phase returns G's gradients");
        apply(
            &self.optimizer,
            &mut self.generator,
            &grads,
            &mut self.generator_state,
            hyper,
        )?;
        Ok(gradients.stats)
    }

    fn key(&self, step: u64, phase: Phase) -> MicroBatchKey {
        MicroBatchKey {
            seed: self.seed,
            step,
            phase,
            micro_batch: 0,
        }
    }

    /// `(batch, noise_dim)` noise, uniform on [-sqrt 3, sqrt 3] (unit variance).
    fn noise(&self, key: MicroBatchKey) -> Array2<f32> {
        let bound = 3f32.sqrt();
        let mut rng = Rng::new(key.stream(Purpose::Noise));
        Array2::from_shape_simple_fn((self.batch, self.spec.generator.noise_dim), || {
            rng.uniform_range(-bound, bound)
        })
    }
}
