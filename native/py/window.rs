//! `datanexus.WindowEngine`: the pyo3 wrapper of `algo::window::WindowEngine`. Events
//! are read from Python in one pass (`window_read.rs`), processed with the GIL released,
//! and the results built as `WindowResult` objects (`window_result.rs`).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{
    PyByteArray, PyBytes, PyDelta, PyDeltaAccess, PyDict, PyInt, PyList, PyString, PyTuple, PyType,
};

use super::errors::{invalid_argument, invalid_type, to_py};
use super::gil::without_gil;
use super::window_read::Reader;
use super::window_result::{key_tuple, utc_datetime, values_dict, Names, PyWindowResult};
use super::window_router::PyShardBatch;
use crate::algo::watermark::PartitionKey;
use crate::algo::window::json::JsonReader;
use crate::algo::window::{Config, Output, Params, WindowEngine, WindowKind};

#[pyclass(name = "WindowEngine", module = "datanexus")]
pub struct PyWindowEngine {
    pub(super) inner: WindowEngine,
    pub(super) reader: Reader,
    pub(super) json: JsonReader,
    pub(super) names: Names,
    /// Group-by tuples by series id: a series emits many windows, and decoding its key
    /// into Python strings each time was a fifth of reading a result. An entry holds the
    /// series' shared key, so a reused id is told apart by address: no hashing or
    /// comparing of key bytes. As long as the engine's series table, at most.
    keys: Vec<Option<CachedKey>>,
}

/// A series' shared key (held so that its address stays its own) and its tuple.
type CachedKey = (Arc<[u8]>, Py<PyTuple>);

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// A duration in whole milliseconds: an int of ms or a `timedelta`.
pub(super) fn duration_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    let py = obj.py();
    if let Ok(d) = obj.cast::<PyDelta>() {
        let us = (i64::from(d.get_days()) * 86_400 + i64::from(d.get_seconds())) * 1_000_000
            + i64::from(d.get_microseconds());
        if us % 1000 != 0 {
            return Err(invalid_argument(
                py,
                format!("{what} must be a whole number of milliseconds, got {us} µs"),
            ));
        }
        return Ok(us / 1000);
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<pyo3::types::PyBool>() {
        return obj
            .extract::<i64>()
            .map_err(|_| invalid_argument(py, format!("{what} is out of range")));
    }
    Err(invalid_type(
        py,
        format!(
            "{what} must be a datetime.timedelta or an int of milliseconds, got {}",
            type_name(obj)
        ),
    ))
}

fn optional_duration(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    obj.filter(|o| !o.is_none())
        .map(|o| duration_ms(o, what))
        .transpose()
}

/// A partition named by str or int.
pub(super) fn partition_key(obj: Option<&Bound<'_, PyAny>>) -> PyResult<PartitionKey> {
    let Some(obj) = obj else {
        return Ok(PartitionKey::Str(String::new()));
    };
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(PartitionKey::Str(s.to_str()?.to_string()));
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<pyo3::types::PyBool>() {
        return obj
            .extract::<i64>()
            .map(PartitionKey::Int)
            .map_err(|_| invalid_argument(py, "partition numbers must fit in 64 bits"));
    }
    Err(invalid_type(
        py,
        format!("partitions are named by str or int, got {}", type_name(obj)),
    ))
}

fn window_kind(
    py: Python<'_>,
    window: &str,
    size: Option<i64>,
    slide: Option<i64>,
    gap: Option<i64>,
) -> PyResult<WindowKind> {
    let need = |v: Option<i64>, what: &str| {
        v.ok_or_else(|| invalid_argument(py, format!("a {window} window needs {what}")))
    };
    let refuse = |v: Option<i64>, what: &str| match v {
        Some(_) => Err(invalid_argument(
            py,
            format!("a {window} window takes no {what}"),
        )),
        None => Ok(()),
    };
    let kind = match window {
        "tumbling" => {
            refuse(slide, "slide")?;
            refuse(gap, "gap")?;
            WindowKind::tumbling(need(size, "a size")?)
        }
        "sliding" => {
            refuse(gap, "gap")?;
            WindowKind::sliding(need(size, "a size")?, need(slide, "a slide")?)
        }
        "session" => {
            refuse(size, "size")?;
            refuse(slide, "slide")?;
            WindowKind::session(need(gap, "a gap")?)
        }
        other => {
            return Err(invalid_argument(
                py,
                format!("unknown window '{other}': the windows are tumbling, sliding and session"),
            ))
        }
    };
    kind.map_err(|e| to_py(py, e))
}

