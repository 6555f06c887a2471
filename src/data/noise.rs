//! The generator's input noise and the gathering of data rows into a
//! batch. Noise is drawn from a [`StreamKey`], filling the array row by row,
//! so a micro-batch's noise is the same whichever worker draws it.

use ndarray::{Array2, ArrayView2};

use crate::nn::{Rng, StreamKey};

use super::error::DataError;

/// Distribution of each noise coordinate. Both have mean 0 and variance 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// Uniform on [-sqrt(3), sqrt(3)], as in Goodfellow et al. (2014).
    /// Default.
    #[default]
    Uniform,
    /// Standard normal.
    Gaussian,
}

/// Draws noise of shape `(rows, dim)` from the stream named by `key`,
/// filling row by row.
pub fn sample_noise(kind: NoiseKind, rows: usize, dim: usize, key: StreamKey) -> Array2<f32> {
    let mut rng = Rng::new(key);
    let half_width = 3f32.sqrt();
    Array2::from_shape_simple_fn((rows, dim), || match kind {
        NoiseKind::Uniform => rng.uniform_range(-half_width, half_width),
        NoiseKind::Gaussian => rng.normal_f32(),
    })
}

/// Copies the rows `indices` of `data` `(n, cols)` into a new array
/// `(indices.len(), cols)` in standard (row-major) layout.
pub fn gather_rows(data: ArrayView2<f32>, indices: &[u32]) -> Result<Array2<f32>, DataError> {
    let rows = data.nrows();
    if let Some(&index) = indices.iter().find(|&&i| i as usize >= rows) {
        return Err(DataError::RowOutOfRange { index, rows });
    }
    let mut out = Array2::zeros((indices.len(), data.ncols()));
    for (mut target, &index) in out.rows_mut().into_iter().zip(indices) {
        target.assign(&data.row(index as usize));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Purpose;

    fn key() -> StreamKey {
        StreamKey { seed: 4, step: 2, phase: 1, micro_batch: 3, purpose: Purpose::Noise }
    }

    #[test]
    fn uniform_noise_follows_stream_row_major() {
        let noise = sample_noise(NoiseKind::Uniform, 3, 5, key());
        let mut rng = Rng::new(key());
        let bound = 3f32.sqrt();
        for r in 0..3 {
            for c in 0..5 {
                let expected = rng.uniform_range(-bound, bound);
                assert_eq!(noise[[r, c]], expected, "element ({r}, {c})");
            }
        }
    }

    #[test]
    fn uniform_noise_has_unit_variance() {
        let noise = sample_noise(NoiseKind::Uniform, 1000, 100, key());
        let bound = 3f32.sqrt();
        assert!(noise.iter().all(|&v| (-bound..bound).contains(&v)));
        let n = noise.len() as f64;
        let mean = noise.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = noise.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.02, "variance {variance}");
    }

    #[test]
    fn gaussian_noise_follows_stream() {
        let noise = sample_noise(NoiseKind::Gaussian, 2, 4, key());
        let mut rng = Rng::new(key());
        for v in noise.iter() {
            assert_eq!(*v, rng.normal_f32());
        }
    }

    #[test]
    fn gather_rows_copies_in_order() {
        let data = Array2::from_shape_fn((5, 3), |(r, c)| (10 * r + c) as f32);
        let gathered = gather_rows(data.view(), &[4, 0, 4]).expect("indices in range");
        assert!(gathered.is_standard_layout());
        assert_eq!(gathered.row(0).to_vec(), vec![40.0, 41.0, 42.0]);
        assert_eq!(gathered.row(1).to_vec(), vec![0.0, 1.0, 2.0]);
        assert_eq!(gathered.row(2).to_vec(), vec![40.0, 41.0, 42.0]);
    }

    #[test]
    fn gather_rows_from_transposed_view() {
        let data = Array2::from_shape_fn((3, 4), |(r, c)| (10 * r + c) as f32);
        let gathered = gather_rows(data.t(), &[2]).expect("index in range");
        assert!(gathered.is_standard_layout());
        assert_eq!(gathered.row(0).to_vec(), vec![2.0, 12.0, 22.0]);
    }

    #[test]
    fn gather_rows_rejects_out_of_range() {
        let data = Array2::<f32>::zeros((5, 3));
        let err = gather_rows(data.view(), &[1, 5]).expect_err("index 5 of 5 rows");
        assert!(matches!(err, DataError::RowOutOfRange { index: 5, rows: 5 }), "{err}");
    }
}
