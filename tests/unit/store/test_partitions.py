"""Partition naming and ranges: pure helpers of datanexus.store.partitions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.errors import InvalidArgument
from datanexus.store.partitions import RAW_EVENTS, ROLLUPS

times = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def test_names_and_bounds() -> None:
    t = datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert ROLLUPS.name(ROLLUPS.floor(t)) == "rollups_p202412"
    assert ROLLUPS.next(ROLLUPS.floor(t)) == datetime(2025, 1, 1, tzinfo=UTC)
    assert RAW_EVENTS.name(RAW_EVENTS.floor(t)) == "raw_events_p20241231"
    assert RAW_EVENTS.next(RAW_EVENTS.floor(t)) == datetime(2025, 1, 1, tzinfo=UTC)


def test_floor_works_in_utc_whatever_the_zone() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    t = datetime(2024, 5, 1, 2, 0, tzinfo=kolkata)  # 2024-04-30T20:30Z
    assert RAW_EVENTS.floor(t) == datetime(2024, 4, 30, tzinfo=UTC)
    assert ROLLUPS.floor(t) == datetime(2024, 4, 1, tzinfo=UTC)
    with pytest.raises(InvalidArgument, match="naive"):
        ROLLUPS.floor(datetime(2024, 5, 1))  # noqa: DTZ001


@given(times)
def test_a_time_lies_in_its_period_and_names_round_trip(t: datetime) -> None:
    for scheme in (ROLLUPS, RAW_EVENTS):
        start = scheme.floor(t)
        assert start <= t < scheme.next(start)
        assert scheme.parse(scheme.name(start)) == start


@given(times, st.integers(min_value=0, max_value=2000))
def test_periods_tile_a_range_without_gaps(lo: datetime, hours: int) -> None:
    hi = lo + timedelta(hours=hours * 7)
    for scheme in (ROLLUPS, RAW_EVENTS):
        starts = scheme.periods(lo, hi)
        if hours == 0:
            assert starts == []
            continue
        assert starts[0] <= lo
        assert scheme.next(starts[-1]) >= hi
        assert all(scheme.next(a) == b for a, b in itertools.pairwise(starts))


def test_other_names_do_not_parse() -> None:
    assert ROLLUPS.parse("rollups_default") is None
    assert ROLLUPS.parse("rollups_p20240501") is None
    assert RAW_EVENTS.parse("raw_events_p202405") is None


@given(st.integers(0, 2**48), st.integers(0, 2**64 - 1))
def test_redis_entry_ids_round_trip_through_positions(ms: int, seq: int) -> None:
    from datanexus.store.progress import redis_entry_id, redis_id_position

    assert redis_entry_id(redis_id_position(f"{ms}-{seq}")) == f"{ms}-{seq}"
