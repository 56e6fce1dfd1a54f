"""Writing rollup rows: binary COPY into staging, then one upsert that keeps the highest
revision of each natural key (STORE-5), with the progress row in the same transaction.

Crash semantics: the rows and the progress row commit together (synchronous commit) or
not at all. Rewriting rows already stored (a replayed epoch after a crash) changes
nothing: a row only replaces a stored one of a strictly lower revision, so equal
revisions are no-ops and an older revision arriving after a newer one (3 after 4) is
ignored. Within one call, duplicates of a key keep their highest revision.

The table is partitioned by month of ``window_start`` (migration 0002); a row whose
month has no partition lands in the default partition instead of failing, and
maintenance (:mod:`datanexus.store.partitions`) moves it. A row below a compaction
level's watermark (a late minute of an hour already merged) also logs that hour in
``rollup_invalidations``, in the same statement, for :mod:`datanexus.store.compaction`.

Speed (STORE-3): the cost is the server's insert into the keyed table (about 10 us a
row on this machine: heap, primary key, WAL), not the COPY. So first emissions (revision
0, the bulk of a stream's rows) skip staging: one binary COPY straight into the table
inside a savepoint, which inserts them all or, if any key is already stored (a replay
after a crash, or another writer), fails as a whole and they take the staging upsert
below instead. That saves the staging write and the upsert's speculative insertion
(measured 1.5x). Rows below a watermark and amendments (revision > 0, whose key exists)
always take the upsert.

Measured choices for the upsert: lz4 TOAST compression for the sketch images (see
:mod:`datanexus.store.staging`); staging rows are not sorted (no gain measured), not
pre-filtered against the table (an anti-join made replays 2x slower than letting
``ON CONFLICT ... WHERE`` skip them), and not sent as ``unnest`` arrays (10x slower).
Not used either (PostgreSQL 15, measured under load on 2 cores): ``INSERT`` straight into
the month partition (no gain); ``MERGE`` into the partition (faster in some runs, but its
join plan depends on the statistics of the never-analysed staging table: one replay of
100 k rows chose a nested loop over a sequential scan and ran for minutes, where the
per-row index probe of ``ON CONFLICT`` cannot degrade); ``COLLATE "C"`` keys, a larger
``shared_buffers`` or ``wal_compression`` (no measurable gain). One writer is one server
process, so one core: the sink reaches its rate with one writer per worker.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from datanexus.binary_copy import write_rows
from datanexus.store.levels import Level, read_levels
from datanexus.store.progress import Progress, record_progress
from datanexus.store.staging import copy_into_staging, prefer_lz4

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
    metric: str = "*"
    """The measured event field, or ``"*"`` for the row counting the window's events."""


ROLLUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
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
    ("metric", "text"),
)

# First emissions are COPYed straight into the table: window_start from epoch ms.
_DIRECT_COLUMNS = tuple(
    ("window_start", "timestamptz_ms") if name == "window_start_ms" else (name, kind)
    for name, kind in ROLLUP_COLUMNS
)
_KEY = ("tenant_id", "pipeline", "granularity_ms", "series", "metric", "window_start")
_VALUES = ("revision", "count", "sum", "min", "max", "mean", "m2", "digest", "hll")
_STAGE = "_dn_stage_rollups"
_RETURNED = ("tenant_id", "pipeline", "series", "metric", "granularity_ms", "window_start")


def _upsert(schema: str, *, log_invalidations: bool) -> sql.Composed:
    """The upsert from staging; with ``log_invalidations`` it also appends, in the same
    statement, the coarse buckets of rows it really wrote below a level's watermark to
    ``rollup_invalidations`` (STORE-6) and returns the written count as a row."""
    columns = ("tenant_id", "pipeline", "series", "granularity_ms", "metric", "window_start")
    target_cols = sql.SQL(", ").join(sql.Identifier(c) for c in (*columns, *_VALUES))
    stage_cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns[:5])
    key = sql.SQL(", ").join(sql.Identifier(c) for c in _KEY)
    values = sql.SQL(", ").join(sql.Identifier(c) for c in _VALUES)
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in _VALUES
    )
    # Epoch ms to timestamptz by interval arithmetic: exact, unlike to_timestamp(float).
    # Rows arrive de-duplicated (see _highest_revisions): an upsert may not touch a row twice.
    upsert = sql.SQL(
        "INSERT INTO {table} AS r ({target_cols})"
        " SELECT {stage_cols},"
        "  timestamptz 'epoch' + window_start_ms * interval '1 millisecond', {values}"
        " FROM {stage}"
        " ON CONFLICT ({key}) DO UPDATE SET {updates}, written_at = now()"
        " WHERE excluded.revision > r.revision"
    ).format(
        table=sql.Identifier(schema, "rollups"),
        target_cols=target_cols,
        stage_cols=stage_cols,
        values=values,
        stage=sql.Identifier(_STAGE),
        key=key,
        updates=updates,
    )
    if not log_invalidations:
        return upsert
    # The bucket of a coarse level containing window_start, aligned on the epoch (UTC).
    return sql.SQL(
        "WITH up AS ({upsert} RETURNING {returned}),"
        " inv AS (INSERT INTO {inv} (tenant_id, pipeline, series, metric, granularity_ms,"
        "  bucket_start, bucket_end)"
        "  SELECT DISTINCT b.tenant_id, b.pipeline, b.series, b.metric, b.granularity_ms,"
        "   b.bucket_start, b.bucket_start + b.granularity_ms * interval '1 millisecond'"
        "  FROM (SELECT up.tenant_id, up.pipeline, up.series, up.metric, l.granularity_ms,"
        "    timestamptz 'epoch' + floor(extract(epoch FROM up.window_start) * 1000"
        "     / l.granularity_ms) * l.granularity_ms * interval '1 millisecond'"
        "     AS bucket_start"
        "   FROM up JOIN {levels} AS l ON l.source_granularity_ms = up.granularity_ms"
        "    AND up.window_start < l.watermark) AS b)"
        " SELECT count(*) FROM up"
    ).format(
        upsert=upsert,
        returned=sql.SQL(", ").join(sql.Identifier(c) for c in _RETURNED),
        inv=sql.Identifier(schema, "rollup_invalidations"),
        levels=sql.Identifier(schema, "compaction_levels"),
    )


