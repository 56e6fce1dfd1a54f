"""The pipeline catalog: which pipelines a tenant has, their group-by fields, the measured
fields and stored granularities. The query engine reads it to know what ``FROM web`` may
name; a flow registers its pipeline at start.

Rows carry a version (STORE-12): registering a changed spec text bumps it by one;
re-registering the same text changes nothing. :func:`update_pipeline` is the optimistic
form for editors: it applies only when the caller saw the current version and otherwise
raises :class:`VersionConflict` ("Optimistic lock conflict").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import DataNexusError
from datanexus.store.migrations import check_schema_name

__all__ = [
    "CatalogEntry",
    "VersionConflict",
    "get_pipeline",
    "list_pipelines",
    "register_pipeline",
    "update_pipeline",
]


class VersionConflict(DataNexusError):
    """A stale update: the row changed since the caller read it (HTTP 409)."""


@dataclass(frozen=True)
class CatalogEntry:
    tenant: str
    name: str
    version: int
    spec: str
    dims: tuple[str, ...]
    metrics: Mapping[str, tuple[str, ...]]
    granularities: tuple[int, ...]


_COLUMNS = "tenant_id, name, version, spec, dims, metrics, granularities"


def _entry(row: tuple[Any, ...]) -> CatalogEntry:
    tenant, name, version, spec, dims, metrics, granularities = row
    return CatalogEntry(
        tenant,
        name,
        version,
        spec,
        tuple(dims or ()),
        {k: tuple(v) for k, v in (metrics or {}).items()},
        tuple(granularities or ()),
    )


def register_pipeline(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    tenant: str,
    name: str,
    spec: str,
    dims: Iterable[str],
    metrics: Mapping[str, Iterable[str]],
    granularities: Iterable[int],
) -> CatalogEntry:
    """Insert or refresh the pipeline's row; the version rises only when ``spec`` changed."""
    metrics_json = json.dumps({k: sorted(v) for k, v in sorted(metrics.items())})
    query = sql.SQL(
        "INSERT INTO {t} AS p (tenant_id, name, version, spec, dims, metrics, granularities,"
        " updated_at) VALUES (%s, %s, 1, %s, %s, %s::jsonb, %s, now())"
        " ON CONFLICT (tenant_id, name) DO UPDATE SET"
        " version = p.version + (p.spec IS DISTINCT FROM excluded.spec)::int,"
        " spec = excluded.spec, dims = excluded.dims, metrics = excluded.metrics,"
        " granularities = excluded.granularities,"
        " updated_at = CASE WHEN p.spec IS DISTINCT FROM excluded.spec"
        "   THEN now() ELSE p.updated_at END"
        " RETURNING " + _COLUMNS
    ).format(t=sql.Identifier(check_schema_name(schema), "pipelines"))
    with conn.transaction():
        row = conn.execute(
            query,
            (tenant, name, spec, list(dims), metrics_json, sorted(set(granularities))),
        ).fetchone()
    assert row is not None
    return _entry(row)


def update_pipeline(
    conn: psycopg.Connection[Any], schema: str, *, tenant: str, name: str, spec: str, version: int
) -> CatalogEntry:
    """Replace the spec text if the stored version is ``version``; returns the row with
    version + 1, else :class:`VersionConflict`."""
    query = sql.SQL(
        "UPDATE {t} SET spec = %s, version = version + 1, updated_at = now()"
        " WHERE tenant_id = %s AND name = %s AND version = %s RETURNING " + _COLUMNS
    ).format(t=sql.Identifier(check_schema_name(schema), "pipelines"))
    with conn.transaction():
        row = conn.execute(query, (spec, tenant, name, version)).fetchone()
    if row is None:
        raise VersionConflict(
            f"Optimistic lock conflict: pipeline {name!r} is not at version {version}"
        )
    return _entry(row)


def get_pipeline(
    conn: psycopg.Connection[Any], schema: str, tenant: str, name: str
) -> CatalogEntry | None:
    query = sql.SQL("SELECT " + _COLUMNS + " FROM {t} WHERE tenant_id = %s AND name = %s").format(
        t=sql.Identifier(check_schema_name(schema), "pipelines")
    )
    row = conn.execute(query, (tenant, name)).fetchone()
    return None if row is None else _entry(row)


def list_pipelines(conn: psycopg.Connection[Any], schema: str, tenant: str) -> list[CatalogEntry]:
    query = sql.SQL("SELECT " + _COLUMNS + " FROM {t} WHERE tenant_id = %s ORDER BY name").format(
        t=sql.Identifier(check_schema_name(schema), "pipelines")
    )
    return [_entry(r) for r in conn.execute(query, (tenant,)).fetchall()]
