//! Training data: reading MNIST-style IDX files (raw or gzip), cutting them
//! into training, validation and test splits, the seeded order in which
//! batches visit the training images, and the generator's input noise.
//! Pure and synchronous: no async runtime, no logging.
//!
//! - `idx`, `idx_writer`: the IDX format, read with full validation and
//!   written for tests and tools.
//! - `files`: finding the four files in a directory under either naming
//!   style.
//! - `dataset`: [`Dataset`] and its [`SplitSpec`], plus [`mean_image`].
//! - `batches`: [`BatchPlan`], the per-epoch shuffled batch order.
//! - `noise`: [`sample_noise`] and [`gather_rows`].

pub mod batches;
pub mod dataset;
pub mod error;
pub mod files;
pub mod idx;
pub mod idx_writer;
pub mod noise;

pub use batches::BatchPlan;
pub use dataset::{mean_image, Dataset, DatasetLabels, SplitSpec};
pub use error::DataError;
pub use files::{find_idx_file, FileSet};
pub use idx::{read_images, read_labeled_images, read_labels, IdxImages, IdxKind};
pub use idx_writer::{write_images, write_labels, Compression};
pub use noise::{gather_rows, sample_noise, NoiseKind};

#[cfg(test)]
mod idx_tests;
