//! The affine layer `ys = xs . w + b`, with `w` stored `(in_dim, out_dim)`.
//!
//! Every matrix product goes through `general_mat_mul`, which calls BLAS
//! sgemm when each operand has unit stride along one axis and a leading
//! stride at least as large as the other axis (ndarray 0.17,
//! `is_blas_2d`). Standard-layout arrays and their transposed views
//! (`xs.t()`, `w.t()`) qualify, so forward `xs . w`, the weight gradient
//! `xs^T . dy` and the input gradient `dy . w^T` all reach sgemm without a
//! copy. The `blas_layouts` test checks this for every operand.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, CowArray, Ix2};

use super::params::{as_matrix_mut, as_vector_mut, Params};
use super::spec::{bias_name, weight_name};
use super::{shape_error, InputGrad, NnError};

/// Read-only views of one layer's parameters.
#[derive(Clone, Copy, Debug)]
pub struct LinearParams<'p> {
    /// Shape `(in_dim, out_dim)`.
    pub weight: ArrayView2<'p, f32>,
    /// Shape `(out_dim,)`.
    pub bias: ArrayView1<'p, f32>,
}

impl<'p> LinearParams<'p> {
    /// Looks up `{layer}.weight` and `{layer}.bias` and checks that they fit.
    pub fn from_params(params: &'p Params, layer: &str) -> Result<Self, NnError> {
        let weight = params.matrix(&weight_name(layer))?;
        let bias = params.vector(&bias_name(layer))?;
        if bias.len() != weight.ncols() {
            return Err(shape_error(
                "linear",
                &bias_name(layer),
                &[weight.ncols()],
                bias.shape(),
            ));
        }
        Ok(LinearParams { weight, bias })
    }

    /// Returns the input width, the weight's row count.
    pub fn in_dim(&self) -> usize {
        self.weight.nrows()
    }

    /// Returns the output width, the weight's column count.
    pub fn out_dim(&self) -> usize {
        self.weight.ncols()
    }
}

/// Mutable views of one layer's gradient accumulators; backward adds into
/// them.
#[derive(Debug)]
pub struct LinearGrads<'g> {
    /// Shape `(in_dim, out_dim)`.
    pub weight: ArrayViewMut2<'g, f32>,
    /// Shape `(out_dim,)`.
    pub bias: ArrayViewMut1<'g, f32>,
}

impl<'g> LinearGrads<'g> {
    /// Looks up `{layer}.weight` and `{layer}.bias` in a gradient list.
    pub fn from_params(grads: &'g mut Params, layer: &str) -> Result<Self, NnError> {
        let (w_name, b_name) = (weight_name(layer), bias_name(layer));
        let (weight, bias) = grads.require_pair_mut(&w_name, &b_name)?;
        Ok(LinearGrads {
            weight: as_matrix_mut(&w_name, weight)?,
            bias: as_vector_mut(&b_name, bias)?,
        })
    }
}

/// The state backward needs from forward: the layer input
/// `(rows, in_dim)`, borrowed when the caller's array was usable as it was.
#[derive(Debug)]
pub struct LinearCache<'a> {
    xs: CowArray<'a, f32, Ix2>,
}

impl LinearCache<'_> {
    /// Returns the input seen by forward, `(rows, in_dim)`, in standard
    /// layout.
    pub fn input(&self) -> ArrayView2<'_, f32> {
        self.xs.view()
    }
}

/// Computes `xs . w + b` for `xs` of shape `(rows, in_dim)` and returns
/// `(rows, out_dim)` in standard layout, with the cache for backward.
pub fn forward<'a>(
    params: &LinearParams,
    xs: CowArray<'a, f32, Ix2>,
) -> Result<(Array2<f32>, LinearCache<'a>), NnError> {
    if xs.ncols() != params.in_dim() {
        return Err(shape_error(
            "linear forward",
            "input",
            &[xs.nrows(), params.in_dim()],
            xs.shape(),
        ));
    }
    // Arbitrary strides would leave sgemm for ndarray's slow path.
    let xs = if xs.is_standard_layout() {
        xs
    } else {
        CowArray::from(xs.as_standard_layout().into_owned())
    };

    let mut ys = Array2::zeros((xs.nrows(), params.out_dim()));
    ys.assign(&params.bias);
    general_mat_mul(1.0, &xs, &params.weight, 1.0, &mut ys);
    Ok((ys, LinearCache { xs }))
}

