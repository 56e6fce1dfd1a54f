"""Compaction: 1 m rollups merged into 1 h, 1 h into 1 d, for closed periods only
(STORE-4, STORE-6, STORE-9).

Closed: a bucket of a level is compacted once its end is at or before the level's
target, ``floor(now − settle)`` to the level's granularity; for the day level that keeps
the newest (current) day untouched, and a level never passes the watermark of the level
it is built from (1 d waits for 1 h). Each level keeps its watermark in
``compaction_levels``: every bucket ending at or before it is materialised.

Late data: a writer storing a source row below a level's watermark logs the coarse
bucket in ``rollup_invalidations`` (same transaction, see
:mod:`datanexus.store.rollups`); :func:`compact` first re-merges exactly those whole
buckets, then advances. Re-merged hours below the day watermark log their days in turn,
so a late minute re-merges its hour and its day, nothing else.

Revisions: a coarse row gets (the highest revision of its inputs) + (a fresh value of
the ``compaction_generation`` sequence). Both terms never decrease and the second
always rises, so a re-merge replaces the previous coarse row through the ordinary
highest-revision upsert even when no input revision rose, and a replay of an older
compaction can never overwrite a newer one.

Concurrency: each step (the re-merge of a level's invalidations, then each chunk of
``chunk_buckets`` buckets) is one transaction holding the watermark lock exclusively;
writers hold it shared (see :mod:`datanexus.store.levels`), so they wait at most one
step. A crash loses at most the step in progress; the next run redoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument
from datanexus.store.levels import Level, read_levels
from datanexus.store.merge import merge_rows
from datanexus.store.rollups import RollupRow, upsert_rollups

__all__ = [
    "CompactionReport",
    "LevelReport",
    "compact",
    "fetch_rows",
    "floor_ms",
    "merge_groups",
    "next_generation",
]

log = logging.getLogger(__name__)

_EPOCH_MS = "(extract(epoch FROM window_start) * 1000)::bigint"
_ROW_COLUMNS = sql.SQL(
    "tenant_id, pipeline, series, granularity_ms, " + _EPOCH_MS + ", revision, count, sum,"
    " min, max, mean, m2, digest, hll, metric"
)


@dataclass(slots=True)
class LevelReport:
    """What :func:`compact` did at one level."""

    granularity_ms: int
    remerged_buckets: int = 0
    """Buckets re-merged because of late source rows (invalidations)."""
    new_buckets: int = 0
    """Closed buckets merged for the first time (those with source rows)."""
    rows_written: int = 0
    watermark_ms: int | None = None


@dataclass(slots=True)
class CompactionReport:
    levels: list[LevelReport] = field(default_factory=list)


def floor_ms(t_ms: int, granularity_ms: int) -> int:
    """The start of the bucket of ``granularity_ms`` (aligned on the epoch) holding
    ``t_ms``; floors toward −∞ for times before 1970 too."""
    return t_ms - t_ms % granularity_ms


def _to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise InvalidArgument(f"now must be an aware datetime, got naive {t!r}")
    return round(t.timestamp() * 1000)


def next_generation(cur: psycopg.Cursor[Any], schema: str) -> int:
    """A fresh value of the schema's compaction generation (strictly increasing)."""
    cur.execute(
        sql.SQL("SELECT nextval({})").format(
            sql.Literal(sql.Identifier(schema, "compaction_generation").as_string(cur))
        )
    )
    found = cur.fetchone()
    assert found is not None
    return int(found[0])


def merge_groups(
    rows: Iterable[RollupRow], granularity_ms: int, generation: int
) -> list[RollupRow]:
    """Merge rows sorted by (tenant, pipeline, series, metric, window start) into
    one coarse row per series and bucket."""

    def key(r: RollupRow) -> tuple[str, str, str, str, int]:
        return (
            r.tenant,
            r.pipeline,
            r.series,
            r.metric,
            floor_ms(r.window_start_ms, granularity_ms),
        )

    merged: list[RollupRow] = []
    for (_, _, _, _, start), group in groupby(rows, key=key):
        parts = list(group)
        revision = max(r.revision for r in parts) + generation
        merged.append(
            merge_rows(
                parts, granularity_ms=granularity_ms, window_start_ms=start, revision=revision
            )
        )
    return merged


