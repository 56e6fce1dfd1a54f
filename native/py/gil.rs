//! Running batch work without the GIL.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use super::errors;
use crate::algo::Error;

/// Runs `f` with the GIL released, so other Python threads (and Bytewax workers) proceed.
/// A native error becomes its `datanexus.errors` class; a panic becomes a
/// `DataNexusError` naming it instead of unwinding through the interpreter.
pub fn without_gil<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(errors::to_py(py, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(errors::raise(
                py,
                "DataNexusError",
                format!("internal error in native code: {what}"),
            ))
        }
    }
}
