//! Nearest training image of each generated sample, by squared Euclidean
//! distance. Goodfellow et al. (2014, Figure 2) show it beside each sample
//! to demonstrate that the generator has not memorised the training set.
//! References are processed in blocks, so 50,000 MNIST images need only
//! one block's distances in memory at a time.

use ndarray::{s, ArrayView2, Axis};

use super::distance::{check_cols, check_rows, row_norms, squared_distances, to_f64};
use super::error::EvalError;

/// Reference rows per BLAS product: 4,096 rows of 784 pixels in f64 take
/// about 26 MB.
const REFERENCE_BLOCK: usize = 4096;

/// The closest reference row to one query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    /// Row of the reference array.
    pub index: usize,
    /// Squared Euclidean distance to it.
    pub squared_distance: f64,
}

/// Finds, for each query `(q, d)`, the closest row of `references` `(n, d)`.
/// Returns one [`Neighbour`] per query; on a tie the lower index wins.
pub fn nearest_neighbours(
    queries: ArrayView2<f32>,
    references: ArrayView2<f32>,
) -> Result<Vec<Neighbour>, EvalError> {
    const OP: &str = "nearest neighbours";
    check_rows(OP, "queries", queries)?;
    check_rows(OP, "references", references)?;
    check_cols(OP, "references", references, queries.ncols())?;

    let xs = to_f64(queries);
    let mut best = vec![Neighbour { index: 0, squared_distance: f64::INFINITY }; queries.nrows()];
    let mut start = 0;
    while start < references.nrows() {
        let end = (start + REFERENCE_BLOCK).min(references.nrows());
        let block = to_f64(references.slice(s![start..end, ..]));
        let distances = squared_distances(xs.view(), block.view(), row_norms(block.view()).view());
        for (row, neighbour) in distances.axis_iter(Axis(0)).zip(best.iter_mut()) {
            for (offset, &distance) in row.iter().enumerate() {
                if distance < neighbour.squared_distance {
                    *neighbour = Neighbour { index: start + offset, squared_distance: distance };
                }
            }
        }
        start = end;
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Purpose, Rng, StreamKey};
    use ndarray::Array2;

    fn random(rows: usize, cols: usize, step: u64) -> Array2<f32> {
        let mut rng = Rng::new(StreamKey { step, ..StreamKey::global(1, Purpose::Eval) });
        Array2::from_shape_simple_fn((rows, cols), || rng.uniform_f32())
    }

    #[test]
    fn matches_brute_force() {
        // More references than one block, so the block offsets are used.
        let queries = random(7, 20, 0);
        let references = random(REFERENCE_BLOCK + 300, 20, 1);
        let found = nearest_neighbours(queries.view(), references.view()).expect("valid input");
        for (q, neighbour) in found.iter().enumerate() {
            let distance = |i: usize| -> f64 {
                (0..20)
                    .map(|c| (f64::from(queries[[q, c]]) - f64::from(references[[i, c]])).powi(2))
                    .sum()
            };
            let mut best = 0;
            for i in 1..references.nrows() {
                if distance(i) < distance(best) {
                    best = i;
                }
            }
            assert_eq!(neighbour.index, best, "query {q}");
            assert!((neighbour.squared_distance - distance(best)).abs() < 1e-9, "query {q}");
        }
    }

    #[test]
    fn finds_exact_copy() {
        let references = random(50, 10, 2);
        let queries = references.select(Axis(0), &[42, 3]);
        let found = nearest_neighbours(queries.view(), references.view()).expect("valid input");
        assert_eq!(found[0].index, 42);
        assert_eq!(found[1].index, 3);
        assert!(found[0].squared_distance < 1e-9);
    }

    #[test]
    fn rejects_column_mismatch() {
        let err = nearest_neighbours(random(2, 5, 0).view(), random(3, 6, 1).view())
            .expect_err("5 vs 6 columns");
        assert!(matches!(err, EvalError::ShapeMismatch { input: "references", .. }), "{err}");
    }
}