fn string_list(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_str()?.to_string()]);
    }
    let py = obj.py();
    obj.try_iter()
        .map_err(|_| invalid_type(py, format!("{what} must be a sequence of field names")))?
        .map(|item| {
            let item = item?;
            item.cast::<PyString>()
                .map_err(|_| {
                    invalid_type(
                        py,
                        format!("{what} names fields by str, got {}", type_name(&item)),
                    )
                })
                .and_then(|s| Ok(s.to_str()?.to_string()))
        })
        .collect()
}

type Objects<'py> = Vec<Bound<'py, PyAny>>;

/// The documents of a raw batch as given, and each as a bytes or str object to read
/// (a bytearray, which could change under us, is copied).
pub(super) fn json_docs<'py>(docs: &Bound<'py, PyAny>) -> PyResult<(Objects<'py>, Objects<'py>)> {
    let py = docs.py();
    if docs.is_instance_of::<PyBytes>() || docs.is_instance_of::<PyString>() {
        return Err(invalid_type(
            py,
            "a raw batch is a list of JSON documents, got a single one",
        ));
    }
    let (mut given, mut data) = (Vec::new(), Vec::new());
    let iter = docs.try_iter().map_err(|_| {
        invalid_type(
            py,
            format!(
                "a raw batch is a list of JSON documents, got {}",
                type_name(docs)
            ),
        )
    })?;
    for doc in iter {
        let doc = doc?;
        let readable = if doc.is_instance_of::<PyBytes>() || doc.is_instance_of::<PyString>() {
            doc.clone()
        } else if let Ok(b) = doc.cast::<PyByteArray>() {
            PyBytes::new(py, &b.to_vec()).into_any()
        } else {
            return Err(invalid_type(
                py,
                format!("a JSON document is bytes or str, got {}", type_name(&doc)),
            ));
        };
        given.push(doc);
        data.push(readable);
    }
    Ok((given, data))
}

/// The bytes of the objects `json_docs` returned.
pub(super) fn doc_bytes<'a>(data: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<&'a [u8]>> {
    data.iter()
        .map(|d| match d.cast::<PyBytes>() {
            Ok(b) => Ok(b.as_bytes()),
            Err(_) => Ok(d.cast::<PyString>()?.to_str()?.as_bytes()),
        })
        .collect()
}

impl PyWindowEngine {
    pub(super) fn wrap(py: Python<'_>, inner: WindowEngine) -> Self {
        let config = inner.config();
        let names: Vec<Py<PyString>> = config
            .measures
            .iter()
            .map(|m| PyString::intern(py, &m.name).unbind())
            .collect();
        let names: Names = names.into();
        Self {
            reader: Reader::new(py, config),
            json: JsonReader::new(config),
            names,
            inner,
            keys: Vec::new(),
        }
    }

    pub(super) fn results<'py>(
        &mut self,
        py: Python<'py>,
        out: &mut Output,
    ) -> PyResult<Bound<'py, PyList>> {
        let results = std::mem::take(&mut out.results)
            .into_iter()
            .map(|e| {
                let key = self.key_of(py, &e.key, e.series)?;
                let r = Bound::new(py, PyWindowResult::from_emission(&self.names, e, key))?;
                // A result holds only strings and a tuple of scalars, so it can never be
                // part of a reference cycle: untracked, it costs the garbage collector
                // nothing (a sink holding a million results made full collections take
                // a fifth of the run).
                // SAFETY: `r` is a live, fully initialised object we own a reference to.
                unsafe { pyo3::ffi::PyObject_GC_UnTrack(r.as_ptr().cast()) };
                Ok(r)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, results)
    }

    /// The group-by tuple of an emission's series, from the cache when it is there.
    fn key_of(&mut self, py: Python<'_>, key: &Arc<[u8]>, series: u32) -> PyResult<Py<PyTuple>> {
        let slot = series as usize;
        if let Some(Some((cached, t))) = self.keys.get(slot) {
            if Arc::ptr_eq(cached, key) {
                return Ok(t.clone_ref(py));
            }
        }
        if self.keys.len() <= slot {
            self.keys.resize_with(slot + 1, || None);
        }
        let t = key_tuple(py, key)?.unbind();
        self.keys[slot] = Some((key.clone(), t.clone_ref(py)));
        Ok(t)
    }
}