def fetch_rows(
    cur: psycopg.Cursor[Any], schema: str, source_ms: int, lo_ms: int, hi_ms: int
) -> list[RollupRow]:
    """The rows of granularity ``source_ms`` starting in [lo_ms, hi_ms), sorted as
    :func:`merge_groups` needs them."""
    cur.execute(
        sql.SQL(
            "SELECT {cols} FROM {t} WHERE granularity_ms = %s"
            " AND window_start >= timestamptz 'epoch' + %s * interval '1 millisecond'"
            " AND window_start < timestamptz 'epoch' + %s * interval '1 millisecond'"
            " ORDER BY tenant_id, pipeline, series, metric, window_start"
        ).format(cols=_ROW_COLUMNS, t=sql.Identifier(schema, "rollups")),
        (source_ms, lo_ms, hi_ms),
    )
    return [RollupRow(*r) for r in cur.fetchall()]


def _fetch_invalidated(
    cur: psycopg.Cursor[Any], schema: str, level: Level
) -> tuple[list[RollupRow], int]:
    """The source rows of every bucket of ``level`` in the invalidation log (each bucket
    once however often it was logged), and the number of distinct buckets."""
    cur.execute(
        sql.SQL(
            "WITH b AS (SELECT DISTINCT tenant_id, pipeline, series, metric, bucket_start,"
            "  bucket_end FROM {inv} WHERE granularity_ms = %s)"
            " SELECT {cols}, (SELECT count(*) FROM b) FROM {t} AS r JOIN b USING"
            "  (tenant_id, pipeline, series, metric)"
            " WHERE r.granularity_ms = %s AND r.window_start >= b.bucket_start"
            "  AND r.window_start < b.bucket_end"
            " ORDER BY tenant_id, pipeline, series, metric, window_start"
        ).format(
            inv=sql.Identifier(schema, "rollup_invalidations"),
            cols=_ROW_COLUMNS,
            t=sql.Identifier(schema, "rollups"),
        ),
        (level.granularity_ms, level.source_ms),
    )
    found = cur.fetchall()
    buckets = int(found[0][-1]) if found else 0
    return [RollupRow(*r[:-1]) for r in found], buckets


def _set_watermark(cur: psycopg.Cursor[Any], schema: str, level: Level, mark_ms: int) -> None:
    cur.execute(
        sql.SQL(
            "UPDATE {} SET watermark = timestamptz 'epoch' + %s * interval '1 millisecond',"
            " compacted_at = now() WHERE granularity_ms = %s"
        ).format(sql.Identifier(schema, "compaction_levels")),
        (mark_ms, level.granularity_ms),
    )


def _target(level: Level, levels: Sequence[Level], now_ms: int, settle_ms: int) -> int | None:
    """The watermark this run may advance ``level`` to, or None when it may not move
    (its source level has compacted nothing yet)."""
    target = floor_ms(now_ms - settle_ms, level.granularity_ms)
    for other in levels:
        if other.granularity_ms == level.source_ms:
            if other.watermark_ms is None:
                return None
            target = min(target, floor_ms(other.watermark_ms, level.granularity_ms))
    return target


def _remerge(cur: psycopg.Cursor[Any], schema: str, level: Level, report: LevelReport) -> None:
    rows, buckets = _fetch_invalidated(cur, schema, level)
    if rows:
        merged = merge_groups(rows, level.granularity_ms, next_generation(cur, schema))
        report.rows_written += upsert_rollups(cur, schema, merged)
    report.remerged_buckets += buckets
    cur.execute(
        sql.SQL("DELETE FROM {} WHERE granularity_ms = %s").format(
            sql.Identifier(schema, "rollup_invalidations")
        ),
        (level.granularity_ms,),
    )


