//! Interchange with Apache DataSketches HLL images (the format of its C++, Java and Python
//! libraries, Druid and Pinot).
//!
//! Reads LIST, SET and HLL-mode images of the HLL_4, HLL_6 and HLL_8 types, compact or
//! updatable, and writes the compact HLL_8 image. Both sides hash alike (see
//! `algo::hash`), so registers carry over unchanged and merges never double count.
//!
//! Preamble (little-endian): byte 0 preamble ints (2 list, 3 set, 10 HLL), 1 serial
//! version (1), 2 family (7), 3 lg_k, 4 lg_arr, 5 flags (4 empty, 8 compact, 16 out of
//! order), 6 list count or HLL cur_min, 7 mode (low 2 bits LIST/SET/HLL, next 2 bits
//! HLL_4/6/8); set: u32 count at 8, coupons at 12; HLL: f64 HIP accumulator at 8, f64
//! kxq0 at 16, f64 kxq1 at 24, u32 num_at_cur_min at 32, u32 aux count at 36, registers at
//! 40, then for HLL_4 the aux coupons of registers ≥ cur_min + 15.

use super::dense::Dense;
use super::sparse;
use super::{HyperLogLog, Repr, MAX_PRECISION, MIN_PRECISION};
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};

const SER_VER: u8 = 1;
const FAMILY_HLL: u8 = 7;
const FLAG_EMPTY: u8 = 4;
const FLAG_COMPACT: u8 = 8;
const FLAG_OUT_OF_ORDER: u8 = 16;
const MODE_LIST: u8 = 0;
const MODE_SET: u8 = 1;
const MODE_HLL: u8 = 2;
const HLL_4: u8 = 0;
const HLL_6: u8 = 1;
const HLL_8: u8 = 2;
const HLL_PREAMBLE: usize = 40;

/// True for bytes that start like a DataSketches HLL image (ours start with b"DN").
pub fn looks_like_datasketches(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && matches!(bytes[0], 2 | 3 | 10)
        && bytes[1] == SER_VER
        && bytes[2] == FAMILY_HLL
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::corrupt(format!("invalid DataSketches HLL image: {what}"))
}

pub fn decode(bytes: &[u8]) -> Result<HyperLogLog> {
    if !looks_like_datasketches(bytes) {
        return Err(corrupt("not a serial version 1 HLL-family image"));
    }
    let (pre_ints, lg_k, lg_arr, flags) = (bytes[0], bytes[3], bytes[4], bytes[5]);
    let (mode, tgt) = (bytes[7] & 3, (bytes[7] >> 2) & 3);
    if !(MIN_PRECISION..=MAX_PRECISION).contains(&lg_k) {
        return Err(Error::incompatible(format!(
            "DataSketches HLL image with lg_k {lg_k}: this HyperLogLog supports \
             {MIN_PRECISION}..={MAX_PRECISION}"
        )));
    }
    let expected_pre_ints = match mode {
        MODE_LIST => 2,
        MODE_SET => 3,
        MODE_HLL => 10,
        _ => return Err(corrupt(format!("unknown mode {mode}"))),
    };
    if pre_ints != expected_pre_ints {
        return Err(corrupt(format!("{pre_ints} preamble ints for mode {mode}")));
    }
    let mut h = HyperLogLog::empty(lg_k);
    if flags & FLAG_EMPTY != 0 {
        return Ok(h);
    }
    let compact = flags & FLAG_COMPACT != 0;
    let mut r = Reader::new(bytes);
    match mode {
        MODE_LIST => {
            r.take(8, "preamble")?;
            let count = usize::from(bytes[6]);
            let coupons = read_coupons(&mut r, count, count)?;
            coupons.into_iter().for_each(|c| h.add_coupon(c));
        }
        MODE_SET => {
            r.take(8, "preamble")?;
            let count = r.u32("set count")? as usize;
            let slots = if compact { count } else { table_len(lg_arr)? };
            let coupons = read_coupons(&mut r, slots, count)?;
            coupons.into_iter().for_each(|c| h.add_coupon(c));
        }
        _ => {
            let dense = decode_hll(&mut r, lg_k, lg_arr, flags, compact, bytes[6], tgt)?;
            h.repr = Repr::Dense(dense);
        }
    }
    Ok(h)
}

fn table_len(lg_arr: u8) -> Result<usize> {
    if lg_arr > 26 {
        return Err(corrupt(format!("lg_arr {lg_arr}")));
    }
    Ok(1usize << lg_arr)
}

