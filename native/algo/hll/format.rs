//! Our HyperLogLog image, version 1 (little-endian).
//!
//! ```text
//! header   b"DN" 0x01 0x01           codec header: type HyperLogLog, version 1
//! byte 4   precision                 4..=18
//! byte 5   flags                     bit 0 dense, bit 1 HIP estimate valid; others zero
//! sparse:  u32 coupons               ascending address, one per address
//! dense:   u8 base                   the smallest register
//!          f64 hip                   the HIP estimate (0 when not valid)
//!          u32 exceptions            number of registers ≥ base + 15
//!          m/2 bytes                 register − base as nibbles, low nibble = even slot,
//!                                    15 = look the value up in the exceptions
//!          3 bytes per exception     slot << 6 | value, ascending slot
//! ```
//!
//! Dense p = 14 is about 8.2 KB. Like DataSketches' HLL_4, whose aux table holds the same
//! exceptions, but with a 19-byte header instead of 40 and 3-byte exceptions instead of 4,
//! so our image is never the larger; sparse images (6 + 4 per coupon) are smaller than its
//! list (8 + 4) and set (12 + 4) images.

use super::dense::Dense;
use super::sparse::{self, CouponSet};
use super::{check_precision, HyperLogLog, Repr};
use crate::algo::codec::{read_header, write_header, Reader, TypeId, HEADER_LEN};
use crate::algo::error::{Error, Result};

const VERSION: u8 = 1;
const FLAG_DENSE: u8 = 1;
const FLAG_HIP: u8 = 2;
pub const SPARSE_FIXED_LEN: usize = HEADER_LEN + 2;
pub const DENSE_FIXED_LEN: usize = SPARSE_FIXED_LEN + 1 + 8 + 4;
const EXCEPTION: u8 = 15;

fn base_and_exceptions(regs: &[u8]) -> (u8, usize) {
    let base = regs.iter().copied().min().unwrap_or(0);
    let exceptions = regs.iter().filter(|&&r| r - base >= EXCEPTION).count();
    (base, exceptions)
}

pub fn encoded_len(h: &HyperLogLog) -> usize {
    match &h.repr {
        Repr::Sparse(s) => SPARSE_FIXED_LEN + 4 * s.len(),
        Repr::Dense(d) => {
            let (_, exceptions) = base_and_exceptions(&d.regs);
            DENSE_FIXED_LEN + d.regs.len() / 2 + 3 * exceptions
        }
    }
}

