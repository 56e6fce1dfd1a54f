//! The byte-image plumbing every serialisable wrapper shares: the `from_bytes` argument and
//! pickling through `from_bytes`, so Bytewax snapshots are the compact versioned images.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyTuple};

use super::errors::invalid_type;

/// The bytes of a `from_bytes` argument: `bytes` borrowed, `bytearray` copied; anything
/// else is `InvalidType` naming `owner`.
pub fn image_arg<'a>(data: &'a Bound<'_, PyAny>, owner: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        Ok(Cow::Borrowed(b.as_bytes()))
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        Ok(Cow::Owned(b.to_vec()))
    } else {
        Err(invalid_type(
            data.py(),
            format!("{owner}.from_bytes takes bytes or bytearray"),
        ))
    }
}

/// The images of a `merge_images` argument: an iterable of `bytes` (held, so the slices
/// stay valid while the GIL is released); anything else is `InvalidType` naming `owner`.
pub fn image_list<'py>(
    images: &Bound<'py, PyAny>,
    owner: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let py = images.py();
    let iter = images.try_iter().map_err(|_| {
        invalid_type(
            py,
            format!("{owner}.merge_images takes an iterable of bytes"),
        )
    })?;
    let mut held = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item?;
        let bytes = item.cast_into::<PyBytes>().map_err(|e| {
            invalid_type(
                py,
                format!(
                    "{owner}.merge_images takes bytes, got {} at position {i}",
                    e.into_inner()
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ),
            )
        })?;
        held.push(bytes);
    }
    Ok(held)
}

/// `__reduce__` of a wrapper: `(type(obj).from_bytes, (image,))`.
pub fn reduce<'py>(obj: &Bound<'py, PyAny>, image: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let py = obj.py();
    let from_bytes = obj.get_type().getattr("from_bytes")?;
    let state = PyBytes::new(py, image);
    PyTuple::new(py, [from_bytes, PyTuple::new(py, [state])?.into_any()])
}

/// The methods every serialisable wrapper shares, as a second `#[pymethods]` block:
/// `copy`, `__copy__`, `__deepcopy__`, `to_bytes`, `from_bytes` (a classmethod reading
/// the versioned image), `__reduce__` (pickle through `from_bytes`) and `__eq__` (same
/// native state). `$wrapper` must be a `#[pyclass]` with one field `inner: $native`,
/// where `$native` is `Clone + PartialEq` with `to_bytes()` and `from_bytes(&[u8])`.
macro_rules! image_methods {
    ($wrapper:ty, $native:ty, $name:literal) => {
        #[pyo3::pymethods]
        impl $wrapper {
            fn copy(&self) -> Self {
                Self {
                    inner: self.inner.clone(),
                }
            }

            fn __copy__(&self) -> Self {
                self.copy()
            }

            fn __deepcopy__(&self, _memo: &pyo3::Bound<'_, pyo3::PyAny>) -> Self {
                self.copy()
            }

            fn to_bytes<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::Bound<'py, pyo3::types::PyBytes> {
                pyo3::types::PyBytes::new(py, &self.inner.to_bytes())
            }

            #[classmethod]
            fn from_bytes(
                _cls: &pyo3::Bound<'_, pyo3::types::PyType>,
                data: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<Self> {
                let image = $crate::py::serial::image_arg(data, $name)?;
                <$native>::from_bytes(&image)
                    .map(|inner| Self { inner })
                    .map_err(|e| $crate::py::errors::to_py(data.py(), e))
            }

            fn __reduce__<'py>(
                slf: &pyo3::Bound<'py, Self>,
            ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::types::PyTuple>> {
                $crate::py::serial::reduce(slf.as_any(), &slf.borrow().inner.to_bytes())
            }

            fn __eq__(&self, other: &pyo3::Bound<'_, pyo3::PyAny>) -> bool {
                other
                    .cast::<Self>()
                    .is_ok_and(|o| o.borrow().inner == self.inner)
            }
        }
    };
}
pub(crate) use image_methods;
