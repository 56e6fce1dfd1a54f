//! Running sums that survive eviction.
//!
//! Integers sum exactly in `i128` (overflow would take 2^64 values held at once).
//! Doubles use a compensated accumulator: `hi` is the naive sum; the rounding error of
//! every addition, obtained exactly by Knuth's TwoSum, goes into `lo`, whose own rounding
//! errors go into `lo2`. Subtracting an evicted value is adding its negation, so eviction
//! costs no accuracy: the result is within a few ulps of the exact sum of the values held
//! unless ~1/ε³ operations pass, where a one-level (Neumaier) sum drifts after ~1/ε² · |sum|
//! / max partial sum — which cancelling ±1e15 streams reach in a few million updates.
//!
//! Batches are summed first in eight independent TwoSum lanes (the compiler vectorises
//! them) and the lanes folded into an accumulator of their own, which the aggregate adds
//! as a whole and, when the batch leaves as a whole, subtracts as a whole.

use crate::algo::codec::Reader;
use crate::algo::error::Result;

/// Total of a running sum, in the value type's natural width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Total {
    Int(i128),
    Float(f64),
}

pub trait Accumulator<V>: Clone + Default + std::fmt::Debug + PartialEq + Send + Sync {
    const IMAGE_LEN: usize;
    fn add(&mut self, v: V);
    fn sub(&mut self, v: V);
    /// Adds (or removes) another accumulator's total, as computed by `Value::part`.
    fn add_acc(&mut self, other: &Self);
    fn sub_acc(&mut self, other: &Self);
    fn total(&self) -> Total;
    fn write(&self, out: &mut Vec<u8>);
    fn read(reader: &mut Reader<'_>) -> Result<Self>;
}

/// The exact sum of integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exact(pub i128);

impl Accumulator<i64> for Exact {
    const IMAGE_LEN: usize = 16;

    #[inline(always)]
    fn add(&mut self, v: i64) {
        self.0 += i128::from(v);
    }

    #[inline(always)]
    fn sub(&mut self, v: i64) {
        self.0 -= i128::from(v);
    }

    fn add_acc(&mut self, other: &Self) {
        self.0 += other.0;
    }

    fn sub_acc(&mut self, other: &Self) {
        self.0 -= other.0;
    }

    fn total(&self) -> Total {
        Total::Int(self.0)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self> {
        let mut b = [0u8; 16];
        b.copy_from_slice(reader.take(16, "integer sum")?);
        Ok(Self(i128::from_le_bytes(b)))
    }
}

/// Σ values in i128, in four lanes so the additions overlap.
pub fn sum_i64(values: &[i64]) -> i128 {
    let (chunks, rest) = values.as_chunks::<4>();
    let mut lanes = [0i128; 4];
    for c in chunks {
        for i in 0..4 {
            lanes[i] += i128::from(c[i]);
        }
    }
    let tail: i128 = rest.iter().map(|&v| i128::from(v)).sum();
    lanes.iter().sum::<i128>() + tail
}

/// Knuth's TwoSum: `a + b = s + e` exactly, without branches.
#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// A two-level compensated sum of doubles (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Compensated {
    hi: f64,
    lo: f64,
    lo2: f64,
}

impl Compensated {
    #[inline(always)]
    fn add_lo(&mut self, e: f64) {
        let (lo, e2) = two_sum(self.lo, e);
        self.lo = lo;
        self.lo2 += e2;
    }

    /// Adds the unevaluated sum `hi + lo`.
    fn add_pair(&mut self, (hi, lo): (f64, f64)) {
        Accumulator::add(self, hi);
        self.add_lo(lo);
    }

    pub fn value(&self) -> f64 {
        self.hi + (self.lo + self.lo2)
    }
}

impl Accumulator<f64> for Compensated {
    const IMAGE_LEN: usize = 24;

    #[inline(always)]
    fn add(&mut self, v: f64) {
        let (hi, e) = two_sum(self.hi, v);
        self.hi = hi;
        self.add_lo(e);
    }

