//! Files a run writes besides checkpoints and metrics: the data the
//! coordinator loads, sample grids, and the Parzen-window evaluation.
//!
//! The heavy parts (generating samples, distance matrices) run on a
//! blocking thread so the async runtime stays responsive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{s, Array2, Axis};
use serde::{Deserialize, Serialize};

use super::job::JobSpec;
use super::RunError;
use crate::config::Settings;
use crate::data::{sample_noise, Dataset, SplitSpec};
use crate::eval::{
    evaluate_parzen, linear_paths, nearest_neighbours, render_grid, render_grid_with_neighbours, write_png, GrayImage,
    GridOptions, ParzenOptions,
};
use crate::nn::{generate, Params, Purpose, StreamKey};

/// Samples in a grid written during training (10 x 10).
pub const GRID_SAMPLES: usize = 100;

/// The images the Parzen evaluation and `--nearest` need.
pub struct EvalSets {
    /// The first `eval_validation_images` validation images.
    pub validation: Array2<f32>,
    /// The first `eval_test_images` test images.
    pub test: Array2<f32>,
    /// Training images, for nearest neighbours.
    pub train: Arc<Array2<f32>>,
    pub image_rows: usize,
    pub image_cols: usize,
}

/// Images the coordinator loads.
pub struct RunData {
    /// `(train_images, pixels)`.
    pub train: Arc<Array2<f32>>,
    pub eval_sets: EvalSets,
}

/// Loads the training, validation and test images a run's settings name.
pub fn load_run_data(settings: &Settings) -> Result<RunData, RunError> {
    let test_count = if settings.evaluate { settings.eval_test_images } else { 0 };
    let split = SplitSpec {
        train_count: Some(settings.train_images),
        validation_count: settings.validation_images,
        test_count: Some(test_count),
    };
    let dataset = Dataset::load(&settings.data, &split)?;
    let validation_rows = settings.eval_validation_images.min(dataset.validation.nrows());
    let train = Arc::new(dataset.train);
    Ok(RunData {
        train: Arc::clone(&train),
        eval_sets: EvalSets {
            validation: dataset.validation.slice(s![..validation_rows, ..]).to_owned(),
            test: dataset.test,
            train,
            image_rows: dataset.image_rows,
            image_cols: dataset.image_cols,
        },
    })
}

/// Side of the square image a job's `data_dim` pixels form.
fn image_side(job: &JobSpec) -> (usize, usize) {
    let side = (job.data_dim as f64).sqrt().round() as usize;
    if side * side == job.data_dim {
        (side, side)
    } else {
        (1, job.data_dim)
    }
}

/// Generates `count` images from noise stream `key`.
fn generate_from(job: &JobSpec, generator: &Params, count: usize, key: StreamKey) -> Result<Array2<f32>, RunError> {
    let z = sample_noise(job.noise, count, job.noise_dim, key);
    Ok(generate(&job.gan_spec().generator, generator, z.view())?)
}

fn write_grid(path: &Path, images: &Array2<f32>, shape: (usize, usize), columns: usize) -> Result<(), RunError> {
    let options = GridOptions { cols: columns.max(1), ..GridOptions::default() };
    save(path, render_grid(images.view(), shape.0, shape.1, &options)?)
}

fn save(path: &Path, image: GrayImage) -> Result<(), RunError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| RunError::Io { path: parent.to_path_buf(), source })?;
    }
    Ok(write_png(path, &image)?)
}

/// Writes a 10 x 10 grid of samples from the run's fixed noise, so grids
/// from different steps show the same z.
pub async fn write_sample_grid(job: &JobSpec, generator: Params, path: PathBuf) -> Result<(), RunError> {
    let job = job.clone();
    tokio::task::spawn_blocking(move || {
        let key = StreamKey::global(job.seed, Purpose::SampleNoise);
        let images = generate_from(&job, &generator, GRID_SAMPLES, key)?;
        write_grid(&path, &images, image_side(&job), 10)
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))?
}

