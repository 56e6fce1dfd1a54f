//! Reading a batch of Python events into the window engine's columns, in one pass and
//! without calling back into Python for the common types (dict events; int, float, str
//! and UTC datetime values). An event that cannot be windowed gets a reason instead.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyDict,
    PyFloat, PyInt, PyList, PyMapping, PyString, PyTimeAccess, PyTzInfo, PyTzInfoAccess,
};

use super::errors::invalid_type;
use crate::algo::window::batch::{coupon, push_key_part, KeyPart};
use crate::algo::window::{time, Batch, Config, Num};

/// Why an event cannot be windowed: the error output's reason.
type Reason = String;

/// The event fields a configuration reads, as interned Python strings.
pub struct Reader {
    time_field: Py<PyString>,
    group_by: Vec<Py<PyString>>,
    numeric: Vec<Py<PyString>>,
    distinct: Vec<Py<PyString>>,
}

fn names(py: Python<'_>, fields: &[String]) -> Vec<Py<PyString>> {
    fields
        .iter()
        .map(|f| PyString::intern(py, f).unbind())
        .collect()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// `type 'value'` for messages, the value cut short.
fn show(obj: &Bound<'_, PyAny>) -> String {
    let repr = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "?".into());
    let cut: String = repr.chars().take(40).collect();
    let more = if cut.len() < repr.len() { "…" } else { "" };
    format!("{} {cut}{more}", type_name(obj))
}

/// The value of an exact `int` that fits in i64, without Python's error machinery.
fn exact_i64(obj: &Bound<'_, PyAny>) -> Option<i64> {
    if !obj.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let mut overflow = 0;
    // SAFETY: `obj` is a live exact int while we hold the GIL.
    let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 && !(v == -1 && PyErr::occurred(obj.py())) {
        Some(v)
    } else {
        PyErr::take(obj.py());
        None
    }
}

/// An int-like (int subclass, numpy integer) as i64: None when it is not int-like,
/// Some(Err) when it does not fit.
fn int_like(obj: &Bound<'_, PyAny>) -> Option<Result<i64, Reason>> {
    let index = if obj.is_instance_of::<PyInt>() {
        obj.clone()
    } else if obj.hasattr("__index__").unwrap_or(false) {
        obj.call_method0("__index__").ok()?
    } else {
        return None;
    };
    Some(
        index
            .extract::<i64>()
            .map_err(|_| format!("{} does not fit in 64 bits", show(obj))),
    )
}

/// An event field: None when absent.
fn field<'py>(
    event: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> Result<Option<Bound<'py, PyAny>>, Reason> {
    if let Ok(dict) = event.cast::<PyDict>() {
        return dict.get_item(name).map_err(|e| e.to_string());
    }
    if event.cast::<PyMapping>().is_err() {
        return Err(format!("an event must be a mapping, got {}", show(event)));
    }
    match event.get_item(name) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(event.py()) => Ok(None),
        Err(e) => Err(format!("reading field '{name}': {e}")),
    }
}

/// Epoch ms of an aware datetime, floored to the millisecond.
fn datetime_ms(dt: &Bound<'_, PyDateTime>) -> Result<i64, Reason> {
    let py = dt.py();
    let naive = || "the event time is a naive datetime; give it a timezone".to_string();
    let tz = dt.get_tzinfo().ok_or_else(naive)?;
    let utc = PyTzInfo::utc(py).map_err(|e| e.to_string())?;
    let offset_us = if tz.is(&*utc) {
        0
    } else {
        let offset = dt.call_method0("utcoffset").map_err(|e| e.to_string())?;
        let offset = offset.cast::<PyDelta>().map_err(|_| naive())?;
        (i64::from(offset.get_days()) * 86_400 + i64::from(offset.get_seconds())) * 1_000_000
            + i64::from(offset.get_microseconds())
    };
    let days = time::days_from_civil(
        i64::from(dt.get_year()),
        u32::from(dt.get_month()),
        u32::from(dt.get_day()),
    );
    let secs = i64::from(dt.get_hour()) * 3600
        + i64::from(dt.get_minute()) * 60
        + i64::from(dt.get_second());
    let us = (days * 86_400 + secs) * 1_000_000 + i64::from(dt.get_microsecond()) - offset_us;
    Ok(us.div_euclid(1000))
}

