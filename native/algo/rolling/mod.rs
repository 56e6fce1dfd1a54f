//! Rolling aggregates over a time window: count, sum, mean, variance, min and max of the
//! points with `ts > newest − window`, updated point by point or batch by batch.
//!
//! Timestamps are numbers in any consistent unit; values are numbers. Both are held as
//! exact 64-bit integers until the first double arrives (window, timestamp or value),
//! which widens the aggregate to doubles for good, as numpy promotes a column (integers
//! beyond 2^53 then round). A point at or before `newest − window` on arrival is
//! ignored and counted in `dropped`; a late point still inside the window is accepted.
//!
//! * **Eviction by timestamp, not arrival.** In-order points live in a ring sorted by
//!   ts; late ones in a min-heap by ts. Eviction pops both while ts ≤ cutoff, so a late
//!   point leaves exactly when its time is up.
//! * **min / max** (see `extrema`): a monotonic deque over the in-order points (Lemire,
//!   "Streaming maximum-minimum filter using no more than three comparisons per
//!   element", 2006), O(1) amortised; a batch is folded in by one backward scan of
//!   suffix maxima, the backward pass of van Herk (1992) / Gil and Werman (1993); late
//!   points go to lazily pruned heaps, O(log L) for L late points held.
//! * **sum** (see `sum`): exact in `i128` for integers; for doubles a two-level
//!   compensated sum (TwoSum, as Neumaier 1974 but with the compensation itself
//!   compensated), so subtracting evicted values costs no accuracy: within a few ulps
//!   of the exact sum of the values held (`math.fsum`).
//! * **variance** (population; sample variance beside it): plain sums of deviations from
//!   a shift near the mean (Chan, Golub and LeVeque, "Algorithms for computing the sample
//!   variance", 1983), with a running error bound; when eviction has made the bound
//!   exceed 1e-9 of the variance (a level shift), everything is recomputed from the
//!   points around the current mean, so the variance is always within ~1e-9 relative
//!   (plus the inputs' own rounding) of the variance of the points held.
//! * **Batches** touch only the points that end inside the window: a batch longer than
//!   the window is classified in one pass and its survivors appended as slices, so
//!   `push_many` costs O(batch) cheap comparisons plus O(survivors) sums. A batch's
//!   sums are kept beside its points, so when the batch leaves the window whole it is
//!   subtracted in O(1), without reading its values again. The passes over a batch
//!   (sortedness, sums, min/max block extremes) are branch-free lanes that the compiler
//!   vectorises, compiled again for AVX2 (and AVX-512 for the sums) and chosen at run
//!   time; the lanes and their order are the same on every path, so are the results.
//!
//! Complexity: in-order push O(1) amortised, late push O(log L), queries O(1); memory
//! 16 bytes per point held (plus ~3 heap entries per late point). Choose something else
//! for windows counted in rows rather than time (numpy/bottleneck over the array), for
//! quantiles (a t-digest per window) or for windows too large to hold every point
//! (a tumbling rollup that keeps only the sums).

mod core;
mod extrema;
mod format;
mod moments;
pub mod num;
pub mod scan;
pub mod sum;

use std::borrow::Cow;

use self::core::Core;
use crate::algo::error::{Error, Result};
pub use sum::Total;

/// A timestamp, value or window: an exact integer or a double.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn to_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Number::Float(_))
    }
}

/// A batch column: integers or doubles.
#[derive(Clone, Copy, Debug)]
pub enum Column<'a> {
    Int(&'a [i64]),
    Float(&'a [f64]),
}

impl Column<'_> {
    fn len(&self) -> usize {
        match self {
            Column::Int(c) => c.len(),
            Column::Float(c) => c.len(),
        }
    }

    fn is_float(&self) -> bool {
        matches!(self, Column::Float(_))
    }
}

fn floats<'a>(c: Column<'a>) -> Cow<'a, [f64]> {
    match c {
        Column::Int(c) => Cow::Owned(c.iter().map(|&v| v as f64).collect()),
        Column::Float(c) => Cow::Borrowed(c),
    }
}

/// The four combinations of integer or double timestamps and values.
#[derive(Clone, Debug)]
enum Modes {
    IntInt(Core<i64, i64>),
    IntFloat(Core<i64, f64>),
    FloatInt(Core<f64, i64>),
    FloatFloat(Core<f64, f64>),
}

macro_rules! each {
    ($modes:expr, $core:ident => $body:expr) => {
        match $modes {
            Modes::IntInt($core) => $body,
            Modes::IntFloat($core) => $body,
            Modes::FloatInt($core) => $body,
            Modes::FloatFloat($core) => $body,
        }
    };
}

/// A rolling aggregate over a time window. See the module documentation.
#[derive(Clone, Debug)]
pub struct RollingAggregate {
    modes: Modes,
}

