//! `datanexus.WindowRouter` and `datanexus.ShardBatch`: a partition's batch split by
//! shard for engines that each hold many series (see `algo::window::route`).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::errors::{invalid_type, to_py};
use super::gil::without_gil;
use super::window::{doc_bytes, json_docs, partition_key, PyWindowEngine};
use super::window_read::Reader;
use super::window_result::key_tuple;
use crate::algo::watermark::PartitionKey;
use crate::algo::window::json::JsonReader;
use crate::algo::window::{Batch, Output, Routed, Router};

#[pyclass(name = "WindowRouter", module = "datanexus.stream")]
pub struct PyWindowRouter {
    inner: Router,
    reader: Reader,
    json: JsonReader,
}

#[pyclass(name = "ShardBatch", module = "datanexus.stream", frozen)]
pub struct PyShardBatch {
    routed: Routed,
    /// The Python events of `routed.batch`, aligned with it.
    events: Py<PyList>,
}

fn partition_object<'py>(py: Python<'py>, p: &PartitionKey) -> Bound<'py, PyAny> {
    match p {
        PartitionKey::Int(v) => v.into_pyobject(py).expect("an int").into_any(),
        PartitionKey::Str(s) => PyString::new(py, s).into_any(),
    }
}

#[pymethods]
impl PyWindowRouter {
    #[new]
    fn new(py: Python<'_>, engine: PyRef<'_, PyWindowEngine>, shards: u32) -> PyResult<Self> {
        let config = engine.inner.config();
        Ok(Self {
            inner: Router::new(config, shards).map_err(|e| to_py(py, e))?,
            reader: Reader::new(py, config),
            json: JsonReader::new(config),
        })
    }

    #[getter]
    fn shards(&self) -> u32 {
        self.inner.shards()
    }

    /// Whether every item of `items` is exactly a dict: the common batch, which
    /// :meth:`split` reads as it is (a C loop, where Python would look at each type).
    #[staticmethod]
    fn only_dicts(items: &Bound<'_, PyList>) -> bool {
        items
            .iter()
            .all(|item| item.is_exact_instance_of::<pyo3::types::PyDict>())
    }

    #[pyo3(signature = (events, partition = None, partitions = None, now = None))]
    fn split<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        partition: Option<&Bound<'py, PyAny>>,
        partitions: Option<&Bound<'py, PyAny>>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let read = self.reader.read_batch(events)?;
        let errors: Vec<_> = read
            .errors
            .iter()
            .map(|(e, why)| (e.clone(), why.as_str()))
            .collect();
        self.route(
            py,
            partition,
            partitions,
            now,
            &read.batch,
            &read.events,
            &errors,
        )
    }

    /// The raw path of :meth:`split`: JSON documents (bytes or str) parsed natively.
    #[pyo3(signature = (docs, partition = None, partitions = None, now = None))]
    fn split_json<'py>(
        &mut self,
        py: Python<'py>,
        docs: &Bound<'py, PyAny>,
        partition: Option<&Bound<'py, PyAny>>,
        partitions: Option<&Bound<'py, PyAny>>,
        now: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let (docs, data) = json_docs(docs)?;
        let slices = doc_bytes(&data)?;
        let (batch, kept, errors) = self.json.read_batch(slices.iter().copied());
        let events: Vec<Bound<'py, PyAny>> = kept.iter().map(|&i| docs[i].clone()).collect();
        let errors: Vec<_> = errors
            .iter()
            .map(|(i, why)| (docs[*i].clone(), why.as_str()))
            .collect();
        self.route(py, partition, partitions, now, &batch, &events, &errors)
    }
}

