//! The gradient entry point a worker calls for one micro-batch.
//!
//! Every result is a pure function of the parameters and the micro-batch:
//! the dropout masks come from streams named by the micro-batch key, and
//! all sums run in a fixed order. Gradients are `loss_scale` times the sum
//! over rows, so with `loss_scale = 1 / global_batch` the coordinator's
//! in-order sum of micro-batch gradients is the global-batch mean gradient.

use ndarray::{ArrayView2, CowArray};

use super::discriminator::{self, check_discriminator_params, DiscriminatorTape};
use super::dropout::Mode;
use super::generator::{self, check_generator_params, GeneratorTape};
use super::loss::{self, LogitLoss, Target};
use super::params::Params;
use super::rng::{Purpose, Rng, StreamKey};
use super::spec::GanSpec;
use super::{shape_error, InputGrad, NnError, Phase};

/// The position of a micro-batch in the run, which names its dropout
/// streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MicroBatchKey {
    pub seed: u64,
    pub step: u64,
    pub phase: Phase,
    pub micro_batch: u32,
}

impl MicroBatchKey {
    /// Returns the random stream key of this micro-batch for `purpose`.
    pub fn stream(&self, purpose: Purpose) -> StreamKey {
        StreamKey {
            seed: self.seed,
            step: self.step,
            phase: self.phase.code(),
            micro_batch: self.micro_batch,
            purpose,
        }
    }
}

/// One micro-batch of work.
#[derive(Clone, Copy, Debug)]
pub struct MicroBatch<'a> {
    /// Training rows `(rows, data_dim)`, required for the discriminator and
    /// joint phases and ignored in the generator phase.
    pub real: Option<ArrayView2<'a, f32>>,
    /// Noise `(rows, noise_dim)`, sampled by the caller.
    pub z: ArrayView2<'a, f32>,
    /// Seeds the dropout masks (`DropoutReal` and `DropoutFake` streams).
    pub key: MicroBatchKey,
    /// Factor on every gradient, normally `1 / global batch size`.
    pub loss_scale: f32,
}

/// Loss and output sums over the rows of a micro-batch, unscaled, so that
/// micro-batch statistics add up to global-batch sums.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepStats {
    pub rows: usize,
    /// Sum of the per-row D loss. It is 0 in the generator phase, which has
    /// no real pass.
    pub d_loss_sum: f64,
    /// Sum of the per-row G loss, under the D dropout masks of this phase.
    pub g_loss_sum: f64,
    /// Sum of `sigmoid(l_real)`, or 0 in the generator phase.
    pub d_real_sum: f64,
    /// Sum of `sigmoid(l_fake)`.
    pub d_fake_sum: f64,
}

impl StepStats {
    /// Adds another micro-batch's sums into these.
    pub fn add(&mut self, other: &StepStats) {
        self.rows += other.rows;
        self.d_loss_sum += other.d_loss_sum;
        self.g_loss_sum += other.g_loss_sum;
        self.d_real_sum += other.d_real_sum;
        self.d_fake_sum += other.d_fake_sum;
    }
}

/// The gradients of one micro-batch: G's in the generator and joint
/// phases, D's in the discriminator and joint phases, each with the same
/// layout as the parameters it belongs to.
#[derive(Clone, Debug)]
pub struct Gradients {
    pub generator: Option<Params>,
    pub discriminator: Option<Params>,
    pub stats: StepStats,
}

/// Computes the gradients of `batch` for its phase.
///
/// - Discriminator: G forward, D forward on real and fake rows with
///   separate masks, D loss backward into D only.
/// - Generator: G forward, D forward on fake rows with dropout, G loss
///   backward through D (input gradient only) into G.
/// - Joint: one pass of each, sharing the fake pass, both gradients.
///
/// Every shape is checked before any arithmetic.
pub fn compute_gradients(
    spec: &GanSpec,
    g: &Params,
    d: &Params,
    batch: &MicroBatch,
) -> Result<Gradients, NnError> {
    validate(spec, g, d, batch)?;
    match batch.key.phase {
        Phase::Discriminator => discriminator_step(spec, g, d, batch),
        Phase::Generator => generator_step(spec, g, d, batch),
        Phase::Joint => joint_step(spec, g, d, batch),
    }
}

