//! `datanexus.HyperLogLog`: the pyo3 wrapper of `algo::hll::HyperLogLog`.

use numpy::{PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyByteArray, PyBytes, PyFloat, PyInt, PyString};

use super::arrays::contiguous;
use super::errors::{invalid_argument, invalid_type, to_py};
use super::gil::without_gil;
use super::serial::{image_list, image_methods};
use crate::algo::hll::{datasketches, HyperLogLog};

#[pyclass(name = "HyperLogLog", module = "datanexus")]
pub struct PyHyperLogLog {
    inner: HyperLogLog,
}

/// Adds one Python object: int (64-bit as DataSketches; wider ints by their signed
/// little-endian bytes), float, str (UTF-8; "" ignored as in DataSketches), bytes.
fn add_object(h: &mut HyperLogLog, item: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = item.py();
    if item.is_exact_instance_of::<PyInt>() {
        // The hot path of `add(int)`: no error machinery unless the int overflows i64.
        let mut overflow = 0;
        // SAFETY: `item` is a live exact int while we hold the GIL.
        let v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(item.as_ptr(), &mut overflow) };
        if overflow == 0 && !(v == -1 && PyErr::occurred(py)) {
            h.add_i64(v);
            return Ok(());
        }
        return add_int(h, item);
    }
    if item.is_instance_of::<PyInt>() {
        return add_int(h, item);
    }
    if let Ok(f) = item.cast::<PyFloat>() {
        h.add_f64(f.value());
    } else if let Ok(s) = item.cast::<PyString>() {
        let s = s.to_str().map_err(|_| {
            invalid_argument(
                py,
                "HyperLogLog items must be valid Unicode (no lone surrogates)",
            )
        })?;
        h.add_str(s);
    } else if let Ok(b) = item.cast::<PyBytes>() {
        h.add_bytes(b.as_bytes());
    } else if let Ok(b) = item.cast::<PyByteArray>() {
        h.add_bytes(&b.to_vec());
    } else if item.hasattr("__index__")? {
        // numpy integer scalars and other integer-likes.
        return add_int(h, &item.call_method0("__index__")?);
    } else {
        return Err(invalid_type(
            py,
            format!(
                "HyperLogLog items are int, float, str or bytes, got {}",
                item.get_type().name()?
            ),
        ));
    }
    Ok(())
}

fn add_int(h: &mut HyperLogLog, item: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(v) = item.extract::<i64>() {
        h.add_i64(v);
    } else if let Ok(v) = item.extract::<u64>() {
        h.add_u64(v);
    } else {
        let py = item.py();
        let bits: usize = item.call_method1("bit_length", ())?.extract()?;
        let kwargs = [("signed", true)].into_py_dict(py)?;
        let bytes = item.call_method("to_bytes", (bits / 8 + 1, "little"), Some(&kwargs))?;
        h.add_bytes(bytes.cast::<PyBytes>()?.as_bytes());
    }
    Ok(())
}

/// Runs `f` over the array's data with the GIL released (copying only a strided view).
fn with_slice<T, F>(
    py: Python<'_>,
    array: PyReadonlyArray1<'_, T>,
    h: &mut HyperLogLog,
    f: F,
) -> PyResult<()>
where
    T: numpy::Element + Copy + Send + Sync,
    F: Fn(&mut HyperLogLog, &[T]) + Send + Sync,
{
    let values = contiguous(&array);
    without_gil(py, || {
        f(h, &values);
        Ok(())
    })
}

