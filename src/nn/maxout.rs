//! Maxout (Goodfellow et al., 2013): an affine map to `units * pieces`
//! columns, then the max over consecutive groups of `pieces` columns, so
//! unit `j` is the max of columns `j * pieces .. (j + 1) * pieces`.
//!
//! Backward sends each unit's gradient to exactly one piece, the one that
//! won the forward max, taking the lowest index on ties.

use ndarray::{Array2, ArrayView2, CowArray, Ix2};

use super::linear::{self, LinearCache, LinearGrads, LinearParams};
use super::{shape_error, InputGrad, NnError};

/// The state backward needs: the affine layer's cache and, per row and
/// unit, the index of the winning piece.
#[derive(Debug)]
pub struct MaxoutCache<'a> {
    linear: LinearCache<'a>,
    /// Shape `(rows, units)`, values in `0..pieces`.
    winners: Array2<u32>,
    pieces: usize,
}

impl MaxoutCache<'_> {
    /// Returns the layer input `(rows, in_dim)` seen by forward.
    pub fn input(&self) -> ArrayView2<'_, f32> {
        self.linear.input()
    }
}

/// Computes the maxout of `xs` `(rows, in_dim)` with an affine map of shape
/// `(in_dim, units * pieces)`, returning `(rows, units)` and the cache.
pub fn forward<'a>(
    params: &LinearParams,
    pieces: usize,
    xs: CowArray<'a, f32, Ix2>,
) -> Result<(Array2<f32>, MaxoutCache<'a>), NnError> {
    if pieces == 0 || params.out_dim() % pieces != 0 {
        return Err(NnError::InvalidSetting {
            name: "maxout pieces".into(),
            value: pieces.to_string(),
            reason: format!(
                "must be positive and divide the affine output width {}",
                params.out_dim()
            ),
        });
    }
    let units = params.out_dim() / pieces;
    let (zs, linear) = linear::forward(params, xs)?;

    let rows = zs.nrows();
    let mut ys = Array2::zeros((rows, units));
    let mut winners = Array2::zeros((rows, units));
    let z_rows = zs
        .as_slice()
        .expect("linear::forward returns standard layout");
    let y_rows = ys
        .as_slice_mut()
        .expect("freshly allocated arrays are standard layout");
    let w_rows = winners
        .as_slice_mut()
        .expect("freshly allocated arrays are standard layout");
    for ((group, y), winner) in z_rows.chunks_exact(pieces).zip(y_rows).zip(w_rows) {
        let mut best = 0;
        for (k, &z) in group.iter().enumerate().skip(1) {
            // Strictly greater keeps the lowest index on ties.
            if z > group[best] {
                best = k;
            }
        }
        *y = group[best];
        *winner = best as u32;
    }
    Ok((
        ys,
        MaxoutCache {
            linear,
            winners,
            pieces,
        },
    ))
}