impl PartialEq for RollingAggregate {
    /// Equal when in the same state: window, newest, dropped, points and sums.
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl RollingAggregate {
    /// An empty aggregate; the window must be a positive integer or a finite positive
    /// double.
    pub fn new(window: Number) -> Result<Self> {
        let modes = match window {
            Number::Int(w) if w > 0 => Modes::IntInt(Core::new(w)),
            Number::Float(w) if w.is_finite() && w > 0.0 => Modes::FloatInt(Core::new(w)),
            _ => {
                return Err(Error::invalid_argument(format!(
                    "RollingAggregate window must be a positive finite number, got {window:?}"
                )))
            }
        };
        Ok(Self { modes })
    }

    pub fn window(&self) -> Number {
        each!(&self.modes, c => num::Num::to_number(c.window))
    }

    pub fn float_timestamps(&self) -> bool {
        matches!(self.modes, Modes::FloatInt(_) | Modes::FloatFloat(_))
    }

    pub fn float_values(&self) -> bool {
        matches!(self.modes, Modes::IntFloat(_) | Modes::FloatFloat(_))
    }

    /// Widens to double timestamps and/or values (never back).
    #[inline(always)]
    fn widen(&mut self, float_ts: bool, float_values: bool) {
        let ts = float_ts && !self.float_timestamps();
        let vs = float_values && !self.float_values();
        if ts || vs {
            self.widen_to(ts, vs);
        }
    }

    #[cold]
    fn widen_to(&mut self, ts: bool, vs: bool) {
        let i2f = |v: i64| v as f64;
        self.modes = match (&self.modes, ts, vs) {
            (Modes::IntInt(c), false, true) => Modes::IntFloat(c.convert(|t| t, i2f)),
            (Modes::IntInt(c), true, false) => Modes::FloatInt(c.convert(i2f, |v| v)),
            (Modes::IntInt(c), true, true) => Modes::FloatFloat(c.convert(i2f, i2f)),
            (Modes::IntFloat(c), true, _) => Modes::FloatFloat(c.convert(i2f, |v| v)),
            (Modes::FloatInt(c), _, true) => Modes::FloatFloat(c.convert(|t| t, i2f)),
            _ => unreachable!("only narrower modes widen"),
        };
    }

    /// Adds one point (or counts it in `dropped` when older than the window).
    pub fn push(&mut self, ts: Number, value: Number) {
        self.widen(ts.is_float(), value.is_float());
        match (&mut self.modes, ts, value) {
            (Modes::IntInt(c), Number::Int(t), Number::Int(v)) => c.push(t, v),
            (Modes::IntFloat(c), Number::Int(t), v) => c.push(t, v.to_f64()),
            (Modes::FloatInt(c), t, Number::Int(v)) => c.push(t.to_f64(), v),
            (Modes::FloatFloat(c), t, v) => c.push(t.to_f64(), v.to_f64()),
            _ => unreachable!("widened above"),
        }
    }

    /// Adds a batch: the same state as `push` on each point in order (float sums up to
    /// rounding). Columns of different lengths are an `InvalidArgument` error.
    pub fn push_many(&mut self, ts: Column<'_>, values: Column<'_>) -> Result<()> {
        if ts.len() != values.len() {
            return Err(Error::invalid_argument(format!(
                "push_many needs as many timestamps as values, got {} and {}",
                ts.len(),
                values.len()
            )));
        }
        if ts.len() == 0 {
            // Nothing arrived: an empty float column does not widen the aggregate.
            return Ok(());
        }
        self.widen(ts.is_float(), values.is_float());
        match (&mut self.modes, ts, values) {
            (Modes::IntInt(c), Column::Int(t), Column::Int(v)) => c.push_many(t, v),
            (Modes::IntFloat(c), Column::Int(t), v) => c.push_many(t, &floats(v)),
            (Modes::FloatInt(c), t, Column::Int(v)) => c.push_many(&floats(t), v),
            (Modes::FloatFloat(c), t, v) => c.push_many(&floats(t), &floats(v)),
            _ => unreachable!("widened above"),
        }
        Ok(())
    }

    pub fn count(&self) -> usize {
        each!(&self.modes, c => c.count())
    }

    /// The sum of the values held: `Int` (exact) while the values are integers.
    pub fn sum(&self) -> Total {
        each!(&self.modes, c => c.total())
    }

    pub fn mean(&self) -> Option<f64> {
        each!(&self.modes, c => c.mean())
    }

    /// Population variance (divide by n); `None` when empty.
    pub fn variance(&self) -> Option<f64> {
        each!(&self.modes, c => c.variance())
    }

    /// Sample variance (divide by n − 1); `None` below two points.
    pub fn sample_variance(&self) -> Option<f64> {
        let n = self.count();
        (n > 1).then(|| self.variance().unwrap_or(0.0) * n as f64 / (n - 1) as f64)
    }

    pub fn stddev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    pub fn min(&self) -> Option<Number> {
        each!(&self.modes, c => c.min().map(num::Num::to_number))
    }

    pub fn max(&self) -> Option<Number> {
        each!(&self.modes, c => c.max().map(num::Num::to_number))
    }

    /// Points ignored because they were older than the window on arrival.
    pub fn dropped(&self) -> u64 {
        each!(&self.modes, c => c.dropped)
    }

    /// The largest timestamp seen (also after its point left the window).
    pub fn newest(&self) -> Option<Number> {
        each!(&self.modes, c => c.newest.map(num::Num::to_number))
    }

    /// Forgets every point, the newest timestamp and the dropped count; keeps the window
    /// and the number types.
    pub fn clear(&mut self) {
        each!(&mut self.modes, c => c.clear())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        each!(&self.modes, c => format::encode(c))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        format::decode(bytes)
    }
}

#[cfg(test)]
mod tests;