/// Reads `slots` u32 words, keeps the non-empty ones and checks there are `count`.
fn read_coupons(r: &mut Reader<'_>, slots: usize, count: usize) -> Result<Vec<u32>> {
    let words = r.take(
        slots.checked_mul(4).ok_or_else(|| corrupt("size"))?,
        "coupons",
    )?;
    let coupons: Vec<u32> = words
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .filter(|&c| c != 0)
        .collect();
    if coupons.len() != count {
        return Err(corrupt(format!(
            "{} coupons where {count} were announced",
            coupons.len()
        )));
    }
    if let Some(bad) = coupons
        .iter()
        .find(|&&c| sparse::value(c) > sparse::MAX_VALUE || sparse::value(c) == 0)
    {
        return Err(corrupt(format!(
            "coupon {bad:#010x} has a value outside 1..=63"
        )));
    }
    Ok(coupons)
}

fn decode_hll(
    r: &mut Reader<'_>,
    lg_k: u8,
    lg_arr: u8,
    flags: u8,
    compact: bool,
    cur_min: u8,
    tgt: u8,
) -> Result<Dense> {
    let m = 1usize << lg_k;
    r.take(8, "preamble")?;
    let hip = r.f64("HIP accumulator")?;
    r.take(16 + 4, "kxq and cur_min count")?;
    let aux_count = r.u32("aux count")? as usize;
    let regs = match tgt {
        HLL_8 => r.take(m, "HLL_8 registers")?.to_vec(),
        HLL_6 => {
            let packed = r.take(m * 3 / 4 + 1, "HLL_6 registers")?;
            (0..m)
                .map(|slot| {
                    let bit = slot * 6;
                    let pair = u16::from(packed[bit / 8]) | u16::from(packed[bit / 8 + 1]) << 8;
                    ((pair >> (bit % 8)) & 0x3f) as u8
                })
                .collect()
        }
        HLL_4 => {
            let packed = r.take(m / 2, "HLL_4 registers")?;
            let mut regs = Vec::with_capacity(m);
            for &byte in packed {
                for nibble in [byte & 0x0f, byte >> 4] {
                    // 15 marks a register kept in the aux table; patched below.
                    regs.push(if nibble == 15 {
                        u8::MAX
                    } else {
                        cur_min.saturating_add(nibble)
                    });
                }
            }
            let slots = if compact {
                aux_count
            } else {
                table_len(lg_arr)?
            };
            for c in read_coupons(r, slots, aux_count)? {
                let slot = sparse::address(c) as usize & (m - 1);
                if regs[slot] != u8::MAX {
                    return Err(corrupt(format!(
                        "aux entry for slot {slot} not marked as such"
                    )));
                }
                regs[slot] = sparse::value(c);
            }
            regs
        }
        _ => return Err(corrupt(format!("unknown target type {tgt}"))),
    };
    if regs.iter().any(|&v| v > sparse::MAX_VALUE) {
        return Err(corrupt(
            "a register above 63 or an aux marker without an aux entry",
        ));
    }
    if tgt != HLL_4 && aux_count != 0 {
        return Err(corrupt("aux entries in a non-HLL_4 image"));
    }
    let in_order = flags & FLAG_OUT_OF_ORDER == 0;
    if in_order && !(hip.is_finite() && hip >= 0.0) {
        return Err(corrupt(format!("HIP accumulator {hip}")));
    }
    Ok(Dense::from_registers(regs, in_order.then_some(hip)))
}

/// The compact HLL_8 image of `h`. A sketch whose estimate is HIP or exact coupons is
/// written in order with that estimate as HIP accumulator, so DataSketches reports the
/// same estimate and continues HIP from it; a merged sketch is marked out of order.
pub fn encode_hll8(h: &HyperLogLog) -> Vec<u8> {
    let lg_k = h.precision();
    if h.is_empty() {
        return vec![
            2,
            SER_VER,
            FAMILY_HLL,
            lg_k,
            3,
            FLAG_EMPTY | FLAG_COMPACT,
            0,
            HLL_8 << 2,
        ];
    }
    let regs = h.registers();
    let in_order = h.is_hip();
    let mut out = Vec::with_capacity(HLL_PREAMBLE + regs.len());
    let flags = FLAG_COMPACT | if in_order { 0 } else { FLAG_OUT_OF_ORDER };
    out.extend_from_slice(&[
        10,
        SER_VER,
        FAMILY_HLL,
        lg_k,
        0,
        flags,
        0,
        HLL_8 << 2 | MODE_HLL,
    ]);
    let hip = if in_order { h.estimate() } else { 0.0 };
    let (mut kxq0, mut kxq1) = (0.0f64, 0.0f64);
    for &v in &regs {
        let inv = (-f64::from(v)).exp2();
        if v < 32 {
            kxq0 += inv;
        } else {
            kxq1 += inv;
        }
    }
    let zeros = regs.iter().filter(|&&v| v == 0).count() as u32;
    out.extend_from_slice(&hip.to_le_bytes());
    out.extend_from_slice(&kxq0.to_le_bytes());
    out.extend_from_slice(&kxq1.to_le_bytes());
    out.extend_from_slice(&zeros.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&regs);
    out
}
