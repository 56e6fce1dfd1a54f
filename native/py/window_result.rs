//! `datanexus.WindowResult`: one emission of a window, and the conversions of engine
//! values, series keys and times into Python objects.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDateTime, PyDict, PyFloat, PyInt, PyString, PyTuple, PyTzInfo};

use super::errors::invalid_argument;
use crate::algo::window::batch::{decode_key, KeyPart};
use crate::algo::window::{time, Emission, Value};

pub fn value_object<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        // Through i64 when it fits: pyo3 builds an i128 from bytes, several times slower.
        Value::Int(i) => match i64::try_from(*i) {
            Ok(small) => small.into_pyobject(py)?.into_any(),
            Err(_) => i.into_pyobject(py)?.into_any(),
        },
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
    })
}

pub fn values_dict<'py>(
    py: Python<'py>,
    names: &[Py<PyString>],
    values: &[Value],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, v) in names.iter().zip(values) {
        dict.set_item(name.bind(py), value_object(py, v)?)?;
    }
    Ok(dict)
}

/// The tuple of group-by values of an encoded series key.
pub fn key_tuple<'py>(py: Python<'py>, key: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
    let parts = decode_key(key).map_err(|e| super::errors::to_py(py, e))?;
    let items = parts.into_iter().map(|p| -> PyResult<Bound<'py, PyAny>> {
        Ok(match p {
            KeyPart::Null => py.None().into_bound(py),
            KeyPart::Bool(b) => pyo3::types::PyBool::new(py, b).to_owned().into_any(),
            KeyPart::Int(i) => PyInt::new(py, i).into_any(),
            KeyPart::Float(f) => PyFloat::new(py, f).into_any(),
            KeyPart::Str(s) => PyString::new(py, s).into_any(),
        })
    });
    PyTuple::new(py, items.collect::<PyResult<Vec<_>>>()?)
}

/// An aware UTC datetime of epoch ms; years outside 1..=9999 raise `InvalidArgument`.
pub fn utc_datetime(py: Python<'_>, ms: i64) -> PyResult<Bound<'_, PyDateTime>> {
    let (year, month, day) = time::civil_from_days(ms.div_euclid(86_400_000));
    if !(1..=9999).contains(&year) {
        return Err(invalid_argument(
            py,
            format!(
                "{ms} ms is outside the years 1 to 9999 that datetime holds; use start_ms and end_ms"
            ),
        ));
    }
    let rem = ms.rem_euclid(86_400_000);
    let utc = PyTzInfo::utc(py)?;
    PyDateTime::new(
        py,
        year as i32,
        month as u8,
        day as u8,
        (rem / 3_600_000) as u8,
        (rem / 60_000 % 60) as u8,
        (rem / 1000 % 60) as u8,
        (rem % 1000 * 1000) as u32,
        Some(&utc),
    )
}

/// The names of an engine's measures, shared by all its results.
pub type Names = Arc<[Py<PyString>]>;

/// A result keeps the engine's values and builds Python objects only when asked: a
/// result costs one allocation (its key tuple is shared with the engine's cache), and
/// nothing for the garbage collector to trace.
#[pyclass(name = "WindowResult", module = "datanexus", frozen)]
pub struct PyWindowResult {
    /// A member, not a getter: every sink reads it, and the getter cost 39 ns to its 9.
    #[pyo3(get)]
    key: Py<PyTuple>,
    names: Names,
    start_ms: i64,
    end_ms: i64,
    values: Arc<[Value]>,
    revision: u32,
    previous: Option<Arc<[Value]>>,
    retracted: bool,
}

impl PyWindowResult {
    /// `key` is the tuple of `e.key` (engines cache them per series).
    pub fn from_emission(names: &Names, e: Emission, key: Py<PyTuple>) -> Self {
        Self {
            key,
            names: names.clone(),
            start_ms: e.start,
            end_ms: e.end,
            values: e.values,
            revision: e.revision,
            previous: e.previous,
            retracted: e.retracted,
        }
    }

    fn key_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        Ok(self.key.bind(py).clone())
    }
}

/// A Python number, bytes (a sketch image) or None as a result value.
fn value_of(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = v.py();
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if v.is_instance_of::<PyInt>() {
        return v
            .extract::<i128>()
            .map(Value::Int)
            .map_err(|_| invalid_argument(py, "result values must fit in 128 bits"));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().into()));
    }
    Err(super::errors::invalid_type(
        py,
        "result values are int, float, bytes or None",
    ))
}

