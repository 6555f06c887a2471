//! Sample grids written as grayscale PNG files. Images are rows of
//! row-major pixels in [0, 1]; sample i goes to cell (i / cols, i % cols),
//! left to right, top to bottom, with a gap between cells. Optionally each
//! sample is followed by its nearest training image, as in Figure 2 of
//! Goodfellow et al. (2014). Files are written to a temporary name and
//! renamed, so a reader never sees half a PNG.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};

use super::error::EvalError;

/// Layout of a sample grid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GridOptions {
    /// Cells per grid row (samples per row; with neighbours, each cell is
    /// a sample and its neighbour). Default is 10.
    pub cols: usize,
    /// Pixels between cells. Default is 1.
    pub gap: usize,
    /// Gray level of gaps and empty cells. Default is 255 (white), which
    /// separates MNIST's black backgrounds.
    pub background: u8,
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions { cols: 10, gap: 1, background: 255 }
    }
}

/// An 8-bit grayscale image, pixels row-major: `pixels[y * width + x]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Maps a pixel value to a gray level: clamped to [0, 1], scaled by 255 and
/// rounded, so values outside the range saturate instead of wrapping. NaN
/// maps to 0.
pub fn pixel_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Lays out images `(count, image_rows * image_cols)` in a grid.
pub fn render_grid(
    images: ArrayView2<f32>,
    image_rows: usize,
    image_cols: usize,
    options: &GridOptions,
) -> Result<GrayImage, EvalError> {
    if image_rows.checked_mul(image_cols) != Some(images.ncols()) || images.ncols() == 0 {
        let expected = format!("(_, {image_rows} * {image_cols}) with at least one pixel");
        let got = images.shape().to_vec();
        return Err(EvalError::ShapeMismatch { op: "sample grid", input: "images", expected, got });
    }
    if options.cols == 0 {
        let reason = "a grid needs at least one column".to_string();
        return Err(EvalError::InvalidSetting { name: "cols", value: "0".into(), reason });
    }
    let grid_rows = images.nrows().div_ceil(options.cols).max(1);
    let width = extent(options.cols, image_cols, options.gap)?;
    let height = extent(grid_rows, image_rows, options.gap)?;
    width.checked_mul(height).ok_or_else(|| too_large(width, height))?;

    let mut pixels = vec![options.background; width * height];
    for (i, image) in images.rows().into_iter().enumerate() {
        let top = (i / options.cols) * (image_rows + options.gap);
        let left = (i % options.cols) * (image_cols + options.gap);
        for (p, &v) in image.iter().enumerate() {
            let (y, x) = (top + p / image_cols, left + p % image_cols);
            pixels[y * width + x] = pixel_byte(v);
        }
    }
    Ok(GrayImage { width, height, pixels })
}

/// Lays out samples with the nearest training image of each right beside
/// it: cell i holds `samples` row i followed by `neighbours` row i (both
/// `(count, image_rows * image_cols)`).
pub fn render_grid_with_neighbours(
    samples: ArrayView2<f32>,
    neighbours: ArrayView2<f32>,
    image_rows: usize,
    image_cols: usize,
    options: &GridOptions,
) -> Result<GrayImage, EvalError> {
    if samples.dim() != neighbours.dim() {
        let expected = format!("{:?} like the samples", samples.dim());
        let got = neighbours.shape().to_vec();
        return Err(EvalError::ShapeMismatch {
            op: "sample grid",
            input: "neighbours",
            expected,
            got,
        });
    }
    let mut pairs = Array2::zeros((2 * samples.nrows(), samples.ncols()));
    for (i, (sample, neighbour)) in samples.rows().into_iter().zip(neighbours.rows()).enumerate() {
        pairs.row_mut(2 * i).assign(&sample);
        pairs.row_mut(2 * i + 1).assign(&neighbour);
    }
    let cols = options.cols.checked_mul(2).ok_or_else(|| too_large(options.cols, 2))?;
    render_grid(pairs.view(), image_rows, image_cols, &GridOptions { cols, ..options.clone() })
}

/// Writes `image` as an 8-bit grayscale PNG: first to a temporary file in
/// the same directory, synced, then renamed over `path`.
pub fn write_png(path: &Path, image: &GrayImage) -> Result<(), EvalError> {
    let temporary = temporary_path(path);
    let result = write_png_file(&temporary, image).and_then(|()| {
        std::fs::rename(&temporary, path)
            .map_err(|source| EvalError::Io { path: path.to_path_buf(), source })
    });
    if result.is_err() {
        // The temporary file is useless after a failure, and an error from
        // removing it would hide the original one.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn write_png_file(path: &Path, image: &GrayImage) -> Result<(), EvalError> {
    let bytes =
        encode_png(image).map_err(|source| EvalError::Png { path: path.to_path_buf(), source })?;
    let io_error = |source| EvalError::Io { path: path.to_path_buf(), source };
    let mut file = File::create(path).map_err(io_error)?;
    file.write_all(&bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Encodes `image` as the bytes of an 8-bit grayscale PNG.
pub fn encode_png(image: &GrayImage) -> Result<Vec<u8>, png::EncodingError> {
    let dimension =
        |value: usize| u32::try_from(value).map_err(|_| png::EncodingError::LimitsExceeded);
    let (width, height) = (dimension(image.width)?, dimension(image.height)?);
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&image.pixels)?;
    writer.finish()?;
    Ok(bytes)
}

/// `.name.tmp` beside `path`, so the rename stays on one file system.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Pixels along one axis: `cells` cells of `size` pixels with gaps between.
fn extent(cells: usize, size: usize, gap: usize) -> Result<usize, EvalError> {
    cells
        .checked_mul(size)
        .and_then(|pixels| pixels.checked_add((cells - 1).checked_mul(gap)?))
        .ok_or_else(|| too_large(cells, size))
}

fn too_large(a: usize, b: usize) -> EvalError {
    EvalError::InvalidSetting {
        name: "grid size",
        value: format!("{a} x {b}"),
        reason: "the image would be too large; use fewer cells or a smaller gap".into(),
    }
}
