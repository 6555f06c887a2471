//! Evaluation of a trained generator, following Goodfellow et al. (2014):
//! the Gaussian Parzen-window log-likelihood of test images, PNG grids of
//! samples beside their nearest training images, and straight-line paths
//! in the generator's input space. Pure: no async runtime and no logging;
//! results that deserve a warning carry a flag for the caller.
//!
//! - `parzen`: [`evaluate_parzen`] and the [`ParzenWindow`] behind it.
//! - `distance`: the BLAS squared-distance kernel both searches share.
//! - `nearest`: [`nearest_neighbours`].
//! - `grid`: [`render_grid`], [`render_grid_with_neighbours`], [`write_png`].
//! - `interpolate`: [`linear_path`] and [`linear_paths`].

mod distance;
pub mod error;
pub mod grid;
pub mod interpolate;
pub mod nearest;
pub mod parzen;

pub use error::EvalError;
pub use grid::{
    encode_png, pixel_byte, render_grid, render_grid_with_neighbours, write_png, GrayImage,
    GridOptions,
};
pub use interpolate::{linear_path, linear_paths};
pub use nearest::{nearest_neighbours, Neighbour};
pub use parzen::{
    evaluate_parzen, logspace, ParzenOptions, ParzenReport, ParzenWindow, SigmaScore,
};
