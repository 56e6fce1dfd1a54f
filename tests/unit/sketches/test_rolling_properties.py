"""RollingAggregate against exact references: a plain Python deque of the same contract,
``math.fsum`` and numpy, on random streams with late and too-old points."""

from __future__ import annotations

import itertools
import math
from collections import deque
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from datanexus import RollingAggregate


class DequeWindow:
    """The contract, the slow and obvious way: every point in a deque, evicted by a scan."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.newest: float | None = None
        self.points: deque[tuple[float, float]] = deque()
        self.dropped = 0
        # The aggregate turns to floats for good at the first float it is given, even
        # one it then drops as too old (as a numpy batch mixing ints and floats would).
        self.floats = False

    def push(self, ts: float, value: float) -> None:
        self.floats |= isinstance(value, float)
        if self.newest is not None and ts <= self.newest - self.window:
            self.dropped += 1
            return
        self.newest = ts if self.newest is None else max(self.newest, ts)
        self.points.append((ts, value))
        cutoff = self.newest - self.window
        self.points = deque(p for p in self.points if p[0] > cutoff)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]


def exact_variance(values: list[float]) -> float:
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    return float(sum((v - mean) ** 2 for v in exact) / len(exact))


def assert_agrees(r: RollingAggregate, ref: DequeWindow) -> None:
    values = ref.values
    assert (r.count, r.dropped, r.newest) == (len(values), ref.dropped, ref.newest)
    if not values:
        assert (r.sum, r.mean, r.min, r.max, r.variance) == (0, None, None, None, None)
        return
    assert (r.min, r.max) == (min(values), max(values))
    if not ref.floats:
        assert r.sum == sum(values)
    else:
        values = [float(v) for v in values]
        exact = math.fsum(values)
        magnitude = math.fsum(abs(v) for v in values)
        # A few ulps of the sum; ε² of the magnitudes for the compensation's own rounding.
        assert abs(r.sum - exact) <= 4 * 2.2e-16 * abs(exact) + 1e-30 * magnitude
    # The mean is the sum (bounds above) divided once: a few ulps more.
    exact_mean = float(sum(Fraction(v) for v in values) / len(values))
    slack = 1e-29 * math.fsum(abs(v) for v in values) / len(values)
    assert r.mean == pytest.approx(exact_mean, rel=1e-15, abs=slack + 1e-300)
    # Exact rational variance: numpy's own is off by its mean's rounding, up to
    # (ulp of the values)², which is more than 1e-9 relative on near-constant data.
    assert r.variance == pytest.approx(exact_variance(values), rel=1e-9, abs=1e-300)


def stream(values: st.SearchStrategy[float]) -> st.SearchStrategy[list[tuple[int, float]]]:
    """(ts, value) with ts drifting upward; negative steps make late and too-old points."""
    steps = st.lists(st.tuples(st.integers(-40, 25), values), max_size=200)
    return steps.map(
        lambda ops: [
            (sum(max(d, 0) for d, _ in ops[: i + 1]) // 2 + d, v) for i, (d, v) in enumerate(ops)
        ]
    )


ints = st.integers(-(2**62), 2**62)
floats = st.floats(-1e12, 1e12, allow_nan=False)
# Mixed with floats, ints widen to doubles: exact only within 2^53 (as numpy's would).
exact_ints = st.integers(-(2**53), 2**53)


@settings(max_examples=150, deadline=None)
@given(stream(ints), st.integers(1, 60))
def test_integer_streams_agree_with_the_deque(points: list[tuple[int, int]], window: int) -> None:
    r, ref = RollingAggregate(window), DequeWindow(window)
    for ts, v in points:
        r.push(ts, v)
        ref.push(ts, v)
        assert_agrees(r, ref)


@settings(max_examples=150, deadline=None)
@given(stream(floats), st.floats(0.5, 60))
def test_float_streams_agree_with_the_deque(points: list[tuple[int, float]], window: float) -> None:
    r, ref = RollingAggregate(window), DequeWindow(window)
    for ts, v in points:
        r.push(ts, v)
        ref.push(ts, v)
        assert_agrees(r, ref)


@settings(max_examples=150, deadline=None)
@given(
    stream(st.one_of(exact_ints, floats)),
    st.integers(1, 60),
    st.lists(st.integers(0, 200), max_size=6),
)
# A dropped float still turns the batch to floats: 1 + 2^53 is then 2^53.
@example(points=[(0, 1), (0, 2**53), (-1, 0.0)], window=1, cuts=[])
def test_batches_agree_with_single_pushes(
    points: list[tuple[int, float]], window: int, cuts: list[int]
) -> None:
    bounds = sorted({0, len(points), *(min(c, len(points)) for c in cuts)})
    batch, ref = RollingAggregate(window), DequeWindow(window)
    for lo, hi in itertools.pairwise(bounds):
        chunk = points[lo:hi]
        batch.push_many([t for t, _ in chunk], [v for _, v in chunk])
        for t, v in chunk:
            ref.push(t, v)
        assert_agrees(batch, ref)


def test_sketch_6_cancelling_pairs_over_ten_million_updates() -> None:
    rng = np.random.default_rng(11)
    big = 1e15 * (1 + rng.random(5_000_000))
    small = rng.random(5_000_000)
    values = np.empty(10_000_000)
    values[0::2] = big
    values[1::2] = -big + small
    exact = math.fsum(values.tolist())
    r = RollingAggregate(2**62)
    for chunk in np.array_split(np.arange(values.size), 7):
        r.push_many(chunk, values[chunk])
    assert abs(r.sum - exact) <= 1e-12 * abs(exact)
    # The figure has teeth: a naive running sum drifts far beyond 1e-12.
    assert abs(float(np.cumsum(values)[-1]) - exact) > 1e-9 * abs(exact)
    single = RollingAggregate(2**62)
    for i, v in enumerate(values[:400_000].tolist()):
        single.push(i, v)
    assert abs(single.sum - math.fsum(values[:400_000].tolist())) <= 1e-12 * abs(exact)


@pytest.mark.parametrize("batch", [1, 777, 5000])
def test_heavy_eviction_and_level_shifts_stay_exact(batch: int) -> None:
    """Levels 1e15, 1e-3 and 1e9 in turn, each evicting the scale of the one before."""
    rng = np.random.default_rng(2)
    n, window = 60_000, 2000
    noise = rng.random(n)
    values = np.select(
        [np.arange(n) < n // 3, np.arange(n) < 2 * n // 3],
        [1e15 * (1 + noise), 1e-3 * noise],
        1e9 + noise,
    )
    ts = np.arange(n)
    r = RollingAggregate(window)
    checked = 0
    for lo in range(0, n, batch):
        if batch == 1:
            r.push(int(ts[lo]), float(values[lo]))
        else:
            r.push_many(ts[lo : lo + batch], values[lo : lo + batch])
        hi = min(lo + batch, n)
        if batch > 1 or lo % 1999 == 0:
            held = values[max(0, hi - window) : hi]
            exact = math.fsum(held.tolist())
            assert abs(r.sum - exact) <= 4 * 2.2e-16 * abs(exact) + 1e-30 * np.abs(held).sum()
            # Relative 1e-8 (the re-centring threshold is 1e-9), plus the inputs' rounding.
            floor = (2.2e-16 * abs(held[0])) ** 2
            assert r.variance == pytest.approx(np.var(held), rel=1e-8, abs=4 * floor)
            checked += 1
    assert checked >= 12
