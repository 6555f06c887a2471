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

        let (train_file, train_labels) =
            read_with_labels(&train_path, label_paths.as_ref().map(|p| p.0.as_path()))?;
        let (test_file, test_labels) =
            read_with_labels(&test_path, label_paths.as_ref().map(|p| p.1.as_path()))?;
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

        let (train_end, validation_end) =
            train_ranges(split, train_file.pixels.nrows(), &train_path)?;
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

fn read_with_labels(
    images: &Path,
    labels: Option<&Path>,
) -> Result<(IdxImages, Option<Vec<u8>>), DataError> {
    match labels {
        Some(labels) => read_labeled_images(images, labels).map(|(i, l)| (i, Some(l))),
        None => read_images(images).map(|i| (i, None)),
    }
}

/// Ends of the training and validation ranges within the training file.
fn train_ranges(
    split: &SplitSpec,
    available: usize,
    path: &Path,
) -> Result<(usize, usize), DataError> {
    let validation = split.validation_count;
    let (train, detail) = match split.train_count {
        Some(train) => (train, format!("{train} training + {validation} validation")),
        None => (
            available.saturating_sub(validation).max(1),
            format!("at least 1 training + {validation} validation"),
        ),
    };
    let requested = train.saturating_add(validation);
    if requested > available {
        return Err(DataError::TooFewImages {
            path: path.to_path_buf(),
            available,
            requested,
            detail,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx_writer::{write_images, write_labels, Compression};

    /// Image `i` has every pixel equal to `(i % 256) / 255`, so a split's
    /// rows reveal which file rows they came from.
    fn numbered_images(count: usize, pixels: usize) -> Array2<f32> {
        Array2::from_shape_fn((count, pixels), |(i, _)| (i % 256) as f32 / 255.0)
    }

    fn write_set(dir: &Path, train: usize, test: usize, labels: Option<(usize, usize)>) {
        let train_images = numbered_images(train, 64);
        let test_images = numbered_images(test, 64);
        write_images(
            &dir.join("train-images-idx3-ubyte"),
            train_images.view(),
            8,
            8,
            Compression::None,
        )
        .expect("write train images");
        write_images(
            &dir.join("t10k-images.idx3-ubyte.gz"),
            test_images.view(),
            8,
            8,
            Compression::Gzip,
        )
        .expect("write test images");
        if let Some((train_labels, test_labels)) = labels {
            let numbered = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
            write_labels(
                &dir.join("train-labels-idx1-ubyte.gz"),
                &numbered(train_labels),
                Compression::Gzip,
            )
            .expect("write train labels");
            write_labels(
                &dir.join("t10k-labels.idx1-ubyte"),
                &numbered(test_labels),
                Compression::None,
            )
            .expect("write test labels");
        }
    }

    fn first_pixels(images: &Array2<f32>) -> Vec<u32> {
        images.column(0).iter().map(|&v| (v * 255.0).round() as u32).collect()
    }

    #[test]
    fn split_takes_consecutive_ranges() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 100, 30, Some((100, 30)));
        let data = Dataset::load(dir.path(), &SplitSpec::limited(60, 25, 20)).expect("load");
        assert_eq!((data.image_rows, data.image_cols, data.pixels_per_image()), (8, 8, 64));
        assert_eq!(first_pixels(&data.train), (0..60).collect::<Vec<_>>());
        assert_eq!(first_pixels(&data.validation), (60..85).collect::<Vec<_>>());
        assert_eq!(first_pixels(&data.test), (0..20).collect::<Vec<_>>());
        let labels = data.labels.expect("both label files present");
        assert_eq!(labels.train.len(), 60);
        assert_eq!(labels.validation[0], 0, "label of image 60");
        assert_eq!(labels.test.len(), 20);
    }

    #[test]
    fn train_count_none_takes_rest() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 100, 30, None);
        let split = SplitSpec { train_count: None, validation_count: 10, test_count: None };
        let data = Dataset::load(dir.path(), &split).expect("load");
        assert_eq!(data.train.nrows(), 90);
        assert_eq!(first_pixels(&data.validation), (90..100).collect::<Vec<_>>());
        assert_eq!(data.test.nrows(), 30);
        assert!(data.labels.is_none());
    }

    #[test]
    fn default_split_on_small_file_fails() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 100, 30, None);
        let err = Dataset::load(dir.path(), &SplitSpec::default()).expect_err("100 < 60000");
        assert!(
            matches!(err, DataError::TooFewImages { available: 100, requested: 60_000, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    }

    #[test]
    fn test_count_above_file_fails() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 100, 30, None);
        let err = Dataset::load(dir.path(), &SplitSpec::limited(50, 10, 31)).expect_err("31 > 30");
        assert!(
            matches!(err, DataError::TooFewImages { available: 30, requested: 31, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("t10k-images.idx3-ubyte.gz"), "{err}");
    }

    #[test]
    fn label_count_mismatch_fails() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 100, 30, Some((99, 30)));
        let err =
            Dataset::load(dir.path(), &SplitSpec::limited(50, 10, 30)).expect_err("99 labels");
        assert!(
            matches!(err, DataError::CountMismatch { image_count: 100, label_count: 99, .. }),
            "{err}"
        );
    }

    #[test]
    fn zero_train_count_fails() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_set(dir.path(), 10, 10, None);
        let err = Dataset::load(dir.path(), &SplitSpec::limited(0, 5, 5))
            .expect_err("no training images");
        assert!(matches!(err, DataError::InvalidSetting { name: "train_count", .. }), "{err}");
    }

    #[test]
    fn mean_image_matches_reference() {
        let images = Array2::from_shape_fn((7, 5), |(i, p)| ((3 * i + p) % 11) as f32 / 10.0);
        let mean = mean_image(images.view());
        for p in 0..5 {
            let reference: f64 = (0..7).map(|i| f64::from(images[[i, p]])).sum::<f64>() / 7.0;
            assert!(
                (f64::from(mean[p]) - reference).abs() < 1e-6,
                "pixel {p}: {} vs {reference}",
                mean[p]
            );
        }
    }

    #[test]
    fn shipped_mnist_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        for (set, count) in [(FileSet::Train, 60_000), (FileSet::Test, 10_000)] {
            let images = find_idx_file(&dir, set, IdxKind::Images).expect("images file");
            let labels = find_idx_file(&dir, set, IdxKind::Labels).expect("labels file");
            let (images, labels) =
                read_labeled_images(&images, &labels).expect("valid MNIST files");
            assert_eq!(images.pixels.dim(), (count, 784), "{set:?}");
            assert_eq!((images.rows, images.cols), (28, 28), "{set:?}");
            assert!(labels.iter().all(|&l| l < 10), "{set:?} labels are digits");
        }

        let data = Dataset::load(&dir, &SplitSpec::default()).expect("shipped MNIST");
        assert_eq!((data.image_rows, data.image_cols), (28, 28));
        assert_eq!(data.train.dim(), (50_000, 784));
        assert_eq!(data.validation.dim(), (10_000, 784));
        assert_eq!(data.test.dim(), (10_000, 784));
        for split in [&data.train, &data.validation, &data.test] {
            assert!(split.iter().all(|v| (0.0..=1.0).contains(v)), "pixels in [0, 1]");
            assert!(split.iter().any(|&v| v == 1.0), "some pixel is fully white");
        }
        assert!(data.labels.is_some());
    }
}
