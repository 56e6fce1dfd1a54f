"""The bulk writers against the real PostgreSQL: COPY + upsert, revisions, replays,
progress in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from datanexus.errors import InvalidArgument
from datanexus.store.dead_letters import DeadLetter, write_dead_letters
from datanexus.store.progress import Progress, read_progress, redis_id_position
from datanexus.store.raw_events import RawEvent, write_raw_events
from datanexus.store.rollups import RollupRow, write_rollups

MINUTE = 60_000


def row(series: str = "eu", start: int = 0, revision: int = 0, count: int = 1) -> RollupRow:
    return RollupRow(
        "acme", "web", series, MINUTE, start, revision, count, float(count) * 1.5,
        0.5, 2.5, 1.5, 0.25, b"\x01digest", b"\x02hll",
    )  # fmt: skip


def stored(pg: psycopg.Connection[Any], schema: str) -> dict[tuple[str, datetime], tuple]:
    rows = pg.execute(
        f"SELECT series, window_start, revision, count, sum, min, max, mean, m2, digest, hll"
        f' FROM "{schema}".rollups'
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def test_rollups_round_trip_every_column(pg: psycopg.Connection[Any], schema: str) -> None:
    start = 1_735_689_600_123  # 2025-01-01T00:00:00.123Z: ms survive exactly
    assert write_rollups(pg, schema, [row(start=start, count=4)]) == 1
    [(key, values)] = stored(pg, schema).items()
    assert key == ("eu", datetime(2025, 1, 1, 0, 0, 0, 123000, tzinfo=UTC))
    assert values == (0, 4, 6.0, 0.5, 2.5, 1.5, 0.25, b"\x01digest", b"\x02hll")


def test_highest_revision_wins_whatever_the_arrival_order(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    assert write_rollups(pg, schema, [row(revision=4, count=40)]) == 1
    assert write_rollups(pg, schema, [row(revision=3, count=30)]) == 0, "3 after 4 leaves 4"
    assert write_rollups(pg, schema, [row(revision=4, count=99)]) == 0, "equal: a replay"
    assert [v[:2] for v in stored(pg, schema).values()] == [(4, 40)]
    assert write_rollups(pg, schema, [row(revision=5, count=50)]) == 1
    assert [v[:2] for v in stored(pg, schema).values()] == [(5, 50)]


def test_duplicates_within_one_batch_keep_the_highest_revision(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    batch = [row(revision=1, count=10), row(revision=7, count=70), row(revision=2, count=20)]
    assert write_rollups(pg, schema, batch) == 1
    assert [v[:2] for v in stored(pg, schema).values()] == [(7, 70)]


def test_a_replayed_batch_changes_nothing_and_progress_only_moves_forward(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    batch = [row(series=s, start=m * MINUTE) for s in ("eu", "us") for m in range(50)]
    assert write_rollups(pg, schema, batch, Progress("f", "p0", 50 * MINUTE)) == 100
    before = stored(pg, schema)
    written_at = pg.execute(f'SELECT max(written_at) FROM "{schema}".rollups').fetchone()
    assert write_rollups(pg, schema, batch, Progress("f", "p0", 10 * MINUTE)) == 0
    assert stored(pg, schema) == before
    assert pg.execute(f'SELECT max(written_at) FROM "{schema}".rollups').fetchone() == written_at
    assert read_progress(pg, schema, "f") == {"p0": 50 * MINUTE}


def test_a_failed_write_leaves_neither_rows_nor_progress(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    bad = [row(start=0), row(start=MINUTE, count=-1)]  # violates CHECK (count >= 0)
    with pytest.raises(psycopg.errors.CheckViolation):
        write_rollups(pg, schema, bad, Progress("f", "p0", 2 * MINUTE))
    assert stored(pg, schema) == {}
    assert read_progress(pg, schema, "f") == {}
    # The connection and its staging table are usable again at once.
    assert write_rollups(pg, schema, [row(start=0)], Progress("f", "p0", MINUTE)) == 1


def test_raw_events_ignore_duplicates_and_count_only_new_rows(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    events = [RawEvent("acme", "web", f"e{i}", 1000 * i, f'{{"n": {i}}}', i) for i in range(10)]
    assert write_raw_events(pg, schema, events[:6], Progress("ingest", "q", 5)) == 6
    assert write_raw_events(pg, schema, events, Progress("ingest", "q", 9)) == 4
    assert write_raw_events(pg, schema, events, Progress("ingest", "q", 9)) == 0
    rows = pg.execute(f'SELECT id, payload, seq FROM "{schema}".raw_events ORDER BY seq')
    assert [(r[0], r[1]["n"], r[2]) for r in rows] == [(f"e{i}", i, i) for i in range(10)]
    assert read_progress(pg, schema, "ingest") == {"q": 9}


def test_dead_letters_keep_the_reason_and_skip_replays(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    letters = [
        DeadLetter("rmq", "q1", "17", "decode", "invalid_json", "Expecting value\x00", b"\xff{"),
        DeadLetter("rmq", "q1", "18", "decode", "not_an_object", "got list", b"[1]"),
        DeadLetter("http", None, None, "validate", "missing_ts", "no ts", b"{}"),
    ]
    assert write_dead_letters(pg, schema, letters) == 3
    assert write_dead_letters(pg, schema, letters) == 1, "only the one without a position"
    rows = pg.execute(
        f'SELECT position, reason, error, payload FROM "{schema}".dead_letters'
        " WHERE position IS NOT NULL ORDER BY position"
    ).fetchall()
    assert rows == [
        ("17", "invalid_json", "Expecting value\\x00", b"\xff{"),
        ("18", "not_an_object", "got list", b"[1]"),
    ]


def test_redis_ids_order_as_positions() -> None:
    ids = ["0-1", "1-0", "1-18446744073709551615", "2-0", "1735689600000-3"]
    assert sorted(ids, key=redis_id_position) == ids
    with pytest.raises(InvalidArgument):
        redis_id_position("abc")
    with pytest.raises(InvalidArgument):
        Progress("f", "p", -1)
