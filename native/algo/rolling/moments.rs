//! The running sums behind count, sum, mean and variance, and their error bound.
//!
//! The variance comes from plain sums of d = v − shift: var = Σd²/n − (Σd/n)² (the
//! "shifted data" algorithm of Chan, Golub and LeVeque). Adding and subtracting values
//! makes each sum err by at most ε per operation times the largest magnitude it held
//! since the last rebuild (`peak1`, `peak2`), and the subtraction amplifies that when the
//! shift is far from the mean — as after a level shift, once the values that set the
//! scale have been evicted. [`Moments::needs_rebuild`] bounds that error after every
//! update; when it passes `VAR_TOLERANCE` of the variance the owner recomputes every sum
//! from the points around a shift at the current mean: O(n) but rare (stationary data
//! needs ~1e7·n operations to get there), so O(1) amortised.

use super::num::Value;
use super::sum::Accumulator;

/// The variance is re-centred once its error bound passes this fraction of it.
const VAR_TOLERANCE: f64 = 1e-9;

/// Below this many values, slices are summed value by value (no lane set-up).
pub const SHORT: usize = 32;

/// The sums of some values: their total, and Σd, Σd² of their deviations from a shift.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Part<V: Value> {
    pub sum: V::Sum,
    pub dev: f64,
    pub dev2: f64,
}

impl<V: Value> Part<V> {
    /// The part of `values` around `shift`, in one vectorised pass.
    pub fn of(values: &[V], shift: V) -> Self {
        let (sum, dev, dev2) = V::part(values, shift);
        Self { sum, dev, dev2 }
    }

    #[inline(always)]
    pub fn add(&mut self, v: V, shift: V) {
        self.sum.add(v);
        let d = v.deviation(shift);
        self.dev += d;
        self.dev2 += d * d;
    }

    #[inline(always)]
    pub fn sub(&mut self, v: V, shift: V) {
        self.sum.sub(v);
        let d = v.deviation(shift);
        self.dev -= d;
        self.dev2 -= d * d;
    }

    pub fn add_part(&mut self, other: &Self) {
        self.sum.add_acc(&other.sum);
        self.dev += other.dev;
        self.dev2 += other.dev2;
    }

    pub fn sub_part(&mut self, other: &Self) {
        self.sum.sub_acc(&other.sum);
        self.dev -= other.dev;
        self.dev2 -= other.dev2;
    }
}

/// The window's sums, their shift, and the bookkeeping of their error bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments<V: Value> {
    pub total: Part<V>,
    pub shift: V,
    pub ops: u64,
    pub peak1: f64,
    pub peak2: f64,
}

impl<V: Value> Moments<V> {
    pub fn reset(&mut self, shift: V) {
        *self = Self {
            shift,
            ..Self::default()
        };
    }

    #[inline(always)]
    pub fn add(&mut self, v: V) {
        self.total.add(v, self.shift);
    }

    #[inline(always)]
    pub fn sub(&mut self, v: V) {
        self.total.sub(v, self.shift);
    }

    /// Subtracts values that were added one by one (or whose part was not kept).
    pub fn sub_values(&mut self, vs: &[V]) {
        if vs.len() < SHORT {
            vs.iter().for_each(|&v| self.sub(v));
        } else {
            self.total.sub_part(&Part::of(vs, self.shift));
        }
    }

    /// Records `ops` more operations and the magnitudes the sums reached.
    #[inline(always)]
    pub fn note(&mut self, ops: usize) {
        self.ops += ops as u64;
        self.peak1 = self.peak1.max(self.total.dev.abs());
        self.peak2 = self.peak2.max(self.total.dev2.abs());
    }

    pub fn variance(&self, n: usize) -> f64 {
        let n = n as f64;
        let m = self.total.dev / n;
        (self.total.dev2 / n - m * m).max(0.0)
    }

    /// Whether the variance's error bound has outgrown `VAR_TOLERANCE`. The bound is
    /// ε·(ops + 2)·(peak2 + 2·|mean d|·peak1)/n, compared here multiplied by n² to spare
    /// the divisions on every push.
    #[inline(always)]
    pub fn needs_rebuild(&self, n: usize) -> bool {
        let n = n as f64;
        let (dev, dev2) = (self.total.dev, self.total.dev2);
        let bound =
            f64::EPSILON * (self.ops + 2) as f64 * (self.peak2 * n + 2.0 * dev.abs() * self.peak1);
        let var_n2 = (dev2 * n - dev * dev).max(0.0);
        bound > VAR_TOLERANCE * var_n2 + V::rounding_floor(self.shift) * n * n
    }
}
