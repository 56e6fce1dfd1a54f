//! Our t-digest image, version 1 (little-endian).
//!
//! ```text
//! header   b"DN" 0x02 0x01           codec header: type TDigest, version 1
//! byte 4   flags                     bit 0: the next sweep runs right to left;
//!                                    bit 1: weights as f64 (else varints); others zero
//! f64      compression               10..=10 000
//! u32      k                         number of centroids
//! f64 ×2   sum, compensation         the Neumaier sum (0, 0 when empty)
//! k > 0:   f64 ×2 min, max           exact extremes
//!          f64 × k means             ascending
//!          varint weights:           k × LEB128 of (weight << 1 | point)
//!          or f64 weights:           k × f64, then ⌈k/8⌉ bytes of point bits (LSB first)
//! ```
//!
//! Weights are integers whenever every item had weight 1, so the usual centroid costs
//! 9–11 bytes: at compression 200, 10⁶ values make about 3 KB. The buffer is merged
//! before writing, so an image holds centroids only.

use super::{check_compression, Centroids, Neumaier, TDigest};
use crate::algo::codec::{read_header, write_header, Reader, TypeId};
use crate::algo::error::{Error, Result};

const VERSION: u8 = 1;
const FLAG_REVERSE: u8 = 1;
const FLAG_F64_WEIGHTS: u8 = 2;
/// Integers up to 2^53 are exact in f64; larger weights are written as f64.
const MAX_INT_WEIGHT: f64 = 9_007_199_254_740_992.0;

fn integral(w: f64) -> bool {
    w.fract() == 0.0 && w <= MAX_INT_WEIGHT
}

fn put_f64(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(&x.to_le_bytes());
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(r: &mut Reader<'_>) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = r.u8("a centroid weight")?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Error::corrupt(
        "a centroid weight's varint runs past 64 bits",
    ))
}

/// Writes a flushed digest.
pub fn encode(d: &TDigest) -> Vec<u8> {
    debug_assert_eq!(d.buffered(), 0);
    let c = &d.centroids;
    let k = c.len();
    let ints = c.weights.iter().all(|&w| integral(w));
    let mut out = Vec::with_capacity(4 + 1 + 8 + 4 + 16 + 16 + 11 * k);
    write_header(&mut out, TypeId::TDigest, VERSION);
    let mut flags = 0;
    if d.reverse {
        flags |= FLAG_REVERSE;
    }
    if !ints {
        flags |= FLAG_F64_WEIGHTS;
    }
    out.push(flags);
    put_f64(&mut out, d.compression);
    out.extend_from_slice(&(k as u32).to_le_bytes());
    put_f64(&mut out, d.sum.sum);
    put_f64(&mut out, d.sum.compensation);
    if k == 0 {
        return out;
    }
    put_f64(&mut out, d.min);
    put_f64(&mut out, d.max);
    for &m in &c.means {
        put_f64(&mut out, m);
    }
    if ints {
        for (&w, &p) in c.weights.iter().zip(&c.points) {
            put_varint(&mut out, (w as u64) << 1 | u64::from(p));
        }
    } else {
        for &w in &c.weights {
            put_f64(&mut out, w);
        }
        for chunk in c.points.chunks(8) {
            out.push(
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &p)| b | u8::from(p) << i),
            );
        }
    }
    out
}

fn finite(x: f64, what: &str) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::corrupt(format!("TDigest image: {what} is {x}")))
    }
}

pub fn decode(bytes: &[u8]) -> Result<TDigest> {
    let (_, mut r) = read_header(bytes, TypeId::TDigest, VERSION)?;
    let flags = r.u8("flags")?;
    if flags & !(FLAG_REVERSE | FLAG_F64_WEIGHTS) != 0 {
        return Err(Error::corrupt(format!(
            "TDigest image: unknown flags {flags:#04x}"
        )));
    }
    let compression = r.f64("compression")?;
    check_compression(compression)
        .map_err(|e| Error::corrupt(format!("TDigest image: {}", e.message)))?;
    let mut d = TDigest::new(compression)?;
    d.reverse = flags & FLAG_REVERSE != 0;
    let k = r.u32("the number of centroids")? as usize;
    d.sum = Neumaier {
        sum: finite(r.f64("sum")?, "the sum")?,
        compensation: finite(r.f64("sum")?, "the sum's compensation")?,
    };
    if k == 0 {
        r.finish("TDigest")?;
        return Ok(d);
    }
    // Each centroid takes at least 9 bytes: refuse a count the image cannot hold before
    // allocating for it.
    if k > r.remaining() / 9 {
        return Err(Error::corrupt(format!(
            "truncated TDigest image: {k} centroids need more than the {} bytes left",
            r.remaining()
        )));
    }
    d.min = finite(r.f64("min")?, "the minimum")?;
    d.max = finite(r.f64("max")?, "the maximum")?;
    let mut c = Centroids::default();
    let mut previous = d.min;
    for _ in 0..k {
        let m = finite(r.f64("a centroid mean")?, "a centroid mean")?;
        if m < previous {
            return Err(Error::corrupt(
                "TDigest image: centroid means are not ascending within [min, max]",
            ));
        }
        previous = m;
        c.means.push(m);
    }
    if previous > d.max {
        return Err(Error::corrupt(
            "TDigest image: a centroid mean exceeds the maximum",
        ));
    }
    if flags & FLAG_F64_WEIGHTS == 0 {
        for _ in 0..k {
            let v = varint(&mut r)?;
            c.weights.push((v >> 1) as f64);
            c.points.push(v & 1 == 1);
        }
    } else {
        for _ in 0..k {
            c.weights.push(r.f64("a centroid weight")?);
        }
        let bits = r.take(k.div_ceil(8), "the point bits")?;
        c.points
            .extend((0..k).map(|i| bits[i / 8] >> (i % 8) & 1 == 1));
    }
    if let Some(w) = c.weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
        return Err(Error::corrupt(format!(
            "TDigest image: a centroid weight is {w}, not a positive number"
        )));
    }
    r.finish("TDigest")?;
    d.centroids = c;
    d.refresh_cum();
    Ok(d)
}
