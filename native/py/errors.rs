//! Maps native errors onto the classes of `datanexus.errors`, so Python code catches the
//! same types whichever side raised them.

use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::algo::{Error, ErrorKind};

/// The `datanexus.errors` class called `name`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    Ok(py
        .import("datanexus.errors")?
        .getattr(name)?
        .cast_into::<PyType>()?)
}

/// A `datanexus.errors.<name>` exception carrying `message`.
pub fn raise(py: Python<'_>, name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    match class(py, name) {
        Ok(cls) => PyErr::from_type(cls, message),
        // Only when the Python package is broken; still say what went wrong.
        Err(e) => e,
    }
}

pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let name = match e.kind {
        ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::Corrupt => "SerializationError",
        ErrorKind::Incompatible => "IncompatibleSketches",
    };
    raise(py, name, e.message)
}

pub fn invalid_type(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidType", message)
}

pub fn invalid_argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "InvalidArgument", message)
}
