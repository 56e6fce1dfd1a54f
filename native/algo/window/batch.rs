//! A parsed batch of events, column by column, and the byte encoding of series keys.
//!
//! Parsers (the Python dict reader, the JSON reader) turn events into these columns once;
//! the engine then works on plain numbers. A series key, the tuple of group-by values, is
//! encoded as tagged bytes: equal tuples give equal bytes, so the bytes serve as the map
//! key, the routing hash input and the snapshot form.

use super::bytes::{get_i64, put_i64, put_u32};
use super::measures::Num;
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};
use crate::algo::hash::{canonical_f64_bits, murmur3_u64, murmur3_x64_128, DEFAULT_SEED};
use crate::algo::hll::sparse;

/// The events of one batch that parsed: times, series keys and measure inputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub ts: Vec<i64>,
    key_ends: Vec<u32>,
    key_bytes: Vec<u8>,
    /// `nums[field][event]`, for the config's numeric fields.
    pub nums: Vec<Vec<Num>>,
    /// `coupons[field][event]`: the HyperLogLog coupon of the item, 0 for none.
    pub coupons: Vec<Vec<u32>>,
}

impl Batch {
    pub fn new(numeric_fields: usize, distinct_fields: usize) -> Self {
        Self {
            nums: vec![Vec::new(); numeric_fields],
            coupons: vec![Vec::new(); distinct_fields],
            ..Self::default()
        }
    }

