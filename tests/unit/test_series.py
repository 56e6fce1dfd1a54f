"""datanexus.series against plain-Python references (SKETCH-7..12)."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus import InvalidArgument
from datanexus.series import (
    Bucket,
    counter_rate,
    downsample,
    le_histogram,
    moving_average,
    running_totals,
    top_n,
)

finite = st.floats(-1e9, 1e9, allow_nan=False)


def test_sketch_7_moving_average() -> None:
    assert moving_average([4, 8, 15], 2) == 11.5
    assert moving_average([4, 8, 15], 10) == 9.0
    assert moving_average([4, 8, 15], 0) is None
    assert moving_average([], 3) is None
    with pytest.raises(InvalidArgument):
        moving_average([1.0], -1)
    with pytest.raises(InvalidArgument):
        moving_average([1.0, math.nan], 2)


@given(st.lists(finite, max_size=50), st.integers(0, 60))
def test_moving_average_is_the_mean_of_the_tail(values: list[float], window: int) -> None:
    got = moving_average(values, window)
    if window == 0 or not values:
        assert got is None
    else:
        tail = values[-window:]
        assert got == pytest.approx(math.fsum(tail) / len(tail), rel=1e-12, abs=1e-6)


def test_sketch_8_counter_rate() -> None:
    assert counter_rate([10_000, 13_000], [50, 80]) == 10.0
    assert counter_rate([10_000], [50]) == 0.0
    assert counter_rate([], []) == 0.0
    assert counter_rate([13_000, 13_000], [50, 80]) == 0.0
    assert counter_rate([13_000, 10_000], [50, 80]) == 0.0
    # A reset: 90 → 5 means the counter restarted and counted 5 since.
    assert counter_rate([0, 1000, 2000], [80, 90, 5]) == pytest.approx(7.5)
    assert counter_rate([0.0, 1.5], [0, 3], per=1.0) == 2.0
    with pytest.raises(InvalidArgument):
        counter_rate([0, 1], [1, -2])
    with pytest.raises(InvalidArgument):
        counter_rate([0, 1], [1])


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)), max_size=40))
def test_counter_rate_matches_a_loop_and_is_never_negative(
    samples: list[tuple[int, int]],
) -> None:
    ts = np.cumsum([dt for dt, _ in samples]).tolist()
    values = [v for _, v in samples]
    increase = 0
    for prev, cur in itertools.pairwise(values):
        increase += cur - prev if cur >= prev else cur
    expected = increase / (ts[-1] - ts[0]) * 1000 if len(ts) > 1 else 0.0
    got = counter_rate(ts, values)
    assert got >= 0
    assert got == pytest.approx(expected, rel=1e-12)


def test_sketch_9_le_histogram() -> None:
    values = [0.5, 1, 1.5, 2, 7]
    assert le_histogram(values, [1, 2, 5]) == [2, 2, 0, 1]
    assert le_histogram(values, [1, 2, 5], cumulative=True) == [2, 4, 4, 5]
    assert le_histogram([], [1]) == [0, 0]
    for bad in ([2, 1], [1, 1], [1, math.inf]):
        with pytest.raises(InvalidArgument):
            le_histogram(values, bad)


@given(st.lists(finite, max_size=60), st.lists(finite, min_size=1, max_size=8, unique=True))
def test_le_buckets_are_upper_inclusive_and_add_up(
    values: list[float], bounds: list[float]
) -> None:
    bounds = sorted(bounds)
    expected = [0] * (len(bounds) + 1)
    for v in values:
        expected[next((i for i, b in enumerate(bounds) if v <= b), len(bounds))] += 1
    assert le_histogram(values, bounds) == expected
    assert sum(expected) == len(values)


def test_sketch_10_downsample() -> None:
    ts = [0, 500, 1000, 1500, 2500]
    assert downsample(ts, [1, 2, 3, 4, 5], 1000) == [
        Bucket(0, 1.5, 1, 2, 2),
        Bucket(1000, 3.5, 3, 4, 2),
        Bucket(2000, 5, 5, 5, 1),
    ]
    # Sub-second intervals and timestamps keep their fractions; input order is free.
    assert downsample([1.7, 0.2, 0.4], [3, 1, 2], 0.5) == [
        Bucket(0.0, 1.5, 1, 2, 2),
        Bucket(1.5, 3, 3, 3, 1),
    ]
    assert downsample([], [], 60) == []
    with pytest.raises(InvalidArgument):
        downsample([0], [1], 0)


@given(st.lists(st.tuples(st.integers(-(10**6), 10**6), finite), max_size=60), st.integers(1, 5000))
def test_downsample_matches_a_dictionary(points: list[tuple[int, float]], interval: int) -> None:
    groups: dict[int, list[float]] = defaultdict(list)
    for t, v in points:
        groups[t // interval * interval].append(v)
    got = downsample([t for t, _ in points], [v for _, v in points], interval)
    assert [b.timestamp for b in got] == sorted(groups)
    for b in got:
        vs = groups[int(b.timestamp)]
        assert (b.count, b.min, b.max) == (len(vs), min(vs), max(vs))
        assert b.avg == pytest.approx(math.fsum(vs) / len(vs), rel=1e-9, abs=1e-6)


def test_sketch_11_top_n() -> None:
    scores = [("b", 2.0), ("a", 3.0), ("c", 2.0), ("d", 1.0)]
    assert top_n(scores, 3) == [("a", 3.0), ("b", 2.0), ("c", 2.0)]
    assert top_n(list(reversed(scores)), 3) == [("a", 3.0), ("c", 2.0), ("b", 2.0)]
    assert top_n(scores, 0) == []
    assert len(top_n(scores, 10)) == 4
    assert top_n([("p", 1), ("q", 1), ("p", 1)], 1) == [("p", 2)]
    # Equal first-seen stamps (from merged partitions) fall back to the id.
    seen = {"y": 5, "x": 5, "z": 1}
    assert top_n({"y": 1.0, "x": 1.0, "z": 1.0}, 3, first_seen=seen) == [
        ("z", 1.0),
        ("x", 1.0),
        ("y", 1.0),
    ]
    with pytest.raises(InvalidArgument):
        top_n(scores, -1)


@given(
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 5)), max_size=40),
    st.integers(0, 10),
)
def test_top_n_is_a_stable_sort_of_totals(pairs: list[tuple[str, int]], n: int) -> None:
    totals: dict[str, int] = {}
    for k, s in pairs:
        totals[k] = totals.get(k, 0) + s
    order = list(totals)
    expected = sorted(totals.items(), key=lambda kv: (-kv[1], order.index(kv[0])))[:n]
    assert top_n(pairs, n) == expected


def test_sketch_12_running_totals() -> None:
    assert running_totals([0, 30_000, 60_000], [3, 4, 5], 60_000).tolist() == [3, 7, 5]
    assert running_totals([60_000, 0, 30_000, 61_000], [5, 3, 4, 1], 60_000).tolist() == [
        5,
        3,
        7,
        6,
    ]
    assert running_totals([0.25, 0.75, 1.0], [1.5, 2.5, 1.0], 1.0).tolist() == [1.5, 4.0, 1.0]
    assert running_totals([], [], 10).tolist() == []
    # A huge earlier window leaves no rounding in the next one.
    assert running_totals([0, 10, 15], [1e17, 0.25, 0.5], 10).tolist() == [1e17, 0.25, 0.75]
    with pytest.raises(InvalidArgument):
        running_totals([0, 1], [2**62, 2**62], 10)


@given(
    st.lists(st.tuples(st.integers(-(10**5), 10**5), st.integers(-1000, 1000)), max_size=60),
    st.integers(1, 3000),
)
def test_running_totals_match_a_loop(points: list[tuple[int, int]], window: int) -> None:
    totals: dict[int, int] = defaultdict(int)
    expected = []
    for t, v in points:
        totals[t // window] += v
        expected.append(totals[t // window])
    got = running_totals([t for t, _ in points], [v for _, v in points], window)
    assert got.tolist() == expected


@settings(max_examples=20)
@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_inputs_are_refused(bad: float) -> None:
    for call in (
        lambda: counter_rate([0, bad], [1, 2]),
        lambda: le_histogram([bad], [1]),
        lambda: downsample([0], [bad], 1),
        lambda: running_totals([bad], [1], 1),
        lambda: top_n([("a", bad)], 1),
    ):
        with pytest.raises(InvalidArgument):
            call()