/// Request of `distgan sample`: how many samples and in which layout.
#[derive(Clone, Debug)]
pub struct SampleRequest {
    pub count: usize,
    pub seed: u64,
    /// Put each sample's nearest training image to its right.
    pub nearest: bool,
    /// Draw rows of linear interpolations in z instead of independent samples.
    pub interpolate: bool,
}

/// Steps along each interpolation row.
const INTERPOLATION_STEPS: usize = 10;

/// Writes the PNG that `request` describes to `out`.
pub async fn write_samples_file(
    settings: &Settings,
    job: &JobSpec,
    generator: Params,
    request: &SampleRequest,
    out: &Path,
) -> Result<(), RunError> {
    let train = if request.nearest { Some(load_run_data(settings)?.train) } else { None };
    let (job, request, out) = (job.clone(), request.clone(), out.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let key = StreamKey::global(request.seed, Purpose::Eval);
        let count = request.count.max(1);
        let shape = image_side(&job);
        if request.interpolate {
            let rows = count.div_ceil(INTERPOLATION_STEPS);
            let ends = sample_noise(job.noise, 2 * rows, job.noise_dim, key);
            let z = linear_paths(ends.slice(s![..rows, ..]), ends.slice(s![rows.., ..]), INTERPOLATION_STEPS)?;
            let images = generate(&job.gan_spec().generator, &generator, z.view())?;
            return write_grid(&out, &images, shape, INTERPOLATION_STEPS);
        }
        let images = generate_from(&job, &generator, count, key)?;
        let columns = (count as f64).sqrt().ceil() as usize;
        match train {
            Some(train) => {
                let neighbours = nearest_neighbours(images.view(), train.view())?;
                let rows: Vec<usize> = neighbours.iter().map(|n| n.index).collect();
                let nearest = train.select(Axis(0), &rows);
                let options = GridOptions { cols: columns.max(1), ..GridOptions::default() };
                save(&out, render_grid_with_neighbours(images.view(), nearest.view(), shape.0, shape.1, &options)?)
            }
            None => write_grid(&out, &images, shape, columns),
        }
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))?
}

/// `eval.json`: the Parzen-window estimate. Log-likelihoods in nats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub sigma: f64,
    /// (sigma, mean validation log-likelihood) for every candidate.
    pub validation: Vec<(f64, f64)>,
    pub test_mean: f64,
    pub test_standard_error: f64,
    /// The chosen sigma is at an end of the grid; the optimum may be outside it.
    pub sigma_at_grid_edge: bool,
    pub samples: usize,
    pub validation_images: usize,
    pub test_images: usize,
}

/// Fits the Parzen window on `settings.eval_samples` samples of
/// `generator` and scores the evaluation images.
pub async fn evaluate(job: &JobSpec, generator: Params, settings: &Settings, sets: Arc<EvalSets>) -> Result<EvalReport, RunError> {
    let (job, samples) = (job.clone(), settings.eval_samples);
    tokio::task::spawn_blocking(move || {
        let key = StreamKey::global(job.seed, Purpose::Eval);
        let generated = generate_from(&job, &generator, samples, key)?;
        let report = evaluate_parzen(generated.view(), sets.validation.view(), sets.test.view(), &ParzenOptions::default())?;
        if report.sigma_at_grid_edge {
            tracing::warn!(sigma = report.sigma, "chosen Parzen sigma is at an end of the grid; the estimate may improve with a wider grid");
        }
        Ok(EvalReport {
            sigma: report.sigma,
            validation: report.validation.iter().map(|s| (s.sigma, s.mean_log_likelihood)).collect(),
            test_mean: report.test_mean,
            test_standard_error: report.test_std_error,
            sigma_at_grid_edge: report.sigma_at_grid_edge,
            samples,
            validation_images: sets.validation.nrows(),
            test_images: sets.test.nrows(),
        })
    })
    .await
    .map_err(|e| RunError::Task(e.to_string()))?
}

/// Writes `value` as pretty JSON to `path` through a temporary file.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_vec_pretty(value).expect("report types hold only JSON-representable fields");
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, text).map_err(|source| RunError::Io { path: temp.clone(), source })?;
    std::fs::rename(&temp, path).map_err(|source| RunError::Io { path: path.to_path_buf(), source })
}