    /// An empty batch with room for `events` events (keys of ~16 bytes).
    pub fn with_capacity(numeric_fields: usize, distinct_fields: usize, events: usize) -> Self {
        Self {
            ts: Vec::with_capacity(events),
            key_ends: Vec::with_capacity(events),
            key_bytes: Vec::with_capacity(events * 16),
            nums: vec![Vec::with_capacity(events); numeric_fields],
            coupons: vec![Vec::with_capacity(events); distinct_fields],
        }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The encoded series key of event `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] } as usize;
        &self.key_bytes[start..self.key_ends[i] as usize]
    }

    /// Appends one event; `nums` and `coupons` hold one value per field.
    pub fn push(&mut self, ts: i64, key: &[u8], nums: &[Num], coupons: &[u32]) {
        debug_assert_eq!(nums.len(), self.nums.len());
        debug_assert_eq!(coupons.len(), self.coupons.len());
        self.ts.push(ts);
        self.key_bytes.extend_from_slice(key);
        self.key_ends
            .push(u32::try_from(self.key_bytes.len()).expect("a batch's keys fit in 4 GiB"));
        for (column, &v) in self.nums.iter_mut().zip(nums) {
            column.push(v);
        }
        for (column, &c) in self.coupons.iter_mut().zip(coupons) {
            column.push(c);
        }
    }
}

impl Batch {
    /// Appends a compact image (for moving a batch between processes).
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.len() as u32);
        put_u32(out, self.nums.len() as u32);
        put_u32(out, self.coupons.len() as u32);
        for i in 0..self.len() {
            put_i64(out, self.ts[i]);
            let key = self.key(i);
            put_u32(out, key.len() as u32);
            out.extend_from_slice(key);
            for column in &self.nums {
                match column[i] {
                    Num::Null => out.push(0),
                    Num::Int(v) => {
                        out.push(1);
                        put_i64(out, v);
                    }
                    Num::Float(v) => {
                        out.push(2);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            for column in &self.coupons {
                put_u32(out, column[i]);
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let len = r.u32("batch length")?;
        let numeric = r.u32("numeric fields")? as usize;
        let distinct = r.u32("distinct fields")? as usize;
        if numeric > 1 << 16 || distinct > 1 << 16 {
            return Err(Error::corrupt("too many fields in a batch image"));
        }
        let mut b = Batch::new(numeric, distinct);
        let (mut nums, mut coupons) = (vec![Num::Null; numeric], vec![0u32; distinct]);
        for _ in 0..len {
            let ts = get_i64(r, "time")?;
            let key_len = r.u32("key length")? as usize;
            let key = r.take(key_len, "key")?;
            for n in nums.iter_mut() {
                *n = match r.u8("number tag")? {
                    0 => Num::Null,
                    1 => Num::Int(get_i64(r, "integer")?),
                    2 => Num::Float(r.f64("float")?),
                    t => return Err(Error::corrupt(format!("number tag {t}"))),
                };
            }
            for c in coupons.iter_mut() {
                *c = r.u32("coupon")?;
            }
            b.push(ts, key, &nums, &coupons);
        }
        Ok(b)
    }
}

/// The shard of a series key among `shards`: stable across processes and runs.
pub fn shard_of(key: &[u8], shards: u32) -> u32 {
    (murmur3_x64_128(key, DEFAULT_SEED).0 % u64::from(shards.max(1))) as u32
}

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;

/// One group-by value. Values compare by type and value: `true`, `1` and `1.0` are three
/// keys, as they are three JSON values; `-0.0` is `0.0` and every NaN is one NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyPart<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

/// Appends the encoding of one group-by value to `out`.
pub fn push_key_part(out: &mut Vec<u8>, part: KeyPart<'_>) {
    match part {
        KeyPart::Null => out.push(NULL),
        KeyPart::Bool(false) => out.push(FALSE),
        KeyPart::Bool(true) => out.push(TRUE),
        KeyPart::Int(v) => {
            out.push(INT);
            out.extend_from_slice(&v.to_le_bytes());
        }
        KeyPart::Float(v) => {
            out.push(FLOAT);
            out.extend_from_slice(&canonical_f64_bits(v).to_le_bytes());
        }
        KeyPart::Str(s) => {
            out.push(STR);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// The values of an encoded key; anything else is a `Corrupt` error.
pub fn decode_key(mut bytes: &[u8]) -> Result<Vec<KeyPart<'_>>> {
    let mut out = Vec::new();
    let truncated = || Error::corrupt("truncated series key");
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        let mut take = |n: usize| -> Result<&[u8]> {
            if bytes.len() < n {
                return Err(truncated());
            }
            let (head, tail) = bytes.split_at(n);
            bytes = tail;
            Ok(head)
        };
        out.push(match tag {
            NULL => KeyPart::Null,
            FALSE => KeyPart::Bool(false),
            TRUE => KeyPart::Bool(true),
            INT => KeyPart::Int(i64::from_le_bytes(take(8)?.try_into().expect("8"))),
            FLOAT => KeyPart::Float(f64::from_bits(u64::from_le_bytes(
                take(8)?.try_into().expect("8"),
            ))),
            STR => {
                let len = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
                let s = std::str::from_utf8(take(len)?)
                    .map_err(|_| Error::corrupt("a series key string is not UTF-8"))?;
                KeyPart::Str(s)
            }
            t => return Err(Error::corrupt(format!("series key tag {t}"))),
        });
    }
    Ok(out)
}

/// The HyperLogLog coupons of `distinct(f)` items, hashed exactly as
/// `HyperLogLog.add` hashes them, so a window's sketch equals one fed the same items.
pub mod coupon {
    use super::*;

    #[inline]
    fn of((h1, h2): (u64, u64)) -> u32 {
        sparse::coupon(h1, h2)
    }

    #[inline]
    pub fn i64(v: i64) -> u32 {
        of(murmur3_u64(v as u64, DEFAULT_SEED))
    }

    /// As `HyperLogLog::add_u64`: values past `i64::MAX` hash by 9 signed bytes.
    pub fn u64(v: u64) -> u32 {
        match i64::try_from(v) {
            Ok(s) => i64(s),
            Err(_) => {
                let mut bytes = [0u8; 9];
                bytes[..8].copy_from_slice(&v.to_le_bytes());
                self::bytes(&bytes)
            }
        }
    }

    #[inline]
    pub fn f64(v: f64) -> u32 {
        of(murmur3_u64(canonical_f64_bits(v), DEFAULT_SEED))
    }

    pub fn bytes(b: &[u8]) -> u32 {
        of(murmur3_x64_128(b, DEFAULT_SEED))
    }

    /// The empty string is no item (0), as in DataSketches.
    pub fn str(s: &str) -> u32 {
        if s.is_empty() {
            0
        } else {
            bytes(s.as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::hll::HyperLogLog;

    #[test]
    fn keys_round_trip_and_keep_types_apart() {
        let parts = [
            KeyPart::Null,
            KeyPart::Bool(true),
            KeyPart::Bool(false),
            KeyPart::Int(-7),
            KeyPart::Float(1.5),
            KeyPart::Str("eu-west-1"),
            KeyPart::Str(""),
        ];
        let mut key = Vec::new();
        parts.iter().for_each(|&p| push_key_part(&mut key, p));
        assert_eq!(decode_key(&key).unwrap(), parts);
        let enc = |p: KeyPart<'_>| {
            let mut v = Vec::new();
            push_key_part(&mut v, p);
            v
        };
        assert_ne!(enc(KeyPart::Int(1)), enc(KeyPart::Float(1.0)));
        assert_ne!(enc(KeyPart::Int(1)), enc(KeyPart::Bool(true)));
        assert_eq!(enc(KeyPart::Float(-0.0)), enc(KeyPart::Float(0.0)));
        assert_eq!(
            enc(KeyPart::Float(f64::NAN)),
            enc(KeyPart::Float(-f64::NAN))
        );
        for bad in [
            &[9u8][..],
            &[INT, 1, 2],
            &[STR, 5, 0, 0, 0, b'a'],
            &[STR, 1, 0, 0, 0, 0xff],
        ] {
            assert!(decode_key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_key(&[]).unwrap(), []);
    }

    #[test]
    fn coupons_match_the_sketch() {
        let mut a = HyperLogLog::new(12).unwrap();
        let mut b = HyperLogLog::new(12).unwrap();
        a.add_i64(-5);
        a.add_u64(u64::MAX);
        a.add_f64(2.5);
        a.add_str("user-1");
        a.add_str("");
        a.add_bytes(b"");
        for c in [
            coupon::i64(-5),
            coupon::u64(u64::MAX),
            coupon::f64(2.5),
            coupon::str("user-1"),
            coupon::str(""),
            coupon::bytes(b""),
        ] {
            if c != 0 {
                b.add_coupon(c);
            }
        }
        assert_eq!(a, b);
        assert_eq!(coupon::str(""), 0);
        assert_eq!(coupon::u64(5), coupon::i64(5));
    }

    #[test]
    fn batches_keep_columns_aligned() {
        let mut b = Batch::new(1, 1);
        b.push(10, b"k1", &[Num::Int(3)], &[7]);
        b.push(20, b"", &[Num::Null], &[0]);
        b.push(30, b"key3", &[Num::Float(0.5)], &[9]);
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b.key(0), b.key(1), b.key(2)),
            (&b"k1"[..], &b""[..], &b"key3"[..])
        );
        assert_eq!(b.nums[0], [Num::Int(3), Num::Null, Num::Float(0.5)]);
        assert_eq!(b.coupons[0], [7, 0, 9]);
        assert!(shard_of(b"k1", 8) < 8);
        assert_eq!(shard_of(b"k1", 8), shard_of(b"k1", 8));
    }
}
