//! The accumulators behind the measures (see `measures.rs`): compensated sums, exact
//! extremes, Welford deviations, counter rates and percentile digests.

use super::bytes::{
    get_bool, get_i64, get_num, get_u64, put_f64, put_i64, put_num, put_u32, put_u64,
};
use super::measures::{Num, Value};
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};
use crate::algo::tdigest::{TDigest, DEFAULT_COMPRESSION};

/// A t-digest of a field's values; NaN and ±∞, which a digest cannot place, make every
/// percentile NaN (REQUIREMENTS DEC-8: they propagate).
///
/// Values wait in `pending` and enter the digest a block at a time, or when a value is
/// asked for: the digest is then always fully merged, so its image is its whole state
/// and a snapshot taken at any moment restores exactly the digest the run would have had.
///
/// `pending` holds up to the digest's own buffer size (8·δ values) and enters it in one
/// block, which is exactly what `TDigest.add` of each value would do: a digest fed the
/// same values in the same order has the same image when a value is first asked for.
#[derive(Clone, Debug)]
pub struct PercentileAcc {
    digest: TDigest,
    pending: Vec<f64>,
    nan: bool,
}

/// Values buffered before they are merged, per unit of compression: the digest's own
/// buffer size (1600 at δ = 200).
const PENDING_PER_COMPRESSION: f64 = 8.0;

impl Default for PercentileAcc {
    fn default() -> Self {
        Self::new(DEFAULT_COMPRESSION)
    }
}

impl PartialEq for PercentileAcc {
    fn eq(&self, other: &Self) -> bool {
        self.nan == other.nan
            && self.pending == other.pending
            && self.digest.to_bytes() == other.digest.to_bytes()
    }
}

impl PercentileAcc {
    /// An empty digest of `compression`, which the caller has checked.
    pub(super) fn new(compression: f64) -> Self {
        Self {
            digest: TDigest::new(compression).expect("a checked compression"),
            pending: Vec::new(),
            nan: false,
        }
    }

    fn pending_limit(&self) -> usize {
        (self.digest.compression() * PENDING_PER_COMPRESSION) as usize
    }

    pub(super) fn add(&mut self, v: Num) {
        let x = match v {
            Num::Null => return,
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        };
        if !x.is_finite() {
            self.nan = true;
            return;
        }
        self.pending.push(x);
        if self.pending.len() >= self.pending_limit() {
            self.settle();
        }
    }

    fn settle(&mut self) {
        if !self.pending.is_empty() {
            self.digest.add_many(&self.pending).expect("finite values");
            self.pending.clear();
        }
        self.digest.flush();
    }

    pub(super) fn merge(&mut self, o: &PercentileAcc) {
        self.digest.merge(&o.digest);
        self.pending.extend_from_slice(&o.pending);
        self.nan |= o.nan;
        if self.pending.len() >= self.pending_limit() {
            self.settle();
        }
    }

    /// The digest's image (`TDigest.to_bytes()`) of the finite values; None without any.
    /// NaN and ±∞ cannot be placed in a digest and are left out of the image (the window's
    /// percentiles are NaN, and its sum, min and max show them).
    pub(super) fn image(&mut self) -> Value {
        self.settle();
        if self.digest.is_empty() {
            return Value::Null;
        }
        Value::Bytes(self.digest.to_bytes().into())
    }

    pub(super) fn quantile(&mut self, q: f64) -> Value {
        if self.nan {
            return Value::Float(f64::NAN);
        }
        self.settle();
        if self.digest.is_empty() {
            return Value::Null;
        }
        Value::Float(self.digest.quantile(q).expect("q was checked at parse"))
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.nan));
        let bytes = self.digest.to_bytes();
        put_u32(out, bytes.len() as u32);
        out.extend_from_slice(&bytes);
        put_u32(out, self.pending.len() as u32);
        self.pending.iter().for_each(|&x| put_f64(out, x));
    }

    pub(super) fn decode(r: &mut Reader<'_>, compression: f64) -> Result<Self> {
        let nan = get_bool(r, "percentile flag")?;
        let len = r.u32("digest length")? as usize;
        let digest = TDigest::from_bytes(r.take(len, "digest")?)?;
        if digest.compression() != compression {
            return Err(Error::corrupt(format!(
                "a digest of compression {} (expected {compression})",
                digest.compression()
            )));
        }
        let count = r.u32("pending values")? as usize;
        if count >= (compression * PENDING_PER_COMPRESSION) as usize {
            return Err(Error::corrupt(format!("{count} pending percentile values")));
        }
        let pending = (0..count)
            .map(|_| r.f64("pending value"))
            .collect::<Result<Vec<f64>>>()?;
        if pending.iter().any(|x| !x.is_finite()) {
            return Err(Error::corrupt("a pending percentile value is not finite"));
        }
        Ok(Self {
            digest,
            pending,
            nan,
        })
    }
}