/// The event time: epoch ms (int or float), an RFC 3339 string or an aware datetime.
fn event_time(v: &Bound<'_, PyAny>) -> Result<i64, Reason> {
    if let Some(i) = exact_i64(v) {
        return time::from_i64(i);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return time::from_f64(f.value());
    }
    if let Ok(s) = v.cast::<PyString>() {
        let s = s
            .to_str()
            .map_err(|_| "the event time is not valid Unicode".to_string())?;
        return time::parse_rfc3339(s);
    }
    if let Ok(dt) = v.cast::<PyDateTime>() {
        return datetime_ms(dt);
    }
    if !v.is_instance_of::<PyBool>() {
        if let Some(i) = int_like(v) {
            return time::from_i64(i?);
        }
    }
    Err(format!(
        "the event time must be epoch milliseconds (int or float), an RFC 3339 string or an \
         aware datetime, got {}",
        show(v)
    ))
}

/// Appends one group-by value to the series key.
fn key_part(key: &mut Vec<u8>, v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<(), Reason> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        push_key_part(key, KeyPart::Null);
        return Ok(());
    };
    let part = if let Some(i) = exact_i64(v) {
        KeyPart::Int(i)
    } else if let Ok(s) = v.cast::<PyString>() {
        let s = s
            .to_str()
            .map_err(|_| format!("group-by field '{name}' is not valid Unicode"))?;
        push_key_part(key, KeyPart::Str(s));
        return Ok(());
    } else if let Ok(b) = v.cast::<PyBool>() {
        KeyPart::Bool(b.is_true())
    } else if let Ok(f) = v.cast::<PyFloat>() {
        KeyPart::Float(f.value())
    } else if let Some(i) = int_like(v) {
        KeyPart::Int(i.map_err(|e| format!("group-by field '{name}': {e}"))?)
    } else {
        return Err(format!(
            "group-by field '{name}' must be str, int, float, bool or None, got {}",
            show(v)
        ));
    };
    push_key_part(key, part);
    Ok(())
}

/// A measure field as a number; absent or None is no value.
fn number(v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<Num, Reason> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(Num::Null);
    };
    if let Some(i) = exact_i64(v) {
        return Ok(Num::Int(i));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Num::Float(f.value()));
    }
    let not_a_number = || format!("field '{name}' is not a number: {}", show(v));
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyString>() {
        return Err(not_a_number());
    }
    if let Some(i) = int_like(v) {
        return i.map(Num::Int).map_err(|e| format!("field '{name}': {e}"));
    }
    if v.hasattr("__float__").unwrap_or(false) {
        // Decimal, Fraction, numpy floats.
        if let Ok(f) = v.call_method0("__float__").and_then(|f| f.extract::<f64>()) {
            return Ok(Num::Float(f));
        }
    }
    Err(not_a_number())
}

/// The distinct-count coupon of a field (0: no item), hashed as `HyperLogLog.add` does.
fn item(v: Option<&Bound<'_, PyAny>>, name: &str) -> Result<u32, Reason> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(0);
    };
    if let Ok(s) = v.cast::<PyString>() {
        let s = s
            .to_str()
            .map_err(|_| format!("field '{name}' is not valid Unicode"))?;
        return Ok(coupon::str(s));
    }
    if let Some(i) = exact_i64(v) {
        return Ok(coupon::i64(i));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(coupon::f64(f.value()));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(coupon::bytes(b.as_bytes()));
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(coupon::bytes(&b.to_vec()));
    }
    if !v.is_instance_of::<PyBool>()
        && (v.is_instance_of::<PyInt>() || v.hasattr("__index__").unwrap_or(false))
    {
        return wide_int_coupon(v).map_err(|e| format!("field '{name}': {e}"));
    }
    Err(format!(
        "field '{name}' must be str, int, float or bytes to be counted, got {}",
        show(v)
    ))
}

