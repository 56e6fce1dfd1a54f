//! `datanexus.RollingAggregate`: the pyo3 wrapper of `algo::rolling::RollingAggregate`.

use numpy::{PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};
use pyo3::IntoPyObjectExt;

use super::errors::{invalid_argument, invalid_type, to_py};
use super::gil::without_gil;
use super::serial::image_methods;
use crate::algo::rolling::{scan, Column, Number, RollingAggregate, Total};
use crate::algo::Error;

#[pyclass(name = "RollingAggregate", module = "datanexus")]
pub struct PyRollingAggregate {
    inner: RollingAggregate,
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// One timestamp, value or window: an int within 64 bits or a finite float (numpy
/// scalars included). NaN and ±inf are refused here, at the boundary (DEC-8).
#[inline(always)]
fn number(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Number> {
    let py = obj.py();
    if obj.is_exact_instance_of::<PyInt>() {
        // The hot path of `push`: no error machinery unless the int overflows i64.
        let mut overflow = 0;
        // SAFETY: `obj` is a live exact int while we hold the GIL.
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow == 0 && !(v == -1 && PyErr::occurred(py)) {
            return Ok(Number::Int(v));
        }
        return Err(out_of_range(py, obj, what));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return finite(py, f.value(), what);
    }
    if obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")? {
        let index = obj.call_method0("__index__")?;
        return index
            .extract::<i64>()
            .map(Number::Int)
            .map_err(|_| out_of_range(py, obj, what));
    }
    if obj.hasattr("__float__")? && !obj.is_instance_of::<PyBool>() {
        return finite(py, obj.call_method0("__float__")?.extract()?, what);
    }
    Err(invalid_type(
        py,
        format!(
            "a RollingAggregate {what} is an int or a float, got {}",
            type_name(obj)
        ),
    ))
}

fn finite(py: Python<'_>, v: f64, what: &str) -> PyResult<Number> {
    if v.is_finite() {
        Ok(Number::Float(v))
    } else {
        Err(invalid_argument(
            py,
            format!("a RollingAggregate {what} must be finite, got {v}"),
        ))
    }
}

fn out_of_range(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyErr {
    invalid_argument(
        py,
        format!(
            "a RollingAggregate {what} must fit in 64 signed bits, got {}; pass a float \
             for larger magnitudes",
            obj.str().map(|s| s.to_string()).unwrap_or_default()
        ),
    )
}

fn number_to_py<'py>(py: Python<'py>, n: Number) -> PyResult<Bound<'py, PyAny>> {
    match n {
        Number::Int(i) => i.into_bound_py_any(py),
        Number::Float(f) => f.into_bound_py_any(py),
    }
}

/// A batch column held for the duration of a call: a borrowed contiguous array, or a
/// converted copy.
enum Col<'py> {
    IntArray(PyReadonlyArray1<'py, i64>),
    FloatArray(PyReadonlyArray1<'py, f64>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

impl Col<'_> {
    fn view(&self) -> Column<'_> {
        match self {
            // Contiguity was checked when the column was made.
            Col::IntArray(a) => Column::Int(a.as_slice().unwrap_or_default()),
            Col::FloatArray(a) => Column::Float(a.as_slice().unwrap_or_default()),
            Col::Ints(v) => Column::Int(v),
            Col::Floats(v) => Column::Float(v),
        }
    }
}

fn column<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Col<'py>> {
    let py = obj.py();
    let Ok(array) = obj.cast::<PyUntypedArray>() else {
        if obj.try_iter().is_err() {
            return Err(invalid_type(
                py,
                format!(
                    "push_many takes {what} as a numpy array or a sequence, got {}",
                    type_name(obj)
                ),
            ));
        }
        return objects(obj, what);
    };
    if array.ndim() != 1 {
        return Err(invalid_argument(
            py,
            format!(
                "push_many takes 1-D {what}, got shape {:?} (use .ravel())",
                array.shape()
            ),
        ));
    }
    let dtype = array.dtype();
    match (dtype.kind(), dtype.itemsize()) {
        (b'i', 8) => {
            // A non-native byte order is converted by numpy first.
            let Ok(a) = array.extract::<PyReadonlyArray1<i64>>() else {
                return column(&array.call_method1("astype", ("=i8",))?, what);
            };
            Ok(if a.is_contiguous() {
                Col::IntArray(a)
            } else {
                Col::Ints(a.as_array().to_vec())
            })
        }
        (b'f', 8) => {
            let Ok(a) = array.extract::<PyReadonlyArray1<f64>>() else {
                return column(&array.call_method1("astype", ("=f8",))?, what);
            };
            Ok(if a.is_contiguous() {
                Col::FloatArray(a)
            } else {
                Col::Floats(a.as_array().to_vec())
            })
        }
        (b'u', 8) => {
            let Ok(a) = array.extract::<PyReadonlyArray1<u64>>() else {
                return column(&array.call_method1("astype", ("=u8",))?, what);
            };
            let ints: Option<Vec<i64>> = a
                .as_array()
                .iter()
                .map(|&v| i64::try_from(v).ok())
                .collect();
            ints.map(Col::Ints).ok_or_else(|| {
                invalid_argument(py, format!("push_many {what} must fit in 64 signed bits"))
            })
        }
        (b'i' | b'u' | b'b', _) => column(&array.call_method1("astype", ("int64",))?, what),
        (b'f', _) => column(&array.call_method1("astype", ("float64",))?, what),
        (b'O', _) => objects(obj, what),
        _ => Err(invalid_type(
            py,
            format!("push_many takes int or float {what}, got an array of dtype {dtype}"),
        )),
    }
}