/// Exact integer sum (i128) beside a compensated float sum, and the count of values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SumAcc {
    n: u64,
    int: i128,
    float: f64,
    comp: f64,
    /// True once a float (or an integer overflowing i128) went into `float`.
    floats: bool,
}

impl SumAcc {
    pub(super) fn add(&mut self, v: Num) {
        match v {
            Num::Null => return,
            Num::Int(x) => match self.int.checked_add(i128::from(x)) {
                Some(s) => self.int = s,
                None => self.add_float(x as f64),
            },
            Num::Float(x) => self.add_float(x),
        }
        self.n += 1;
    }

    /// Neumaier's variant of Kahan summation: the lost low-order part goes to `comp`.
    pub(super) fn add_float(&mut self, x: f64) {
        self.floats = true;
        let t = self.float + x;
        if self.float.abs() >= x.abs() {
            self.comp += (self.float - t) + x;
        } else {
            self.comp += (x - t) + self.float;
        }
        self.float = t;
    }

    pub(super) fn merge(&mut self, o: &SumAcc) {
        self.n += o.n;
        match self.int.checked_add(o.int) {
            Some(s) => self.int = s,
            None => self.add_float(o.int as f64),
        }
        if o.floats {
            self.add_float(o.float);
            self.comp += o.comp;
        }
    }

    pub(super) fn total(&self) -> Value {
        if self.n == 0 {
            Value::Null
        } else if !self.floats {
            Value::Int(self.int)
        } else {
            Value::Float((self.float + self.comp) + self.int as f64)
        }
    }

    /// total / count; None without values (REQUIREMENTS SKETCH-13: never a mean of means).
    pub(super) fn mean(&self) -> Value {
        match self.total() {
            Value::Null => Value::Null,
            Value::Int(v) => Value::Float(v as f64 / self.n as f64),
            Value::Float(v) => Value::Float(v / self.n as f64),
            Value::Bytes(_) => unreachable!("a sum is a number"),
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.n);
        out.extend_from_slice(&self.int.to_le_bytes());
        put_f64(out, self.float);
        put_f64(out, self.comp);
        out.push(u8::from(self.floats));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let n = get_u64(r, "sum count")?;
        let mut int = [0u8; 16];
        int.copy_from_slice(r.take(16, "integer sum")?);
        Ok(Self {
            n,
            int: i128::from_le_bytes(int),
            float: r.f64("float sum")?,
            comp: r.f64("sum compensation")?,
            floats: get_bool(r, "sum flag")?,
        })
    }
}

/// The least (or greatest) integer and float seen, kept apart so that neither loses
/// precision; the value compares them exactly and prefers the integer on a tie.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extreme {
    int: Option<i64>,
    float: Option<f64>,
}

impl Extreme {
    pub(super) fn add(&mut self, v: Num, min: bool) {
        match v {
            Num::Null => {}
            Num::Int(x) => {
                self.int = Some(match self.int {
                    Some(c) if (x < c) != min || x == c => c,
                    _ => x,
                })
            }
            Num::Float(x) => self.add_float(x, min),
        }
    }

    pub(super) fn add_float(&mut self, x: f64, min: bool) {
        // NaN is sticky: it propagates rather than vanishing (REQUIREMENTS DEC-8).
        self.float = Some(match self.float {
            Some(c) if c.is_nan() => c,
            Some(c) if !x.is_nan() && !(if min { x < c } else { x > c }) => c,
            _ => x,
        });
    }

    pub(super) fn merge(&mut self, o: &Extreme, min: bool) {
        if let Some(i) = o.int {
            self.add(Num::Int(i), min);
        }
        if let Some(f) = o.float {
            self.add_float(f, min);
        }
    }

