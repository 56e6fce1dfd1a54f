//! numpy batches as Rust slices.

use std::borrow::Cow;

use numpy::{Element, PyReadonlyArray1};

/// The array's data as a slice: borrowed when contiguous, copied once from a strided view
/// (`a[::2]`) otherwise, so batch code always sees plain memory.
pub fn contiguous<'a, T: Element + Copy>(array: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match array.as_slice() {
        Ok(slice) => Cow::Borrowed(slice),
        Err(_) => Cow::Owned(array.as_array().to_vec()),
    }
}
