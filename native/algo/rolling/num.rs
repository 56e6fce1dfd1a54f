//! The two kinds of numbers a rolling aggregate holds, for timestamps and for values:
//! exact 64-bit integers, or doubles. The aggregate is generic over both; the public type
//! picks one of the four combinations and widens to doubles for good when it first meets
//! one (see `super::RollingAggregate`).

use std::cmp::Ordering;
use std::fmt::Debug;

use super::sum::{deviations, part_f64, sum_i64, Accumulator, Compensated, Exact};

/// What timestamps and values share: a total order (for heaps, even with NaN) and an
/// 8-byte little-endian image.
pub trait Num: Copy + PartialOrd + Default + Debug + Send + Sync + 'static {
    const IS_FLOAT: bool;
    fn to_number(self) -> super::Number;
    fn total_cmp(&self, other: &Self) -> Ordering;
    fn to_f64(self) -> f64;
    fn to_le(self) -> [u8; 8];
    fn from_le(bytes: [u8; 8]) -> Self;
}

pub trait Time: Num {
    /// `newest − window`: the points held are those with `ts > cutoff`. `None` when the
    /// subtraction leaves the integers (nothing can be old enough to evict).
    fn cutoff(newest: Self, window: Self) -> Option<Self>;
}

pub trait Value: Num {
    /// The running sum: exact (`i128`) for integers, compensated for doubles.
    type Sum: Accumulator<Self>;
    /// `self − shift` as a double; exact for integers whose difference fits 53 bits.
    fn deviation(self, shift: Self) -> f64;
    /// A shift near the mean `sum / n` (n > 0), so that deviations stay small.
    fn shift_near(sum: &Self::Sum, n: usize) -> Self;
    /// The variance error that rounding the inputs alone already implies around `shift`
    /// (zero for integers, whose deviations are exact).
    fn rounding_floor(shift: Self) -> f64;
    /// The sum of `values` and (Σd, Σd²) of their deviations from `shift`.
    fn part(values: &[Self], shift: Self) -> (Self::Sum, f64, f64);
}

impl Num for i64 {
    const IS_FLOAT: bool = false;
    fn to_number(self) -> super::Number {
        super::Number::Int(self)
    }
    fn total_cmp(&self, other: &Self) -> Ordering {
        self.cmp(other)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
    fn from_le(bytes: [u8; 8]) -> Self {
        i64::from_le_bytes(bytes)
    }
}

impl Num for f64 {
    const IS_FLOAT: bool = true;
    fn to_number(self) -> super::Number {
        super::Number::Float(self)
    }
    fn total_cmp(&self, other: &Self) -> Ordering {
        f64::total_cmp(self, other)
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn to_le(self) -> [u8; 8] {
        self.to_le_bytes()
    }
    fn from_le(bytes: [u8; 8]) -> Self {
        f64::from_le_bytes(bytes)
    }
}

impl Time for i64 {
    fn cutoff(newest: Self, window: Self) -> Option<Self> {
        newest.checked_sub(window)
    }
}

impl Time for f64 {
    fn cutoff(newest: Self, window: Self) -> Option<Self> {
        Some(newest - window)
    }
}

impl Value for i64 {
    type Sum = Exact;

    #[inline(always)]
    fn deviation(self, shift: Self) -> f64 {
        match self.checked_sub(shift) {
            Some(d) => d as f64,
            None => (i128::from(self) - i128::from(shift)) as f64,
        }
    }

    fn shift_near(sum: &Exact, n: usize) -> Self {
        // The exact integer mean, rounded toward zero; always within i64.
        (sum.0 / n as i128) as i64
    }

    fn rounding_floor(_shift: Self) -> f64 {
        0.0
    }

    fn part(values: &[Self], shift: Self) -> (Exact, f64, f64) {
        let (s, q) = deviations(values, shift);
        (Exact(sum_i64(values)), s, q)
    }
}

impl Value for f64 {
    type Sum = Compensated;

    #[inline(always)]
    fn deviation(self, shift: Self) -> f64 {
        self - shift
    }

    fn shift_near(sum: &Compensated, n: usize) -> Self {
        sum.value() / n as f64
    }

    fn rounding_floor(shift: Self) -> f64 {
        let ulp = f64::EPSILON * shift.abs();
        ulp * ulp
    }

    fn part(values: &[Self], shift: Self) -> (Compensated, f64, f64) {
        part_f64(values, shift)
    }
}