fn validate(spec: &GanSpec, g: &Params, d: &Params, batch: &MicroBatch) -> Result<(), NnError> {
    spec.validate()?;
    check_generator_params(&spec.generator, g)?;
    check_discriminator_params(&spec.discriminator, d)?;

    let rows = batch.z.nrows();
    if rows == 0 {
        return Err(NnError::InvalidSetting {
            name: "micro-batch rows".into(),
            value: "0".into(),
            reason: "a micro-batch needs at least one row of z".into(),
        });
    }
    if batch.z.ncols() != spec.generator.noise_dim {
        return Err(shape_error(
            "compute_gradients",
            "z",
            &[rows, spec.generator.noise_dim],
            batch.z.shape(),
        ));
    }
    if !(batch.loss_scale.is_finite() && batch.loss_scale > 0.0) {
        return Err(NnError::InvalidSetting {
            name: "loss_scale".into(),
            value: batch.loss_scale.to_string(),
            reason: "must be finite and positive, normally 1 / global batch size".into(),
        });
    }
    if batch.key.phase != Phase::Generator {
        let real = real_rows(batch)?;
        if real.shape() != [rows, spec.discriminator.data_dim] {
            return Err(shape_error(
                "compute_gradients",
                "real",
                &[rows, spec.discriminator.data_dim],
                real.shape(),
            ));
        }
    }
    Ok(())
}

fn real_rows<'a>(batch: &MicroBatch<'a>) -> Result<ArrayView2<'a, f32>, NnError> {
    batch.real.ok_or_else(|| NnError::MissingInput {
        op: format!("compute_gradients in the {:?} phase", batch.key.phase),
        input: "real".into(),
    })
}

/// Runs D in training mode on `xs`, with masks from the `purpose` stream.
fn train_discriminator<'a>(
    spec: &GanSpec,
    d: &Params,
    xs: CowArray<'a, f32, ndarray::Ix2>,
    batch: &MicroBatch,
    purpose: Purpose,
) -> Result<DiscriminatorTape<'a>, NnError> {
    let mut rng = Rng::new(batch.key.stream(purpose));
    discriminator::forward(&spec.discriminator, d, xs, &mut Mode::Train(&mut rng))
}

/// Computes D's loss halves on both passes and the resulting D gradients.
fn discriminator_grads(
    spec: &GanSpec,
    d: &Params,
    real_tape: &DiscriminatorTape,
    fake_tape: &DiscriminatorTape,
    loss_scale: f32,
) -> Result<(Params, LogitLoss, LogitLoss), NnError> {
    let real_loss = loss::discriminator_half(real_tape.logits(), Target::Real, loss_scale);
    let fake_loss = loss::discriminator_half(fake_tape.logits(), Target::Fake, loss_scale);
    let mut grads = d.zeros_like();
    let ds = &spec.discriminator;
    // G is not updated in this phase, so D's first layer skips its input
    // gradient.
    discriminator::backward(
        ds,
        d,
        real_tape,
        real_loss.dlogits.clone(),
        Some(&mut grads),
        InputGrad::Skip,
    )?;
    discriminator::backward(
        ds,
        d,
        fake_tape,
        fake_loss.dlogits.clone(),
        Some(&mut grads),
        InputGrad::Skip,
    )?;
    Ok((grads, real_loss, fake_loss))
}

/// Computes G's gradients for the loss `g_loss` on the recorded fake pass.
fn generator_grads(
    spec: &GanSpec,
    g: &Params,
    d: &Params,
    g_tape: &GeneratorTape,
    fake_tape: &DiscriminatorTape,
    g_loss: &LogitLoss,
) -> Result<Params, NnError> {
    let d_samples = discriminator::backward(
        &spec.discriminator,
        d,
        fake_tape,
        g_loss.dlogits.clone(),
        None,
        InputGrad::Compute,
    )?
    .expect("discriminator::backward returns the input gradient when asked to compute it");
    let mut grads = g.zeros_like();
    generator::backward(&spec.generator, g, g_tape, d_samples, &mut grads)?;
    Ok(grads)
}

