//! Squared Euclidean distances between two sets of rows, computed with one
//! BLAS matrix product: `|x - mu|^2 = |x|^2 + |mu|^2 - 2 x.mu`. Shared by
//! the Parzen estimate and the nearest-neighbour search, together with the
//! input checks both need.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use super::error::EvalError;

/// Squared distances `(b, n)` between the rows of `xs` `(b, d)` and of
/// `mus` `(n, d)`, given `mu_norms[i] = |mus[i]|^2`. Rounding can make the
/// expansion slightly negative for near-equal rows, so it is clamped to 0.
/// Callers check that the column counts agree.
pub(crate) fn squared_distances(
    xs: ArrayView2<f64>,
    mus: ArrayView2<f64>,
    mu_norms: ArrayView1<f64>,
) -> Array2<f64> {
    let x_norms = row_norms(xs);
    let mut distances = xs.dot(&mus.t());
    for (mut row, &x_norm) in distances.axis_iter_mut(Axis(0)).zip(&x_norms) {
        for (d, &mu_norm) in row.iter_mut().zip(mu_norms) {
            *d = (x_norm + mu_norm - 2.0 * *d).max(0.0);
        }
    }
    distances
}

/// Squared Euclidean norm of each row: shape `(rows,)`.
pub(crate) fn row_norms(xs: ArrayView2<f64>) -> Array1<f64> {
    xs.rows().into_iter().map(|row| row.dot(&row)).collect()
}

pub(crate) fn to_f64(xs: ArrayView2<f32>) -> Array2<f64> {
    xs.mapv(f64::from)
}

/// Rejects an empty input or one holding NaN or an infinity, naming the
/// first offending element.
pub(crate) fn check_rows(
    op: &'static str,
    input: &'static str,
    xs: ArrayView2<f32>,
) -> Result<(), EvalError> {
    if xs.is_empty() {
        return Err(EvalError::Empty { op, input });
    }
    if let Some(((row, col), &value)) = xs.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(EvalError::NonFinite { op, input, row, col, value });
    }
    Ok(())
}

/// Rejects `xs` unless it has `cols` columns.
pub(crate) fn check_cols(
    op: &'static str,
    input: &'static str,
    xs: ArrayView2<f32>,
    cols: usize,
) -> Result<(), EvalError> {
    if xs.ncols() != cols {
        let expected = format!("(_, {cols})");
        return Err(EvalError::ShapeMismatch { op, input, expected, got: xs.shape().to_vec() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn distances_match_direct_sum() {
        let xs = array![[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]];
        let mus = array![[1.0, 1.0, 1.0], [0.0, 1.0, 2.0], [-2.0, 0.0, 4.0]];
        let distances = squared_distances(xs.view(), mus.view(), row_norms(mus.view()).view());
        for r in 0..2 {
            for i in 0..3 {
                let direct: f64 = (0..3).map(|c| (xs[[r, c]] - mus[[i, c]]).powi(2)).sum();
                assert!((distances[[r, i]] - direct).abs() < 1e-12, "({r}, {i})");
            }
        }
        assert_eq!(distances[[0, 1]], 0.0, "a row and itself");
    }

    #[test]
    fn check_rows_names_non_finite() {
        let xs = array![[0.0f32, 1.0], [f32::NAN, 2.0]];
        let err = check_rows("test", "samples", xs.view()).expect_err("NaN present");
        assert!(matches!(err, EvalError::NonFinite { row: 1, col: 0, .. }), "{err}");
    }
}
