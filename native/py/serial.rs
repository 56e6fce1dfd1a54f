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

/// `__reduce__` of a wrapper: `(type(obj).from_bytes, (image,))`.
pub fn reduce<'py>(obj: &Bound<'py, PyAny>, image: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let py = obj.py();
    let from_bytes = obj.get_type().getattr("from_bytes")?;
    let state = PyBytes::new(py, image);
    PyTuple::new(py, [from_bytes, PyTuple::new(py, [state])?.into_any()])
}
