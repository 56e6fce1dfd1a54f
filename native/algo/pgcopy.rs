//! PostgreSQL's binary COPY format, for bulk writes: the tuples of a `COPY … FROM STDIN
//! (FORMAT BINARY)` stream. A stream is `SIGNATURE`, then tuples, then `TRAILER`; a tuple
//! is its field count (int16) and each field as a length (int32, -1 for NULL) and the
//! bytes of the column type's binary form (big-endian integers and IEEE floats, UTF-8
//! text, raw bytea). The server reads each field with the target column's receive
//! function, so an int8 field can fill a timestamptz column (microseconds since
//! 2000-01-01 UTC).

/// The header: signature, flags (no OIDs) and an empty header extension.
pub const SIGNATURE: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of the stream: a field count of -1.
pub const TRAILER: &[u8; 2] = b"\xff\xff";

/// One field of a tuple.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    Null,
    /// text (UTF-8) or bytea: the bytes as they are.
    Bytes(&'a [u8]),
    Int8(i64),
    Float8(f64),
}

/// Appends the start of a tuple of `fields` fields.
pub fn put_tuple(out: &mut Vec<u8>, fields: u16) {
    out.extend_from_slice(&(fields as i16).to_be_bytes());
}

/// Appends one field; `None` when bytes are longer than a field may be (1 GiB).
pub fn put_field(out: &mut Vec<u8>, field: Field<'_>) -> Option<()> {
    match field {
        Field::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Field::Bytes(b) => {
            let len = i32::try_from(b.len()).ok().filter(|&n| n < (1 << 30))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
        }
        Field::Int8(v) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        Field::Float8(v) => {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tuple_is_its_count_then_length_prefixed_fields() {
        let mut out = Vec::new();
        put_tuple(&mut out, 4);
        put_field(&mut out, Field::Bytes(b"ab")).unwrap();
        put_field(&mut out, Field::Null).unwrap();
        put_field(&mut out, Field::Int8(-2)).unwrap();
        put_field(&mut out, Field::Float8(1.5)).unwrap();
        let mut want = vec![
            0, 4, 0, 0, 0, 2, b'a', b'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 8,
        ];
        want.extend_from_slice(&(-2i64).to_be_bytes());
        want.extend_from_slice(&[0, 0, 0, 8]);
        want.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn the_signature_is_postgres_own() {
        assert_eq!(&SIGNATURE[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(SIGNATURE.len(), 19);
        assert_eq!(TRAILER, &(-1i16).to_be_bytes());
    }
}
