"""Tenant-zone days (STORE-7): a day rollup in a named time zone, kept apart from the
UTC rollups in ``zone_day_rollups``.

A bucket there has an explicit origin and zone: the local calendar ``day`` of ``zone``
is [local midnight, next local midnight) in UTC, stored as ``window_start`` and
``window_end`` (23, 24 or 25 hours across DST changes; Asia/Kolkata 2024-05-01 is
[2024-04-30T18:30Z, 2024-05-01T18:30Z)). It is merged from the 1 m rows because zone
offsets need not be whole hours. Kept in its own table rather than as a granularity of
``rollups``: its buckets are not a fixed number of milliseconds from the epoch, and the
query engine's UTC granularities stay unambiguous.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument
from datanexus.store.compaction import fetch_rows, merge_groups, next_generation
from datanexus.store.rollups import RollupRow

__all__ = ["compact_zone_day", "zone_day_bounds"]

MINUTE_MS = 60_000


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument(
            f"unknown time zone {name!r}: use an IANA name such as 'Asia/Kolkata'"
        ) from None


def zone_day_bounds(zone: str, day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local calendar ``day`` in ``zone``. A local midnight
    that does not exist (a DST gap at midnight) resolves as zoneinfo does: to the
    instant the clocks jumped from."""
    tz = _zone(zone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def compact_zone_day(conn: psycopg.Connection[Any], schema: str, zone: str, day: date) -> int:
    """Merge the 1 m rows of the local ``day`` of ``zone`` into one row per (tenant,
    pipeline, series, metric) of ``zone_day_rollups``; returns rows inserted or
    replaced. Rerunning it (after late rows) replaces the day's rows: their revision is
    (max input revision) + a fresh compaction generation, and the upsert keeps the
    highest. One transaction. Run it once the local day has ended."""
    start, end = zone_day_bounds(zone, day)
    lo, hi = _ms(start), _ms(end)
    with conn.transaction(), conn.cursor() as cur:
        rows = fetch_rows(cur, schema, MINUTE_MS, lo, hi)
        if not rows:
            return 0
        # Shifted to the local day's origin, every row falls in bucket 0 of a bucket as
        # long as the day: one group per series, whatever the zone's offset.
        span = hi - lo
        shifted = [r._replace(window_start_ms=r.window_start_ms - lo) for r in rows]
        merged: list[RollupRow] = merge_groups(shifted, span, next_generation(cur, schema))
        cur.executemany(
            sql.SQL(
                "INSERT INTO {t} AS z (tenant_id, pipeline, series, metric, zone, day,"
                " window_start, window_end, revision, count, sum, min, max, mean, m2,"
                " digest, hll) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s)"
                " ON CONFLICT (tenant_id, pipeline, zone, series, metric, day) DO UPDATE SET"
                " window_start = excluded.window_start, window_end = excluded.window_end,"
                " revision = excluded.revision, count = excluded.count, sum = excluded.sum,"
                " min = excluded.min, max = excluded.max, mean = excluded.mean,"
                " m2 = excluded.m2, digest = excluded.digest, hll = excluded.hll,"
                " written_at = now() WHERE excluded.revision > z.revision"
            ).format(t=sql.Identifier(schema, "zone_day_rollups")),
            [
                (
                    m.tenant,
                    m.pipeline,
                    m.series,
                    m.metric,
                    zone,
                    day,
                    start,
                    end,
                    m.revision,
                    m.n,
                    m.sum,
                    m.min,
                    m.max,
                    m.mean,
                    m.m2,
                    m.digest,
                    m.hll,
                )
                for m in merged
            ],
        )
        return max(cur.rowcount, 0)