/// Backpropagates `dy` of shape `(rows, out_dim)`: adds the parameter
/// gradients into `grads` when given, and returns the input gradient
/// `(rows, in_dim)` when `input` is [`InputGrad::Compute`].
pub fn backward(
    params: &LinearParams,
    cache: &LinearCache,
    dy: ArrayView2<f32>,
    grads: Option<LinearGrads>,
    input: InputGrad,
) -> Result<Option<Array2<f32>>, NnError> {
    let rows = cache.xs.nrows();
    if dy.shape() != [rows, params.out_dim()] {
        return Err(shape_error(
            "linear backward",
            "output gradient",
            &[rows, params.out_dim()],
            dy.shape(),
        ));
    }
    if let Some(mut grads) = grads {
        if grads.weight.shape() != params.weight.shape() {
            return Err(shape_error(
                "linear backward",
                "weight gradient",
                params.weight.shape(),
                grads.weight.shape(),
            ));
        }
        if grads.bias.len() != params.out_dim() {
            return Err(shape_error(
                "linear backward",
                "bias gradient",
                &[params.out_dim()],
                grads.bias.shape(),
            ));
        }
        // dL/dw = xs^T . dy, dL/db = sum over rows of dy
        general_mat_mul(1.0, &cache.xs.t(), &dy, 1.0, &mut grads.weight);
        grads.bias += &dy.sum_axis(Axis(0));
    }
    match input {
        InputGrad::Skip => Ok(None),
        InputGrad::Compute => {
            // dL/dxs = dy . w^T
            let mut dxs = Array2::zeros((rows, params.in_dim()));
            general_mat_mul(1.0, &dy, &params.weight.t(), 0.0, &mut dxs);
            Ok(Some(dxs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng::{Purpose, Rng, StreamKey};
    use crate::nn::Tensor;
    use ndarray::Array1;

    fn random(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |_| rng.uniform_range(-1.0, 1.0))
    }

    fn layer(in_dim: usize, out_dim: usize, rng: &mut Rng) -> Params {
        let mut p = Params::new();
        p.insert("l.weight", random(in_dim, out_dim, rng).into_dyn())
            .unwrap();
        p.insert(
            "l.bias",
            Tensor::from_shape_fn(ndarray::IxDyn(&[out_dim]), |_| rng.uniform_range(-1.0, 1.0)),
        )
        .unwrap();
        p
    }

    /// `sum(ys * r)` in f64, the scalar the finite differences probe.
    fn probe(p: &Params, xs: &Array2<f32>, r: &Array2<f32>) -> f64 {
        let lp = LinearParams::from_params(p, "l").unwrap();
        let (ys, _) = forward(&lp, CowArray::from(xs.view())).unwrap();
        ys.iter()
            .zip(r)
            .map(|(&y, &w)| f64::from(y) * f64::from(w))
            .sum()
    }

    #[test]
    fn forward_matches_loops() {
        let mut rng = Rng::new(StreamKey::global(1, Purpose::Eval));
        let p = layer(7, 5, &mut rng);
        let xs = random(3, 7, &mut rng);
        let lp = LinearParams::from_params(&p, "l").unwrap();
        let (ys, _) = forward(&lp, CowArray::from(xs.view())).unwrap();
        for i in 0..3 {
            for j in 0..5 {
                let mut want = f64::from(lp.bias[j]);
                for k in 0..7 {
                    want += f64::from(xs[[i, k]]) * f64::from(lp.weight[[k, j]]);
                }
                assert!((f64::from(ys[[i, j]]) - want).abs() < 1e-5, "ys[{i},{j}]");
            }
        }
    }

    /// Central differences with step 1e-2 on a linear function are exact up
    /// to f32 rounding, so the tolerance is 1e-3 absolute.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(StreamKey::global(2, Purpose::Eval));
        let p = layer(4, 3, &mut rng);
        let xs = random(5, 4, &mut rng);
        let r = random(5, 3, &mut rng);
        let lp = LinearParams::from_params(&p, "l").unwrap();
        let (_, cache) = forward(&lp, CowArray::from(xs.view())).unwrap();
        let mut grads = p.zeros_like();
        let dxs = backward(
            &lp,
            &cache,
            r.view(),
            Some(LinearGrads::from_params(&mut grads, "l").unwrap()),
            InputGrad::Compute,
        )
        .unwrap()
        .expect("input gradient was requested");

        let eps = 1e-2;
        for name in ["l.weight", "l.bias"] {
            for idx in 0..p.require(name).unwrap().len() {
                let mut plus = p.clone();
                plus.require_mut(name).unwrap().as_slice_mut().unwrap()[idx] += eps;
                let mut minus = p.clone();
                minus.require_mut(name).unwrap().as_slice_mut().unwrap()[idx] -= eps;
                let numeric =
                    (probe(&plus, &xs, &r) - probe(&minus, &xs, &r)) / (2.0 * f64::from(eps));
                let analytic = f64::from(grads.require(name).unwrap().as_slice().unwrap()[idx]);
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "{name}[{idx}]: {numeric} vs {analytic}"
                );
            }
        }
        for idx in 0..xs.len() {
            let mut plus = xs.clone();
            plus.as_slice_mut().unwrap()[idx] += eps;
            let mut minus = xs.clone();
            minus.as_slice_mut().unwrap()[idx] -= eps;
            let numeric = (probe(&p, &plus, &r) - probe(&p, &minus, &r)) / (2.0 * f64::from(eps));
            let analytic = f64::from(dxs.as_slice().unwrap()[idx]);
            assert!(
                (numeric - analytic).abs() < 1e-3,
                "xs[{idx}]: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn backward_adds_into_accumulators() {
        let mut rng = Rng::new(StreamKey::global(3, Purpose::Eval));
        let p = layer(4, 3, &mut rng);
        let xs = random(2, 4, &mut rng);
        let dy = random(2, 3, &mut rng);
        let lp = LinearParams::from_params(&p, "l").unwrap();
        let (_, cache) = forward(&lp, CowArray::from(xs.view())).unwrap();
        let mut once = p.zeros_like();
        backward(
            &lp,
            &cache,
            dy.view(),
            Some(LinearGrads::from_params(&mut once, "l").unwrap()),
            InputGrad::Skip,
        )
        .unwrap();
        let mut twice = once.clone();
        backward(
            &lp,
            &cache,
            dy.view(),
            Some(LinearGrads::from_params(&mut twice, "l").unwrap()),
            InputGrad::Skip,
        )
        .unwrap();
        let doubled: Array1<f32> = once.vector("l.bias").unwrap().mapv(|v| 2.0 * v);
        assert!(twice
            .vector("l.bias")
            .unwrap()
            .iter()
            .zip(&doubled)
            .all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn wrong_input_width_is_an_error() {
        let mut rng = Rng::new(StreamKey::global(4, Purpose::Eval));
        let p = layer(4, 3, &mut rng);
        let lp = LinearParams::from_params(&p, "l").unwrap();
        let xs = random(2, 5, &mut rng);
        assert!(matches!(
            forward(&lp, CowArray::from(xs.view())),
            Err(NnError::ShapeMismatch { .. })
        ));
        let (_, cache) = forward(
            &lp,
            CowArray::from(random(2, 4, &mut rng).view().to_owned()),
        )
        .unwrap();
        let bad_dy = random(3, 3, &mut rng);
        assert!(matches!(
            backward(&lp, &cache, bad_dy.view(), None, InputGrad::Compute),
            Err(NnError::ShapeMismatch { .. })
        ));
    }

    /// ndarray 0.17's `is_blas_2d` for one candidate order: unit inner
    /// stride (or a single outer element), positive strides, and a leading
    /// stride no smaller than the outer length.
    fn blas_eligible(a: &ArrayView2<f32>) -> bool {
        let (m, n) = a.dim();
        let (s0, s1) = (a.strides()[0], a.strides()[1]);
        let order_ok = |inner: isize, outer: isize, inner_dim: usize, outer_dim: usize| {
            (inner == 1 || outer_dim == 1)
                && s0 >= 1
                && s1 >= 1
                && (inner_dim <= 1 || outer as usize >= outer_dim)
        };
        order_ok(s1, s0, m, n) || order_ok(s0, s1, n, m)
    }

    #[test]
    fn blas_layouts() {
        let mut rng = Rng::new(StreamKey::global(5, Purpose::Eval));
        for (rows, in_dim, out_dim) in [(100, 784, 1200), (1, 240, 1), (7, 1, 3)] {
            let p = layer(in_dim, out_dim, &mut rng);
            let lp = LinearParams::from_params(&p, "l").unwrap();
            let xs = random(rows, in_dim, &mut rng);
            let (ys, cache) = forward(&lp, CowArray::from(xs.view())).unwrap();
            let mut grads = p.zeros_like();
            let gw = as_matrix_mut("l.weight", grads.require_mut("l.weight").unwrap()).unwrap();
            for (what, view) in [
                ("xs", cache.input()),
                ("w", lp.weight),
                ("ys", ys.view()),
                ("xs^T", cache.input().reversed_axes()),
                ("w^T", lp.weight.reversed_axes()),
                ("dw", gw.view()),
            ] {
                assert!(
                    blas_eligible(&view),
                    "{what} {:?} strides {:?}",
                    view.shape(),
                    view.strides()
                );
            }
        }
    }

    #[test]
    fn strided_input_is_made_standard() {
        let mut rng = Rng::new(StreamKey::global(6, Purpose::Eval));
        let p = layer(3, 2, &mut rng);
        let lp = LinearParams::from_params(&p, "l").unwrap();
        let wide = random(4, 6, &mut rng);
        let xs = wide.slice(ndarray::s![.., ..;2]);
        let (ys, cache) = forward(&lp, CowArray::from(xs)).unwrap();
        assert!(cache.input().is_standard_layout());
        let (want, _) = forward(&lp, CowArray::from(xs.to_owned())).unwrap();
        assert_eq!(ys, want);
    }
}
