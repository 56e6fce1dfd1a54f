"""The bulk writers against the real PostgreSQL: COPY + upsert, revisions, replays,
progress in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def test_window_starts_survive_the_first_emission_copy_exactly(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    """First emissions are COPYed with window_start as microseconds since 2000-01-01."""
    starts = [-1, 0, 946_684_799_999, 946_684_800_000, 946_684_800_001, 4_102_444_800_007]
    assert write_rollups(pg, schema, [row(start=s) for s in starts]) == len(starts)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert sorted(k[1] for k in stored(pg, schema)) == [
        epoch + timedelta(milliseconds=s) for s in starts
    ]


_KEYS = st.tuples(st.sampled_from(["eu", "us"]), st.integers(0, 5))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stored_first=st.dictionaries(_KEYS, st.integers(0, 3), max_size=8),
    batch=st.lists(st.tuples(_KEYS, st.integers(0, 3), st.integers(0, 99)), max_size=12),
)
def test_any_batch_is_highest_revision_wins_whatever_path_it_takes(
    pg: psycopg.Connection[Any],
    schema: str,
    stored_first: dict[tuple[str, int], int],
    batch: list[tuple[tuple[str, int], int, int]],
) -> None:
    """New first emissions go by direct COPY, a batch meeting a stored key falls back to
    the staging upsert, amendments always take it: the outcome is the plain model's."""
    pg.execute(f'TRUNCATE "{schema}".rollups')
    write_rollups(
        pg, schema, [row(s, m * MINUTE, rev, 1000) for (s, m), rev in stored_first.items()]
    )
    model = {key: (rev, 1000) for key, rev in stored_first.items()}
    best: dict[tuple[str, int], tuple[int, int]] = {}
    for key, rev, count in batch:  # within a batch: the highest revision, first of equals
        if key not in best or rev > best[key][0]:
            best[key] = (rev, count)
    expected_written = 0
    for key, (rev, count) in best.items():
        if key not in model or rev > model[key][0]:
            model[key] = (rev, count)
            expected_written += 1
    written = write_rollups(pg, schema, [row(s, m * MINUTE, rev, c) for (s, m), rev, c in batch])
    assert written == expected_written
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert {k: v[:2] for k, v in stored(pg, schema).items()} == {
        (s, epoch + timedelta(minutes=m)): v for (s, m), v in model.items()
    }


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