/// Backpropagates `dy` of shape `(rows, units)` through the max and the
/// affine map; see [`linear::backward`] for `grads` and `input`.
pub fn backward(
    params: &LinearParams,
    cache: &MaxoutCache,
    dy: ArrayView2<f32>,
    grads: Option<LinearGrads>,
    input: InputGrad,
) -> Result<Option<Array2<f32>>, NnError> {
    let (rows, units) = cache.winners.dim();
    if dy.shape() != [rows, units] {
        return Err(shape_error(
            "maxout backward",
            "output gradient",
            &[rows, units],
            dy.shape(),
        ));
    }
    // dy/dz = 1 for the winning piece of each unit, 0 for the others
    let mut dz = Array2::zeros((rows, units * cache.pieces));
    for ((row, unit), &winner) in cache.winners.indexed_iter() {
        dz[[row, unit * cache.pieces + winner as usize]] = dy[[row, unit]];
    }
    linear::backward(params, &cache.linear, dz.view(), grads, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::params::Params;
    use crate::nn::rng::{Purpose, Rng, StreamKey};
    use crate::nn::Tensor;
    use ndarray::IxDyn;

    fn layer(in_dim: usize, out_dim: usize, range: f32, seed: u64) -> Params {
        let mut rng = Rng::new(StreamKey::global(seed, Purpose::Eval));
        let mut p = Params::new();
        p.insert(
            "m.weight",
            Tensor::from_shape_fn(IxDyn(&[in_dim, out_dim]), |_| {
                rng.uniform_range(-range, range)
            }),
        )
        .unwrap();
        p.insert(
            "m.bias",
            Tensor::from_shape_fn(IxDyn(&[out_dim]), |_| rng.uniform_range(-range, range)),
        )
        .unwrap();
        p
    }

    #[test]
    fn forward_takes_group_max() {
        let p = layer(4, 6, 1.0, 1);
        let lp = LinearParams::from_params(&p, "m").unwrap();
        let mut rng = Rng::new(StreamKey::global(2, Purpose::Eval));
        let xs = Array2::from_shape_fn((3, 4), |_| rng.uniform_range(-1.0, 1.0));
        let (zs, _) = linear::forward(&lp, CowArray::from(xs.view())).unwrap();
        let (ys, _) = forward(&lp, 2, CowArray::from(xs.view())).unwrap();
        assert_eq!(ys.dim(), (3, 3));
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(
                    ys[[i, j]],
                    zs[[i, 2 * j]].max(zs[[i, 2 * j + 1]]),
                    "unit {j} of row {i}"
                );
            }
        }
    }

    #[test]
    fn ties_send_gradient_to_lowest_piece() {
        let mut p = Params::new();
        p.insert("m.weight", Tensor::zeros(IxDyn(&[3, 5]))).unwrap();
        p.insert("m.bias", Tensor::zeros(IxDyn(&[5]))).unwrap();
        let lp = LinearParams::from_params(&p, "m").unwrap();
        let xs = Array2::from_elem((1, 3), 0.7f32);
        let (_, cache) = forward(&lp, 5, CowArray::from(xs.view())).unwrap();
        let mut grads = p.zeros_like();
        let dy = Array2::from_elem((1, 1), 1.0f32);
        backward(
            &lp,
            &cache,
            dy.view(),
            Some(LinearGrads::from_params(&mut grads, "m").unwrap()),
            InputGrad::Skip,
        )
        .unwrap();
        let db = grads.vector("m.bias").unwrap();
        assert_eq!(db.sum(), 1.0);
        assert_eq!(db[0], 1.0);
        assert!(db.iter().skip(1).all(|&v| v == 0.0), "{db}");
    }

    /// Central differences with step 1e-3 in f32 (tolerance 2e-3 absolute);
    /// with weights of scale 1 no piece pair lies within the step of a tie
    /// for this seed, so the max is differentiable at every probed point.
    #[test]
    fn backward_matches_finite_differences() {
        let p = layer(4, 6, 1.0, 3);
        let mut rng = Rng::new(StreamKey::global(4, Purpose::Eval));
        let xs = Array2::from_shape_fn((5, 4), |_| rng.uniform_range(-1.0, 1.0));
        let upstream = Array2::from_shape_fn((5, 3), |_| rng.uniform_range(-1.0, 1.0));
        let probe = |p: &Params, xs: &Array2<f32>| {
            let lp = LinearParams::from_params(p, "m").unwrap();
            let (ys, _) = forward(&lp, 2, CowArray::from(xs.view())).unwrap();
            ys.iter()
                .zip(&upstream)
                .map(|(&y, &u)| f64::from(y) * f64::from(u))
                .sum::<f64>()
        };
        let lp = LinearParams::from_params(&p, "m").unwrap();
        let (_, cache) = forward(&lp, 2, CowArray::from(xs.view())).unwrap();
        let mut grads = p.zeros_like();
        let dxs = backward(
            &lp,
            &cache,
            upstream.view(),
            Some(LinearGrads::from_params(&mut grads, "m").unwrap()),
            InputGrad::Compute,
        )
        .unwrap()
        .expect("input gradient was requested");

        let eps = 1e-3f32;
        for name in ["m.weight", "m.bias"] {
            for idx in 0..p.require(name).unwrap().len() {
                let moved = |delta: f32| {
                    let mut q = p.clone();
                    q.require_mut(name).unwrap().as_slice_mut().unwrap()[idx] += delta;
                    probe(&q, &xs)
                };
                let numeric = (moved(eps) - moved(-eps)) / (2.0 * f64::from(eps));
                let analytic = f64::from(grads.require(name).unwrap().as_slice().unwrap()[idx]);
                assert!(
                    (numeric - analytic).abs() < 2e-3,
                    "{name}[{idx}]: {numeric} vs {analytic}"
                );
            }
        }
        for idx in 0..xs.len() {
            let moved = |delta: f32| {
                let mut q = xs.clone();
                q.as_slice_mut().unwrap()[idx] += delta;
                probe(&p, &q)
            };
            let numeric = (moved(eps) - moved(-eps)) / (2.0 * f64::from(eps));
            let analytic = f64::from(dxs.as_slice().unwrap()[idx]);
            assert!(
                (numeric - analytic).abs() < 2e-3,
                "xs[{idx}]: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn pieces_must_divide_width() {
        let p = layer(4, 6, 1.0, 5);
        let lp = LinearParams::from_params(&p, "m").unwrap();
        let xs = Array2::zeros((2, 4));
        assert!(matches!(
            forward(&lp, 4, CowArray::from(xs.view())),
            Err(NnError::InvalidSetting { .. })
        ));
        assert!(matches!(
            forward(&lp, 0, CowArray::from(xs.view())),
            Err(NnError::InvalidSetting { .. })
        ));
    }
}
