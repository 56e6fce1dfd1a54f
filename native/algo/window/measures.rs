//! The built-in measures: their spec syntax, per-window accumulators, merges and values.
//!
//! Every accumulator is mergeable (sessions merge when an event bridges them) and
//! insensitive to the order of its inputs where the arithmetic allows: counts, integer
//! sums, min, max, distinct registers and rate endpoints exactly; float sums to rounding
//! (Neumaier compensation), mean and standard deviation to rounding (Welford updates,
//! Chan et al.'s parallel merge).
//!
//! Percentiles (`pNN(f)`) come from a t-digest (compression 200: exact nearest rank up
//! to its exact-points limit, rank error ≤ 1e-4 beyond); the percentiles of one field
//! share one digest.
//!
//! Adding a measure is local to this file: a [`MeasureKind`], its spec in [`parse_spec`],
//! an [`Acc`] variant with its update, merge, value and bytes.

use super::accs::{Extreme, PercentileAcc, RateAcc, SumAcc, Welford};
use super::bytes::{get_u64, put_u32, put_u64};
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MeasureKind {
    Count,
    Sum,
    Min,
    Max,
    Mean,
    Stddev,
    Distinct,
    Rate,
    /// The quantile q ∈ [0, 1] (`p99.9` is 0.999).
    Percentile(f64),
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

const ALLOWED: &str =
    "count, sum(f), min(f), max(f), mean(f), stddev(f), pNN(f) (p50, p99, p99.9 …), distinct(f), rate(f)";

/// A configured measure: its output name, its spec, what it computes and over which field.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub name: String,
    pub spec: String,
    pub kind: MeasureKind,
    pub field: Option<String>,
    /// Index of `field` among the config's numeric or distinct fields.
    pub slot: usize,
    /// For a percentile, the measure whose digest it reads when not its own (the first
    /// percentile of the same field).
    pub owner: Option<usize>,
}

/// Parses `"count"` or `"fn(field)"`; an error names the measure and what is allowed.
pub fn parse_spec(name: &str, spec: &str) -> Result<(MeasureKind, Option<String>)> {
    let bad = |why: &str| {
        Error::invalid_argument(format!(
            "measure '{name}': {why} in '{spec}'; the measures are {ALLOWED}"
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
    if let Some(q) = percentile(func) {
        return match q {
            Some(q) => Ok((MeasureKind::Percentile(q), Some(field.to_string()))),
            None => Err(bad("a percentile must be between p0 and p100")),
        };
    }
    Err(bad(&format!("unknown measure function '{func}'")))
}

/// `Some(q)` for `pNN` naming a percentile in 0..=100, `Some(None)` for a `pNN` out of
/// range, None for anything else.
fn percentile(func: &str) -> Option<Option<f64>> {
    let digits = func.strip_prefix('p')?;
    let well_formed = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    let pct: f64 = digits.parse().ok().filter(|_| well_formed)?;
    Some((0.0..=100.0).contains(&pct).then_some(pct / 100.0))
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
    Percentile(PercentileAcc),
    /// A percentile answered from another measure's digest: no state of its own.
    SharedPercentile,
}

impl Acc {
    pub fn new(measure: &Measure) -> Self {
        if measure.owner.is_some() {
            return Acc::SharedPercentile;
        }
        match measure.kind {
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
            MeasureKind::Percentile(_) => Acc::Percentile(PercentileAcc::default()),
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
            Acc::Percentile(p) => p.add(input.num),
            Acc::SharedPercentile => {}
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
            (Acc::Percentile(a), Acc::Percentile(b)) => a.merge(b),
            (Acc::SharedPercentile, Acc::SharedPercentile) => {}
            (a, b) => unreachable!("merging {b:?} into {a:?}"),
        }
    }

    /// The value of a measure whose value needs no other measure's state.
    fn value(&mut self) -> Value {
        match self {
            Acc::Count(n) => Value::Int(i128::from(*n)),
            Acc::Sum(s) => s.total(),
            Acc::Min(e) => e.value(true),
            Acc::Max(e) => e.value(false),
            Acc::Mean(s) => s.mean(),
            Acc::Stddev(w) => w.stddev(),
            Acc::Distinct(h) => Value::Float(h.estimate()),
            Acc::Rate(r) => r.per_second(),
            Acc::Percentile(_) | Acc::SharedPercentile => {
                unreachable!("percentiles are valued by `values`")
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Acc::Count(n) => put_u64(out, *n),
            Acc::Sum(s) | Acc::Mean(s) => s.encode(out),
            Acc::Min(e) | Acc::Max(e) => e.encode(out),
            Acc::Stddev(w) => w.encode(out),
            Acc::Distinct(h) => {
                let bytes = h.to_bytes();
                put_u32(out, bytes.len() as u32);
                out.extend_from_slice(&bytes);
            }
            Acc::Rate(r) => r.encode(out),
            Acc::Percentile(p) => p.encode(out),
            Acc::SharedPercentile => {}
        }
    }

    pub fn decode(measure: &Measure, r: &mut Reader<'_>) -> Result<Self> {
        if measure.owner.is_some() {
            return Ok(Acc::SharedPercentile);
        }
        Ok(match measure.kind {
            MeasureKind::Count => Acc::Count(get_u64(r, "count")?),
            MeasureKind::Sum => Acc::Sum(SumAcc::decode(r)?),
            MeasureKind::Mean => Acc::Mean(SumAcc::decode(r)?),
            MeasureKind::Min => Acc::Min(Extreme::decode(r)?),
            MeasureKind::Max => Acc::Max(Extreme::decode(r)?),
            MeasureKind::Stddev => Acc::Stddev(Welford::decode(r)?),
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
            MeasureKind::Rate => Acc::Rate(RateAcc::decode(r)?),
            MeasureKind::Percentile(_) => Acc::Percentile(PercentileAcc::decode(r)?),
        })
    }
}

/// The values of a window's measures, in order.
pub fn values(accs: &mut [Acc], measures: &[Measure]) -> Vec<Value> {
    (0..accs.len())
        .map(|i| match measures[i].kind {
            MeasureKind::Percentile(q) => match &mut accs[measures[i].owner.unwrap_or(i)] {
                Acc::Percentile(p) => p.quantile(q),
                other => unreachable!("a percentile owner holding {other:?}"),
            },
            _ => accs[i].value(),
        })
        .collect()
}
