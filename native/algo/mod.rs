//! Algorithms of the native core, free of Python: sketches, aggregates, watermarks and
//! windows. Each primitive lives in its own folder whose `mod.rs` explains it.

pub mod codec;
pub mod error;
pub mod hash;
pub mod hll;
pub mod pgcopy;
pub mod rolling;
pub mod tdigest;
pub mod watermark;
pub mod window;

pub use error::{Error, ErrorKind, Result};
