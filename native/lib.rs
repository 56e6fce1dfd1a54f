//! DataNexus native core.
//!
//! `algo` holds the algorithms in plain Rust (no pyo3), tested with
//! `cargo test --no-default-features`; `py` holds the only pyo3 code, thin wrappers
//! compiled into the `datanexus._native` extension module.

pub mod algo;

#[cfg(feature = "python")]
mod py;