def _first_source_ms(cur: psycopg.Cursor[Any], schema: str, source_ms: int) -> int | None:
    cur.execute(
        sql.SQL("SELECT min(window_start) FROM {} WHERE granularity_ms = %s").format(
            sql.Identifier(schema, "rollups")
        ),
        (source_ms,),
    )
    found = cur.fetchone()
    return None if found is None or found[0] is None else _to_ms(found[0])


def _compact_level(
    conn: psycopg.Connection[Any],
    schema: str,
    granularity_ms: int,
    now_ms: int,
    settle_ms: int,
    chunk_buckets: int,
) -> LevelReport:
    report = LevelReport(granularity_ms)
    with conn.transaction(), conn.cursor() as cur:
        levels = read_levels(cur, schema, exclusive=True)
        level = next(lv for lv in levels if lv.granularity_ms == granularity_ms)
        _remerge(cur, schema, level, report)
    while True:
        with conn.transaction(), conn.cursor() as cur:
            levels = read_levels(cur, schema, exclusive=True)
            level = next(lv for lv in levels if lv.granularity_ms == granularity_ms)
            report.watermark_ms = level.watermark_ms
            target = _target(level, levels, now_ms, settle_ms)
            if target is None:
                return report
            lo = level.watermark_ms
            if lo is None:
                first = _first_source_ms(cur, schema, level.source_ms)
                lo = target if first is None else min(floor_ms(first, granularity_ms), target)
            if lo >= target:
                if level.watermark_ms is None:
                    _set_watermark(cur, schema, level, target)
                    report.watermark_ms = target
                return report
            hi = min(lo + chunk_buckets * granularity_ms, target)
            rows = fetch_rows(cur, schema, level.source_ms, lo, hi)
            if rows:
                merged = merge_groups(rows, granularity_ms, next_generation(cur, schema))
                report.new_buckets += len({(r.window_start_ms) for r in merged})
                report.rows_written += upsert_rollups(cur, schema, merged)
            _set_watermark(cur, schema, level, hi)
            report.watermark_ms = hi


def compact(
    conn: psycopg.Connection[Any],
    schema: str,
    now: datetime,
    *,
    settle: timedelta = timedelta(minutes=5),
    chunk_buckets: int = 24,
) -> CompactionReport:
    """Re-merge invalidated buckets and merge newly closed ones at every level, finest
    first; returns what was done. ``settle`` is how long after its end a bucket is
    considered closed (the flow's allowed lateness is a good value; later rows are
    handled through invalidations). Every step is its own transaction, so ``conn`` must
    not be inside a transaction already (the lock would be held until that one ends).
    ``psycopg.Error`` propagates with the step in progress rolled back; sketches that do
    not parse raise ``SerializationError`` the same way."""
    if chunk_buckets < 1:
        raise InvalidArgument(f"chunk_buckets must be >= 1, got {chunk_buckets}")
    now_ms = _to_ms(now)
    settle_ms = int(settle.total_seconds() * 1000)
    if settle_ms < 0:
        raise InvalidArgument(f"settle must be >= 0, got {settle}")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT granularity_ms FROM {} ORDER BY source_granularity_ms").format(
                sql.Identifier(schema, "compaction_levels")
            )
        )
        granularities = [int(g) for (g,) in cur.fetchall()]
    report = CompactionReport()
    for g in granularities:
        level_report = _compact_level(conn, schema, g, now_ms, settle_ms, chunk_buckets)
        report.levels.append(level_report)
        log.info(
            "compacted level %d ms: %d new and %d re-merged buckets, %d rows, watermark %s",
            g,
            level_report.new_buckets,
            level_report.remerged_buckets,
            level_report.rows_written,
            level_report.watermark_ms,
            extra={"schema": schema},
        )
    return report
