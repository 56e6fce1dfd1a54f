//! Our RollingAggregate image, version 1 (little-endian).
//!
//! ```text
//! header   b"DN" 0x03 0x01    codec header: type RollingAggregate, version 1
//! byte 4   flags              bit 0 double timestamps, bit 1 double values,
//!                             bit 2 a newest timestamp is present; others zero
//! 8        window             i64 or f64, as the timestamps
//! 8        newest             as the timestamps; zero when absent
//! u64      dropped
//! u64      n                  points held
//! sum      i128 (integer values) or 3 × f64 (hi, lo, lo2)
//! 8        shift              as the values
//! f64 dev, f64 dev2, u64 ops, f64 peak1, f64 peak2     the variance's sums and error bound
//! n × 16   points             (ts, value), sorted by ts then value
//! ```
//!
//! The running sums are stored, not recomputed, so that a pickled aggregate gives the
//! very same figures and takes the same decisions afterwards. Reading checks them
//! against the points (exactly for integer sums, to 1e-6 of the magnitudes for the
//! others), so a damaged image is refused rather than silently wrong.

use super::core::Core;
use super::moments::{Moments, Part};
use super::num::{Num, Time, Value};
use super::sum::{Accumulator, Total};
use super::{Modes, RollingAggregate};
use crate::algo::codec::{read_header, write_header, Reader, TypeId};
use crate::algo::error::{Error, Result};

const VERSION: u8 = 1;
const FLOAT_TS: u8 = 1;
const FLOAT_VALUES: u8 = 2;
const HAS_NEWEST: u8 = 4;
const POINT_LEN: usize = 16;

pub fn encode<T: Time, V: Value>(core: &Core<T, V>) -> Vec<u8> {
    let points = core.points();
    let mut out = Vec::with_capacity(112 + POINT_LEN * points.len());
    write_header(&mut out, TypeId::RollingAggregate, VERSION);
    let mut flags = 0;
    if T::IS_FLOAT {
        flags |= FLOAT_TS;
    }
    if V::IS_FLOAT {
        flags |= FLOAT_VALUES;
    }
    if core.newest.is_some() {
        flags |= HAS_NEWEST;
    }
    out.push(flags);
    out.extend_from_slice(&core.window.to_le());
    out.extend_from_slice(&core.newest.unwrap_or_default().to_le());
    out.extend_from_slice(&core.dropped.to_le_bytes());
    out.extend_from_slice(&(points.len() as u64).to_le_bytes());
    let m = &core.moments;
    m.total.sum.write(&mut out);
    out.extend_from_slice(&m.shift.to_le());
    out.extend_from_slice(&m.total.dev.to_le_bytes());
    out.extend_from_slice(&m.total.dev2.to_le_bytes());
    out.extend_from_slice(&m.ops.to_le_bytes());
    out.extend_from_slice(&m.peak1.to_le_bytes());
    out.extend_from_slice(&m.peak2.to_le_bytes());
    for (t, v) in points {
        out.extend_from_slice(&t.to_le());
        out.extend_from_slice(&v.to_le());
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<RollingAggregate> {
    let (_, mut r) = read_header(bytes, TypeId::RollingAggregate, VERSION)?;
    let flags = r.u8("flags")?;
    if flags & !(FLOAT_TS | FLOAT_VALUES | HAS_NEWEST) != 0 {
        return Err(Error::corrupt(format!(
            "RollingAggregate image has unknown flags {flags:#04x}"
        )));
    }
    let has_newest = flags & HAS_NEWEST != 0;
    let modes = match (flags & FLOAT_TS != 0, flags & FLOAT_VALUES != 0) {
        (false, false) => Modes::IntInt(read_core(&mut r, has_newest)?),
        (false, true) => Modes::IntFloat(read_core(&mut r, has_newest)?),
        (true, false) => Modes::FloatInt(read_core(&mut r, has_newest)?),
        (true, true) => Modes::FloatFloat(read_core(&mut r, has_newest)?),
    };
    r.finish("RollingAggregate")?;
    Ok(RollingAggregate { modes })
}

fn read8<N: Num>(r: &mut Reader<'_>, what: &str) -> Result<N> {
    let mut b = [0u8; 8];
    b.copy_from_slice(r.take(8, what)?);
    Ok(N::from_le(b))
}

fn corrupt(what: &str) -> Error {
    Error::corrupt(format!("corrupt RollingAggregate image: {what}"))
}

fn read_core<T: Time, V: Value>(r: &mut Reader<'_>, has_newest: bool) -> Result<Core<T, V>> {
    let window: T = read8(r, "window")?;
    if !(window > T::default() && window.to_f64().is_finite()) {
        return Err(corrupt(&format!("window {window:?} is not positive")));
    }
    let newest: T = read8(r, "newest")?;
    let newest = has_newest.then_some(newest);
    let dropped = r.u64("dropped count")?;
    let n = r.u64("point count")?;
    let sum = V::Sum::read(r)?;
    let shift = read8(r, "shift")?;
    let moments = Moments {
        total: Part {
            sum,
            dev: r.f64("deviation sum")?,
            dev2: r.f64("squared deviation sum")?,
        },
        shift,
        ops: r.u64("operation count")?,
        peak1: r.f64("deviation peak")?,
        peak2: r.f64("squared deviation peak")?,
    };
    let fits = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(POINT_LEN))
        .is_some_and(|len| len == r.remaining());
    if !fits {
        return Err(corrupt(&format!(
            "{n} points need {} bytes, the image has {} left",
            u128::from(n) * POINT_LEN as u128,
            r.remaining()
        )));
    }
    let mut points = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let t: T = read8(r, "timestamp")?;
        let v: V = read8(r, "value")?;
        points.push((t, v));
    }
    if n > 0 {
        let Some(newest) = newest else {
            return Err(corrupt("points without a newest timestamp"));
        };
        let cutoff = T::cutoff(newest, window);
        let inside = points
            .iter()
            .all(|&(t, _)| t <= newest && cutoff.is_none_or(|c| t > c));
        let sorted = points.windows(2).all(|w| w[0].0 <= w[1].0);
        if !inside || !sorted {
            return Err(corrupt("points out of order or outside the window"));
        }
        check_moments(&points, &moments)?;
        Ok(Core::restore(
            window,
            Some(newest),
            dropped,
            &points,
            moments,
        ))
    } else {
        Ok(Core::restore(
            window,
            newest,
            dropped,
            &points,
            Moments::default(),
        ))
    }
}

/// Refuses sums that do not belong to the points.
fn check_moments<T: Time, V: Value>(points: &[(T, V)], m: &Moments<V>) -> Result<()> {
    let values: Vec<V> = points.iter().map(|p| p.1).collect();
    let fresh = Part::of(&values, m.shift);
    let magnitude: f64 = values.iter().map(|v| v.to_f64().abs()).sum();
    let sum_ok = match (fresh.sum.total(), m.total.sum.total()) {
        (Total::Int(a), Total::Int(b)) => a == b,
        (Total::Float(a), Total::Float(b)) => (a - b).abs() <= 1e-6 * magnitude,
        _ => false,
    };
    let t = &m.total;
    let dev_ok = (fresh.dev - t.dev).abs() <= 1e-6 * m.peak1.max(fresh.dev.abs())
        && (fresh.dev2 - t.dev2).abs() <= 1e-6 * m.peak2.max(fresh.dev2);
    let bookkeeping_ok = m.peak1 >= 0.0 && m.peak2 >= 0.0;
    if sum_ok && dev_ok && bookkeeping_ok {
        Ok(())
    } else {
        Err(corrupt("the stored sums do not match the points"))
    }
}