fn discriminator_step(
    spec: &GanSpec,
    g: &Params,
    d: &Params,
    batch: &MicroBatch,
) -> Result<Gradients, NnError> {
    let real = real_rows(batch)?;
    let fake = generator::forward(&spec.generator, g, batch.z)?.into_output();

    let real_tape =
        train_discriminator(spec, d, CowArray::from(real), batch, Purpose::DropoutReal)?;
    let fake_tape =
        train_discriminator(spec, d, CowArray::from(fake), batch, Purpose::DropoutFake)?;

    let (d_grads, real_loss, fake_loss) =
        discriminator_grads(spec, d, &real_tape, &fake_tape, batch.loss_scale)?;
    let g_loss = loss::generator(fake_tape.logits(), spec.generator_loss, batch.loss_scale);

    let stats = StepStats {
        rows: batch.z.nrows(),
        d_loss_sum: real_loss.loss_sum + fake_loss.loss_sum,
        g_loss_sum: g_loss.loss_sum,
        d_real_sum: loss::probability_sum(real_tape.logits()),
        d_fake_sum: loss::probability_sum(fake_tape.logits()),
    };
    Ok(Gradients {
        generator: None,
        discriminator: Some(d_grads),
        stats,
    })
}

fn generator_step(
    spec: &GanSpec,
    g: &Params,
    d: &Params,
    batch: &MicroBatch,
) -> Result<Gradients, NnError> {
    let g_tape = generator::forward(&spec.generator, g, batch.z)?;
    let fake_tape = train_discriminator(
        spec,
        d,
        CowArray::from(g_tape.output()),
        batch,
        Purpose::DropoutFake,
    )?;

    let g_loss = loss::generator(fake_tape.logits(), spec.generator_loss, batch.loss_scale);
    let g_grads = generator_grads(spec, g, d, &g_tape, &fake_tape, &g_loss)?;

    let stats = StepStats {
        rows: batch.z.nrows(),
        d_loss_sum: 0.0,
        g_loss_sum: g_loss.loss_sum,
        d_real_sum: 0.0,
        d_fake_sum: loss::probability_sum(fake_tape.logits()),
    };
    Ok(Gradients {
        generator: Some(g_grads),
        discriminator: None,
        stats,
    })
}

fn joint_step(
    spec: &GanSpec,
    g: &Params,
    d: &Params,
    batch: &MicroBatch,
) -> Result<Gradients, NnError> {
    let real = real_rows(batch)?;
    let g_tape = generator::forward(&spec.generator, g, batch.z)?;

    let real_tape =
        train_discriminator(spec, d, CowArray::from(real), batch, Purpose::DropoutReal)?;
    let fake_tape = train_discriminator(
        spec,
        d,
        CowArray::from(g_tape.output()),
        batch,
        Purpose::DropoutFake,
    )?;

    let (d_grads, real_loss, fake_loss) =
        discriminator_grads(spec, d, &real_tape, &fake_tape, batch.loss_scale)?;
    let g_loss = loss::generator(fake_tape.logits(), spec.generator_loss, batch.loss_scale);
    let g_grads = generator_grads(spec, g, d, &g_tape, &fake_tape, &g_loss)?;

    let stats = StepStats {
        rows: batch.z.nrows(),
        d_loss_sum: real_loss.loss_sum + fake_loss.loss_sum,
        g_loss_sum: g_loss.loss_sum,
        d_real_sum: loss::probability_sum(real_tape.logits()),
        d_fake_sum: loss::probability_sum(fake_tape.logits()),
    };
    Ok(Gradients {
        generator: Some(g_grads),
        discriminator: Some(d_grads),
        stats,
    })
}
