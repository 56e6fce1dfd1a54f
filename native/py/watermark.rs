//! `datanexus.WatermarkTracker`: the pyo3 wrapper of `algo::watermark::WatermarkTracker`.

use numpy::{PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};

use super::arrays::contiguous;
use super::errors::{invalid_argument, invalid_type, to_py};
use super::gil::without_gil;
use super::serial::image_methods;
use crate::algo::watermark::{
    too_wide, PartitionKey, PartitionRef, Time, WatermarkTracker, MAX_EXACT_INT,
};

#[pyclass(name = "WatermarkTracker", module = "datanexus")]
pub struct PyWatermarkTracker {
    inner: WatermarkTracker,
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// The value of an exact `int` that fits in i64, read without Python's error machinery:
/// the hot path of `observe`. None for anything else.
fn small_int(obj: &Bound<'_, PyAny>) -> Option<i64> {
    if !obj.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let mut overflow = 0;
    // SAFETY: `obj` is a live exact int while we hold the GIL.
    let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    (overflow == 0 && !(v == -1 && PyErr::occurred(obj.py()))).then_some(v)
}

/// A partition key borrowed from its Python object: a str, or an int that fits in i64.
fn partition_key<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<PartitionRef<'a>> {
    let py = obj.py();
    if let Some(v) = small_int(obj) {
        return Ok(PartitionRef::Int(v));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_str().map(PartitionRef::Str).map_err(|_| {
            invalid_argument(
                py,
                "partition names must be valid Unicode (no lone surrogates)",
            )
        });
    }
    if !obj.is_instance_of::<PyBool>()
        && (obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")?)
    {
        let index = obj.call_method0("__index__")?;
        return index.extract::<i64>().map(PartitionRef::Int).map_err(|_| {
            invalid_argument(py, format!("partition {index} does not fit in 64 bits"))
        });
    }
    Err(invalid_type(
        py,
        format!("partitions are named by str or int, got {}", type_name(obj)),
    ))
}

/// A timestamp, duration or clock reading: an int (kept exact) or a float.
fn time(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Time> {
    let py = obj.py();
    if let Some(v) = small_int(obj) {
        return Ok(Time::Int(v));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Time::Float(f.value()));
    }
    if obj.is_instance_of::<PyBool>() {
        return Err(invalid_type(
            py,
            format!("{what} must be int or float, got bool"),
        ));
    }
    if obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")? {
        let index = obj.call_method0("__index__")?;
        return index
            .extract::<i64>()
            .map(Time::Int)
            .map_err(|_| to_py(py, too_wide(what, index)));
    }
    if obj.hasattr("__float__")? {
        // numpy float32, Decimal, Fraction.
        return Ok(Time::Float(obj.call_method0("__float__")?.extract()?));
    }
    Err(invalid_type(
        py,
        format!("{what} must be int or float, got {}", type_name(obj)),
    ))
}

fn optional_time(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Time>> {
    obj.filter(|o| !o.is_none())
        .map(|o| time(o, what))
        .transpose()
}

/// A value of the tracker as `int` when the tracker has only been given ints.
fn number(py: Python<'_>, value: f64, integral: bool) -> Bound<'_, PyAny> {
    if integral {
        PyInt::new(py, value as i64).into_any()
    } else {
        PyFloat::new(py, value).into_any()
    }
}

fn key_object<'py>(py: Python<'py>, key: &PartitionKey) -> Bound<'py, PyAny> {
    match key {
        PartitionKey::Int(v) => PyInt::new(py, *v).into_any(),
        PartitionKey::Str(s) => PyString::new(py, s).into_any(),
    }
}

impl PyWatermarkTracker {
    fn event_time<'py>(&self, py: Python<'py>, value: Option<f64>) -> Option<Bound<'py, PyAny>> {
        value.map(|v| number(py, v, self.inner.integral_times()))
    }

    fn clock_time<'py>(&self, py: Python<'py>, value: Option<f64>) -> Option<Bound<'py, PyAny>> {
        value.map(|v| number(py, v, self.inner.integral_clock()))
    }

    /// Observes a 1-D numpy array: int64/float64 (others widened) with the GIL released.
    fn observe_array(
        &mut self,
        key: PartitionRef<'_>,
        array: &Bound<'_, PyUntypedArray>,
        now: Option<Time>,
    ) -> PyResult<Option<f64>> {
        let py = array.py();
        if array.ndim() != 1 {
            return Err(invalid_argument(
                py,
                format!(
                    "observe_many takes a 1-D array, got shape {:?} (use .ravel())",
                    array.shape()
                ),
            ));
        }
        let dtype = array.dtype();
        let inner = &mut self.inner;
        match (dtype.kind(), dtype.itemsize()) {
            (b'i', 8) => {
                let array = array.extract::<PyReadonlyArray1<i64>>()?;
                let ts = contiguous(&array);
                without_gil(py, || inner.observe_many_i64(key, &ts, now))
            }
            (b'f', 8) => {
                let array = array.extract::<PyReadonlyArray1<f64>>()?;
                let ts = contiguous(&array);
                without_gil(py, || inner.observe_many_f64(key, &ts, now))
            }
            (b'u', 8) => {
                // Values past 2^63 would wrap in int64: refuse them by their own value.
                let array = array.extract::<PyReadonlyArray1<u64>>()?;
                let ts = array
                    .as_array()
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        i64::try_from(v)
                            .ok()
                            .filter(|&v| v <= MAX_EXACT_INT)
                            .ok_or_else(|| {
                                to_py(py, too_wide(&format!("timestamp at index {i}"), v))
                            })
                    })
                    .collect::<PyResult<Vec<i64>>>()?;
                without_gil(py, || inner.observe_many_i64(key, &ts, now))
            }
            (b'i' | b'u', _) => {
                let wide = array.call_method1("astype", ("int64",))?;
                self.observe_array(key, wide.cast::<PyUntypedArray>()?, now)
            }
            (b'f', _) => {
                let wide = array.call_method1("astype", ("float64",))?;
                self.observe_array(key, wide.cast::<PyUntypedArray>()?, now)
            }
            (b'O', _) => self.observe_sequence(key, array.as_any(), now),
            _ => Err(invalid_type(
                py,
                format!(
                    "observe_many takes int or float timestamps, got an array of dtype {dtype} \
                     (convert datetime64 with .astype('int64') in the unit you use)"
                ),
            )),
        }
    }

    fn observe_sequence(
        &mut self,
        key: PartitionRef<'_>,
        items: &Bound<'_, PyAny>,
        now: Option<Time>,
    ) -> PyResult<Option<f64>> {
        let py = items.py();
        let iter = items.try_iter().map_err(|_| {
            invalid_type(
                py,
                format!(
                    "observe_many takes a numpy array or an iterable of timestamps, got {}",
                    type_name(items)
                ),
            )
        })?;
        let ts = iter
            .enumerate()
            .map(|(i, item)| time(&item?, &format!("timestamp at index {i}")))
            .collect::<PyResult<Vec<Time>>>()?;
        self.inner
            .observe_many(key, &ts, now)
            .map_err(|e| to_py(py, e))
    }
}