#[pymethods]
impl PyWindowEngine {
    #[new]
    #[pyo3(signature = (
        window, size = None, slide = None, gap = None, *, measures, group_by = None,
        time_field = "ts", max_out_of_orderness = None, allowed_lateness = None,
        idle_timeout = None, max_open_windows = 10_000
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        window: &str,
        size: Option<&Bound<'_, PyAny>>,
        slide: Option<&Bound<'_, PyAny>>,
        gap: Option<&Bound<'_, PyAny>>,
        measures: &Bound<'_, PyAny>,
        group_by: Option<&Bound<'_, PyAny>>,
        time_field: &str,
        max_out_of_orderness: Option<&Bound<'_, PyAny>>,
        allowed_lateness: Option<&Bound<'_, PyAny>>,
        idle_timeout: Option<&Bound<'_, PyAny>>,
        max_open_windows: usize,
    ) -> PyResult<Self> {
        let kind = window_kind(
            py,
            window,
            optional_duration(size, "size")?,
            optional_duration(slide, "slide")?,
            optional_duration(gap, "gap")?,
        )?;
        let measures = measures.cast::<PyDict>().map_err(|_| {
            invalid_type(
                py,
                "measures must be a dict of name → spec, e.g. {\"n\": \"count\"}",
            )
        })?;
        let measures = measures
            .iter()
            .map(|(k, v)| -> PyResult<(String, String)> {
                let name = k
                    .cast::<PyString>()
                    .map_err(|_| invalid_type(py, "measure names must be str"))?;
                let spec = v.cast::<PyString>().map_err(|_| {
                    invalid_type(
                        py,
                        format!("measure {name}: the spec must be a str such as \"sum(field)\""),
                    )
                })?;
                Ok((name.to_str()?.to_string(), spec.to_str()?.to_string()))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let params = Params {
            kind,
            group_by: group_by
                .map(|g| string_list(g, "group_by"))
                .transpose()?
                .unwrap_or_default(),
            time_field: time_field.to_string(),
            max_out_of_orderness: optional_duration(max_out_of_orderness, "max_out_of_orderness")?
                .unwrap_or(0),
            allowed_lateness: optional_duration(allowed_lateness, "allowed_lateness")?
                .unwrap_or(5_000),
            idle_timeout: optional_duration(idle_timeout, "idle_timeout")?,
            max_open_windows,
        };
        let config = Config::new(params, &measures).map_err(|e| to_py(py, e))?;
        let inner = WindowEngine::new(config).map_err(|e| to_py(py, e))?;
        Ok(Self::wrap(py, inner))
    }

    #[pyo3(signature = (events, partition = None, now = None))]
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        partition: Option<&Bound<'py, PyAny>>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let partition = partition_key(partition)?;
        let read = self.reader.read_batch(events)?;
        let batch = &read.batch;
        let inner = &mut self.inner;
        let mut out = without_gil(py, || {
            let mut out = Output::default();
            inner.process(partition.as_ref(), batch, None, None, now, &mut out)?;
            Ok(out)
        })?;
        let late = PyList::new(py, out.late.iter().map(|&i| &read.events[i]))?;
        let errors = PyList::new(
            py,
            read.errors
                .iter()
                .map(|(e, why)| PyTuple::new(py, [e.clone(), PyString::new(py, why).into_any()]))
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        PyTuple::new(
            py,
            [
                self.results(py, &mut out)?.into_any(),
                late.into_any(),
                errors.into_any(),
            ],
        )
    }

    /// The raw path: a batch of JSON documents (bytes or str), parsed natively with the
    /// GIL released. Late events and errors are the documents as given.
    #[pyo3(signature = (docs, partition = None, now = None))]
    fn process_json<'py>(
        &mut self,
        py: Python<'py>,
        docs: &Bound<'py, PyAny>,
        partition: Option<&Bound<'py, PyAny>>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let partition = partition_key(partition)?;
        let (docs, data) = json_docs(docs)?;
        let slices = doc_bytes(&data)?;
        let (inner, json) = (&mut self.inner, &self.json);
        let (mut out, kept, errors) = without_gil(py, || {
            let (batch, kept, errors) = json.read_batch(slices.iter().copied());
            let mut out = Output::default();
            inner.process(partition.as_ref(), &batch, None, None, now, &mut out)?;
            Ok((out, kept, errors))
        })?;
        let late = PyList::new(py, out.late.iter().map(|&i| &docs[kept[i]]))?;
        let errors = PyList::new(
            py,
            errors
                .iter()
                .map(|(i, why)| {
                    PyTuple::new(py, [docs[*i].clone(), PyString::new(py, why).into_any()])
                })
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        PyTuple::new(
            py,
            [
                self.results(py, &mut out)?.into_any(),
                late.into_any(),
                errors.into_any(),
            ],
        )
    }

    #[pyo3(signature = (batch, now = None))]
    fn process_routed<'py>(
        &mut self,
        py: Python<'py>,
        batch: &Bound<'py, PyShardBatch>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        super::window_router::process_routed(self, py, batch, now)
    }

    /// :meth:`process_routed` for callers that keep more state per window: returns
    /// `(results, late, marks)` with `late` the indices of the too-late events in
    /// `batch.events` and `marks[i]` the number of results that came out before event `i`
    /// was applied (results `marks[i]:` include it).
    #[pyo3(signature = (batch, now = None))]
    fn process_routed_marks<'py>(
        &mut self,
        py: Python<'py>,
        batch: &Bound<'py, PyShardBatch>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        super::window_router::process_routed_marks(self, py, batch, now)
    }

    fn tick<'py>(&mut self, py: Python<'py>, now: i64) -> PyResult<Bound<'py, PyList>> {
        let mut out = Output::default();
        self.inner.tick(now, &mut out).map_err(|e| to_py(py, e))?;
        self.results(py, &mut out)
    }

    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut out = Output::default();
        self.inner.flush(&mut out);
        self.results(py, &mut out)
    }

    fn expect_partitions(&mut self, py: Python<'_>, partitions: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = partitions
            .try_iter()?
            .map(|p| partition_key(Some(&p?)))
            .collect::<PyResult<Vec<_>>>()?;
        let refs: Vec<_> = keys.iter().map(PartitionKey::as_ref).collect();
        self.inner
            .expect_partitions(&refs)
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn watermark(&self) -> Option<i64> {
        self.inner.watermark()
    }

    /// The configuration, as the constructor took it (durations in ms).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        let (size, slide, gap) = match c.kind {
            WindowKind::Tumbling { size } => (Some(size), None, None),
            WindowKind::Sliding { size, slide } => (Some(size), Some(slide), None),
            WindowKind::Session { gap } => (None, None, Some(gap)),
        };
        d.set_item("window", c.kind.name())?;
        d.set_item("size", size)?;
        d.set_item("slide", slide)?;
        d.set_item("gap", gap)?;
        d.set_item("measures", c.measure_specs())?;
        d.set_item("group_by", c.group_by.clone())?;
        d.set_item("time_field", &c.time_field)?;
        d.set_item("max_out_of_orderness", c.max_out_of_orderness)?;
        d.set_item("allowed_lateness", c.allowed_lateness)?;
        d.set_item("idle_timeout", c.idle_timeout)?;
        d.set_item("max_open_windows", c.max_open_windows)?;
        Ok(d)
    }

    #[getter]
    fn measures(&self) -> Vec<(String, String)> {
        self.inner.config().measure_specs()
    }

    #[getter]
    fn open_windows(&self) -> usize {
        self.inner.open_windows()
    }

    fn __len__(&self) -> usize {
        self.inner.window_count()
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("events", s.events),
            ("late", s.late),
            ("late_windows", s.late_windows),
            ("emitted", s.emitted),
            ("amended", s.amended),
            ("retracted", s.retracted),
            ("early", s.early),
            ("purged", s.purged),
            ("windows", self.inner.window_count() as u64),
            ("open_windows", self.inner.open_windows() as u64),
            ("series", self.inner.series_count() as u64),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn windows<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let states = self.inner.window_states();
        let out = PyList::empty(py);
        for w in states {
            let d = PyDict::new(py);
            d.set_item("key", key_tuple(py, &w.key)?)?;
            d.set_item("start", utc_datetime(py, w.start)?)?;
            d.set_item("end", utc_datetime(py, w.end)?)?;
            d.set_item("values", values_dict(py, &self.names, &w.values)?)?;
            d.set_item("revision", w.revision)?;
            out.append(d)?;
        }
        Ok(out)
    }

    fn copy(&self, py: Python<'_>) -> Self {
        Self::wrap(py, self.inner.clone())
    }

    fn __copy__(&self, py: Python<'_>) -> Self {
        self.copy(py)
    }

    fn __deepcopy__(&self, py: Python<'_>, _memo: &Bound<'_, PyAny>) -> Self {
        self.copy(py)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[classmethod]
    fn from_bytes(_cls: &Bound<'_, PyType>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = data.py();
        let owned;
        let bytes: &[u8] = if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes()
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            owned = b.to_vec();
            &owned
        } else {
            return Err(invalid_type(
                py,
                "WindowEngine.from_bytes takes bytes or bytearray",
            ));
        };
        let inner = WindowEngine::from_bytes(bytes).map_err(|e| to_py(py, e))?;
        Ok(Self::wrap(py, inner))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let from_bytes = slf.get_type().getattr("from_bytes")?;
        let state = PyBytes::new(py, &slf.borrow().inner.to_bytes());
        PyTuple::new(py, [from_bytes, PyTuple::new(py, [state])?.into_any()])
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Self>()
            .is_ok_and(|o| o.borrow().inner.to_bytes() == self.inner.to_bytes())
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        let window = match c.kind {
            WindowKind::Tumbling { size } => format!("tumbling, size={size}"),
            WindowKind::Sliding { size, slide } => format!("sliding, size={size}, slide={slide}"),
            WindowKind::Session { gap } => format!("session, gap={gap}"),
        };
        format!(
            "WindowEngine({window}, measures={:?}, group_by={:?}, watermark={:?}, windows={})",
            c.measure_specs(),
            c.group_by,
            self.inner.watermark(),
            self.inner.window_count()
        )
    }
}
