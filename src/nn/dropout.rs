//! Inverted dropout: in training each element is kept with probability
//! `keep` and scaled by `1 / keep`, so the expected output equals the
//! input and evaluation is the identity.
//!
//! The mask takes one uniform draw per element in row-major order from the
//! caller's [`Rng`], keeping the element when the draw is below `keep`.
//! With `keep = 1` nothing is drawn and the input passes through untouched.

use ndarray::{Array2, CowArray, Ix2, Zip};

use super::rng::Rng;
use super::{shape_error, NnError};

/// Training draws a fresh mask from the stream; evaluation is the identity.
#[derive(Debug)]
pub enum Mode<'r> {
    /// Draw a mask per call from this stream.
    Train(&'r mut Rng),
    /// Pass the input through unchanged.
    Eval,
}

/// The state backward needs: the applied mask, with entries `0` or
/// `1 / keep`, or `None` where the layer was the identity.
#[derive(Debug)]
pub struct DropoutCache {
    mask: Option<Array2<f32>>,
}

/// Applies dropout with keep probability `keep` in `(0, 1]` to `xs` of
/// shape `(rows, width)`. An owned input is masked in place; a borrowed one
/// is copied only when a mask is applied.
pub fn forward<'a>(
    keep: f32,
    xs: CowArray<'a, f32, Ix2>,
    mode: &mut Mode,
) -> Result<(CowArray<'a, f32, Ix2>, DropoutCache), NnError> {
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(NnError::InvalidSetting {
            name: "dropout keep".into(),
            value: keep.to_string(),
            reason: "a keep probability must be in (0, 1]; use 1 for no dropout".into(),
        });
    }
    let rng = match mode {
        Mode::Train(rng) if keep < 1.0 => rng,
        _ => return Ok((xs, DropoutCache { mask: None })),
    };

    let scale = 1.0 / keep;
    let mask = Array2::from_shape_simple_fn(xs.raw_dim(), || {
        if rng.uniform_f32() < keep {
            scale
        } else {
            0.0
        }
    });
    let mut ys = xs.into_owned();
    ys *= &mask;
    Ok((CowArray::from(ys), DropoutCache { mask: Some(mask) }))
}