fn values_of(d: &Bound<'_, PyDict>) -> PyResult<(Vec<Py<PyString>>, Vec<Value>)> {
    let mut names = Vec::with_capacity(d.len());
    let mut values = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        names.push(
            k.cast_into::<PyString>()
                .map_err(|_| super::errors::invalid_type(d.py(), "result value names are str"))?
                .unbind(),
        );
        values.push(value_of(&v)?);
    }
    Ok((names, values))
}

#[pymethods]
impl PyWindowResult {
    #[new]
    #[pyo3(signature = (key, start_ms, end_ms, values, revision = 0, previous = None, retracted = false))]
    fn new(
        key: Bound<'_, PyTuple>,
        start_ms: i64,
        end_ms: i64,
        values: Bound<'_, PyDict>,
        revision: u32,
        previous: Option<Bound<'_, PyDict>>,
        retracted: bool,
    ) -> PyResult<Self> {
        let py = key.py();
        let (names, values) = values_of(&values)?;
        let previous = previous.map(|p| values_of(&p)).transpose()?;
        let names = match previous {
            // A retraction's values are empty: its names are those of `previous`.
            Some((ref prev_names, _)) if names.is_empty() => {
                prev_names.iter().map(|n| n.clone_ref(py)).collect()
            }
            Some((ref prev_names, _)) => {
                let same = prev_names.len() == names.len()
                    && prev_names
                        .iter()
                        .zip(&names)
                        .all(|(a, b)| a.bind(py).as_any().eq(b.bind(py)).unwrap_or(false));
                if !same {
                    return Err(invalid_argument(
                        py,
                        "previous must name the same measures as values",
                    ));
                }
                names
            }
            None => names,
        };
        Ok(Self {
            key: key.unbind(),
            names: names.into(),
            start_ms,
            end_ms,
            values: values.into(),
            revision,
            previous: previous.map(|(_, p)| p.into()),
            retracted,
        })
    }

    #[getter]
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        utc_datetime(py, self.start_ms)
    }

    #[getter]
    fn end<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDateTime>> {
        utc_datetime(py, self.end_ms)
    }

    #[getter]
    fn start_ms(&self) -> i64 {
        self.start_ms
    }

    #[getter]
    fn end_ms(&self) -> i64 {
        self.end_ms
    }

    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        values_dict(py, &self.names, &self.values)
    }

    #[getter]
    fn revision(&self) -> u32 {
        self.revision
    }

    #[getter]
    fn previous<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.previous
            .as_ref()
            .map(|p| values_dict(py, &self.names, p))
            .transpose()
    }

    #[getter]
    fn retracted(&self) -> bool {
        self.retracted
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(o) = other.cast::<Self>() else {
            return Ok(false);
        };
        let o = o.get();
        if (self.start_ms, self.end_ms, self.revision, self.retracted)
            != (o.start_ms, o.end_ms, o.revision, o.retracted)
        {
            return Ok(false);
        }
        let prev = |r: &Self| r.previous(py);
        let same_prev = match (prev(self)?, prev(o)?) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq(b)?,
            _ => false,
        };
        Ok(same_prev
            && self.key_tuple(py)?.eq(o.key_tuple(py)?)?
            && self.values(py)?.eq(o.values(py)?)?)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let when = |ms: i64| {
            utc_datetime(py, ms)
                .and_then(|d| d.call_method0("isoformat"))
                .map(|s| s.to_string())
                .unwrap_or_else(|_| format!("{ms} ms"))
        };
        let mut s = format!(
            "WindowResult(key={}, start={}, end={}, values={}, revision={}",
            self.key_tuple(py)?.repr()?,
            when(self.start_ms),
            when(self.end_ms),
            self.values(py)?.repr()?,
            self.revision
        );
        if let Some(p) = self.previous(py)? {
            s += &format!(", previous={}", p.repr()?);
        }
        if self.retracted {
            s += ", retracted=True";
        }
        Ok(s + ")")
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let r = slf.get();
        let args = (
            r.key_tuple(py)?,
            r.start_ms,
            r.end_ms,
            r.values(py)?,
            r.revision,
            r.previous(py)?,
            r.retracted,
        )
            .into_pyobject(py)?;
        PyTuple::new(py, [slf.get_type().into_any(), args.into_any()])
    }
}
