"""Tenant-zone days against the real PostgreSQL (STORE-7)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from datanexus.errors import InvalidArgument
from datanexus.store.rollups import RollupRow, write_rollups
from datanexus.store.zone_days import compact_zone_day, zone_day_bounds

MINUTE = 60_000


def test_kolkata_day_bounds_are_offset_by_five_and_a_half_hours() -> None:
    assert zone_day_bounds("Asia/Kolkata", date(2024, 5, 1)) == (
        datetime(2024, 4, 30, 18, 30, tzinfo=UTC),
        datetime(2024, 5, 1, 18, 30, tzinfo=UTC),
    )
    start, end = zone_day_bounds("Europe/Berlin", date(2024, 3, 31))  # DST starts
    assert end - start == (datetime(2024, 1, 2, tzinfo=UTC) - datetime(2024, 1, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidArgument, match="time zone"):
        zone_day_bounds("Mars/Olympus", date(2024, 5, 1))


def test_a_zone_day_merges_exactly_the_minutes_of_the_local_day(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    start, end = zone_day_bounds("Asia/Kolkata", date(2024, 5, 1))
    lo = int(start.timestamp() * 1000)
    # One minute row every 7 minutes from 2 h before to 2 h after the local day.
    minutes = range(lo - 120 * MINUTE, lo + 26 * 60 * MINUTE, 7 * MINUTE)
    rows = [
        RollupRow("acme", "web", "{}", MINUTE, t, 1, 2, float(t % 1000), float(t % 97),
                  float(t % 97) + 1, None, None, None, None, "latency_ms")
        for t in minutes
    ]  # fmt: skip
    write_rollups(pg, schema, rows)
    assert compact_zone_day(pg, schema, "Asia/Kolkata", date(2024, 5, 1)) == 1
    inside = [
        r for r in rows if start.timestamp() * 1000 <= r.window_start_ms < end.timestamp() * 1000
    ]
    found = pg.execute(
        "SELECT zone, day, window_start, window_end, count, sum, min, max"
        f' FROM "{schema}".zone_day_rollups'
    ).fetchone()
    assert found == (
        "Asia/Kolkata", date(2024, 5, 1), start, end, 2 * len(inside),
        math.fsum(r.sum for r in inside),
        min(r.min or 0 for r in inside), max(r.max or 0 for r in inside),
    )  # fmt: skip
    # A late minute inside the day, then a rerun: the day's row is replaced.
    write_rollups(pg, schema, [rows[30]._replace(revision=2, n=100)])
    assert compact_zone_day(pg, schema, "Asia/Kolkata", date(2024, 5, 1)) == 1
    total = pg.execute(f'SELECT count FROM "{schema}".zone_day_rollups').fetchone()
    assert total == (2 * len(inside) + 98,)
    assert pg.execute(
        f'SELECT count(*) FROM "{schema}".rollups WHERE granularity_ms <> %s', (MINUTE,)
    ).fetchone() == (0,), "UTC rollups untouched"
