//! `datanexus.WindowResult`: one emission of a window, and the conversions of engine
//! values, series keys and times into Python objects.

use pyo3::prelude::*;
use pyo3::types::{PyDateTime, PyDict, PyFloat, PyInt, PyString, PyTuple, PyTzInfo};

use super::errors::invalid_argument;
use crate::algo::window::batch::{decode_key, KeyPart};
use crate::algo::window::{time, Emission, Value};

pub fn value_object(py: Python<'_>, v: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => PyFloat::new(py, f).into_any(),
    })
}

pub fn values_dict<'py>(
    py: Python<'py>,
    names: &[Py<PyString>],
    values: &[Value],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, &v) in names.iter().zip(values) {
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

#[pyclass(name = "WindowResult", module = "datanexus", frozen)]
pub struct PyWindowResult {
    key: Py<PyTuple>,
    start_ms: i64,
    end_ms: i64,
    values: Py<PyDict>,
    revision: u32,
    previous: Option<Py<PyDict>>,
    retracted: bool,
}

impl PyWindowResult {
    pub fn from_emission(py: Python<'_>, names: &[Py<PyString>], e: &Emission) -> PyResult<Self> {
        Ok(Self {
            key: key_tuple(py, &e.key)?.unbind(),
            start_ms: e.start,
            end_ms: e.end,
            values: values_dict(py, names, &e.values)?.unbind(),
            revision: e.revision,
            previous: e
                .previous
                .as_ref()
                .map(|p| values_dict(py, names, p).map(Bound::unbind))
                .transpose()?,
            retracted: e.retracted,
        })
    }
}

fn copy<'py>(py: Python<'py>, d: &Py<PyDict>) -> PyResult<Bound<'py, PyDict>> {
    d.bind(py).copy()
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
    ) -> Self {
        Self {
            key: key.unbind(),
            start_ms,
            end_ms,
            values: values.unbind(),
            revision,
            previous: previous.map(Bound::unbind),
            retracted,
        }
    }

    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        self.key.bind(py).clone()
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
        copy(py, &self.values)
    }

    #[getter]
    fn revision(&self) -> u32 {
        self.revision
    }

    #[getter]
    fn previous<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.previous.as_ref().map(|p| copy(py, p)).transpose()
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
        let same_prev = match (&self.previous, &o.previous) {
            (None, None) => true,
            (Some(a), Some(b)) => a.bind(py).eq(b.bind(py))?,
            _ => false,
        };
        Ok((self.start_ms, self.end_ms, self.revision, self.retracted)
            == (o.start_ms, o.end_ms, o.revision, o.retracted)
            && same_prev
            && self.key.bind(py).eq(o.key.bind(py))?
            && self.values.bind(py).eq(o.values.bind(py))?)
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
            self.key.bind(py).repr()?,
            when(self.start_ms),
            when(self.end_ms),
            self.values.bind(py).repr()?,
            self.revision
        );
        if let Some(p) = &self.previous {
            s += &format!(", previous={}", p.bind(py).repr()?);
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
            r.key.bind(py),
            r.start_ms,
            r.end_ms,
            r.values.bind(py),
            r.revision,
            r.previous.as_ref().map(|p| p.bind(py)),
            r.retracted,
        )
            .into_pyobject(py)?;
        PyTuple::new(py, [slf.get_type().into_any(), args.into_any()])
    }
}
