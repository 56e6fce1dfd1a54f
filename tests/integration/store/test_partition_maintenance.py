"""Partition maintenance and retention against the real PostgreSQL (STORE-1, 2, 8)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from datanexus.store.compaction import compact
from datanexus.store.partitions import (
    RAW_EVENTS,
    ROLLUPS,
    default_rows,
    ensure_all,
    ensure_partitions,
    list_partitions,
)
from datanexus.store.raw_events import RawEvent, write_raw_events
from datanexus.store.resort import resort_closed_raw
from datanexus.store.retention import retain
from datanexus.store.rollups import RollupRow, write_rollups


def names(pg: psycopg.Connection[Any], schema: str, scheme: Any) -> list[str]:
    return [p.name for p in list_partitions(pg, schema, scheme)]


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def test_maintenance_keeps_four_future_days_and_is_idempotent(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    now = datetime(2024, 5, 10, 13, tzinfo=UTC)
    done = ensure_partitions(pg, schema, RAW_EVENTS, now, retention=timedelta(days=3))
    expected = [f"raw_events_p202405{d:02d}" for d in range(7, 15)]
    assert done.created == expected
    assert names(pg, schema, RAW_EVENTS) == expected
    again = ensure_partitions(pg, schema, RAW_EVENTS, now, retention=timedelta(days=3))
    assert again.created == []
    assert again.default_rows == 0
    tomorrow = ensure_partitions(
        pg, schema, RAW_EVENTS, now + timedelta(days=1), retention=timedelta(days=3)
    )
    assert tomorrow.created == ["raw_events_p20240515"]


def test_after_downtime_maintenance_starts_at_the_later_of_retention_and_last_partition(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    ensure_partitions(pg, schema, RAW_EVENTS, datetime(2024, 5, 10, tzinfo=UTC), ahead=1)
    assert names(pg, schema, RAW_EVENTS) == ["raw_events_p20240510", "raw_events_p20240511"]
    # Short retention: the gap before now − retention is not filled.
    later = datetime(2024, 6, 20, 8, tzinfo=UTC)
    done = ensure_partitions(pg, schema, RAW_EVENTS, later, ahead=1, retention=timedelta(days=2))
    assert done.created == [
        "raw_events_p20240618",
        "raw_events_p20240619",
        "raw_events_p20240620",
        "raw_events_p20240621",
    ]
    # Long retention: it resumes right after the newest partition (none recreated).
    ensure_partitions(pg, schema, ROLLUPS, datetime(2024, 1, 5, tzinfo=UTC), ahead=0)
    done = ensure_partitions(pg, schema, ROLLUPS, later, ahead=1, retention=timedelta(days=400))
    assert done.created == [f"rollups_p2024{m:02d}" for m in range(2, 8)]


def test_rows_without_a_partition_land_in_the_default_and_are_moved_out(
    pg: psycopg.Connection[Any], schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    old = datetime(2023, 1, 1, 12, tzinfo=UTC)
    events = [RawEvent("acme", "web", f"e{i}", ms(old) + i, "{}") for i in range(5)]
    assert write_raw_events(pg, schema, events) == 5, "no partition: the writer still succeeds"
    rows = [
        RollupRow("acme", "web", "{}", 60_000, ms(old) + 60_000 * i, 0, 1, 1.0) for i in range(3)
    ]
    assert write_rollups(pg, schema, rows) == 3
    with caplog.at_level(logging.WARNING, logger="datanexus"):
        assert default_rows(pg, schema, RAW_EVENTS) == 5
    assert "default partition" in caplog.text

    now = datetime(2024, 5, 10, tzinfo=UTC)
    done = ensure_partitions(pg, schema, RAW_EVENTS, now, ahead=0)
    assert done.created == ["raw_events_p20230101", "raw_events_p20240510"]
    assert (done.moved, done.default_rows) == (5, 0)
    assert ensure_partitions(pg, schema, ROLLUPS, now, ahead=0).moved == 3
    assert pg.execute(f'SELECT count(*) FROM "{schema}".raw_events_p20230101').fetchone() == (5,)
    assert pg.execute(f'SELECT count(*) FROM "{schema}".rollups_p202301').fetchone() == (3,)
    # The moved partition carries the key: replays still insert nothing.
    assert write_raw_events(pg, schema, events) == 0
    assert write_rollups(pg, schema, [rows[0]._replace(revision=1, n=7)]) == 1
    assert pg.execute(f'SELECT sum(count) FROM "{schema}".rollups').fetchone() == (9,)


def test_time_range_queries_prune_to_overlapping_partitions(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    ensure_partitions(
        pg, schema, RAW_EVENTS, datetime(2024, 5, 10, tzinfo=UTC), retention=timedelta(days=5)
    )
    plan = pg.execute(
        f'EXPLAIN SELECT * FROM "{schema}".raw_events'
        " WHERE ts >= '2024-05-08T00:00Z' AND ts < '2024-05-09T12:00Z'"
    ).fetchall()
    scanned = {
        m for (line,) in plan for m in re.findall(r"\braw_events_(?:p\d{8}|default)\b", line)
    }
    assert scanned == {"raw_events_p20240508", "raw_events_p20240509"}


def test_retention_drops_whole_raw_days_only_once_their_rollups_are_complete(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=100)
    ensure_partitions(
        pg, schema, RAW_EVENTS, now, ahead=0, cover=(start, start + timedelta(days=15))
    )
    ensure_partitions(pg, schema, ROLLUPS, now, ahead=0, cover=(start - timedelta(days=400), start))
    for day in range(15):
        t = ms(start + timedelta(days=day, hours=3))
        write_raw_events(pg, schema, [RawEvent("acme", "web", f"d{day}", t, "{}")])
        write_rollups(pg, schema, [RollupRow("acme", "web", "{}", 60_000, t, 0, 1, 1.0)])

    kept = retain(pg, schema, now, raw_days=90, rollup_days=400)
    assert "raw_events_p20240101" in kept.kept_incomplete, "not compacted yet"
    # Rollup months ending before now − 400 d = 2023-03-06 go: up to February 2023.
    assert kept.dropped == [
        "rollups_p202211", "rollups_p202212", "rollups_p202301", "rollups_p202302",
    ]  # fmt: skip

    compact(pg, schema, now)
    done = retain(pg, schema, now, raw_days=90, rollup_days=400)
    # now − 90 d = 2024-01-11: the days ending by then go, the rest stay.
    assert done.dropped == [f"raw_events_p202401{d:02d}" for d in range(1, 11)]
    assert "raw_events_p20240111" in names(pg, schema, RAW_EVENTS)
    ids = pg.execute(f'SELECT min(id), count(*) FROM "{schema}".raw_events').fetchone()
    assert ids == ("d10", 5)
    assert retain(pg, schema, now).dropped == [], "a rerun drops nothing more"


def test_closed_raw_days_are_re_sorted_by_stream_and_time_once(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    day = datetime(2024, 5, 1, tzinfo=UTC)
    ensure_partitions(pg, schema, RAW_EVENTS, day, ahead=1)
    events = [
        RawEvent("acme", f"s{i % 3}", f"e{i}", ms(day) + (997 * i) % 50_000, f'{{"i": {i}}}')
        for i in range(300)
    ]
    write_raw_events(pg, schema, events)
    physical = f'SELECT stream, ts, id FROM "{schema}".raw_events_p20240501 ORDER BY ctid'
    before = pg.execute(physical).fetchall()
    assert before != sorted(before), "arrival order interleaves the streams"
    assert resort_closed_raw(pg, schema) == [], "not closed: compaction has not passed it"
    write_rollups(pg, schema, [RollupRow("acme", "web", "{}", 60_000, ms(day), 0, 1, 1.0)])
    compact(pg, schema, day + timedelta(days=1, hours=1))
    assert resort_closed_raw(pg, schema) == ["raw_events_p20240501"]
    after = pg.execute(physical).fetchall()
    assert after == sorted(before), "same rows, in (stream, ts, id) order"
    assert resort_closed_raw(pg, schema) == [], "done once"


def test_ensure_all_covers_both_tables_within_their_retention(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    now = datetime(2024, 5, 10, tzinfo=UTC)
    done = ensure_all(pg, schema, now, raw_days=2, rollup_days=40)
    assert done["raw_events"].created == [f"raw_events_p202405{d:02d}" for d in range(8, 15)]
    assert done["rollups"].created == [f"rollups_p2024{m:02d}" for m in range(3, 10)]
    assert all(not m.created for m in ensure_all(pg, schema, now).values())