pub fn encode(h: &HyperLogLog) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(h));
    write_header(&mut out, TypeId::HyperLogLog, VERSION);
    out.push(h.precision);
    match &h.repr {
        Repr::Sparse(s) => {
            out.push(FLAG_HIP);
            for c in s.sorted() {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
        Repr::Dense(d) => {
            out.push(FLAG_DENSE | if d.hip.is_some() { FLAG_HIP } else { 0 });
            let (base, exceptions) = base_and_exceptions(&d.regs);
            out.push(base);
            out.extend_from_slice(&d.hip.unwrap_or(0.0).to_le_bytes());
            out.extend_from_slice(&(exceptions as u32).to_le_bytes());
            let nibble = |r: u8| (r - base).min(EXCEPTION);
            for pair in d.regs.chunks_exact(2) {
                out.push(nibble(pair[0]) | nibble(pair[1]) << 4);
            }
            for (slot, &r) in d.regs.iter().enumerate() {
                if r - base >= EXCEPTION {
                    let packed = (slot as u32) << 6 | u32::from(r);
                    out.extend_from_slice(&packed.to_le_bytes()[..3]);
                }
            }
        }
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<HyperLogLog> {
    let (_, mut r) = read_header(bytes, TypeId::HyperLogLog, VERSION)?;
    let precision = r.u8("precision")?;
    check_precision(precision).map_err(|e| Error::corrupt(e.message))?;
    let flags = r.u8("flags")?;
    if flags & !(FLAG_DENSE | FLAG_HIP) != 0 {
        return Err(Error::corrupt(format!(
            "unknown HyperLogLog flags {flags:#04x}"
        )));
    }
    let mut h = HyperLogLog::empty(precision);
    if flags & FLAG_DENSE == 0 {
        h.repr = Repr::Sparse(decode_sparse(&mut r, h.sparse_limit())?);
    } else {
        h.repr = Repr::Dense(decode_dense(&mut r, precision, flags & FLAG_HIP != 0)?);
    }
    r.finish("HyperLogLog")?;
    Ok(h)
}

fn decode_sparse(r: &mut Reader<'_>, limit: usize) -> Result<CouponSet> {
    if !r.remaining().is_multiple_of(4) {
        return Err(Error::corrupt(
            "sparse HyperLogLog image: coupon bytes not a multiple of 4",
        ));
    }
    let count = r.remaining() / 4;
    if count > limit {
        return Err(Error::corrupt(format!(
            "sparse HyperLogLog image holds {count} coupons, more than the {limit} of its mode"
        )));
    }
    let mut set = CouponSet::default();
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let c = r.u32("coupon")?;
        let (addr, value) = (sparse::address(c), sparse::value(c));
        if !(1..=sparse::MAX_VALUE).contains(&value) || previous.is_some_and(|p| p >= addr) {
            return Err(Error::corrupt(format!(
                "invalid coupon {c:#010x}: values are 1..=63 and addresses strictly ascending"
            )));
        }
        previous = Some(addr);
        set.insert(c);
    }
    Ok(set)
}

fn decode_dense(r: &mut Reader<'_>, precision: u8, hip_valid: bool) -> Result<Dense> {
    let m = 1usize << precision;
    let base = r.u8("base")?;
    let hip = r.f64("HIP estimate")?;
    let exceptions = r.u32("exception count")? as usize;
    if base > sparse::MAX_VALUE || !hip.is_finite() || hip < 0.0 || exceptions > m {
        return Err(Error::corrupt(format!(
            "invalid dense HyperLogLog fields: base {base}, HIP {hip}, {exceptions} exceptions"
        )));
    }
    let packed = r.take(m / 2, "registers")?;
    let mut regs = Vec::with_capacity(m);
    let mut pending = 0usize;
    for &byte in packed {
        for nib in [byte & 0x0f, byte >> 4] {
            if nib == EXCEPTION {
                pending += 1;
            }
            regs.push(base.saturating_add(nib));
        }
    }
    if pending != exceptions {
        return Err(Error::corrupt(format!(
            "dense HyperLogLog image marks {pending} exception registers but lists {exceptions}"
        )));
    }
    let mut previous: Option<usize> = None;
    for _ in 0..exceptions {
        let b = r.take(3, "exception")?;
        let word = u32::from_le_bytes([b[0], b[1], b[2], 0]);
        let (slot, value) = ((word >> 6) as usize, (word & 0x3f) as u8);
        let marked = slot < m && packed_nibble(packed[slot / 2], slot) == EXCEPTION;
        if !marked
            || previous.is_some_and(|p| p >= slot)
            || value < base.saturating_add(EXCEPTION)
            || value > sparse::MAX_VALUE
        {
            return Err(Error::corrupt(format!(
                "invalid exception (slot {slot}, value {value}) in a dense HyperLogLog image"
            )));
        }
        previous = Some(slot);
        regs[slot] = value;
    }
    if regs.iter().any(|&v| v > sparse::MAX_VALUE) {
        return Err(Error::corrupt(
            "dense HyperLogLog image has a register above 63",
        ));
    }
    Ok(Dense::from_registers(regs, hip_valid.then_some(hip)))
}

fn packed_nibble(byte: u8, slot: usize) -> u8 {
    if slot.is_multiple_of(2) {
        byte & 0x0f
    } else {
        byte >> 4
    }
}
