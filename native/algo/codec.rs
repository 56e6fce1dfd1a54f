//! The versioned byte header that starts every serialised native type, and a small reader
//! that turns truncated input into a typed error instead of a panic.
//!
//! Layout: `b"DN"`, one byte naming the type, one byte of format version. A reader refuses
//! any other magic, type or version with an error naming what it found.

use crate::algo::error::{Error, Result};

pub const MAGIC: [u8; 2] = *b"DN";
pub const HEADER_LEN: usize = 4;

/// The serialised types. The numbers are part of the format: never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TypeId {
    HyperLogLog = 1,
    TDigest = 2,
    RollingAggregate = 3,
    WatermarkTracker = 4,
    WindowEngine = 5,
}

impl TypeId {
    fn name(self) -> &'static str {
        match self {
            TypeId::HyperLogLog => "HyperLogLog",
            TypeId::TDigest => "TDigest",
            TypeId::RollingAggregate => "RollingAggregate",
            TypeId::WatermarkTracker => "WatermarkTracker",
            TypeId::WindowEngine => "WindowEngine",
        }
    }
}

/// Writes the header for `type_id` at `version`.
pub fn write_header(out: &mut Vec<u8>, type_id: TypeId, version: u8) {
    out.extend_from_slice(&MAGIC);
    out.push(type_id as u8);
    out.push(version);
}

/// Checks the header and returns the version found and a reader over the payload.
pub fn read_header(bytes: &[u8], type_id: TypeId, max_version: u8) -> Result<(u8, Reader<'_>)> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
        return Err(Error::corrupt(format!(
            "not a DataNexus {} image: expected the bytes to start with b\"DN\", found {:?}",
            type_id.name(),
            &bytes[..bytes.len().min(4)]
        )));
    }
    if bytes[2] != type_id as u8 {
        return Err(Error::corrupt(format!(
            "not a {} image: its header names type {}, expected {}",
            type_id.name(),
            bytes[2],
            type_id as u8
        )));
    }
    let version = bytes[3];
    if version == 0 || version > max_version {
        return Err(Error::corrupt(format!(
            "unsupported {} format version {version} (this build reads 1..={max_version})",
            type_id.name()
        )));
    }
    Ok((
        version,
        Reader {
            bytes,
            pos: HEADER_LEN,
        },
    ))
}

/// A bounds-checked little-endian reader.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::corrupt(format!(
                "truncated image: {what} needs {n} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    pub fn f64(&mut self, what: &str) -> Result<f64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// Fails unless every byte was consumed: trailing garbage means a foreign image.
    pub fn finish(&self, what: &str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::corrupt(format!(
                "{} unexpected trailing bytes after the {what} image",
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::error::ErrorKind;

    #[test]
    fn header_round_trip_and_refusals() {
        let mut out = Vec::new();
        write_header(&mut out, TypeId::HyperLogLog, 1);
        assert_eq!(out, b"DN\x01\x01");
        let (v, r) = read_header(&out, TypeId::HyperLogLog, 1).unwrap();
        assert_eq!((v, r.remaining()), (1, 0));
        for bad in [
            &b""[..],
            b"DN",
            b"XX\x01\x01",
            b"DN\x07\x01",
            b"DN\x01\x02",
            b"DN\x01\x00",
        ] {
            let err = read_header(bad, TypeId::HyperLogLog, 1).err().unwrap();
            assert_eq!(err.kind, ErrorKind::Corrupt, "{bad:?}");
        }
    }

    #[test]
    fn reader_refuses_truncation() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u32("b").unwrap_err().kind, ErrorKind::Corrupt);
        assert!(r.finish("x").is_err());
    }
}
