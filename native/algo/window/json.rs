//! Reading events from raw JSON documents, so a connector's bytes need never become
//! Python objects (the raw path). One pass per document with serde_json: the fields the
//! configuration reads are decoded, every other value is skipped without allocating.
//! Values mean what they mean in the Python path (see `WindowEngine` in `_native.pyi`);
//! a duplicated field takes its last value, as `json.loads` does.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::batch::{coupon, push_key_part, Batch, KeyPart};
use super::measures::Num;
use super::spec::Config;
use super::time;

/// A JSON value as the engine reads it.
#[derive(Debug, PartialEq)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Integers past i64::MAX (serde_json reads them as u64).
    Big(u64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An object or array: never a valid field value here.
    Nested(&'static str),
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(i64::try_from(v).map_or(Scalar::Big(v), Scalar::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Scalar<'de>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested("an object"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Scalar<'de>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested("an array"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A field name, borrowed unless it had escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The fields of one document the configuration reads, in `JsonReader::fields` order.
struct Fields<'a, 'r> {
    names: &'r [String],
    values: Vec<Option<Scalar<'a>>>,
}

impl<'de> de::DeserializeSeed<'de> for Fields<'de, '_> {
    type Value = Vec<Option<Scalar<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Fields<'de, '_> {
    type Value = Vec<Option<Scalar<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut m: A) -> Result<Self::Value, A::Error> {
        while let Some(Name(name)) = m.next_key::<Name<'de>>()? {
            let mut wanted = self.names.iter().enumerate().filter(|(_, n)| **n == *name);
            match wanted.next() {
                None => {
                    m.next_value::<IgnoredAny>()?;
                }
                Some((first, _)) => {
                    let value: Scalar<'de> = m.next_value()?;
                    // A field read twice (say as group-by and measure) is decoded once.
                    for (i, _) in wanted {
                        self.values[i] = Some(copy(&value));
                    }
                    self.values[first] = Some(value);
                }
            }
        }
        Ok(self.values)
    }
}

fn copy<'a>(v: &Scalar<'a>) -> Scalar<'a> {
    match v {
        Scalar::Null => Scalar::Null,
        Scalar::Bool(b) => Scalar::Bool(*b),
        Scalar::Int(i) => Scalar::Int(*i),
        Scalar::Big(u) => Scalar::Big(*u),
        Scalar::Float(f) => Scalar::Float(*f),
        Scalar::Str(s) => Scalar::Str(s.clone()),
        Scalar::Nested(n) => Scalar::Nested(n),
    }
}

fn describe(v: &Scalar<'_>) -> String {
    match v {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Big(u) => u.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => format!("the string '{}'", s.chars().take(40).collect::<String>()),
        Scalar::Nested(n) => (*n).to_string(),
    }
}

/// Reads JSON documents for one configuration.
#[derive(Clone, Debug)]
pub struct JsonReader {
    /// time field, group-by fields, numeric fields, distinct fields.
    fields: Vec<String>,
    group_by: usize,
    numeric: usize,
    distinct: usize,
}

impl JsonReader {
    pub fn new(config: &Config) -> Self {
        let mut fields = vec![config.time_field.clone()];
        fields.extend(config.group_by.iter().cloned());
        fields.extend(config.numeric_fields.iter().cloned());
        fields.extend(config.distinct_fields.iter().cloned());
        Self {
            fields,
            group_by: config.group_by.len(),
            numeric: config.numeric_fields.len(),
            distinct: config.distinct_fields.len(),
        }
    }

    /// Reads one document into `key`, `nums` and `coupons`; returns its time, or why it
    /// cannot be windowed.
    pub fn read(
        &self,
        doc: &[u8],
        key: &mut Vec<u8>,
        nums: &mut [Num],
        coupons: &mut [u32],
    ) -> Result<i64, String> {
        let seed = Fields {
            names: &self.fields,
            values: (0..self.fields.len()).map(|_| None).collect(),
        };
        let mut de = serde_json::Deserializer::from_slice(doc);
        let values = de::DeserializeSeed::deserialize(seed, &mut de)
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| format!("not a JSON object: {e}"))?;
        let name = |i: usize| self.fields[i].as_str();
        let ts = match &values[0] {
            None => return Err(format!("the event has no time field '{}'", name(0))),
            Some(Scalar::Null) => {
                return Err(format!("the event's time field '{}' is None", name(0)))
            }
            Some(Scalar::Int(i)) => time::from_i64(*i)?,
            Some(Scalar::Float(f)) => time::from_f64(*f)?,
            Some(Scalar::Str(s)) => time::parse_rfc3339(s)?,
            Some(other) => {
                return Err(format!(
                    "the event time must be epoch milliseconds or an RFC 3339 string, got {}",
                    describe(other)
                ))
            }
        };
        key.clear();
        let mut at = 1;
        for _ in 0..self.group_by {
            let part = match &values[at] {
                None | Some(Scalar::Null) => KeyPart::Null,
                Some(Scalar::Bool(b)) => KeyPart::Bool(*b),
                Some(Scalar::Int(i)) => KeyPart::Int(*i),
                Some(Scalar::Float(f)) => KeyPart::Float(*f),
                Some(Scalar::Str(s)) => KeyPart::Str(s),
                Some(other) => {
                    return Err(format!(
                        "group-by field '{}' must be a string, number, boolean or null, got {}",
                        name(at),
                        describe(other)
                    ))
                }
            };
            push_key_part(key, part);
            at += 1;
        }
        for n in nums.iter_mut().take(self.numeric) {
            *n = match &values[at] {
                None | Some(Scalar::Null) => Num::Null,
                Some(Scalar::Int(i)) => Num::Int(*i),
                Some(Scalar::Float(f)) => Num::Float(*f),
                Some(Scalar::Big(_)) => {
                    return Err(format!("field '{}' does not fit in 64 bits", name(at)))
                }
                Some(other) => {
                    return Err(format!(
                        "field '{}' is not a number: {}",
                        name(at),
                        describe(other)
                    ))
                }
            };
            at += 1;
        }
        for c in coupons.iter_mut().take(self.distinct) {
            *c = match &values[at] {
                None | Some(Scalar::Null) => 0,
                Some(Scalar::Str(s)) => coupon::str(s),
                Some(Scalar::Int(i)) => coupon::i64(*i),
                Some(Scalar::Big(u)) => coupon::u64(*u),
                Some(Scalar::Float(f)) => coupon::f64(*f),
                Some(other) => {
                    return Err(format!(
                        "field '{}' must be a string or number to be counted, got {}",
                        name(at),
                        describe(other)
                    ))
                }
            };
            at += 1;
        }
        Ok(ts)
    }

    /// Reads a batch: the documents that parsed go into the batch (their indices in
    /// `kept`), the others come back as `(index, reason)`.
    pub fn read_batch<'a>(
        &self,
        docs: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Batch, Vec<usize>, Vec<(usize, String)>) {
        let mut batch = Batch::new(self.numeric, self.distinct);
        let (mut kept, mut errors) = (Vec::new(), Vec::new());
        let mut key = Vec::with_capacity(64);
        let mut nums = vec![Num::Null; self.numeric];
        let mut coupons = vec![0u32; self.distinct];
        for (i, doc) in docs.into_iter().enumerate() {
            match self.read(doc, &mut key, &mut nums, &mut coupons) {
                Ok(ts) => {
                    batch.push(ts, &key, &nums, &coupons);
                    kept.push(i);
                }
                Err(reason) => errors.push((i, reason)),
            }
        }
        (batch, kept, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::window::batch::decode_key;
    use crate::algo::window::tests::config;
    use crate::algo::window::WindowKind;

    fn reader() -> JsonReader {
        JsonReader::new(&config(WindowKind::tumbling(10).unwrap(), 0, 0))
    }

    type Read = (i64, Vec<u8>, Vec<Num>, Vec<u32>);

    fn read(doc: &str) -> Result<Read, String> {
        let r = reader();
        let (mut key, mut nums, mut coupons) = (vec![], vec![Num::Null; 1], vec![0; 1]);
        let ts = r.read(doc.as_bytes(), &mut key, &mut nums, &mut coupons)?;
        Ok((ts, key, nums, coupons))
    }

    #[test]
    fn floats_are_correctly_rounded_as_python_reads_them() {
        // Shortest round-trip reprs the default serde_json parser misreads by an ulp.
        for text in [
            "15.743716305295559",
            "55.773944589782964",
            "42.829239908339844",
        ] {
            let (_, _, nums, _) = read(&format!(r#"{{"ts": 1, "v": {text}}}"#)).unwrap();
            assert_eq!(nums, [Num::Float(text.parse().unwrap())], "{text}");
        }
    }

    #[test]
    fn fields_are_read_as_the_python_path_reads_them() {
        let (ts, key, nums, coupons) =
            read(r#"{"junk": {"a": [1, {"b": 2}]}, "ts": 25000, "k": "eu", "v": 2.5, "u": "x"}"#)
                .unwrap();
        assert_eq!(ts, 25_000);
        assert_eq!(decode_key(&key).unwrap(), [KeyPart::Str("eu")]);
        assert_eq!(
            (nums, coupons),
            (vec![Num::Float(2.5)], vec![coupon::str("x")])
        );
        let (ts, key, nums, coupons) =
            read(r#"{"ts": "1970-01-01T00:00:01.5Z", "k\u0000": 1}"#).unwrap();
        assert_eq!((ts, nums, coupons), (1_500, vec![Num::Null], vec![0]));
        assert_eq!(
            decode_key(&key).unwrap(),
            [KeyPart::Null],
            "an escaped other name"
        );
        let (_, key, _, coupons) =
            read(r#"{"ts": 1, "k": "\u00e9t\u00e9", "u": 18446744073709551615}"#).unwrap();
        assert_eq!(decode_key(&key).unwrap(), [KeyPart::Str("été")]);
        assert_eq!(coupons, [coupon::u64(u64::MAX)]);
        let (ts, key, nums, _) = read(r#"{"ts": 1.9, "k": true, "v": -3, "ts": 7}"#).unwrap();
        assert_eq!(
            (ts, nums),
            (7, vec![Num::Int(-3)]),
            "the last duplicate wins"
        );
        assert_eq!(decode_key(&key).unwrap(), [KeyPart::Bool(true)]);
    }

    #[test]
    fn documents_that_cannot_be_windowed_have_a_reason() {
        let cases = [
            ("", "not a JSON object"),
            ("[1, 2]", "not a JSON object"),
            (r#"{"ts": 1"#, "not a JSON object"),
            (r#"{"ts": 1} {}"#, "not a JSON object"),
            (r#"{"k": "a"}"#, "no time field 'ts'"),
            (r#"{"ts": null}"#, "is None"),
            (r#"{"ts": true}"#, "epoch milliseconds"),
            (r#"{"ts": "soon"}"#, "RFC 3339"),
            (r#"{"ts": 9007199254740992}"#, "2^53"),
            (r#"{"ts": 1, "v": "3"}"#, "field 'v' is not a number"),
            (r#"{"ts": 1, "v": 18446744073709551615}"#, "64 bits"),
            (r#"{"ts": 1, "k": [1]}"#, "group-by field 'k'"),
            (r#"{"ts": 1, "u": {}}"#, "field 'u' must be"),
        ];
        for (doc, why) in cases {
            let err = read(doc).unwrap_err();
            assert!(err.contains(why), "{doc}: {err}");
        }
        let (batch, kept, errors) = reader().read_batch([&b"{}"[..], br#"{"ts": 3}"#, b"x"]);
        assert_eq!(
            (
                batch.len(),
                kept,
                errors.iter().map(|e| e.0).collect::<Vec<_>>()
            ),
            (1, vec![1], vec![0, 2])
        );
    }
}
