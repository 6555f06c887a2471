//! The dataset a run trains on: training, validation and test images cut
//! from a directory of MNIST-style IDX files. The default split is the one
//! Goodfellow et al. (2014) used: training images 0..50000 for training,
//! 50000..60000 for validation, and the 10,000 `t10k` images for testing.
//! Smaller counts make the same code load the first few images of a file,
//! which keeps tests fast.

use std::path::Path;

use ndarray::{s, Array1, Array2, ArrayView2};

use super::error::DataError;
use super::files::{find_idx_file, FileSet};
use super::idx::{read_images, read_labeled_images, IdxImages, IdxKind};

/// How the training file is cut into training and validation images, and
/// how much of the test file is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitSpec {
    /// Images taken from the start of the training file for training.
    /// `None` takes every image before the validation range. Default is
    /// `Some(50_000)`.
    pub train_count: Option<usize>,
    /// Images right after the training range kept for validation.
    /// Default is 10,000.
    pub validation_count: usize,
    /// Images taken from the start of the test file. `None` takes them
    /// all. Default is `None`.
    pub test_count: Option<usize>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec { train_count: Some(50_000), validation_count: 10_000, test_count: None }
    }
}

impl SplitSpec {
    /// A split that keeps only the first `train + validation` training
    /// images and the first `test` test images.
    pub fn limited(train: usize, validation: usize, test: usize) -> Self {
        SplitSpec { train_count: Some(train), validation_count: validation, test_count: Some(test) }
    }
}

/// Labels of each split, in the same order as the images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetLabels {
    pub train: Vec<u8>,
    pub validation: Vec<u8>,
    pub test: Vec<u8>,
}

/// Images of each split with pixels in [0, 1], one row-major image per
/// row: each array has shape `(count, image_rows * image_cols)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub train: Array2<f32>,
    pub validation: Array2<f32>,
    pub test: Array2<f32>,
    /// Image height in pixels (28 for MNIST).
    pub image_rows: usize,
    /// Image width in pixels (28 for MNIST).
    pub image_cols: usize,
    /// Present when the directory also holds both label files.
    pub labels: Option<DatasetLabels>,
}

impl Dataset {
    /// Loads and splits the IDX files in `dir` (see [`super::files`] for
    /// the names tried). Label files are optional, but when both are
    /// present their counts must match the image files.
    pub fn load(dir: &Path, split: &SplitSpec) -> Result<Dataset, DataError> {
        if split.train_count == Some(0) {
            return Err(DataError::InvalidSetting {
                name: "train_count",
                value: "0".into(),
                reason: "training needs at least one image".into(),
            });
        }
        let train_path = find_idx_file(dir, FileSet::Train, IdxKind::Images)?;
        let test_path = find_idx_file(dir, FileSet::Test, IdxKind::Images)?;
        let label_paths = match (
            find_idx_file(dir, FileSet::Train, IdxKind::Labels),
            find_idx_file(dir, FileSet::Test, IdxKind::Labels),
        ) {
            (Ok(train), Ok(test)) => Some((train, test)),
            _ => None,
        };

        let (train_file, train_labels) = read_with_labels(&train_path, label_paths.as_ref().map(|p| p.0.as_path()))?;
        let (test_file, test_labels) = read_with_labels(&test_path, label_paths.as_ref().map(|p| p.1.as_path()))?;
        if (test_file.rows, test_file.cols) != (train_file.rows, train_file.cols) {
            return Err(DataError::ImageSizeMismatch {
                images: train_path,
                image_rows: train_file.rows,
                image_cols: train_file.cols,
                other: test_path,
                other_rows: test_file.rows,
                other_cols: test_file.cols,
            });
        }

        let (train_end, validation_end) = train_ranges(split, train_file.pixels.nrows(), &train_path)?;
        let test_end = test_range(split, test_file.pixels.nrows(), &test_path)?;
        let labels = match (train_labels, test_labels) {
            (Some(train), Some(test)) => Some(DatasetLabels {
                validation: train[train_end..validation_end].to_vec(),
                train: train[..train_end].to_vec(),
                test: test[..test_end].to_vec(),
            }),
            _ => None,
        };
        let (image_rows, image_cols) = (train_file.rows, train_file.cols);
        let validation = train_file.pixels.slice(s![train_end..validation_end, ..]).to_owned();
        Ok(Dataset {
            train: train_file.pixels.slice_move(s![..train_end, ..]),
            validation,
            test: test_file.pixels.slice_move(s![..test_end, ..]),
            image_rows,
            image_cols,
            labels,
            })
    }

    /// Pixels per image, `image_rows * image_cols` (784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.image_rows * self.image_cols
    }
}

fn read_with_labels(images: &Path, labels: Option<&Path>) -> Result<(IdxImages, Option<Vec<u8>>), DataError> {
    match labels {
        Some(labels) => read_labeled_images(images, labels).map(|(i, l)| (i, Some(l))),
        None => read_images(images).map(|i| (i, None)),
    }
}

/// Ends of the training and validation ranges within the training file.
fn train_ranges(split: &SplitSpec, available: usize, path: &Path) -> Result<(usize, usize), DataError> {
    let validation = split.validation_count;
    let (train, detail) = match split.train_count {
        Some(train) => (train, format!("{train} training + {validation} validation")),
        None => (available.saturating_sub(validation).max(1), format!("at least 1 training + {validation} validation")),
    };
    let requested = train.saturating_add(validation);
    if requested > available {
        return Err(DataError::TooFewImages { path: path.to_path_buf(), available, requested, detail });
    }
    Ok((train, requested))
}

fn test_range(split: &SplitSpec, available: usize, path: &Path) -> Result<usize, DataError> {
    match split.test_count {
        None => Ok(available),
        Some(requested) if requested <= available => Ok(requested),
        Some(requested) => {
            let detail = format!("{requested} test");
            Err(DataError::TooFewImages { path: path.to_path_buf(), available, requested, detail })
        }
    }
}

/// Per-pixel mean of the training images `(count, pixels)`, accumulated in
/// f64: shape `(pixels,)`. An empty array gives zeros.
pub fn mean_image(train: ArrayView2<f32>) -> Array1<f32> {
    let mut sums = vec![0f64; train.ncols()];
    for row in train.rows() {
        for (sum, &v) in sums.iter_mut().zip(row) {
            *sum += f64::from(v);
        }
    }
    let count = train.nrows().max(1) as f64;
    sums.into_iter().map(|sum| (sum / count) as f32).collect()
}
