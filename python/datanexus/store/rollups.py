"""Writing rollup rows: binary COPY into staging, then one upsert that keeps the highest
revision of each natural key (STORE-5), with the progress row in the same transaction.

Crash semantics: the rows and the progress row commit together (synchronous commit) or
not at all. Rewriting rows already stored (a replayed epoch after a crash) changes
nothing: a row only replaces a stored one of a strictly lower revision, so equal
revisions are no-ops and an older revision arriving after a newer one (3 after 4) is
ignored. Within one call, duplicates of a key keep their highest revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from datanexus.store.progress import Progress, record_progress
from datanexus.store.staging import copy_into_staging

__all__ = ["ROLLUP_COLUMNS", "RollupRow", "upsert_rollups", "write_rollups"]


class RollupRow(NamedTuple):
    """One window's aggregates for one series. ``window_start_ms`` is epoch ms;
    ``digest`` and ``hll`` are the sketches' ``to_bytes()`` images (or None)."""

    tenant: str
    pipeline: str
    series: str
    granularity_ms: int
    window_start_ms: int
    revision: int
    n: int
    """Events in the window (column ``count``)."""
    sum: float
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    m2: float | None = None
    digest: bytes | None = None
    hll: bytes | None = None


ROLLUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant", "text"),
    ("pipeline", "text"),
    ("series", "text"),
    ("granularity_ms", "int8"),
    ("window_start_ms", "int8"),
    ("revision", "int8"),
    ("count", "int8"),
    ("sum", "float8"),
    ("min", "float8"),
    ("max", "float8"),
    ("mean", "float8"),
    ("m2", "float8"),
    ("digest", "bytea"),
    ("hll", "bytea"),
)

_KEY = ("tenant", "pipeline", "series", "granularity_ms", "window_start")
_VALUES = ("revision", "count", "sum", "min", "max", "mean", "m2", "digest", "hll")
_STAGE = "_dn_stage_rollups"


def _upsert(schema: str) -> sql.Composed:
    target_cols = sql.SQL(", ").join(sql.Identifier(c) for c in (*_KEY, *_VALUES))
    key = sql.SQL(", ").join(sql.Identifier(c) for c in _KEY)
    stage_key = sql.SQL(", ").join(sql.Identifier(c) for c in _KEY[:4])
    values = sql.SQL(", ").join(sql.Identifier(c) for c in _VALUES)
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in _VALUES
    )
    # Epoch ms to timestamptz by interval arithmetic: exact, unlike to_timestamp(float).
    # Rows arrive de-duplicated (see _highest_revisions): no sort of the wide rows here.
    return sql.SQL(
        "INSERT INTO {table} AS r ({target_cols})"
        " SELECT {stage_key},"
        "  timestamptz 'epoch' + window_start_ms * interval '1 millisecond', {values}"
        " FROM {stage}"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}, written_at = now()"
        " WHERE excluded.revision > r.revision"
    ).format(
        table=sql.Identifier(schema, "rollups"),
        target_cols=target_cols,
        stage_key=stage_key,
        values=values,
        stage=sql.Identifier(_STAGE),
        key=key,
        updates=updates,
    )


def _highest_revisions(rows: Sequence[RollupRow]) -> Sequence[RollupRow]:
    """``rows`` with one row per natural key, the highest revision (the first of equals):
    an upsert may not touch a row twice. The common case, no duplicates, costs one set."""
    keys = {r[:5] for r in rows}
    if len(keys) == len(rows):
        return rows
    best: dict[tuple[object, ...], RollupRow] = {}
    for r in rows:
        key = r[:5]
        if key not in best or r.revision > best[key].revision:
            best[key] = r
    return list(best.values())


def upsert_rollups(cur: psycopg.Cursor[Any], schema: str, rows: Sequence[RollupRow]) -> int:
    """The upsert alone, inside the caller's transaction; returns rows inserted or
    replaced."""
    if not rows:
        return 0
    copy_into_staging(cur, _STAGE, ROLLUP_COLUMNS, _highest_revisions(rows))
    cur.execute(_upsert(schema))
    return max(cur.rowcount, 0)


def write_rollups(
    conn: psycopg.Connection[Any],
    schema: str,
    rows: Sequence[RollupRow],
    progress: Progress | None = None,
) -> int:
    """Store ``rows`` (and ``progress``) in one transaction; returns how many rows were
    inserted or replaced (0 for a pure replay). PostgreSQL errors propagate as
    ``psycopg.Error`` with the transaction rolled back; nothing of the call remains."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO on")
        written = upsert_rollups(cur, schema, rows)
        if progress is not None:
            record_progress(cur, schema, progress)
    return written
