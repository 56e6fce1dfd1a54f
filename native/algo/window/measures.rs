//! The built-in measures: their spec syntax, per-window accumulators, merges and values.
//!
//! Every accumulator is mergeable (sessions merge when an event bridges them) and
//! insensitive to the order of its inputs where the arithmetic allows: counts, integer
//! sums, min, max, distinct registers and rate endpoints exactly; float sums to rounding
//! (Neumaier compensation), mean and standard deviation to rounding (Welford updates,
//! Chan et al.'s parallel merge).
//!
//! Adding a measure is local to this file: a [`MeasureKind`], its spec in [`parse_spec`],
//! an [`Acc`] variant with its update, merge, value and bytes.

use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};
use crate::algo::hll::HyperLogLog;

/// HyperLogLog precision of `distinct(f)`: relative standard error 1.04/64 ≈ 1.6 %.
pub const DISTINCT_PRECISION: u8 = 12;

/// One field value as a measure reads it: absent or null, an integer or a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Null,
    Int(i64),
    Float(f64),
}

/// A measure's value in a result: None (no values), an exact integer, or a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i128),
    Float(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasureKind {
    Count,
    Sum,
    Min,
    Max,
    Mean,
    Stddev,
    Distinct,
    Rate,
}

const FUNCTIONS: [(&str, MeasureKind); 7] = [
    ("sum", MeasureKind::Sum),
    ("min", MeasureKind::Min),
    ("max", MeasureKind::Max),
    ("mean", MeasureKind::Mean),
    ("stddev", MeasureKind::Stddev),
    ("distinct", MeasureKind::Distinct),
    ("rate", MeasureKind::Rate),
];

const ALLOWED: &str = "count, sum(f), min(f), max(f), mean(f), stddev(f), distinct(f), rate(f)";

/// A configured measure: its output name, its spec, what it computes and over which field.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub name: String,
    pub spec: String,
    pub kind: MeasureKind,
    pub field: Option<String>,
    /// Index of `field` among the config's numeric or distinct fields.
    pub slot: usize,
}

/// Parses `"count"` or `"fn(field)"`; an error names the measure and what is allowed.
pub fn parse_spec(name: &str, spec: &str) -> Result<(MeasureKind, Option<String>)> {
    let bad = |why: &str| {
        Error::invalid_argument(format!(
            "measure {name:?}: {why} in {spec:?}; the measures are {ALLOWED}"
        ))
    };
    if name.is_empty() {
        return Err(Error::invalid_argument("measure names must not be empty"));
    }
    let s = spec.trim();
    if s == "count" || s == "count()" {
        return Ok((MeasureKind::Count, None));
    }
    let (func, rest) = s.split_once('(').ok_or_else(|| bad("unknown measure"))?;
    let func = func.trim();
    let field = rest
        .strip_suffix(')')
        .ok_or_else(|| bad("missing the closing parenthesis"))?
        .trim();
    if field.is_empty() || field.contains(['(', ')']) {
        return Err(bad("expected one field name between the parentheses"));
    }
    if let Some(&(_, kind)) = FUNCTIONS.iter().find(|(f, _)| *f == func) {
        return Ok((kind, Some(field.to_string())));
    }
    if is_percentile(func) {
        return Err(bad(
            "percentile measures (pNN) need the t-digest, which this build does not have yet",
        ));
    }
    Err(bad(&format!("unknown measure function {func:?}")))
}

