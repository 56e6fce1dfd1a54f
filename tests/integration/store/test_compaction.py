"""Compaction against the real PostgreSQL: an hour (and a day) merged from minute rows
equals the same period computed directly from the raw values (STORE-4, STORE-9), and a
late minute re-merges exactly its hour and its day (STORE-6)."""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus.sketches import HyperLogLog, TDigest
from datanexus.store.compaction import compact
from datanexus.store.levels import read_levels
from datanexus.store.migrations import migrate
from datanexus.store.rollups import RollupRow, write_rollups

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
BASE = 1_714_521_600_000  # 2024-05-01T00:00Z
NOW = datetime(2024, 5, 3, 1, tzinfo=UTC)  # days 05-01 and 05-02 are closed


@dataclass(frozen=True)
class Raw:
    series: str
    ts_ms: int
    value: float
    user: int


def rollup(
    series: str, granularity: int, start: int, raws: list[Raw], revision: int = 0
) -> RollupRow:
    """The reference: a window's row computed straight from its raw values."""
    xs = [r.value for r in raws]
    mean = math.fsum(xs) / len(xs)
    digest = TDigest(100)
    digest.add_many(xs)
    hll = HyperLogLog(12)
    hll.add_many([r.user for r in raws])
    return RollupRow(
        "acme", "web", series, granularity, start, revision, len(xs), math.fsum(xs),
        min(xs), max(xs), mean, math.fsum((x - mean) ** 2 for x in xs),
        digest.to_bytes(), hll.to_bytes(), "latency_ms",
    )  # fmt: skip


def minute_rows(raws: list[Raw]) -> list[RollupRow]:
    groups: dict[tuple[str, int], list[Raw]] = {}
    for r in raws:
        groups.setdefault((r.series, r.ts_ms - r.ts_ms % MINUTE), []).append(r)
    return [rollup(s, MINUTE, start, rs, revision=1) for (s, start), rs in groups.items()]


def read(
    pg: psycopg.Connection[Any], schema: str, granularity: int
) -> dict[tuple[str, int], RollupRow]:
    rows = pg.execute(
        "SELECT tenant_id, pipeline, series, granularity_ms,"
        " (extract(epoch FROM window_start) * 1000)::bigint, revision, count, sum, min, max,"
        f' mean, m2, digest, hll, metric FROM "{schema}".rollups WHERE granularity_ms = %s',
        (granularity,),
    ).fetchall()
    return {(r[2], r[4]): RollupRow(*r) for r in rows}


def assert_matches_raw(row: RollupRow, raws: list[Raw]) -> None:
    xs = np.array([r.value for r in raws])
    assert row.n == len(xs)
    # Each fine sum is rounded once, their fsum once more: (k + 1)/2 ulps at most.
    assert abs(row.sum - math.fsum(xs)) <= (len(xs) + 1) * math.ulp(math.fsum(abs(xs)))
    assert (row.min, row.max) == (xs.min(), xs.max())
    # Chan's merge vs a two-pass computation: rounding only, a few ulps per merge step.
    assert row.mean == pytest.approx(xs.mean(), rel=1e-12, abs=1e-9)
    m2 = math.fsum((x - xs.mean()) ** 2 for x in xs)
    assert row.m2 == pytest.approx(m2, rel=1e-9, abs=1e-6)
    assert row.digest is not None
    assert row.hll is not None
    digest = TDigest.from_bytes(row.digest)
    assert digest.count == len(xs)
    # t-digest bound, by rank: at compression 100 the rank error of the merge of a few
    # dozen digests stays under 1 % at the median and 0.5 % at p99 (Dunning & Ertl's
    # scale function k1 bounds it by ~q(1-q)·π/δ); 1/n adds the step of an empirical cdf.
    for q, tolerance in ((0.5, 0.01), (0.99, 0.005)):
        x = digest.quantile(q)
        rank = float(np.mean(xs <= x))
        below = float(np.mean(xs < x))
        assert below - tolerance - 1 / len(xs) <= q <= rank + tolerance + 1 / len(xs), (q, x)
    users = len({r.user for r in raws})
    hll = HyperLogLog.from_bytes(row.hll)
    sigma = hll.standard_error * users
    assert abs(hll.estimate() - users) <= 3 * sigma + 1e-9, (hll.estimate(), users)