# A row's identity; itemgetter keeps the per-row cost in C.
_natural_key = operator.itemgetter(
    *map(
        RollupRow._fields.index,
        ("tenant", "pipeline", "series", "granularity_ms", "window_start_ms", "metric"),
    )
)


def _highest_revisions(rows: Sequence[RollupRow]) -> Sequence[RollupRow]:
    """``rows`` with one row per natural key, the highest revision (the first of equals):
    an upsert may not touch a row twice. The common case, no duplicates, costs one set."""
    if len(set(map(_natural_key, rows))) == len(rows):
        return rows
    best: dict[tuple[object, ...], RollupRow] = {}
    for r in rows:
        key = _natural_key(r)
        if key not in best or r.revision > best[key].revision:
            best[key] = r
    return list(best.values())


def _below_watermark(levels: Sequence[Level], rows: Sequence[RollupRow]) -> bool:
    """Whether any row is a source row of a level at or below that level's watermark."""
    marks = {lv.source_ms: lv.watermark_ms for lv in levels if lv.watermark_ms is not None}
    if not marks:
        return False
    return any(
        (mark := marks.get(r.granularity_ms)) is not None and r.window_start_ms < mark for r in rows
    )


def _copy_new(cur: psycopg.Cursor[Any], schema: str, rows: Sequence[RollupRow]) -> bool:
    """Insert ``rows`` with one binary COPY straight into the table, in a savepoint; False,
    with nothing written, when any of their keys is already stored."""
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(schema, "rollups"),
        sql.SQL(", ").join(sql.Identifier(name) for name, _ in _DIRECT_COLUMNS),
    )
    try:
        with cur.connection.transaction(), cur.copy(copy_sql) as copy:
            write_rows(copy, rows, [kind for _, kind in _DIRECT_COLUMNS])
    except psycopg.errors.UniqueViolation:
        return False
    return True


def _stage_and_upsert(
    cur: psycopg.Cursor[Any], schema: str, rows: Sequence[RollupRow], *, log_invalidations: bool
) -> int:
    copy_into_staging(cur, _STAGE, ROLLUP_COLUMNS, rows)
    cur.execute(_upsert(schema, log_invalidations=log_invalidations))
    if log_invalidations:
        found = cur.fetchone()
        return int(found[0]) if found else 0
    return max(cur.rowcount, 0)


def upsert_rollups(cur: psycopg.Cursor[Any], schema: str, rows: Sequence[RollupRow]) -> int:
    """The upsert alone, inside the caller's transaction; returns rows inserted or
    replaced. Rows of a bucket already compacted (below its level's watermark) also log
    that bucket in ``rollup_invalidations``, in this transaction, for the next compaction.
    """
    if not rows:
        return 0
    levels = read_levels(cur, schema)
    rows = _highest_revisions(rows)
    if _below_watermark(levels, rows):
        return _stage_and_upsert(cur, schema, rows, log_invalidations=True)
    first = [r for r in rows if r.revision == 0]
    if not first:
        return _stage_and_upsert(cur, schema, rows, log_invalidations=False)
    prefer_lz4(cur)
    if not _copy_new(cur, schema, first):
        return _stage_and_upsert(cur, schema, rows, log_invalidations=False)
    amended = [r for r in rows if r.revision != 0] if len(first) < len(rows) else []
    if amended:
        return len(first) + _stage_and_upsert(cur, schema, amended, log_invalidations=False)
    return len(first)


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