    pub(super) fn value(&self, min: bool) -> Value {
        match (self.int, self.float) {
            (None, None) => Value::Null,
            (Some(i), None) => Value::Int(i128::from(i)),
            (None, Some(f)) => Value::Float(f),
            (Some(_), Some(f)) if f.is_nan() => Value::Float(f),
            (Some(i), Some(f)) => {
                let float_wins = match cmp_int_float(i, f) {
                    std::cmp::Ordering::Less => !min,
                    std::cmp::Ordering::Greater => min,
                    std::cmp::Ordering::Equal => false,
                };
                if float_wins {
                    Value::Float(f)
                } else {
                    Value::Int(i128::from(i))
                }
            }
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.int.is_some()) | u8::from(self.float.is_some()) << 1);
        put_i64(out, self.int.unwrap_or(0));
        put_f64(out, self.float.unwrap_or(0.0));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let flags = r.u8("extreme flags")?;
        if flags > 3 {
            return Err(Error::corrupt(format!("extreme flags {flags}")));
        }
        let int = get_i64(r, "integer extreme")?;
        let float = r.f64("float extreme")?;
        Ok(Self {
            int: (flags & 1 != 0).then_some(int),
            float: (flags & 2 != 0).then_some(float),
        })
    }
}

/// `i` compared with a non-NaN `f`, exactly (no rounding of `i` to f64).
pub fn cmp_int_float(i: i64, f: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Less;
    }
    if f < -TWO_63 {
        return Greater;
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i64)) {
        Equal if f > whole => Less,
        Equal if f < whole => Greater,
        other => other,
    }
}

/// Welford's running mean and sum of squared deviations; sample standard deviation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    pub(super) fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Chan, Golub and LeVeque's pairwise combination.
    pub(super) fn merge(&mut self, o: &Welford) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = o.clone();
            return;
        }
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let d = o.mean - self.mean;
        self.mean += d * (nb / n);
        self.m2 += o.m2 + d * d * (na * nb / n);
        self.n += o.n;
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.n);
        put_f64(out, self.mean);
        put_f64(out, self.m2);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            n: get_u64(r, "stddev count")?,
            mean: r.f64("stddev mean")?,
            m2: r.f64("stddev m2")?,
        })
    }

    /// The sum of squared deviations; None without values.
    pub(super) fn m2(&self) -> Value {
        if self.n == 0 {
            return Value::Null;
        }
        Value::Float(self.m2)
    }

    pub(super) fn stddev(&self) -> Value {
        if self.n < 2 {
            return Value::Null;
        }
        Value::Float((self.m2.max(0.0) / (self.n - 1) as f64).sqrt())
    }
}

/// A counter's earliest and latest samples, `(time, value)`; ties in time keep the
/// smaller value as the first and the larger as the last, so arrival order never matters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateAcc {
    first: Option<(i64, Num)>,
    last: Option<(i64, Num)>,
}

fn num_f64(v: Num) -> f64 {
    match v {
        Num::Null => f64::NAN,
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

fn sample_cmp(a: (i64, Num), b: (i64, Num)) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| num_f64(a.1).total_cmp(&num_f64(b.1)))
}

impl RateAcc {
    pub(super) fn add(&mut self, t: i64, v: Num) {
        if v == Num::Null {
            return;
        }
        let s = (t, v);
        if self.first.is_none_or(|f| sample_cmp(s, f).is_lt()) {
            self.first = Some(s);
        }
        if self.last.is_none_or(|l| sample_cmp(s, l).is_gt()) {
            self.last = Some(s);
        }
    }

    pub(super) fn merge(&mut self, o: &RateAcc) {
        for s in [o.first, o.last].into_iter().flatten() {
            self.add(s.0, s.1);
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        for end in [self.first, self.last] {
            match end {
                None => out.push(0),
                Some((t, v)) => {
                    out.push(1);
                    put_i64(out, t);
                    put_num(out, v);
                }
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut ends = [None, None];
        for end in &mut ends {
            *end = match r.u8("rate flag")? {
                0 => None,
                1 => Some((get_i64(r, "rate time")?, get_num(r)?)),
                f => return Err(Error::corrupt(format!("rate flag {f}"))),
            };
        }
        Ok(Self {
            first: ends[0],
            last: ends[1],
        })
    }

    /// Increase per second between the first and last samples; a decrease is a counter
    /// reset (the increase is then the last value). One sample or no elapsed time → 0.
    pub(super) fn per_second(&self) -> Value {
        let (Some((t0, v0)), Some((t1, v1))) = (self.first, self.last) else {
            return Value::Null;
        };
        if t1 <= t0 {
            return Value::Float(0.0);
        }
        let increase = match (v0, v1) {
            (Num::Int(a), Num::Int(b)) => (i128::from(b) - i128::from(a)) as f64,
            _ => num_f64(v1) - num_f64(v0),
        };
        let increase = if increase < 0.0 {
            num_f64(v1).max(0.0)
        } else {
            increase
        };
        Value::Float(increase * 1000.0 / (t1 - t0) as f64)
    }
}