fn add_array(h: &mut HyperLogLog, array: &Bound<'_, PyUntypedArray>) -> PyResult<()> {
    let py = array.py();
    if array.ndim() != 1 {
        return Err(invalid_argument(
            py,
            format!(
                "add_many takes a 1-D array, got shape {:?} (use .ravel())",
                array.shape()
            ),
        ));
    }
    let kind = array.dtype().kind();
    let itemsize = array.dtype().itemsize();
    match (kind, itemsize) {
        (b'i', 8) => with_slice(
            py,
            array.extract::<PyReadonlyArray1<i64>>()?,
            h,
            HyperLogLog::add_many_i64,
        ),
        (b'u', 8) => with_slice(
            py,
            array.extract::<PyReadonlyArray1<u64>>()?,
            h,
            HyperLogLog::add_many_u64,
        ),
        (b'f', 8) => with_slice(
            py,
            array.extract::<PyReadonlyArray1<f64>>()?,
            h,
            HyperLogLog::add_many_f64,
        ),
        (b'i' | b'u' | b'b', _) => {
            let wide = array.call_method1("astype", ("int64",))?;
            add_array(h, wide.cast::<PyUntypedArray>()?)
        }
        (b'f', _) => {
            let wide = array.call_method1("astype", ("float64",))?;
            add_array(h, wide.cast::<PyUntypedArray>()?)
        }
        (b'O', _) => {
            for item in array.try_iter()? {
                add_object(h, &item?)?;
            }
            Ok(())
        }
        (b'U' | b'S', _) => {
            for item in array.call_method0("tolist")?.try_iter()? {
                add_object(h, &item?)?;
            }
            Ok(())
        }
        _ => Err(invalid_type(
            py,
            format!("add_many cannot hash arrays of dtype {}", array.dtype()),
        )),
    }
}

#[pymethods]
impl PyHyperLogLog {
    #[new]
    #[pyo3(signature = (precision = 12))]
    fn new(py: Python<'_>, precision: i64) -> PyResult<Self> {
        let p = u8::try_from(precision).unwrap_or(u8::MAX);
        let inner = HyperLogLog::new(p).map_err(|_| {
            invalid_argument(
                py,
                format!("HyperLogLog precision must be in 4..=18, got {precision}"),
            )
        })?;
        Ok(Self { inner })
    }

    #[getter]
    fn precision(&self) -> u8 {
        self.inner.precision()
    }

    #[getter]
    fn standard_error(&self) -> f64 {
        self.inner.standard_error()
    }

    #[getter]
    fn is_sparse(&self) -> bool {
        self.inner.is_sparse()
    }

    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    #[pyo3(signature = (item, /))]
    fn add(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        add_object(&mut self.inner, item)
    }

    fn add_many(&mut self, items: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(array) = items.cast::<PyUntypedArray>() {
            return add_array(&mut self.inner, array);
        }
        let iter = items.try_iter().map_err(|_| {
            invalid_type(
                items.py(),
                format!(
                    "add_many takes an iterable or a numpy array, got {}",
                    items
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ),
            )
        })?;
        for item in iter {
            add_object(&mut self.inner, &item?)?;
        }
        Ok(())
    }

    fn estimate(&self) -> f64 {
        self.inner.estimate()
    }

    #[pyo3(signature = (other))]
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        if other.is_none() || other.is(slf) {
            return Ok(());
        }
        let other = other.cast::<Self>().map_err(|_| {
            invalid_type(py, "HyperLogLog.merge takes another HyperLogLog (or None)")
        })?;
        let other = other.borrow();
        slf.borrow_mut()
            .inner
            .merge(&other.inner)
            .map_err(|e| to_py(py, e))
    }

    /// The union of the sketches whose images are `images` (bytes), parsed and merged
    /// natively with the GIL released.
    #[staticmethod]
    #[pyo3(signature = (images, precision = None))]
    fn merge_images(images: &Bound<'_, PyAny>, precision: Option<i64>) -> PyResult<Self> {
        let py = images.py();
        let precision = precision
            .map(|p| {
                u8::try_from(p).map_err(|_| {
                    invalid_argument(
                        py,
                        format!("HyperLogLog precision must be in 4..=18, got {p}"),
                    )
                })
            })
            .transpose()?;
        let held = image_list(images, "HyperLogLog")?;
        let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
        without_gil(py, || HyperLogLog::merge_images(&slices, precision))
            .map(|inner| Self { inner })
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    fn registers<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.registers())
    }

    fn to_datasketches<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &datasketches::encode_hll8(&self.inner))
    }

    fn __repr__(&self) -> String {
        format!(
            "HyperLogLog(precision={}, estimate={:.1}, mode={})",
            self.inner.precision(),
            self.inner.estimate(),
            if self.inner.is_sparse() {
                "sparse"
            } else {
                "dense"
            }
        )
    }
}

image_methods!(PyHyperLogLog, HyperLogLog, "HyperLogLog");