impl PyWindowRouter {
    /// Splits a read batch (`events` aligned with it) and builds `(parts, errors)`.
    #[allow(clippy::too_many_arguments)]
    fn route<'py>(
        &mut self,
        py: Python<'py>,
        partition: Option<&Bound<'py, PyAny>>,
        partitions: Option<&Bound<'py, PyAny>>,
        now: Option<i64>,
        batch: &Batch,
        events: &[Bound<'py, PyAny>],
        errors: &[(Bound<'py, PyAny>, &str)],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let partition = partition_key(partition)?;
        let announce = match partitions.filter(|p| !p.is_none()) {
            None => Vec::new(),
            Some(p) => p
                .try_iter()
                .map_err(|_| invalid_type(py, "partitions must be a sequence of str or int"))?
                .map(|p| partition_key(Some(&p?)))
                .collect::<PyResult<Vec<_>>>()?,
        };
        let parts = self.inner.split(partition.as_ref(), &announce, batch, now);
        let routed = PyList::empty(py);
        for (shard, part) in parts {
            let events = PyList::new(py, part.origin.iter().map(|&i| &events[i as usize]))?;
            let batch = PyShardBatch {
                routed: part,
                events: events.unbind(),
            };
            routed.append((shard, batch))?;
        }
        let errors = PyList::new(
            py,
            errors
                .iter()
                .map(|(e, why)| PyTuple::new(py, [e.clone(), PyString::new(py, why).into_any()]))
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        PyTuple::new(py, [routed.into_any(), errors.into_any()])
    }
}

#[pymethods]
impl PyShardBatch {
    fn __len__(&self) -> usize {
        self.routed.batch.len()
    }

    #[getter]
    fn partition<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        partition_object(py, &self.routed.partition)
    }

    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        self.events.bind(py).clone()
    }

    /// The event times (epoch ms), aligned with `events`.
    #[getter]
    fn times(&self) -> Vec<i64> {
        self.routed.batch.ts.clone()
    }

    /// The series keys (tuples of the group-by values), aligned with `events`.
    #[getter]
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let batch = &self.routed.batch;
        let keys = (0..batch.len())
            .map(|i| key_tuple(py, batch.key(i)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, keys)
    }

    #[staticmethod]
    fn _restore(
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        events: Bound<'_, PyList>,
    ) -> PyResult<Self> {
        let routed = Routed::from_bytes(data.as_bytes()).map_err(|e| to_py(py, e))?;
        if routed.batch.len() != events.len() {
            return Err(invalid_type(
                py,
                "a shard batch's events do not match its image",
            ));
        }
        Ok(Self {
            routed,
            events: events.unbind(),
        })
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let restore = slf.get_type().getattr("_restore")?;
        let args = PyTuple::new(
            py,
            [
                PyBytes::new(py, &me.routed.to_bytes()).into_any(),
                me.events.bind(py).clone().into_any(),
            ],
        )?;
        PyTuple::new(py, [restore, args.into_any()])
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ShardBatch(partition={}, events={}, max={})",
            partition_object(py, &self.routed.partition).repr()?,
            self.routed.batch.len(),
            self.routed
                .batch_max
                .map_or("None".into(), |m| m.to_string())
        ))
    }
}

/// Runs one shard's part through the engine, without the GIL.
fn run_routed(
    engine: &mut PyWindowEngine,
    py: Python<'_>,
    part: &PyShardBatch,
    now: Option<i64>,
) -> PyResult<Output> {
    let inner = &mut engine.inner;
    without_gil(py, || {
        let mut out = Output::default();
        inner.process_routed(&part.routed, now, &mut out)?;
        Ok(out)
    })
}

/// `WindowEngine.process_routed`: one shard's part of a routed batch →
/// `(results, late events)`.
pub(super) fn process_routed<'py>(
    engine: &mut PyWindowEngine,
    py: Python<'py>,
    batch: &Bound<'py, PyShardBatch>,
    now: Option<i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let part = batch.get();
    let mut out = run_routed(engine, py, part, now)?;
    let events = part.events.bind(py);
    let late = PyList::new(
        py,
        out.late
            .iter()
            .map(|&i| events.get_item(i))
            .collect::<PyResult<Vec<_>>>()?,
    )?;
    PyTuple::new(
        py,
        [engine.results(py, &mut out)?.into_any(), late.into_any()],
    )
}

/// `WindowEngine.process_routed_marks`: `(results, late indices, marks)`.
pub(super) fn process_routed_marks<'py>(
    engine: &mut PyWindowEngine,
    py: Python<'py>,
    batch: &Bound<'py, PyShardBatch>,
    now: Option<i64>,
) -> PyResult<Bound<'py, PyTuple>> {
    let part = batch.get();
    let mut out = run_routed(engine, py, part, now)?;
    PyTuple::new(
        py,
        [
            engine.results(py, &mut out)?.into_any(),
            PyList::new(py, &out.late)?.into_any(),
            PyList::new(py, &out.marks)?.into_any(),
        ],
    )
}
