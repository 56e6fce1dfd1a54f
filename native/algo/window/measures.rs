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
//! The mergeable-state measures feed the rollup store (`datanexus.stream.rollup`):
//! `count(f)` (alias `n(f)`: the values of f that are not null), `m2(f)` (Welford's sum of
//! squared deviations), `digest(f)` / `digest(f, δ)` (the t-digest image, compression δ,
//! default 100, as `TDigest.to_bytes()`) and `hll(f)` / `hll(f, p)` (the HyperLogLog image,
//! precision p, default 12, as `HyperLogLog.to_bytes()`). An image measure shares the
//! state of an earlier measure of the same field that keeps the same sketch (`digest(f,
//! 200)` a `pNN(f)`'s, `hll(f)` a `distinct(f)`'s, `m2(f)` a `stddev(f)`'s), and the other
//! way round; measures of the older kinds share as they always did, so engine images of
//! those configurations are unchanged.
//!
//! Adding a measure is local to this file: a [`MeasureKind`], its spec in [`parse_spec`],
//! an [`Acc`] variant with its update, merge, value and bytes.

use super::accs::{Extreme, PercentileAcc, RateAcc, SumAcc, Welford};
use super::bytes::{get_u64, put_u32, put_u64};
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};
use crate::algo::hll::{HyperLogLog, MAX_PRECISION, MIN_PRECISION};
use crate::algo::tdigest::check_compression;

/// HyperLogLog precision of `distinct(f)`: relative standard error 1.04/64 ≈ 1.6 %.
pub const DISTINCT_PRECISION: u8 = 12;

/// The t-digest compression of `pNN(f)`.
pub const PERCENTILE_COMPRESSION: f64 = crate::algo::tdigest::DEFAULT_COMPRESSION;

/// The default compression of `digest(f)`: the store's sketches (CONTRACT: rollups).
pub const DIGEST_COMPRESSION: f64 = 100.0;

/// The default precision of `hll(f)`: the store's sketches.
pub const HLL_PRECISION: u8 = 12;

/// One field value as a measure reads it: absent or null, an integer or a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Null,
    Int(i64),
    Float(f64),
}

/// A measure's value in a result: None (no values), an exact integer, a float, or a
/// sketch image (`digest(f)`, `hll(f)`), shared so that results and the last emission
/// hold one copy.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i128),
    Float(f64),
    Bytes(std::sync::Arc<[u8]>),
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
    /// `count(f)`, `n(f)`: the values of f that are not null.
    CountField,
    /// Welford's sum of squared deviations from the mean.
    M2,
    /// The t-digest image at this compression.
    Digest(f64),
    /// The HyperLogLog image at this precision.
    Hll(u8),
}

impl MeasureKind {
    /// Whether the measure reads its field as a distinct item (a coupon) by its kind.
    pub fn reads_coupons(self) -> bool {
        matches!(self, MeasureKind::Distinct | MeasureKind::Hll(_))
    }

    /// Whether a measure of this kind may read the state of an earlier `owner` measure of
    /// the same field. Older kinds share only as they always did (percentiles among
    /// themselves), so the engine images of their configurations stay the same.
    fn can_share(self, owner: MeasureKind) -> bool {
        use MeasureKind::*;
        match (self, owner) {
            (Percentile(_), Percentile(_)) => true,
            (Percentile(_), Digest(c)) | (Digest(c), Percentile(_)) => c == PERCENTILE_COMPRESSION,
            (Digest(a), Digest(b)) => a == b,
            (Distinct, Hll(p)) | (Hll(p), Distinct) => p == DISTINCT_PRECISION,
            (Hll(a), Hll(b)) => a == b,
            (Stddev, M2) | (M2, Stddev) | (M2, M2) => true,
            _ => false,
        }
    }
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
    "count, count(f) or n(f), sum(f), min(f), max(f), mean(f), stddev(f), m2(f), \
     pNN(f) (p50, p99, p99.9 …), distinct(f), rate(f), digest(f) or digest(f, compression), \
     hll(f) or hll(f, precision)";

/// A configured measure: its output name, its spec, what it computes and over which field.
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub name: String,
    pub spec: String,
    pub kind: MeasureKind,
    pub field: Option<String>,
    /// Index of `field` among the config's numeric fields, or its distinct fields when
    /// `coupons`.
    pub slot: usize,
    /// The measure reads its field as distinct items (coupons), not as numbers.
    pub coupons: bool,
    /// The measure whose state it reads when not its own (the first measure of the same
    /// field keeping the same sketch or deviations; see [`MeasureKind`]'s sharing).
    pub owner: Option<usize>,
}

