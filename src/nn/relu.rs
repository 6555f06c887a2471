//! The rectifier `y = max(0, x)`, applied in place.
//!
//! Backward needs only the forward output (`y > 0` exactly where `x > 0`),
//! which the next layer already keeps as its input, so the rectifier's
//! cache is that output and no mask is stored.

use ndarray::{Array2, ArrayView2, Zip};

use super::{shape_error, NnError};

/// Replaces every element of `xs` (any shape `(rows, width)`) by `max(0, x)`.
pub fn forward_in_place(xs: &mut Array2<f32>) {
    xs.mapv_inplace(|x| x.max(0.0));
}

/// Turns the output gradient `dy` into the input gradient in place, given
/// the forward output `ys` of the same shape.
pub fn backward_in_place(dy: &mut Array2<f32>, ys: ArrayView2<f32>) -> Result<(), NnError> {
    if dy.shape() != ys.shape() {
        return Err(shape_error(
            "relu backward",
            "output gradient",
            ys.shape(),
            dy.shape(),
        ));
    }
    // dy/dx = 1 where y > 0, else 0
    Zip::from(dy).and(ys).for_each(|d, &y| {
        if y <= 0.0 {
            *d = 0.0;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Central differences with step 1e-3 away from the kink at 0 are
    /// exact for a piecewise linear map up to f32 rounding (tolerance 1e-3).
    #[test]
    fn backward_matches_finite_differences() {
        let xs = array![[-1.5f32, 0.3, 2.0], [0.7, -0.2, -3.0]];
        let upstream = array![[0.5f32, -1.0, 2.0], [1.5, 0.25, -0.75]];
        let mut ys = xs.clone();
        forward_in_place(&mut ys);
        let mut dx = upstream.clone();
        backward_in_place(&mut dx, ys.view()).unwrap();

        let eps = 1e-3f32;
        for idx in 0..xs.len() {
            let probe = |delta: f32| {
                let mut moved = xs.clone();
                moved.as_slice_mut().unwrap()[idx] += delta;
                forward_in_place(&mut moved);
                moved
                    .iter()
                    .zip(&upstream)
                    .map(|(&y, &u)| f64::from(y * u))
                    .sum::<f64>()
            };
            let numeric = (probe(eps) - probe(-eps)) / (2.0 * f64::from(eps));
            let analytic = f64::from(dx.as_slice().unwrap()[idx]);
            assert!(
                (numeric - analytic).abs() < 1e-3,
                "x[{idx}]: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn zero_input_gets_no_gradient() {
        let mut ys = array![[0.0f32, 1.0]];
        forward_in_place(&mut ys);
        let mut dy = array![[1.0f32, 1.0]];
        backward_in_place(&mut dy, ys.view()).unwrap();
        assert_eq!(dy, array![[0.0f32, 1.0]]);
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let ys = array![[1.0f32, 2.0]];
        let mut dy = array![[1.0f32], [2.0]];
        assert!(matches!(
            backward_in_place(&mut dy, ys.view()),
            Err(NnError::ShapeMismatch { .. })
        ));
    }
}