fn is_percentile(func: &str) -> bool {
    func.strip_prefix('p')
        .is_some_and(|q| !q.is_empty() && q.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// What one event gives a measure: its field value, its distinct coupon (0: none) and
/// its time.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    pub num: Num,
    pub coupon: u32,
    pub ts: i64,
}

/// A measure's state in one window.
#[derive(Clone, Debug, PartialEq)]
pub enum Acc {
    Count(u64),
    Sum(SumAcc),
    Min(Extreme),
    Max(Extreme),
    Mean(SumAcc),
    Stddev(Welford),
    Distinct(HyperLogLog),
    Rate(RateAcc),
}

impl Acc {
    pub fn new(kind: MeasureKind) -> Self {
        match kind {
            MeasureKind::Count => Acc::Count(0),
            MeasureKind::Sum => Acc::Sum(SumAcc::default()),
            MeasureKind::Min => Acc::Min(Extreme::default()),
            MeasureKind::Max => Acc::Max(Extreme::default()),
            MeasureKind::Mean => Acc::Mean(SumAcc::default()),
            MeasureKind::Stddev => Acc::Stddev(Welford::default()),
            MeasureKind::Distinct => {
                Acc::Distinct(HyperLogLog::new(DISTINCT_PRECISION).expect("a valid precision"))
            }
            MeasureKind::Rate => Acc::Rate(RateAcc::default()),
        }
    }

    pub fn kind(&self) -> MeasureKind {
        match self {
            Acc::Count(_) => MeasureKind::Count,
            Acc::Sum(_) => MeasureKind::Sum,
            Acc::Min(_) => MeasureKind::Min,
            Acc::Max(_) => MeasureKind::Max,
            Acc::Mean(_) => MeasureKind::Mean,
            Acc::Stddev(_) => MeasureKind::Stddev,
            Acc::Distinct(_) => MeasureKind::Distinct,
            Acc::Rate(_) => MeasureKind::Rate,
        }
    }

    #[inline]
    pub fn update(&mut self, input: Input) {
        match self {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) | Acc::Mean(s) => s.add(input.num),
            Acc::Min(e) => e.add(input.num, true),
            Acc::Max(e) => e.add(input.num, false),
            Acc::Stddev(w) => match input.num {
                Num::Null => {}
                Num::Int(v) => w.add(v as f64),
                Num::Float(v) => w.add(v),
            },
            Acc::Distinct(h) => {
                if input.coupon != 0 {
                    h.add_coupon(input.coupon)
                }
            }
            Acc::Rate(r) => r.add(input.ts, input.num),
        }
    }

    /// Folds `other` (of the same kind) into `self`.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) | (Acc::Mean(a), Acc::Mean(b)) => a.merge(b),
            (Acc::Min(a), Acc::Min(b)) => a.merge(b, true),
            (Acc::Max(a), Acc::Max(b)) => a.merge(b, false),
            (Acc::Stddev(a), Acc::Stddev(b)) => a.merge(b),
            (Acc::Distinct(a), Acc::Distinct(b)) => {
                a.merge(b).expect("distinct sketches share their precision")
            }
            (Acc::Rate(a), Acc::Rate(b)) => a.merge(b),
            (a, b) => unreachable!("merging {:?} into {:?}", b.kind(), a.kind()),
        }
    }

    pub fn value(&self) -> Value {
        match self {
            Acc::Count(n) => Value::Int(i128::from(*n)),
            Acc::Sum(s) => s.total(),
            Acc::Min(e) => e.value(true),
            Acc::Max(e) => e.value(false),
            Acc::Mean(s) => match s.total() {
                Value::Null => Value::Null,
                Value::Int(v) => Value::Float(v as f64 / s.n as f64),
                Value::Float(v) => Value::Float(v / s.n as f64),
            },
            Acc::Stddev(w) => w.stddev(),
            Acc::Distinct(h) => Value::Float(h.estimate()),
            Acc::Rate(r) => r.per_second(),
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Acc::Count(n) => put_u64(out, *n),
            Acc::Sum(s) | Acc::Mean(s) => s.encode(out),
            Acc::Min(e) | Acc::Max(e) => e.encode(out),
            Acc::Stddev(w) => {
                put_u64(out, w.n);
                put_f64(out, w.mean);
                put_f64(out, w.m2);
            }
            Acc::Distinct(h) => {
                let bytes = h.to_bytes();
                put_u32(out, bytes.len() as u32);
                out.extend_from_slice(&bytes);
            }
            Acc::Rate(r) => {
                for end in [r.first, r.last] {
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
        }
    }

    pub fn decode(kind: MeasureKind, r: &mut Reader<'_>) -> Result<Self> {
        Ok(match kind {
            MeasureKind::Count => Acc::Count(get_u64(r, "count")?),
            MeasureKind::Sum => Acc::Sum(SumAcc::decode(r)?),
            MeasureKind::Mean => Acc::Mean(SumAcc::decode(r)?),
            MeasureKind::Min => Acc::Min(Extreme::decode(r)?),
            MeasureKind::Max => Acc::Max(Extreme::decode(r)?),
            MeasureKind::Stddev => Acc::Stddev(Welford {
                n: get_u64(r, "stddev count")?,
                mean: r.f64("stddev mean")?,
                m2: r.f64("stddev m2")?,
            }),
            MeasureKind::Distinct => {
                let len = r.u32("distinct sketch length")? as usize;
                let h = HyperLogLog::from_bytes(r.take(len, "distinct sketch")?)?;
                if h.precision() != DISTINCT_PRECISION {
                    return Err(Error::corrupt(format!(
                        "a distinct sketch of precision {} (expected {DISTINCT_PRECISION})",
                        h.precision()
                    )));
                }
                Acc::Distinct(h)
            }
            MeasureKind::Rate => {
                let mut ends = [None, None];
                for end in &mut ends {
                    *end = match r.u8("rate flag")? {
                        0 => None,
                        1 => Some((get_i64(r, "rate time")?, get_num(r)?)),
                        f => return Err(Error::corrupt(format!("rate flag {f}"))),
                    };
                }
                Acc::Rate(RateAcc {
                    first: ends[0],
                    last: ends[1],
                })
            }
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
    fn add(&mut self, v: Num) {
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
    fn add_float(&mut self, x: f64) {
        self.floats = true;
        let t = self.float + x;
        if self.float.abs() >= x.abs() {
            self.comp += (self.float - t) + x;
        } else {
            self.comp += (x - t) + self.float;
        }
        self.float = t;
    }

    fn merge(&mut self, o: &SumAcc) {
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

    fn total(&self) -> Value {
        if self.n == 0 {
            Value::Null
        } else if !self.floats {
            Value::Int(self.int)
        } else {
            Value::Float((self.float + self.comp) + self.int as f64)
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.n);
        out.extend_from_slice(&self.int.to_le_bytes());
        put_f64(out, self.float);
        put_f64(out, self.comp);
        out.push(u8::from(self.floats));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
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
    fn add(&mut self, v: Num, min: bool) {
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

    fn add_float(&mut self, x: f64, min: bool) {
        // NaN is sticky: it propagates rather than vanishing (REQUIREMENTS DEC-8).
        self.float = Some(match self.float {
            Some(c) if c.is_nan() => c,
            Some(c) if !x.is_nan() && !(if min { x < c } else { x > c }) => c,
            _ => x,
        });
    }

    fn merge(&mut self, o: &Extreme, min: bool) {
        if let Some(i) = o.int {
            self.add(Num::Int(i), min);
        }
        if let Some(f) = o.float {
            self.add_float(f, min);
        }
    }

    fn value(&self, min: bool) -> Value {
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

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.int.is_some()) | u8::from(self.float.is_some()) << 1);
        put_i64(out, self.int.unwrap_or(0));
        put_f64(out, self.float.unwrap_or(0.0));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
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
    fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Chan, Golub and LeVeque's pairwise combination.
    fn merge(&mut self, o: &Welford) {
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

    fn stddev(&self) -> Value {
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
    fn add(&mut self, t: i64, v: Num) {
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

    fn merge(&mut self, o: &RateAcc) {
        for s in [o.first, o.last].into_iter().flatten() {
            self.add(s.0, s.1);
        }
    }

    /// Increase per second between the first and last samples; a decrease is a counter
    /// reset (the increase is then the last value). One sample or no elapsed time → 0.
    fn per_second(&self) -> Value {
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

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn get_u64(r: &mut Reader<'_>, what: &str) -> Result<u64> {
    let b = r.take(8, what)?;
    Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

pub fn get_i64(r: &mut Reader<'_>, what: &str) -> Result<i64> {
    let b = r.take(8, what)?;
    Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
}

pub fn get_bool(r: &mut Reader<'_>, what: &str) -> Result<bool> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::corrupt(format!("{what}: {v} is not a boolean"))),
    }
}

pub fn put_value(out: &mut Vec<u8>, v: Value) {
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(2);
            put_f64(out, f);
        }
    }
}

pub fn get_value(r: &mut Reader<'_>) -> Result<Value> {
    Ok(match r.u8("value tag")? {
        0 => Value::Null,
        1 => {
            let b = r.take(16, "integer value")?;
            Value::Int(i128::from_le_bytes(b.try_into().expect("16 bytes")))
        }
        2 => Value::Float(r.f64("float value")?),
        t => return Err(Error::corrupt(format!("value tag {t}"))),
    })
}

fn put_num(out: &mut Vec<u8>, v: Num) {
    match v {
        Num::Null => out.push(0),
        Num::Int(i) => {
            out.push(1);
            put_i64(out, i);
        }
        Num::Float(f) => {
            out.push(2);
            put_f64(out, f);
        }
    }
}

fn get_num(r: &mut Reader<'_>) -> Result<Num> {
    Ok(match r.u8("number tag")? {
        1 => Num::Int(get_i64(r, "integer")?),
        2 => Num::Float(r.f64("float")?),
        t => return Err(Error::corrupt(format!("number tag {t}"))),
    })
}