/// The earlier measure (among `parsed`) whose state a new measure of `kind` over `field`
/// reads, if any.
pub fn owner_of(parsed: &[Measure], kind: MeasureKind, field: &Option<String>) -> Option<usize> {
    parsed
        .iter()
        .position(|m| m.owner.is_none() && m.field == *field && kind.can_share(m.kind))
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
    match func {
        "count" | "n" => return Ok((MeasureKind::CountField, Some(field.to_string()))),
        "m2" => return Ok((MeasureKind::M2, Some(field.to_string()))),
        "digest" | "hll" => {
            let (field, param) = match field.rsplit_once(',') {
                Some((f, p)) => (f.trim(), Some(p.trim())),
                None => (field, None),
            };
            if field.is_empty() {
                return Err(bad("expected a field name before the comma"));
            }
            let kind = if func == "digest" {
                let c = match param {
                    None => DIGEST_COMPRESSION,
                    Some(p) => p
                        .parse::<f64>()
                        .ok()
                        .filter(|c| check_compression(*c).is_ok())
                        .ok_or_else(|| {
                            bad(&format!(
                                "the digest compression must be a number in 10..=10000, got '{p}'"
                            ))
                        })?,
                };
                MeasureKind::Digest(c)
            } else {
                let p = match param {
                    None => HLL_PRECISION,
                    Some(p) => p
                        .parse::<u8>()
                        .ok()
                        .filter(|p| (MIN_PRECISION..=MAX_PRECISION).contains(p))
                        .ok_or_else(|| {
                            bad(&format!(
                                "the hll precision must be an integer in \
                                 {MIN_PRECISION}..={MAX_PRECISION}, got '{p}'"
                            ))
                        })?,
                };
                MeasureKind::Hll(p)
            };
            return Ok((kind, Some(field.to_string())));
        }
        _ => {}
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
    /// Boxed: a digest is ~200 bytes, and inline it made every window's accumulators
    /// that large, whatever its measures.
    Percentile(Box<PercentileAcc>),
    /// A measure answered from another measure's state: nothing of its own.
    Shared,
    /// `count(f)`: values that are not null.
    NonNull(u64),
}

/// A window's accumulators, one per measure. A window of one measure (a count, a sum)
/// holds it inline, so that the window is one block of memory: with many series, a
/// second block per window cost a cache miss at every update, emission and drop.
#[derive(Clone, Debug, PartialEq)]
pub enum Accs {
    One(Acc),
    Many(Box<[Acc]>),
}

impl FromIterator<Acc> for Accs {
    fn from_iter<I: IntoIterator<Item = Acc>>(iter: I) -> Self {
        let mut all: Vec<Acc> = iter.into_iter().collect();
        match all.len() {
            1 => Accs::One(all.pop().expect("one accumulator")),
            _ => Accs::Many(all.into_boxed_slice()),
        }
    }
}

impl std::ops::Deref for Accs {
    type Target = [Acc];
    fn deref(&self) -> &[Acc] {
        match self {
            Accs::One(a) => std::slice::from_ref(a),
            Accs::Many(all) => all,
        }
    }
}

impl std::ops::DerefMut for Accs {
    fn deref_mut(&mut self) -> &mut [Acc] {
        match self {
            Accs::One(a) => std::slice::from_mut(a),
            Accs::Many(all) => all,
        }
    }
}

impl Acc {
    pub fn new(measure: &Measure) -> Self {
        if measure.owner.is_some() {
            return Acc::Shared;
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
            MeasureKind::Percentile(_) => Acc::Percentile(Box::default()),
            MeasureKind::CountField => Acc::NonNull(0),
            MeasureKind::M2 => Acc::Stddev(Welford::default()),
            MeasureKind::Digest(c) => Acc::Percentile(Box::new(PercentileAcc::new(c))),
            MeasureKind::Hll(p) => Acc::Distinct(HyperLogLog::new(p).expect("a checked precision")),
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
            Acc::Shared => {}
            Acc::NonNull(n) => *n += u64::from(input.num != Num::Null || input.coupon != 0),
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
            (Acc::Shared, Acc::Shared) => {}
            (Acc::NonNull(a), Acc::NonNull(b)) => *a += b,
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
            Acc::NonNull(n) => Value::Int(i128::from(*n)),
            Acc::Percentile(_) | Acc::Shared => {
                unreachable!("percentiles and shared measures are valued by `values`")
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Acc::Count(n) | Acc::NonNull(n) => put_u64(out, *n),
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
            Acc::Shared => {}
        }
    }

    pub fn decode(measure: &Measure, r: &mut Reader<'_>) -> Result<Self> {
        if measure.owner.is_some() {
            return Ok(Acc::Shared);
        }
        Ok(match measure.kind {
            MeasureKind::Count => Acc::Count(get_u64(r, "count")?),
            MeasureKind::Sum => Acc::Sum(SumAcc::decode(r)?),
            MeasureKind::Mean => Acc::Mean(SumAcc::decode(r)?),
            MeasureKind::Min => Acc::Min(Extreme::decode(r)?),
            MeasureKind::Max => Acc::Max(Extreme::decode(r)?),
            MeasureKind::Stddev => Acc::Stddev(Welford::decode(r)?),
            MeasureKind::Distinct => Acc::Distinct(decode_hll(r, DISTINCT_PRECISION)?),
            MeasureKind::Hll(p) => Acc::Distinct(decode_hll(r, p)?),
            MeasureKind::Rate => Acc::Rate(RateAcc::decode(r)?),
            MeasureKind::Percentile(_) => {
                Acc::Percentile(Box::new(PercentileAcc::decode(r, PERCENTILE_COMPRESSION)?))
            }
            MeasureKind::Digest(c) => Acc::Percentile(Box::new(PercentileAcc::decode(r, c)?)),
            MeasureKind::CountField => Acc::NonNull(get_u64(r, "non-null count")?),
            MeasureKind::M2 => Acc::Stddev(Welford::decode(r)?),
        })
    }
}

fn decode_hll(r: &mut Reader<'_>, precision: u8) -> Result<HyperLogLog> {
    let len = r.u32("distinct sketch length")? as usize;
    let h = HyperLogLog::from_bytes(r.take(len, "distinct sketch")?)?;
    if h.precision() != precision {
        return Err(Error::corrupt(format!(
            "a distinct sketch of precision {} (expected {precision})",
            h.precision()
        )));
    }
    Ok(h)
}

/// The values of a window's measures, in order (collected straight into a shared
/// slice for an emission: one allocation).
pub fn values<C: FromIterator<Value>>(accs: &mut [Acc], measures: &[Measure]) -> C {
    (0..accs.len())
        .map(|i| {
            let own = measures[i].owner.unwrap_or(i);
            match (measures[i].kind, &mut accs[own]) {
                (MeasureKind::Percentile(q), Acc::Percentile(p)) => p.quantile(q),
                (MeasureKind::Digest(_), Acc::Percentile(p)) => p.image(),
                (MeasureKind::Distinct, Acc::Distinct(h)) => Value::Float(h.estimate()),
                (MeasureKind::Hll(_), Acc::Distinct(h)) => {
                    if h.is_empty() {
                        Value::Null
                    } else {
                        Value::Bytes(h.to_bytes().into())
                    }
                }
                (MeasureKind::Stddev, Acc::Stddev(w)) => w.stddev(),
                (MeasureKind::M2, Acc::Stddev(w)) => w.m2(),
                (_, Acc::Shared) => unreachable!("an owner without state"),
                (kind, other) if own != i => unreachable!("{kind:?} reading {other:?}"),
                _ => accs[i].value(),
            }
        })
        .collect()
}
