//! Named parameter tensors.
//!
//! [`Params`] is the one container for everything that is a list of named
//! f32 tensors: a network's parameters, their gradients, and optimizer
//! state. The names are stable across processes (they key parameter-server
//! shards and checkpoint files), and the order is the order of insertion.

use ndarray::{ArrayD, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix1, Ix2};

use super::NnError;

/// A dense f32 tensor of any rank, in standard (row-major) layout.
pub type Tensor = ArrayD<f32>;

/// An ordered list of uniquely named tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    entries: Vec<(String, Tensor)>,
}

impl Params {
    /// Creates an empty list.
    pub fn new() -> Self {
        Params::default()
    }

    /// Appends `tensor` under `name`, rejecting a name already present.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) -> Result<(), NnError> {
        let name = name.into();
        if self.get(&name).is_some() {
            return Err(NnError::DuplicateTensor { name });
        }
        self.entries.push((name, tensor));
        Ok(())
    }

    /// Returns the tensor named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Returns the tensor named `name` mutably, if present.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        self.entries.iter_mut().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Returns the tensor named `name`, or [`NnError::MissingTensor`].
    pub fn require(&self, name: &str) -> Result<&Tensor, NnError> {
        self.get(name).ok_or_else(|| NnError::MissingTensor { name: name.to_string() })
    }

    /// Returns the tensor named `name` mutably, or [`NnError::MissingTensor`].
    pub fn require_mut(&mut self, name: &str) -> Result<&mut Tensor, NnError> {
        self.get_mut(name).ok_or_else(|| NnError::MissingTensor { name: name.to_string() })
    }

    /// Returns two distinct tensors mutably at once, such as a layer's
    /// weight and bias gradients.
    pub fn require_pair_mut(
        &mut self,
        first: &str,
        second: &str,
    ) -> Result<(&mut Tensor, &mut Tensor), NnError> {
        if first == second {
            return Err(NnError::DuplicateTensor { name: first.to_string() });
        }
        let mut first_tensor = None;
        let mut second_tensor = None;
        for (name, tensor) in &mut self.entries {
            if name == first {
                first_tensor = Some(tensor);
            } else if name == second {
                second_tensor = Some(tensor);
            }
        }
        match (first_tensor, second_tensor) {
            (Some(a), Some(b)) => Ok((a, b)),
            (None, _) => Err(NnError::MissingTensor { name: first.to_string() }),
            (_, None) => Err(NnError::MissingTensor { name: second.to_string() }),
        }
    }

    /// Returns the rank-2 tensor named `name` as a matrix view.
    pub fn matrix(&self, name: &str) -> Result<ArrayView2<'_, f32>, NnError> {
        let tensor = self.require(name)?;
        tensor.view().into_dimensionality::<Ix2>().map_err(|_| rank_error(name, 2, tensor.shape()))
    }

    /// Returns the rank-1 tensor named `name` as a vector view.
    pub fn vector(&self, name: &str) -> Result<ArrayView1<'_, f32>, NnError> {
        let tensor = self.require(name)?;
        tensor.view().into_dimensionality::<Ix1>().map_err(|_| rank_error(name, 1, tensor.shape()))
    }

    /// Iterates over (name, tensor) in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Iterates mutably over (name, tensor) in insertion order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Tensor)> {
        self.entries.iter_mut().map(|(n, t)| (n.as_str(), t))
    }

    /// Consumes the list into its (name, tensor) pairs.
    pub fn into_entries(self) -> Vec<(String, Tensor)> {
        self.entries
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of f32 elements over all tensors.
    pub fn element_count(&self) -> usize {
        self.entries.iter().map(|(_, t)| t.len()).sum()
    }

    /// A list with the same names and shapes, filled with zeros.
    pub fn zeros_like(&self) -> Params {
        let entries = self
            .entries
            .iter()
            .map(|(n, t)| (n.clone(), Tensor::zeros(t.raw_dim())))
            .collect();
        Params { entries }
    }

    /// The sub-list of tensors whose names satisfy `keep`, cloned.
    pub fn select(&self, keep: impl Fn(&str) -> bool) -> Params {
        let entries = self.entries.iter().filter(|(n, _)| keep(n)).cloned().collect();
        Params { entries }
    }

    /// Checks that `other` has exactly the same names, order and shapes.
    pub fn check_same_layout(&self, other: &Params) -> Result<(), NnError> {
        if self.len() != other.len() {
            return Err(NnError::LayoutMismatch {
                detail: format!("{} tensors against {}", self.len(), other.len()),
            });
        }
        for ((name, t), (other_name, o)) in self.entries.iter().zip(&other.entries) {
            if name != other_name {
                return Err(NnError::LayoutMismatch {
                    detail: format!("tensor `{name}` where `{other_name}` was expected"),
                });
            }
            if t.shape() != o.shape() {
                return Err(NnError::ShapeMismatch {
                    op: "params layout".into(),
                    name: name.clone(),
                    expected: t.shape().to_vec(),
                    got: o.shape().to_vec(),
                });
            }
        }
        Ok(())
    }

    /// Adds `other` element-wise into `self`; both must have the same layout.
    pub fn add_assign(&mut self, other: &Params) -> Result<(), NnError> {
        self.check_same_layout(other)?;
        for ((_, t), (_, o)) in self.entries.iter_mut().zip(&other.entries) {
            *t += o;
        }
        Ok(())
    }

    /// Whether every element of every tensor is finite; returns the name of
    /// the first tensor holding a NaN or infinity otherwise.
    pub fn first_non_finite(&self) -> Option<&str> {
        self.entries.iter().find(|(_, t)| !all_finite(t)).map(|(n, _)| n.as_str())
    }
}