@pytest.fixture
def fresh_schema(pg: psycopg.Connection[Any]) -> Iterator[Any]:
    made: list[str] = []

    def make() -> str:
        made.append(f"dn_cmp_{uuid.uuid4().hex[:16]}")
        migrate(pg, made[-1])
        return made[-1]

    yield make
    for name in made:
        pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


raw_events = st.lists(
    st.builds(
        Raw,
        series=st.sampled_from(['{"region":"eu"}', '{"region":"us"}']),
        ts_ms=st.integers(min_value=BASE, max_value=BASE + DAY + 3 * HOUR - 1),
        value=st.floats(min_value=0, max_value=5000, allow_nan=False),
        user=st.integers(min_value=0, max_value=3000),
    ),
    min_size=1,
    max_size=1500,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raws=raw_events)
def test_compacted_hours_and_days_equal_the_raw_computation(
    pg: psycopg.Connection[Any], fresh_schema: Any, raws: list[Raw]
) -> None:
    schema = fresh_schema()
    write_rollups(pg, schema, minute_rows(raws))
    report = compact(pg, schema, NOW)
    # now − settle = 05-03T00:55: hours up to 05-03T00:00 and days up to 05-03 closed.
    assert [lv.watermark_ms for lv in report.levels] == [BASE + 2 * DAY, BASE + 2 * DAY]
    for granularity in (HOUR, DAY):
        expected: dict[tuple[str, int], list[Raw]] = {}
        for r in raws:
            expected.setdefault((r.series, r.ts_ms - r.ts_ms % granularity), []).append(r)
        got = read(pg, schema, granularity)
        assert set(got) == set(expected)
        for key, rs in expected.items():
            assert_matches_raw(got[key], rs)
    assert compact(pg, schema, NOW).levels[0].rows_written == 0, "a rerun merges nothing"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_digests_of_large_minutes_merge_within_the_bound(
    pg: psycopg.Connection[Any], fresh_schema: Any, seed: int
) -> None:
    """20 000 lognormal values in one hour: each minute's digest is already approximate,
    so the hour's quantiles exercise the merge, not the exact small-digest path."""
    schema = fresh_schema()
    rng = np.random.default_rng(seed)
    n = 20_000
    raws = [
        Raw("{}", int(BASE + t), float(v), int(u))
        for t, v, u in zip(
            rng.integers(0, HOUR, n),
            rng.lognormal(3, 1.5, n),
            rng.integers(0, 50_000, n),
            strict=True,
        )
    ]
    write_rollups(pg, schema, minute_rows(raws))
    compact(pg, schema, NOW)
    assert_matches_raw(read(pg, schema, HOUR)[("{}", BASE)], raws)
    assert_matches_raw(read(pg, schema, DAY)[("{}", BASE)], raws)