/// Ints beyond i64 as `HyperLogLog.add` hashes them: u64 as DataSketches, wider ones by
/// their signed little-endian bytes.
fn wide_int_coupon(v: &Bound<'_, PyAny>) -> PyResult<u32> {
    let v = if v.is_instance_of::<PyInt>() {
        v.clone()
    } else {
        v.call_method0("__index__")?
    };
    if let Ok(i) = v.extract::<i64>() {
        return Ok(coupon::i64(i));
    }
    if let Ok(u) = v.extract::<u64>() {
        return Ok(coupon::u64(u));
    }
    let bits: usize = v.call_method0("bit_length")?.extract()?;
    let kwargs = pyo3::types::IntoPyDict::into_py_dict([("signed", true)], v.py())?;
    let bytes = v.call_method("to_bytes", (bits / 8 + 1, "little"), Some(&kwargs))?;
    Ok(coupon::bytes(bytes.cast::<PyBytes>()?.as_bytes()))
}

impl Reader {
    pub fn new(py: Python<'_>, config: &Config) -> Self {
        Self {
            time_field: PyString::intern(py, &config.time_field).unbind(),
            group_by: names(py, &config.group_by),
            numeric: names(py, &config.numeric_fields),
            distinct: names(py, &config.distinct_fields),
        }
    }

    /// Reads one event into `key`, `nums` and `coupons`; returns its time.
    pub fn read(
        &self,
        event: &Bound<'_, PyAny>,
        key: &mut Vec<u8>,
        nums: &mut [Num],
        coupons: &mut [u32],
    ) -> Result<i64, Reason> {
        let py = event.py();
        let name = self.time_field.bind(py);
        let ts = match field(event, name)? {
            None => return Err(format!("the event has no time field '{name}'")),
            Some(v) if v.is_none() => {
                return Err(format!("the event's time field '{name}' is None"))
            }
            Some(v) => event_time(&v)?,
        };
        key.clear();
        for f in &self.group_by {
            let f = f.bind(py);
            key_part(key, field(event, f)?.as_ref(), f.to_str().unwrap_or("?"))?;
        }
        for (n, f) in nums.iter_mut().zip(&self.numeric) {
            let f = f.bind(py);
            *n = number(field(event, f)?.as_ref(), f.to_str().unwrap_or("?"))?;
        }
        for (c, f) in coupons.iter_mut().zip(&self.distinct) {
            let f = f.bind(py);
            *c = item(field(event, f)?.as_ref(), f.to_str().unwrap_or("?"))?;
        }
        Ok(ts)
    }

    /// Reads a batch: the events that parsed (in `batch` and `events`, aligned) and the
    /// others with their reasons. The batch itself must be an iterable of events.
    pub fn read_batch<'py>(&self, events: &Bound<'py, PyAny>) -> PyResult<ReadBatch<'py>> {
        let py = events.py();
        if events.is_instance_of::<PyString>()
            || events.is_instance_of::<PyBytes>()
            || events.cast::<PyMapping>().is_ok()
        {
            return Err(invalid_type(
                py,
                format!(
                    "a batch is a list (or iterable) of events, got a single {}",
                    type_name(events)
                ),
            ));
        }
        let hint = events.len().unwrap_or(0);
        let mut out = ReadBatch {
            batch: Batch::with_capacity(self.numeric.len(), self.distinct.len(), hint),
            events: Vec::with_capacity(hint),
            errors: Vec::new(),
        };
        let mut key = Vec::with_capacity(64);
        let mut nums = vec![Num::Null; self.numeric.len()];
        let mut coupons = vec![0u32; self.distinct.len()];
        let mut one =
            |event: Bound<'py, PyAny>| match self.read(&event, &mut key, &mut nums, &mut coupons) {
                Ok(ts) => {
                    out.batch.push(ts, &key, &nums, &coupons);
                    out.events.push(event);
                }
                Err(reason) => out.errors.push((event, reason)),
            };
        if let Ok(list) = events.cast::<PyList>() {
            list.iter().for_each(&mut one);
        } else {
            let iter = events.try_iter().map_err(|_| {
                invalid_type(
                    py,
                    format!(
                        "a batch is a list (or iterable) of events, got {}",
                        type_name(events)
                    ),
                )
            })?;
            for event in iter {
                one(event?);
            }
        }
        Ok(out)
    }
}

/// A batch read from Python.
pub struct ReadBatch<'py> {
    pub batch: Batch,
    /// The events of `batch`, aligned with it.
    pub events: Vec<Bound<'py, PyAny>>,
    pub errors: Vec<(Bound<'py, PyAny>, Reason)>,
}