/// Turns the output gradient `dy` `(rows, width)` into the input gradient
/// in place.
pub fn backward_in_place(cache: &DropoutCache, dy: &mut Array2<f32>) -> Result<(), NnError> {
    let Some(mask) = &cache.mask else {
        return Ok(());
    };
    if dy.shape() != mask.shape() {
        return Err(shape_error(
            "dropout backward",
            "output gradient",
            mask.shape(),
            dy.shape(),
        ));
    }
    // dy/dx = mask (0 or 1 / keep)
    Zip::from(dy).and(mask).for_each(|d, &m| *d *= m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng::{Purpose, StreamKey};
    use ndarray::Array1;

    fn inputs() -> Array2<f32> {
        let mut rng = Rng::new(StreamKey::global(9, Purpose::Eval));
        Array2::from_shape_fn((4, 50), |_| rng.uniform_range(0.0, 1.0))
    }

    /// The mean of 2000 masked copies of a positive pre-activation (a sum
    /// over 200 inputs) is within 1% of the evaluation-mode value.
    #[test]
    fn training_mean_matches_evaluation() {
        let xs = inputs();
        let weights = Array1::from_shape_fn(50, |j| 0.5 + (j % 7) as f32 * 0.1);
        let pre_activation = |ys: &Array2<f32>| f64::from(ys.dot(&weights).sum());

        let (eval, _) = forward(0.5, CowArray::from(xs.view()), &mut Mode::Eval).unwrap();
        let eval_value = pre_activation(&eval.into_owned());

        let mut rng = Rng::new(StreamKey::global(10, Purpose::DropoutReal));
        let passes = 2000;
        let mut total = 0.0;
        for _ in 0..passes {
            let (ys, _) =
                forward(0.5, CowArray::from(xs.view()), &mut Mode::Train(&mut rng)).unwrap();
            total += pre_activation(&ys.into_owned());
        }
        let mean = total / f64::from(passes);
        assert!(
            (mean - eval_value).abs() < 0.01 * eval_value.abs(),
            "train mean {mean}, eval {eval_value}"
        );
    }

    #[test]
    fn evaluation_is_identity() {
        let xs = inputs();
        let (ys, cache) = forward(0.8, CowArray::from(xs.view()), &mut Mode::Eval).unwrap();
        assert!(ys.is_view(), "evaluation must not copy");
        assert_eq!(ys, xs);
        let mut dy = xs.clone();
        backward_in_place(&cache, &mut dy).unwrap();
        assert_eq!(dy, xs);
    }

    #[test]
    fn mask_is_reproducible_and_scaled() {
        let xs = Array2::from_elem((3, 40), 1.0f32);
        let key = StreamKey {
            seed: 1,
            step: 2,
            phase: 1,
            micro_batch: 0,
            purpose: Purpose::DropoutFake,
        };
        let (a, _) = forward(
            0.8,
            CowArray::from(xs.view()),
            &mut Mode::Train(&mut Rng::new(key)),
        )
        .unwrap();
        let (b, _) = forward(
            0.8,
            CowArray::from(xs.view()),
            &mut Mode::Train(&mut Rng::new(key)),
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(
            a.iter().all(|&v| v == 0.0 || v == 1.25),
            "values must be 0 or 1/keep"
        );
        let kept = a.iter().filter(|&&v| v != 0.0).count();
        assert!((60..=115).contains(&kept), "kept {kept} of 120 at keep 0.8");
    }

    #[test]
    fn backward_uses_the_forward_mask() {
        let xs = Array2::from_elem((2, 30), 2.0f32);
        let mut rng = Rng::new(StreamKey::global(11, Purpose::DropoutReal));
        let (ys, cache) =
            forward(0.5, CowArray::from(xs.clone()), &mut Mode::Train(&mut rng)).unwrap();
        let mut dy = Array2::from_elem((2, 30), 1.0f32);
        backward_in_place(&cache, &mut dy).unwrap();
        // y = x * m, so dL/dx = m = y / x for every element.
        for (d, y) in dy.iter().zip(ys.iter()) {
            assert_eq!(*d, y / 2.0);
        }
    }

    /// Central differences with step 1e-2 through a mask fixed by the
    /// stream key; the map is linear, so f32 rounding bounds the error
    /// (tolerance 1e-3).
    #[test]
    fn backward_matches_finite_differences() {
        let xs = inputs();
        let mut rng = Rng::new(StreamKey::global(12, Purpose::Eval));
        let upstream = Array2::from_shape_fn(xs.raw_dim(), |_| rng.uniform_range(-1.0, 1.0));
        let key = StreamKey::global(13, Purpose::DropoutFake);
        let probe = |xs: &Array2<f32>| {
            let mut mode = Mode::Train(&mut Rng::new(key));
            let (ys, _) = forward(0.8, CowArray::from(xs.view()), &mut mode).unwrap();
            ys.iter()
                .zip(&upstream)
                .map(|(&y, &u)| f64::from(y) * f64::from(u))
                .sum::<f64>()
        };
        let (_, cache) = forward(
            0.8,
            CowArray::from(xs.view()),
            &mut Mode::Train(&mut Rng::new(key)),
        )
        .unwrap();
        let mut dx = upstream.clone();
        backward_in_place(&cache, &mut dx).unwrap();

        let eps = 1e-2f32;
        for idx in 0..xs.len() {
            let mut plus = xs.clone();
            plus.as_slice_mut().unwrap()[idx] += eps;
            let mut minus = xs.clone();
            minus.as_slice_mut().unwrap()[idx] -= eps;
            let numeric = (probe(&plus) - probe(&minus)) / (2.0 * f64::from(eps));
            let analytic = f64::from(dx.as_slice().unwrap()[idx]);
            assert!(
                (numeric - analytic).abs() < 1e-3,
                "x[{idx}]: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn keep_out_of_range_is_an_error() {
        let xs = inputs();
        for keep in [0.0, -0.1, 1.5, f32::NAN] {
            let got = forward(keep, CowArray::from(xs.view()), &mut Mode::Eval);
            assert!(
                matches!(got, Err(NnError::InvalidSetting { .. })),
                "keep {keep}"
            );
        }
    }
}