def test_a_late_minute_re_merges_only_its_hour_and_day(
    pg: psycopg.Connection[Any], fresh_schema: Any
) -> None:
    schema = fresh_schema()
    rng = np.random.default_rng(7)
    raws = [
        Raw(s, int(BASE + t), float(v), int(u))
        for s in ('{"region":"eu"}', '{"region":"us"}')
        for t, v, u in zip(
            rng.integers(0, 2 * DAY, 3000),
            rng.exponential(100, 3000),
            rng.integers(0, 500, 3000),
            strict=True,
        )
    ]
    write_rollups(pg, schema, minute_rows(raws))
    compact(pg, schema, NOW)
    hours, days = read(pg, schema, HOUR), read(pg, schema, DAY)

    late = Raw('{"region":"eu"}', BASE + DAY + 5 * HOUR + 17 * MINUTE + 3, 12345.0, 9999)
    same_minute = [
        r for r in raws if r.series == late.series and r.ts_ms // MINUTE == late.ts_ms // MINUTE
    ]
    [late_row] = minute_rows([*same_minute, late])
    assert write_rollups(pg, schema, [late_row._replace(revision=2)]) == 1
    logged = pg.execute(
        f"SELECT granularity_ms, (extract(epoch FROM bucket_start) * 1000)::bigint"
        f' FROM "{schema}".rollup_invalidations'
    ).fetchall()
    assert logged == [(HOUR, BASE + DAY + 5 * HOUR)], "logged with the write"

    report = compact(pg, schema, NOW)
    assert [(lv.remerged_buckets, lv.new_buckets) for lv in report.levels] == [(1, 0), (1, 0)]
    hours2, days2 = read(pg, schema, HOUR), read(pg, schema, DAY)
    hour_key = (late.series, BASE + DAY + 5 * HOUR)
    day_key = (late.series, BASE + DAY)
    changed_hours = {k for k in hours if hours2[k] != hours[k]}
    changed_days = {k for k in days if days2[k] != days[k]}
    assert changed_hours == {hour_key}
    assert changed_days == {day_key}
    assert hours2[hour_key].revision > hours[hour_key].revision
    with_late = [*raws, late]
    assert_matches_raw(
        hours2[hour_key],
        [
            r
            for r in with_late
            if r.series == late.series and r.ts_ms // HOUR == hour_key[1] // HOUR
        ],
    )
    assert_matches_raw(
        days2[day_key],
        [r for r in with_late if r.series == late.series and r.ts_ms // DAY == day_key[1] // DAY],
    )
    assert pg.execute(f'SELECT count(*) FROM "{schema}".rollup_invalidations').fetchone() == (0,)


def test_the_newest_day_and_open_hours_stay_uncompacted(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    now = datetime(2024, 5, 1, 10, 3, tzinfo=UTC)
    rows = [
        RollupRow("acme", "web", "{}", MINUTE, BASE + m * MINUTE, 0, 1, 1.0)
        for m in range(10 * 60 + 3)
    ]
    write_rollups(pg, schema, rows)
    report = compact(pg, schema, now, settle=timedelta(minutes=5))
    assert report.levels[0].watermark_ms == BASE + 9 * HOUR, (
        "10:00-11:00 is open; 09:00-10:00 settles until 10:05"
    )
    assert sorted(read(pg, schema, HOUR)) == [("{}", BASE + h * HOUR) for h in range(9)]
    assert read(pg, schema, DAY) == {}, "the current day is never compacted"


def test_a_write_racing_a_compaction_step_waits_and_then_logs_its_bucket(
    pg: psycopg.Connection[Any], schema: str, database_url: str
) -> None:
    """The watermark lock: a writer that started while the compactor advanced the
    watermark sees the new watermark once it may go on, so its late row is logged."""
    written: list[int] = []
    with psycopg.connect(database_url, autocommit=True) as compactor:
        with compactor.transaction(), compactor.cursor() as cur:
            read_levels(cur, schema, exclusive=True)
            cur.execute(
                f'UPDATE "{schema}".compaction_levels SET watermark = %s WHERE granularity_ms = %s',
                (datetime(2024, 5, 2, tzinfo=UTC), HOUR),
            )
            writer = threading.Thread(
                target=lambda: written.append(
                    write_rollups(pg, schema, [RollupRow("a", "p", "{}", MINUTE, BASE, 0, 1, 1.0)])
                )
            )
            writer.start()
            writer.join(1.0)
            assert writer.is_alive(), "the writer waits for the compaction step"
        writer.join(10)
    assert written == [1]
    logged = pg.execute(
        f'SELECT granularity_ms, bucket_start FROM "{schema}".rollup_invalidations'
    ).fetchall()
    assert logged == [(HOUR, datetime(2024, 5, 1, tzinfo=UTC))]
