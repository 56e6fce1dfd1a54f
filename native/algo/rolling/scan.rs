//! Whole-batch checks, written as branch-free reductions so that they vectorise, and
//! compiled a second time for AVX2, chosen at run time: baseline x86-64 (SSE2) has no
//! packed 64-bit integer compare, which leaves the sortedness check of an int64
//! timestamp column scalar.

use super::num::Num;

/// Whether `xs` is non-decreasing (NaN makes it false).
pub fn is_sorted<T: Num>(xs: &[T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { is_sorted_avx2(xs) };
    }
    is_sorted_body(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn is_sorted_avx2<T: Num>(xs: &[T]) -> bool {
    is_sorted_body(xs)
}

#[inline(always)]
fn is_sorted_body<T: Num>(xs: &[T]) -> bool {
    let tail = xs.get(1..).unwrap_or_default();
    xs.iter().zip(tail).fold(true, |ok, (a, b)| ok & (a <= b))
}

/// Whether every value is finite (neither NaN nor ±inf).
pub fn all_finite(xs: &[f64]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { all_finite_avx2(xs) };
    }
    all_finite_body(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn all_finite_avx2(xs: &[f64]) -> bool {
    all_finite_body(xs)
}

#[inline(always)]
fn all_finite_body(xs: &[f64]) -> bool {
    // |x| < ∞ is false for NaN and ±∞ alike.
    xs.iter().fold(true, |ok, x| ok & (x.abs() < f64::INFINITY))
}
