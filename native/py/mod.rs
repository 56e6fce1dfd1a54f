//! The `datanexus._native` extension module: the only pyo3 code of the crate.
//!
//! Wrappers are declared under their public names in module `datanexus`; users import them
//! from `datanexus` / `datanexus.sketches`, never from here.

mod arrays;
mod errors;
mod gil;
mod hll;
mod pgcopy;
mod rolling;
mod serial;
mod tdigest;
mod watermark;
mod window;
mod window_read;
mod window_result;
mod window_router;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

// Rust allocations of the extension only (Python objects keep CPython's allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<hll::PyHyperLogLog>()?;
    m.add_class::<rolling::PyRollingAggregate>()?;
    m.add_class::<tdigest::PyTDigest>()?;
    m.add_class::<watermark::PyWatermarkTracker>()?;
    m.add_class::<window::PyWindowEngine>()?;
    m.add_class::<window_result::PyWindowResult>()?;
    m.add_class::<window_router::PyWindowRouter>()?;
    m.add_class::<window_router::PyShardBatch>()?;
    m.add_function(wrap_pyfunction!(pgcopy::copy_binary, m)?)?;
    m.add(
        "COPY_SIGNATURE",
        PyBytes::new(m.py(), crate::algo::pgcopy::SIGNATURE),
    )?;
    m.add(
        "COPY_TRAILER",
        PyBytes::new(m.py(), crate::algo::pgcopy::TRAILER),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
