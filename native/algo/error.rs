//! The one error type of the native core.
//!
//! Every fallible native operation returns [`Error`]: a kind, which the Python layer maps
//! onto a class of `datanexus.errors`, and a message that says what was wrong and what is
//! allowed.

use std::fmt;

/// What went wrong, as far as a caller needs to know to react.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// An argument is outside its documented domain (Python: `InvalidArgument`).
    InvalidArgument,
    /// Bytes that are not a valid image of the expected type (Python: `SerializationError`).
    Corrupt,
    /// Two sketches that cannot be combined, e.g. of different precision
    /// (Python: `IncompatibleSketches`).
    Incompatible,
}

/// An error with its kind and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::InvalidArgument,
            message: message.into(),
        }
    }

    pub fn corrupt(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Corrupt,
            message: message.into(),
        }
    }

    pub fn incompatible(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Incompatible,
            message: message.into(),
        }
    }

    /// The same error, its message prefixed with where it happened (`"image 3: …"`).
    pub fn context(self, place: &str) -> Self {
        Self {
            kind: self.kind,
            message: format!("{place}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