/// Returns whether every element of `tensor` is finite. The fold over the
/// contiguous buffer has no early exit, so the loop vectorises. Gradients
/// are almost always finite, so an early exit would rarely help.
fn all_finite(tensor: &Tensor) -> bool {
    match tensor.as_slice_memory_order() {
        Some(values) => values.iter().fold(true, |ok, v| ok & v.is_finite()),
        None => tensor.iter().all(|v| v.is_finite()),
    }
}

/// Converts a mutable rank-2 tensor into a matrix view.
pub(crate) fn as_matrix_mut<'t>(
    name: &str,
    tensor: &'t mut Tensor,
) -> Result<ArrayViewMut2<'t, f32>, NnError> {
    let shape = tensor.shape().to_vec();
    tensor.view_mut().into_dimensionality::<Ix2>().map_err(|_| rank_error(name, 2, &shape))
}

/// Converts a mutable rank-1 tensor into a vector view.
pub(crate) fn as_vector_mut<'t>(
    name: &str,
    tensor: &'t mut Tensor,
) -> Result<ArrayViewMut1<'t, f32>, NnError> {
    let shape = tensor.shape().to_vec();
    tensor.view_mut().into_dimensionality::<Ix1>().map_err(|_| rank_error(name, 1, &shape))
}

fn rank_error(name: &str, rank: usize, shape: &[usize]) -> NnError {
    NnError::RankMismatch { name: name.to_string(), expected: rank, got: shape.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn sample() -> Params {
        let mut p = Params::new();
        p.insert("a", Tensor::from_elem(IxDyn(&[2, 3]), 1.0)).unwrap();
        p.insert("b", Tensor::from_elem(IxDyn(&[3]), 2.0)).unwrap();
        p
    }

    #[test]
    fn duplicate_name_is_rejected() {
        let mut p = sample();
        let err = p.insert("a", Tensor::zeros(IxDyn(&[1]))).unwrap_err();
        assert!(matches!(err, NnError::DuplicateTensor { .. }), "{err}");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn add_assign_sums_and_checks_layout() {
        let mut p = sample();
        p.add_assign(&sample()).unwrap();
        assert_eq!(p.get("a").unwrap()[[1, 2]], 2.0);
        let mut other = Params::new();
        other.insert("a", Tensor::zeros(IxDyn(&[3, 2]))).unwrap();
        other.insert("b", Tensor::zeros(IxDyn(&[3]))).unwrap();
        let err = p.add_assign(&other).unwrap_err();
        assert!(matches!(err, NnError::ShapeMismatch { .. }), "{err}");
        assert_eq!(p.get("a").unwrap()[[1, 2]], 2.0, "failed add must not change values");
    }

    #[test]
    fn non_finite_is_found_by_name() {
        let mut p = sample();
        assert_eq!(p.first_non_finite(), None);
        p.get_mut("b").unwrap()[[1]] = f32::NAN;
        assert_eq!(p.first_non_finite(), Some("b"));
    }
}
