//! Little-endian helpers for the engine image (see `format.rs`).

use super::measures::{Num, Value};
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};

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

pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(2);
            put_f64(out, *f);
        }
        Value::Bytes(b) => {
            out.push(3);
            put_u32(out, b.len() as u32);
            out.extend_from_slice(b);
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
        3 => {
            let len = r.u32("image length")? as usize;
            Value::Bytes(r.take(len, "image value")?.into())
        }
        t => return Err(Error::corrupt(format!("value tag {t}"))),
    })
}

pub fn put_num(out: &mut Vec<u8>, v: Num) {
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

pub fn get_num(r: &mut Reader<'_>) -> Result<Num> {
    Ok(match r.u8("number tag")? {
        1 => Num::Int(get_i64(r, "integer")?),
        2 => Num::Float(r.f64("float")?),
        t => return Err(Error::corrupt(format!("number tag {t}"))),
    })
}
