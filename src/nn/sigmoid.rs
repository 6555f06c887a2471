//! The logistic function `y = 1 / (1 + exp(-x))`, the generator's output
//! non-linearity, applied in place. Like the rectifier, its backward pass
//! needs only the forward output.

use ndarray::{Array2, ArrayView2, Zip};

use super::{shape_error, NnError};

/// The logistic function, evaluated without overflow for any finite `x`.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The logistic function in f64, for statistics.
pub fn sigmoid_f64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Replaces every element of `xs` (shape `(rows, width)`) by its sigmoid.
pub fn forward_in_place(xs: &mut Array2<f32>) {
    xs.mapv_inplace(sigmoid);
}

/// Turns the output gradient `dy` into the input gradient in place, given
/// the forward output `ys` of the same shape.
pub fn backward_in_place(dy: &mut Array2<f32>, ys: ArrayView2<f32>) -> Result<(), NnError> {
    if dy.shape() != ys.shape() {
        return Err(shape_error(
            "sigmoid backward",
            "output gradient",
            ys.shape(),
            dy.shape(),
        ));
    }
    // dy/dx = y (1 - y)
    Zip::from(dy).and(ys).for_each(|d, &y| *d *= y * (1.0 - y));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn extremes_are_finite() {
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid_f64(-30.0) - (-30.0f64).exp()).abs() < 1e-20);
    }

    /// Central differences with step 1e-3 in f32; the truncation error is
    /// below 1e-7 here, so the tolerance 1e-3 covers f32 rounding.
    #[test]
    fn backward_matches_finite_differences() {
        let xs = array![[-4.0f32, -0.5, 0.0], [0.8, 2.5, 6.0]];
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
                    .map(|(&y, &u)| f64::from(y) * f64::from(u))
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
}
