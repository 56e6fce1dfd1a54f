//! `datanexus._native.copy_binary`: rows of Python values as binary COPY tuples, so a
//! bulk write does not run psycopg's per-value dumpers (see `algo::pgcopy`).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::errors::{invalid_argument, invalid_type};
use crate::algo::pgcopy::{put_field, put_tuple, Field};

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bytea,
    Int8,
    Float8,
    /// An int of epoch milliseconds into a timestamptz column.
    EpochMs,
}

/// 2000-01-01T00:00:00Z, PostgreSQL's timestamp origin, in epoch microseconds.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

fn kind_of(py: Python<'_>, name: &str) -> PyResult<Kind> {
    Ok(match name {
        "text" => Kind::Text,
        "bytea" => Kind::Bytea,
        "int8" => Kind::Int8,
        "float8" => Kind::Float8,
        "timestamptz_ms" => Kind::EpochMs,
        other => {
            return Err(invalid_argument(
                py,
                format!(
                    "column type {other:?}: expected text, bytea, int8, float8 or timestamptz_ms"
                ),
            ))
        }
    })
}

/// An int that is a number: bool is an int in Python, never a number here.
fn is_int(v: &Bound<'_, PyAny>) -> bool {
    v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>()
}

fn put_value(out: &mut Vec<u8>, kind: Kind, v: &Bound<'_, PyAny>) -> Result<(), String> {
    if v.is_none() {
        put_field(out, Field::Null);
        return Ok(());
    }
    let done = match kind {
        Kind::Text => match v.cast::<PyString>() {
            Ok(s) => put_field(
                out,
                Field::Bytes(s.to_str().map_err(|e| e.to_string())?.as_bytes()),
            ),
            Err(_) => return Err("expected str".into()),
        },
        Kind::Bytea => match v.cast::<PyBytes>() {
            Ok(b) => put_field(out, Field::Bytes(b.as_bytes())),
            Err(_) => return Err("expected bytes".into()),
        },
        Kind::Int8 if is_int(v) => put_field(
            out,
            Field::Int8(v.extract::<i64>().map_err(|_| "out of int8 range")?),
        ),
        Kind::Int8 => return Err("expected int".into()),
        Kind::EpochMs if is_int(v) => {
            let ms = v.extract::<i64>().map_err(|_| "out of int8 range")?;
            let us = ms
                .checked_mul(1000)
                .and_then(|us| us.checked_sub(PG_EPOCH_US))
                .ok_or("out of timestamptz range")?;
            put_field(out, Field::Int8(us))
        }
        Kind::EpochMs => return Err("expected int (epoch ms)".into()),
        Kind::Float8 => match v.cast::<PyFloat>() {
            Ok(f) => put_field(out, Field::Float8(f.value())),
            Err(_) if is_int(v) => put_field(
                out,
                Field::Float8(v.extract::<f64>().map_err(|e| e.to_string())?),
            ),
            Err(_) => return Err("expected float".into()),
        },
    };
    done.ok_or_else(|| "longer than a field may be (1 GiB)".to_string())
}

/// The binary COPY tuples of `rows` (tuples, one value per column of `kinds`), without
/// the stream's signature and trailer. A value of the wrong type raises InvalidType
/// naming the row and column.
#[pyfunction]
pub fn copy_binary<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyList>,
    kinds: Vec<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let kinds = kinds
        .iter()
        .map(|k| kind_of(py, k))
        .collect::<PyResult<Vec<_>>>()?;
    let fields =
        u16::try_from(kinds.len()).map_err(|_| invalid_argument(py, "at most 65535 columns"))?;
    let mut out = Vec::with_capacity(rows.len() * (2 + kinds.len() * 16));
    for (i, row) in rows.iter().enumerate() {
        let row = row
            .cast_into::<PyTuple>()
            .map_err(|_| invalid_type(py, format!("row {i}: expected a tuple")))?;
        if row.len() != kinds.len() {
            return Err(invalid_argument(
                py,
                format!("row {i}: {} values for {} columns", row.len(), kinds.len()),
            ));
        }
        put_tuple(&mut out, fields);
        for (j, (kind, v)) in kinds.iter().zip(row.iter()).enumerate() {
            put_value(&mut out, *kind, &v).map_err(|why| {
                invalid_type(py, format!("row {i}, column {j}: {why}, got {v:?}"))
            })?;
        }
    }
    Ok(PyBytes::new(py, &out))
}