/// A sequence of Python numbers: integers while they all are, else floats.
fn objects<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Col<'py>> {
    let items: Vec<Number> = obj
        .try_iter()?
        .map(|item| number(&item?, what))
        .collect::<PyResult<_>>()?;
    if items.iter().all(|n| matches!(n, Number::Int(_))) {
        Ok(Col::Ints(
            items
                .iter()
                .map(|n| if let Number::Int(i) = n { *i } else { 0 })
                .collect(),
        ))
    } else {
        Ok(Col::Floats(items.iter().map(|n| n.to_f64()).collect()))
    }
}

/// DEC-8: non-finite numbers are refused at the boundary, naming the first one.
fn check_finite(column: Column<'_>, what: &str) -> Result<(), Error> {
    if let Column::Float(values) = column {
        // One branch-free pass over the batch; the position only on failure.
        if !scan::all_finite(values) {
            let at = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(Error::invalid_argument(format!(
                "push_many {what} must be finite, found {} at index {at}",
                values[at]
            )));
        }
    }
    Ok(())
}

#[pymethods]
impl PyRollingAggregate {
    #[new]
    #[pyo3(signature = (window))]
    fn new(window: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = window.py();
        let w = number(window, "window")?;
        RollingAggregate::new(w)
            .map(|inner| Self { inner })
            .map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (ts, value, /))]
    fn push(&mut self, ts: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = number(ts, "timestamp")?;
        let v = number(value, "value")?;
        self.inner.push(t, v);
        Ok(())
    }

    fn push_many(
        &mut self,
        py: Python<'_>,
        ts: &Bound<'_, PyAny>,
        values: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let ts = column(ts, "timestamps")?;
        let values = column(values, "values")?;
        let (t, v) = (ts.view(), values.view());
        let inner = &mut self.inner;
        without_gil(py, move || {
            check_finite(t, "timestamps")?;
            check_finite(v, "values")?;
            inner.push_many(t, v)
        })
    }

    #[getter]
    fn window<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        number_to_py(py, self.inner.window())
    }

    #[getter]
    fn count(&self) -> usize {
        self.inner.count()
    }

    fn __len__(&self) -> usize {
        self.inner.count()
    }

    #[getter]
    fn sum<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.sum() {
            Total::Int(s) => s.into_bound_py_any(py),
            Total::Float(s) => s.into_bound_py_any(py),
        }
    }

    #[getter]
    fn mean(&self) -> Option<f64> {
        self.inner.mean()
    }

    #[getter]
    fn variance(&self) -> Option<f64> {
        self.inner.variance()
    }

    #[getter]
    fn sample_variance(&self) -> Option<f64> {
        self.inner.sample_variance()
    }

    #[getter]
    fn stddev(&self) -> Option<f64> {
        self.inner.stddev()
    }

    #[getter]
    fn min<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.min().map(|n| number_to_py(py, n)).transpose()
    }

    #[getter]
    fn max<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.max().map(|n| number_to_py(py, n)).transpose()
    }

    #[getter]
    fn dropped(&self) -> u64 {
        self.inner.dropped()
    }

    #[getter]
    fn newest<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.newest().map(|n| number_to_py(py, n)).transpose()
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    fn __repr__(&self) -> String {
        let show = |n: Option<Number>| match n {
            Some(Number::Int(i)) => i.to_string(),
            Some(Number::Float(f)) => format!("{f:?}"),
            None => "None".into(),
        };
        let sum = match self.inner.sum() {
            Total::Int(s) => s.to_string(),
            Total::Float(s) => format!("{s:?}"),
        };
        format!(
            "RollingAggregate(window={}, count={}, sum={sum}, min={}, max={}, dropped={})",
            show(Some(self.inner.window())),
            self.inner.count(),
            show(self.inner.min()),
            show(self.inner.max()),
            self.inner.dropped()
        )
    }
}

image_methods!(PyRollingAggregate, RollingAggregate, "RollingAggregate");