    #[inline(always)]
    fn sub(&mut self, v: f64) {
        self.add(-v);
    }

    fn add_acc(&mut self, other: &Self) {
        self.add_pair((other.hi, other.lo + other.lo2));
    }

    fn sub_acc(&mut self, other: &Self) {
        self.add_pair((-other.hi, -(other.lo + other.lo2)));
    }

    fn total(&self) -> Total {
        Total::Float(self.value())
    }

    fn write(&self, out: &mut Vec<u8>) {
        for x in [self.hi, self.lo, self.lo2] {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            hi: reader.f64("sum")?,
            lo: reader.f64("sum compensation")?,
            lo2: reader.f64("sum compensation")?,
        })
    }
}

const LANES: usize = 8;

/// Σ values as a compensated sum, with Σd and Σd² for d = v − shift, in one pass: eight
/// independent lanes (TwoSum for the sum, plain sums for the deviations, which the
/// variance only needs to relative accuracy ~n·ε) that the compiler vectorises, with
/// AVX-512 or AVX2 when the CPU has them (same lanes, same operations, so the same
/// bits), then folded into one accumulator.
pub fn part_f64(values: &[f64], shift: f64) -> (Compensated, f64, f64) {
    let (chunks, rest) = values.as_chunks::<LANES>();
    let mut acc = Compensated::default();
    let (mut s0, mut q0) = (0.0, 0.0);
    if !chunks.is_empty() {
        let [hi, lo, s, q] = lanes(chunks, shift);
        for i in 0..LANES {
            acc.add(hi[i]);
            acc.add_lo(lo[i]);
            s0 += s[i];
            q0 += q[i];
        }
    }
    for &v in rest {
        acc.add(v);
        let d = v - shift;
        s0 += d;
        q0 += d * d;
    }
    (acc, s0, q0)
}

/// The lanes of `part_f64`: hi, lo, Σd, Σd² per lane.
type Lanes = [[f64; LANES]; 4];

fn lanes(chunks: &[[f64; LANES]], shift: f64) -> Lanes {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F, checked just above.
        return unsafe { lanes_avx512(chunks, shift) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { lanes_avx2(chunks, shift) };
    }
    lanes_body(chunks, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn lanes_avx512(chunks: &[[f64; LANES]], shift: f64) -> Lanes {
    lanes_body(chunks, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lanes_avx2(chunks: &[[f64; LANES]], shift: f64) -> Lanes {
    lanes_body(chunks, shift)
}

/// The loop alone in its function: with the fold beside it, LLVM leaves it scalar.
#[inline(always)]
fn lanes_body(chunks: &[[f64; LANES]], shift: f64) -> Lanes {
    let mut hi = [0.0f64; LANES];
    let mut lo = [0.0f64; LANES];
    let mut s = [0.0f64; LANES];
    let mut q = [0.0f64; LANES];
    for c in chunks {
        for i in 0..LANES {
            let (t, e) = two_sum(hi[i], c[i]);
            hi[i] = t;
            lo[i] += e;
            let d = c[i] - shift;
            s[i] += d;
            q[i] += d * d;
        }
    }
    [hi, lo, s, q]
}

/// (Σ d, Σ d²) for d = v − shift, plain sums in four lanes.
pub fn deviations<V: super::num::Value>(values: &[V], shift: V) -> (f64, f64) {
    let (chunks, rest) = values.as_chunks::<4>();
    let mut s = [0.0f64; 4];
    let mut q = [0.0f64; 4];
    for c in chunks {
        for i in 0..4 {
            let d = c[i].deviation(shift);
            s[i] += d;
            q[i] += d * d;
        }
    }
    for &v in rest {
        let d = v.deviation(shift);
        s[0] += d;
        q[0] += d * d;
    }
    ((s[0] + s[1]) + (s[2] + s[3]), (q[0] + q[1]) + (q[2] + q[3]))
}
