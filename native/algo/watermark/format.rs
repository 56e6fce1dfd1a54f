//! Our WatermarkTracker image, version 1 (little-endian).
//!
//! ```text
//! header   b"DN" 0x04 0x01           codec header: type WatermarkTracker, version 1
//! byte 4   flags                     bit 0 integral times, bit 1 integral clock,
//!                                    bit 2 idle timeout set, bit 3 clock set; others zero
//! f64      max_out_of_orderness      finite, ≥ 0
//! f64      idle_timeout              if bit 2: finite, ≥ 0
//! f64      clock                     if bit 3: finite
//! u32      partitions                then each, in order of first appearance:
//!   u8     flags                     bit 0 str key (else int), bit 1 idle,
//!                                    bit 2 last seen set, bit 3 floor set; others zero
//!   key    int: i64; str: u32 length, then UTF-8
//!   f64    max_ts                    finite
//!   f64    floor                     if bit 3: finite, above the partition's watermark
//!   f64    last_seen                 if bit 2 (exactly when the clock is set): ≤ clock
//! ```
//!
//! The tracker watermark is derived, not stored. Every invariant the tracker relies on is
//! checked on the way in, so an image either reads back as a working tracker or is refused.

use super::{Partition, PartitionKey, WatermarkTracker, MAX_EXACT_INT};
use crate::algo::codec::{read_header, write_header, Reader, TypeId};
use crate::algo::error::{Error, Result};

const VERSION: u8 = 1;

const INTEGRAL_TIMES: u8 = 1;
const INTEGRAL_CLOCK: u8 = 2;
const HAS_IDLE_TIMEOUT: u8 = 4;
const HAS_CLOCK: u8 = 8;

const STR_KEY: u8 = 1;
const IDLE: u8 = 2;
const HAS_LAST_SEEN: u8 = 4;
const HAS_FLOOR: u8 = 8;

/// The smallest partition record: flags, an empty str key and max_ts.
const MIN_PARTITION_LEN: usize = 1 + 4 + 8;

