"""The planner (QUERY-7): which stored granularity answers a query, over which range.

A query's time bounds become one half-open range [lo, hi) of window starts in epoch ms
(``time > t`` is ``lo = t + 1 ms``, ``time <= t`` is ``hi = t + 1 ms``; both ends snap
up to the finest granularity's grid, which selects exactly the same epoch-aligned
windows). A stored level ``g`` of the pipeline is usable when

* ``g`` divides the bucket of ``GROUP BY time(…)`` (any ``g`` without one),
* both range ends are multiples of ``g`` (an unbounded end always is), so every coarse
  window lies entirely inside or entirely outside the range, and
* ``g`` is the finest level, or its compaction watermark (``compaction_levels``) covers
  the range: ``hi`` ≤ watermark, so every coarse window in it is materialised. An
  unbounded ``hi`` is never covered: a query reaching the present reads the finest level.

The plan picks the coarsest usable level, so every level gives the same answer and the
coarse ones read fewer rows (a 15-minute bucket reads 1-minute rows; a day bucket over
compacted days reads one row per series and day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import QueryError
from datanexus.query.catalog import Catalog
from datanexus.query.model import Query, TimeBound
from datanexus.query.sqlgen import FetchSql, build_fetch
from datanexus.query.timeexpr import format_duration

__all__ = [
    "Plan",
    "build_plan",
    "choose_granularity",
    "load_watermarks",
    "ms_to_sql",
    "resolve_range",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, eq=False)
class Plan:
    """What a checked query compiles to once per (normalised query, tenant, schema
    version): the plan cache hands out the same object for the same key."""

    query: Query
    catalog: Catalog
    fetch: FetchSql


def build_plan(query: Query, catalog: Catalog, schema: str) -> Plan:
    """Compile ``query``; raises :class:`QueryError` when its bucket is not a multiple
    of the pipeline's finest stored granularity."""
    finest = catalog.granularities[0]
    if query.bucket_ms is not None and query.bucket_ms % finest:
        raise QueryError(
            f"time({format_duration(query.bucket_ms)}) is not a multiple of the finest "
            f"stored granularity of {catalog.name}, {format_duration(finest)}"
        )
    return Plan(query, catalog, build_fetch(query, schema))


def resolve_range(
    bounds: tuple[TimeBound, ...], now_ms: int, grid_ms: int
) -> tuple[int | None, int | None]:
    """The half-open range [lo, hi) of window starts the bounds select (None:
    unbounded), both ends snapped up to ``grid_ms``."""
    lo: int | None = None
    hi: int | None = None
    for bound in bounds:
        t = bound.resolve(now_ms)
        if bound.op in (">=", "=", ">"):
            start = t + 1 if bound.op == ">" else t
            lo = start if lo is None else max(lo, start)
        if bound.op in ("<", "<=", "="):
            end = t if bound.op == "<" else t + 1
            hi = end if hi is None else min(hi, end)
    return _ceil(lo, grid_ms), _ceil(hi, grid_ms)


def _ceil(ms: int | None, grid: int) -> int | None:
    return None if ms is None else -((-ms) // grid) * grid


def choose_granularity(
    levels: tuple[int, ...],
    bucket_ms: int | None,
    lo: int | None,
    hi: int | None,
    watermarks: Mapping[int, int | None],
) -> int:
    """The coarsest usable level (see the module doc); ``levels`` ascending."""
    chosen = levels[0]
    for g in levels[1:]:
        if bucket_ms is not None and bucket_ms % g:
            continue
        if (lo is not None and lo % g) or (hi is not None and hi % g):
            continue
        watermark = watermarks.get(g)
        if hi is None or watermark is None or hi > watermark:
            continue
        chosen = g
    return chosen


def load_watermarks(cur: psycopg.Cursor[Any], schema: str) -> dict[int, int | None]:
    """Per coarse level, the compaction watermark in epoch ms (None: nothing compacted
    yet). Empty when the schema has no ``compaction_levels`` table."""
    cur.execute("SELECT to_regclass(%s)", (f'"{schema}".compaction_levels',))
    row = cur.fetchone()
    if row is None or row[0] is None:
        return {}
    cur.execute(
        sql.SQL(
            "SELECT granularity_ms, CASE WHEN isfinite(watermark)"
            " THEN (extract(epoch FROM watermark) * 1000)::bigint END FROM {t}"
        ).format(t=sql.Identifier(schema, "compaction_levels"))
    )
    return {int(g): (None if w is None else int(w)) for g, w in cur.fetchall()}


def ms_to_sql(ms: int | None, *, upper: bool) -> str:
    """``ms`` as timestamptz text; unbounded or beyond the calendar → ±infinity."""
    if ms is None:
        return "infinity" if upper else "-infinity"
    try:
        return (_EPOCH + timedelta(milliseconds=ms)).isoformat()
    except OverflowError:
        return "infinity" if ms > 0 else "-infinity"