#[pymethods]
impl PyWatermarkTracker {
    #[new]
    #[pyo3(
        signature = (max_out_of_orderness = None, idle_timeout = None),
        text_signature = "(max_out_of_orderness=0, idle_timeout=None)"
    )]
    fn new(
        py: Python<'_>,
        max_out_of_orderness: Option<&Bound<'_, PyAny>>,
        idle_timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let ooo =
            optional_time(max_out_of_orderness, "max_out_of_orderness")?.unwrap_or(Time::Int(0));
        let idle = optional_time(idle_timeout, "idle_timeout")?;
        WatermarkTracker::new(ooo, idle)
            .map(|inner| Self { inner })
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn max_out_of_orderness<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        number(
            py,
            self.inner.max_out_of_orderness(),
            self.inner.integral_times(),
        )
    }

    #[getter]
    fn idle_timeout<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.clock_time(py, self.inner.idle_timeout())
    }

    #[getter]
    fn watermark<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.event_time(py, self.inner.watermark())
    }

    #[pyo3(signature = (partition, ts, now = None))]
    fn observe<'py>(
        &mut self,
        py: Python<'py>,
        partition: &Bound<'py, PyAny>,
        ts: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = partition_key(partition)?;
        let ts = time(ts, "timestamp")?;
        let now = optional_time(now, "now")?;
        let w = self.inner.observe(key, ts, now).map_err(|e| to_py(py, e))?;
        Ok(number(py, w, self.inner.integral_times()))
    }

    #[pyo3(signature = (partition, ts, now = None))]
    fn observe_many<'py>(
        &mut self,
        py: Python<'py>,
        partition: &Bound<'py, PyAny>,
        ts: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let key = partition_key(partition)?;
        let now = optional_time(now, "now")?;
        let w = match ts.cast::<PyUntypedArray>() {
            Ok(array) => self.observe_array(key, array, now)?,
            Err(_) => self.observe_sequence(key, ts, now)?,
        };
        Ok(self.event_time(py, w))
    }

    fn tick<'py>(
        &mut self,
        py: Python<'py>,
        now: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let now = time(now, "now")?;
        let w = self.inner.tick(now).map_err(|e| to_py(py, e))?;
        Ok(self.event_time(py, w))
    }

    fn partition_watermark<'py>(
        &self,
        py: Python<'py>,
        partition: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let key = partition_key(partition)?;
        Ok(self.event_time(py, self.inner.partition_watermark(key)))
    }

    #[pyo3(
        signature = (ts, allowed_lateness = None),
        text_signature = "($self, ts, allowed_lateness=0)"
    )]
    fn is_late(
        &self,
        py: Python<'_>,
        ts: &Bound<'_, PyAny>,
        allowed_lateness: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let ts = time(ts, "timestamp")?;
        let lateness = optional_time(allowed_lateness, "allowed_lateness")?.unwrap_or(Time::Int(0));
        self.inner.is_late(ts, lateness).map_err(|e| to_py(py, e))
    }

    fn holdback<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.inner
            .holdback()
            .map(|(key, lag)| {
                let lag = number(py, lag, self.inner.integral_times());
                PyTuple::new(py, [key_object(py, key), lag])
            })
            .transpose()
    }

    fn partitions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (key, status) in self.inner.partitions() {
            let entry = PyDict::new(py);
            entry.set_item("watermark", self.event_time(py, Some(status.watermark)))?;
            entry.set_item("idle", status.idle)?;
            entry.set_item("last_seen", self.clock_time(py, status.last_seen))?;
            out.set_item(key_object(py, key), entry)?;
        }
        Ok(out)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let show = |v: Option<Bound<'_, PyAny>>| -> PyResult<String> {
            v.map_or(Ok("None".to_string()), |v| Ok(v.repr()?.to_string()))
        };
        Ok(format!(
            "WatermarkTracker(max_out_of_orderness={}, idle_timeout={}, partitions={}, watermark={})",
            show(Some(self.max_out_of_orderness(py)))?,
            show(self.idle_timeout(py))?,
            self.inner.len(),
            show(self.watermark(py))?,
        ))
    }
}

image_methods!(PyWatermarkTracker, WatermarkTracker, "WatermarkTracker");