pub fn encode(t: &WatermarkTracker) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + t.partitions.len() * (MIN_PARTITION_LEN + 16));
    write_header(&mut out, TypeId::WatermarkTracker, VERSION);
    let flags = flag(t.integral_times, INTEGRAL_TIMES)
        | flag(t.integral_clock, INTEGRAL_CLOCK)
        | flag(t.idle_timeout.is_some(), HAS_IDLE_TIMEOUT)
        | flag(t.clock.is_some(), HAS_CLOCK);
    out.push(flags);
    out.extend_from_slice(&t.out_of_orderness.to_le_bytes());
    for v in [t.idle_timeout, t.clock].into_iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(t.partitions.len() as u32).to_le_bytes());
    for p in &t.partitions {
        let floor = (p.floor != f64::NEG_INFINITY).then_some(p.floor);
        out.push(
            flag(matches!(p.key, PartitionKey::Str(_)), STR_KEY)
                | flag(p.idle, IDLE)
                | flag(p.last_seen.is_some(), HAS_LAST_SEEN)
                | flag(floor.is_some(), HAS_FLOOR),
        );
        match &p.key {
            PartitionKey::Int(v) => out.extend_from_slice(&v.to_le_bytes()),
            PartitionKey::Str(s) => {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out.extend_from_slice(&p.max_ts.to_le_bytes());
        for v in [floor, p.last_seen].into_iter().flatten() {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn corrupt(message: impl Into<String>) -> Error {
    Error::corrupt(format!(
        "corrupt WatermarkTracker image: {}",
        message.into()
    ))
}

fn finite(r: &mut Reader<'_>, what: &str) -> Result<f64> {
    let v = r.f64(what)?;
    if !v.is_finite() {
        return Err(corrupt(format!("{what} is {v}")));
    }
    Ok(v)
}

fn exact_int(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() <= MAX_EXACT_INT as f64
}

fn i64_le(r: &mut Reader<'_>, what: &str) -> Result<i64> {
    let mut a = [0u8; 8];
    a.copy_from_slice(r.take(8, what)?);
    Ok(i64::from_le_bytes(a))
}

pub fn decode(bytes: &[u8]) -> Result<WatermarkTracker> {
    let (_, mut r) = read_header(bytes, TypeId::WatermarkTracker, VERSION)?;
    let flags = r.u8("flags")?;
    if flags & !(INTEGRAL_TIMES | INTEGRAL_CLOCK | HAS_IDLE_TIMEOUT | HAS_CLOCK) != 0 {
        return Err(corrupt(format!("unknown flags {flags:#04x}")));
    }
    let out_of_orderness = finite(&mut r, "max_out_of_orderness")?;
    let idle_timeout = (flags & HAS_IDLE_TIMEOUT != 0)
        .then(|| finite(&mut r, "idle_timeout"))
        .transpose()?;
    let clock = (flags & HAS_CLOCK != 0)
        .then(|| finite(&mut r, "clock"))
        .transpose()?;
    if out_of_orderness < 0.0 || idle_timeout.is_some_and(|t| t < 0.0) {
        return Err(corrupt("a negative max_out_of_orderness or idle_timeout"));
    }
    let integral_times = flags & INTEGRAL_TIMES != 0;
    let integral_clock = flags & INTEGRAL_CLOCK != 0;
    if integral_times && !exact_int(out_of_orderness)
        || integral_clock && clock.into_iter().chain(idle_timeout).any(|v| !exact_int(v))
    {
        return Err(corrupt("integral flags over fractional values"));
    }

    let count = r.u32("partition count")? as usize;
    if count > r.remaining() / MIN_PARTITION_LEN {
        return Err(corrupt(format!(
            "{count} partitions cannot fit in {} bytes",
            r.remaining()
        )));
    }
    let mut tracker = WatermarkTracker {
        out_of_orderness,
        idle_timeout,
        partitions: Vec::with_capacity(count),
        by_int: Default::default(),
        by_str: Default::default(),
        clock,
        integral_times,
        integral_clock,
        watermark: None,
        active: 0,
    };
    for i in 0..count {
        let p = partition(&mut r, &tracker)
            .map_err(|e| Error::corrupt(format!("{} (partition {i})", e.message)))?;
        if tracker.find(p.key.as_ref()).is_some() {
            return Err(corrupt(format!("partition {:?} appears twice", p.key)));
        }
        tracker.insert(p);
    }
    r.finish("WatermarkTracker")?;
    tracker.recompute();
    Ok(tracker)
}

/// One partition record, checked against the tracker read so far.
fn partition(r: &mut Reader<'_>, t: &WatermarkTracker) -> Result<Partition> {
    let flags = r.u8("partition flags")?;
    if flags & !(STR_KEY | IDLE | HAS_LAST_SEEN | HAS_FLOOR) != 0 {
        return Err(corrupt(format!("unknown partition flags {flags:#04x}")));
    }
    let key = if flags & STR_KEY != 0 {
        let len = r.u32("key length")? as usize;
        let raw = r.take(len, "key")?;
        let s = std::str::from_utf8(raw).map_err(|_| corrupt("a key that is not UTF-8"))?;
        PartitionKey::Str(s.to_owned())
    } else {
        PartitionKey::Int(i64_le(r, "key")?)
    };
    let max_ts = finite(r, "max_ts")?;
    let floor = (flags & HAS_FLOOR != 0)
        .then(|| finite(r, "floor"))
        .transpose()?;
    let last_seen = (flags & HAS_LAST_SEEN != 0)
        .then(|| finite(r, "last_seen"))
        .transpose()?;
    let idle = flags & IDLE != 0;
    let watermark = max_ts - t.out_of_orderness;
    if t.integral_times && !exact_int(max_ts) {
        return Err(corrupt("a fractional timestamp under the integral flag"));
    }
    if floor.is_some_and(|f| f <= watermark) {
        return Err(corrupt("a floor at or below the partition's watermark"));
    }
    if last_seen.is_some() != t.clock.is_some()
        || last_seen.zip(t.clock).is_some_and(|(s, c)| s > c)
        || t.integral_clock && last_seen.is_some_and(|s| !exact_int(s))
    {
        return Err(corrupt("a last-seen reading that disagrees with the clock"));
    }
    if idle && t.idle_timeout.is_none() {
        return Err(corrupt("an idle partition without an idle timeout"));
    }
    Ok(Partition {
        key,
        max_ts,
        floor: floor.unwrap_or(f64::NEG_INFINITY),
        last_seen,
        idle,
    })
}
