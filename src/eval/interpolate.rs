//! Straight lines in the generator's input space. Goodfellow et al. (2014,
//! Figure 3) show the images generated along such a line to argue that the
//! model has learned a smooth mapping rather than a lookup of examples.

use ndarray::{Array2, ArrayView1, ArrayView2};

use super::error::EvalError;

/// Points `(steps, dim)` evenly spaced from `z0` to `z1`, both included:
/// row i is `(1 - t) z0 + t z1` with `t = i / (steps - 1)`, so the ends are
/// exact. `steps` must be at least 2.
pub fn linear_path(
    z0: ArrayView1<f32>,
    z1: ArrayView1<f32>,
    steps: usize,
) -> Result<Array2<f32>, EvalError> {
    if z0.len() != z1.len() {
        let expected = format!("({},) like z0", z0.len());
        return Err(EvalError::ShapeMismatch {
            op: "linear path",
            input: "z1",
            expected,
            got: vec![z1.len()],
        });
    }
    if steps < 2 {
        let reason = "a path needs both of its ends".to_string();
        return Err(EvalError::InvalidSetting { name: "steps", value: steps.to_string(), reason });
    }
    let last = (steps - 1) as f32;
    Ok(Array2::from_shape_fn((steps, z0.len()), |(i, j)| {
        let t = i as f32 / last;
        (1.0 - t) * z0[j] + t * z1[j]
    }))
}

/// One path per row pair: row p of `starts` `(paths, dim)` to row p of
/// `ends`. Returns `(paths * steps, dim)` with each path's points
/// consecutive, so a grid of `steps` columns shows one path per line.
pub fn linear_paths(
    starts: ArrayView2<f32>,
    ends: ArrayView2<f32>,
    steps: usize,
) -> Result<Array2<f32>, EvalError> {
    if starts.dim() != ends.dim() {
        let expected = format!("{:?} like starts", starts.dim());
        return Err(EvalError::ShapeMismatch {
            op: "linear paths",
            input: "ends",
            expected,
            got: ends.shape().to_vec(),
        });
    }
    let mut out = Array2::zeros((starts.nrows() * steps, starts.ncols()));
    for (p, (z0, z1)) in starts.rows().into_iter().zip(ends.rows()).enumerate() {
        let path = linear_path(z0, z1, steps)?;
        out.slice_mut(ndarray::s![p * steps..(p + 1) * steps, ..]).assign(&path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn path_ends_are_exact_and_steps_even() {
        let z0 = array![0.3f32, -1.7, 2.0];
        let z1 = array![1.1f32, 0.4, -2.0];
        let path = linear_path(z0.view(), z1.view(), 5).expect("valid path");
        assert_eq!(path.dim(), (5, 3));
        assert_eq!(path.row(0), z0);
        assert_eq!(path.row(4), z1);
        for i in 0..5 {
            for j in 0..3 {
                let t = i as f64 / 4.0;
                let expected = f64::from(z0[j]) + t * (f64::from(z1[j]) - f64::from(z0[j]));
                assert!((f64::from(path[[i, j]]) - expected).abs() < 1e-6, "({i}, {j})");
            }
        }
    }

    #[test]
    fn paths_are_stacked_per_row() {
        let starts = array![[0.0f32, 0.0], [1.0, 1.0]];
        let ends = array![[4.0f32, 8.0], [1.0, -1.0]];
        let paths = linear_paths(starts.view(), ends.view(), 3).expect("valid paths");
        assert_eq!(
            paths,
            array![[0.0, 0.0], [2.0, 4.0], [4.0, 8.0], [1.0, 1.0], [1.0, 0.0], [1.0, -1.0]]
        );
    }

    #[test]
    fn rejects_bad_input() {
        let z = array![0.0f32, 1.0];
        let short = array![0.0f32];
        let err = linear_path(z.view(), short.view(), 3).expect_err("length mismatch");
        assert!(matches!(err, EvalError::ShapeMismatch { .. }), "{err}");
        let err = linear_path(z.view(), z.view(), 1).expect_err("one step");
        assert!(matches!(err, EvalError::InvalidSetting { name: "steps", .. }), "{err}");
    }
}
