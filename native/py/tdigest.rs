//! `datanexus.TDigest`: the pyo3 wrapper of `algo::tdigest::TDigest`.

use numpy::{
    PyArray1, PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyFloat;

use super::errors::{invalid_argument, invalid_type, to_py};
use super::gil::without_gil;
use super::serial::{image_list, image_methods};
use crate::algo::tdigest::{TDigest, DEFAULT_COMPRESSION};

#[pyclass(name = "TDigest", module = "datanexus")]
pub struct PyTDigest {
    inner: TDigest,
}

fn type_name(x: &Bound<'_, PyAny>) -> String {
    x.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// A Python number as f64 (float fast path; int, numpy scalars, anything with __float__).
fn number(x: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if let Ok(f) = x.cast_exact::<PyFloat>() {
        return Ok(f.value());
    }
    x.extract::<f64>().map_err(|_| {
        invalid_type(
            x.py(),
            format!("TDigest {what} must be a number, got {}", type_name(x)),
        )
    })
}

/// The values of a 1-D numpy array or a sequence, as f64 (borrowed when the array already
/// is contiguous float64). Returns an owned vector or a readonly view.
enum Floats<'py> {
    View(PyReadonlyArray1<'py, f64>),
    Owned(Vec<f64>),
}

impl Floats<'_> {
    fn as_slice(&self) -> &[f64] {
        match self {
            Floats::View(a) => a.as_slice().expect("checked contiguous"),
            Floats::Owned(v) => v,
        }
    }
}

fn floats<'py>(items: &Bound<'py, PyAny>, what: &str) -> PyResult<Floats<'py>> {
    let py = items.py();
    if let Ok(array) = items.cast::<PyUntypedArray>() {
        if array.ndim() != 1 {
            return Err(invalid_argument(
                py,
                format!(
                    "TDigest {what} must be a 1-D array, got shape {:?} (use .ravel())",
                    array.shape()
                ),
            ));
        }
        let kind = array.dtype().kind();
        if kind == b'f' && array.dtype().itemsize() == 8 {
            let view = array.extract::<PyReadonlyArray1<'py, f64>>()?;
            return Ok(if view.as_slice().is_ok() {
                Floats::View(view)
            } else {
                Floats::Owned(view.as_array().iter().copied().collect())
            });
        }
        if matches!(kind, b'f' | b'i' | b'u' | b'b') {
            let wide = array.call_method1("astype", ("float64",))?;
            return floats(&wide, what);
        }
        if kind != b'O' {
            return Err(invalid_type(
                py,
                format!(
                    "TDigest {what} must be numbers, got an array of dtype {}",
                    array.dtype()
                ),
            ));
        }
    }
    let iter = items.try_iter().map_err(|_| {
        invalid_type(
            py,
            format!(
                "TDigest {what} must be a numpy array or an iterable of numbers, got {}",
                type_name(items)
            ),
        )
    })?;
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for item in iter {
        out.push(number(&item?, what)?);
    }
    Ok(Floats::Owned(out))
}

#[pymethods]
impl PyTDigest {
    #[new]
    // A literal, so that the Python signature shows it: algo::tdigest::DEFAULT_COMPRESSION.
    #[pyo3(signature = (compression = 200.0))]
    fn new(py: Python<'_>, compression: f64) -> PyResult<Self> {
        debug_assert_eq!(DEFAULT_COMPRESSION, 200.0);
        TDigest::new(compression)
            .map(|inner| Self { inner })
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn compression(&self) -> f64 {
        self.inner.compression()
    }

    #[getter]
    fn count(&self) -> f64 {
        self.inner.count()
    }

    #[getter]
    fn min(&self) -> f64 {
        self.inner.min()
    }

    #[getter]
    fn max(&self) -> f64 {
        self.inner.max()
    }

    #[getter]
    fn sum(&self) -> f64 {
        self.inner.sum()
    }

    #[getter]
    fn mean(&self) -> f64 {
        self.inner.mean()
    }

    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    #[pyo3(signature = (x, /, weight = None))]
    fn add(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let x = number(x, "values")?;
        let result = match weight {
            None => self.inner.add(x),
            Some(w) => self.inner.add_weighted(x, number(w, "weights")?),
        };
        result.map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (values, weights = None))]
    fn add_many(
        &mut self,
        values: &Bound<'_, PyAny>,
        weights: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = values.py();
        let values = floats(values, "values")?;
        let weights = weights.map(|w| floats(w, "weights")).transpose()?;
        let inner = &mut self.inner;
        let (values, weights) = (values.as_slice(), weights.as_ref().map(Floats::as_slice));
        without_gil(py, || match weights {
            None => inner.add_many(values),
            Some(w) => inner.add_many_weighted(values, w),
        })
    }

    fn quantile(&mut self, py: Python<'_>, q: &Bound<'_, PyAny>) -> PyResult<f64> {
        let q = number(q, "quantile q")?;
        self.inner.quantile(q).map_err(|e| to_py(py, e))
    }

    fn quantiles<'py>(&mut self, qs: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let py = qs.py();
        let qs = floats(qs, "quantiles qs")?;
        let qs = qs.as_slice();
        let inner = &mut self.inner;
        let out = without_gil(py, || {
            let mut out = vec![0.0; qs.len()];
            inner.quantiles(qs, &mut out).map(|()| out)
        })?;
        Ok(PyArray1::from_vec(py, out))
    }

    fn cdf(&mut self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<f64> {
        let x = number(x, "cdf x")?;
        self.inner.cdf(x).map_err(|e| to_py(py, e))
    }

    #[pyo3(signature = (other))]
    fn merge(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        if other.is_none() {
            return Ok(());
        }
        let other = other
            .cast::<Self>()
            .map_err(|_| invalid_type(py, "TDigest.merge takes another TDigest (or None)"))?;
        if other.is(slf) {
            // Merging a digest with itself doubles every weight.
            let copy = slf.borrow().inner.clone();
            slf.borrow_mut().inner.merge(&copy);
        } else {
            let other = other.borrow();
            slf.borrow_mut().inner.merge(&other.inner);
        }
        Ok(())
    }

    #[staticmethod]
    #[pyo3(signature = (digests, compression = None))]
    fn merge_all(
        digests: &Bound<'_, PyAny>,
        compression: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let py = digests.py();
        let compression = compression.map(|c| number(c, "compression")).transpose()?;
        let mut held = Vec::new();
        for d in digests
            .try_iter()
            .map_err(|_| invalid_type(py, "TDigest.merge_all takes an iterable of TDigest"))?
        {
            let d = d?;
            let d = d.cast::<Self>().map_err(|_| {
                invalid_type(
                    py,
                    format!("TDigest.merge_all takes TDigests, got {}", type_name(&d)),
                )
            })?;
            held.push(d.borrow());
        }
        let refs: Vec<&TDigest> = held.iter().map(|d| &d.inner).collect();
        TDigest::merge_all(&refs, compression)
            .map(|inner| Self { inner })
            .map_err(|e| to_py(py, e))
    }

    /// `merge_all` of the digests whose images are `images` (bytes), parsed and merged
    /// natively with the GIL released.
    #[staticmethod]
    #[pyo3(signature = (images, compression = None))]
    fn merge_images(
        images: &Bound<'_, PyAny>,
        compression: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let py = images.py();
        let compression = compression.map(|c| number(c, "compression")).transpose()?;
        let held = image_list(images, "TDigest")?;
        let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
        without_gil(py, || TDigest::merge_images(&slices, compression)).map(|inner| Self { inner })
    }

    fn centroids<'py>(
        &mut self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let c = self.inner.centroids();
        (
            PyArray1::from_slice(py, &c.means),
            PyArray1::from_slice(py, &c.weights),
        )
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    fn __repr__(&self) -> String {
        format!(
            "TDigest(compression={}, count={}, min={}, max={})",
            self.inner.compression(),
            self.inner.count(),
            self.inner.min(),
            self.inner.max()
        )
    }
}

image_methods!(PyTDigest, TDigest, "TDigest");
