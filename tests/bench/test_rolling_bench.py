"""RollingAggregate speed beside polars, bottleneck and numpy.

The anchors compute a rolling statistic for every row of an array in one vectorised call
(their best case); ours ingests the same points as a stream of batches, maintaining
count, sum, mean, variance, min and max, and reads them after every batch. Timestamps
are evenly spaced (one per unit), so our time window of W units holds exactly the W rows
of a row-count window: the workloads are the same points in the same windows.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import bottleneck as bn
import numpy as np
import polars as pl
import pytest

from datanexus import RollingAggregate

N = 2_000_000
WINDOW = 100_000
BATCH = 10_000
N_SCALAR = 200_000
SCALAR_WINDOW = 1000


def stream() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    values = np.random.default_rng(1).normal(100.0, 15.0, size=N)
    return np.arange(N, dtype=np.int64), values


def ingest(
    ts: np.ndarray[Any, Any],
    values: np.ndarray[Any, Any],
    window: int,
    batch: int,
    reuse: RollingAggregate | None = None,
) -> list[Any]:
    """The stream into a fresh aggregate (its buffers grow from nothing, as on a new key),
    or into `reuse` after `clear()` (its buffers kept, as on a long-lived key)."""
    r = RollingAggregate(window) if reuse is None else reuse
    r.clear()
    seen = []
    for lo in range(0, len(ts), batch):
        r.push_many(ts[lo : lo + batch], values[lo : lo + batch])
        seen.append((r.sum, r.mean, r.min, r.max))
    return seen


@pytest.mark.benchmark(group="rolling.push_many sum/mean")
def test_push_many_ours(benchmark: Any) -> None:
    ts, values = stream()
    benchmark.extra_info.update(items=N, role="ours")
    benchmark(ingest, ts, values, WINDOW, BATCH)


@pytest.mark.benchmark(group="rolling.push_many sum/mean")
def test_push_many_reused_ours(benchmark: Any) -> None:
    ts, values = stream()
    reuse = RollingAggregate(WINDOW)
    benchmark.extra_info.update(items=N, role="ours")
    benchmark(ingest, ts, values, WINDOW, BATCH, reuse)


@pytest.mark.benchmark(group="rolling.push_many sum/mean")
def test_polars_rolling_sum(benchmark: Any) -> None:
    _, values = stream()
    series = pl.Series(values)
    benchmark.extra_info.update(items=N, role="anchor", label="polars rolling_sum")
    benchmark(lambda: series.rolling_sum(WINDOW))


@pytest.mark.benchmark(group="rolling.push_many sum/mean")
def test_polars_rolling_sum_by_time(benchmark: Any) -> None:
    ts, values = stream()
    frame = pl.DataFrame({"ts": ts, "v": values})
    expr = pl.col("v").rolling_sum_by("ts", window_size=f"{WINDOW}i")
    benchmark.extra_info.update(items=N, role="anchor", label="polars rolling_sum_by")
    benchmark(lambda: frame.select(expr))


@pytest.mark.benchmark(group="rolling.push_many sum/mean")
def test_numpy_cumsum_difference(benchmark: Any) -> None:
    """The fastest numpy idiom (and the least accurate: its error grows with N)."""
    _, values = stream()

    def run() -> np.ndarray[Any, Any]:
        c = np.cumsum(values)
        return c[WINDOW:] - c[:-WINDOW]

    benchmark.extra_info.update(items=N, role="anchor", label="numpy cumsum")
    benchmark(run)


@pytest.mark.benchmark(group="rolling.push_many min/max")
def test_push_many_minmax_ours(benchmark: Any) -> None:
    ts, values = stream()
    benchmark.extra_info.update(items=N, role="ours")
    benchmark(ingest, ts, values, WINDOW, BATCH)


@pytest.mark.benchmark(group="rolling.push_many min/max")
def test_push_many_minmax_reused_ours(benchmark: Any) -> None:
    ts, values = stream()
    reuse = RollingAggregate(WINDOW)
    benchmark.extra_info.update(items=N, role="ours")
    benchmark(ingest, ts, values, WINDOW, BATCH, reuse)


@pytest.mark.benchmark(group="rolling.push_many min/max")
def test_bottleneck_move_max(benchmark: Any) -> None:
    _, values = stream()
    benchmark.extra_info.update(items=N, role="anchor", label="bottleneck move_max")
    benchmark(lambda: bn.move_max(values, WINDOW))


@pytest.mark.benchmark(group="rolling.push_many min/max")
def test_bottleneck_move_min_and_max(benchmark: Any) -> None:
    _, values = stream()
    benchmark.extra_info.update(items=N, role="anchor", label="bottleneck min+max")
    benchmark(lambda: (bn.move_min(values, WINDOW), bn.move_max(values, WINDOW)))


@pytest.mark.benchmark(group="rolling.push_many min/max")
def test_polars_rolling_max(benchmark: Any) -> None:
    _, values = stream()
    series = pl.Series(values)
    benchmark.extra_info.update(items=N, role="anchor", label="polars rolling_max")
    benchmark(lambda: series.rolling_max(WINDOW))


@pytest.mark.benchmark(group="rolling.push_many (batch ≫ window)")
def test_push_many_long_batches_ours(benchmark: Any) -> None:
    """Batches of 1e5 into a window of 1e3: only each batch's survivors are stored."""
    ts, values = stream()
    benchmark.extra_info.update(items=N, role="ours")
    benchmark(ingest, ts, values, 1000, 100_000)


@pytest.mark.benchmark(group="rolling.push_many (batch ≫ window)")
def test_polars_rolling_sum_short_window(benchmark: Any) -> None:
    _, values = stream()
    series = pl.Series(values)
    benchmark.extra_info.update(items=N, role="anchor", label="polars rolling_sum")
    benchmark(lambda: series.rolling_sum(1000))


def scalar_stream() -> list[tuple[int, float]]:
    ts, values = stream()
    return list(zip(ts[:N_SCALAR].tolist(), values[:N_SCALAR].tolist(), strict=True))


@pytest.mark.benchmark(group="rolling.push (from Python)")
def test_push_ours(benchmark: Any) -> None:
    points = scalar_stream()

    def run() -> None:
        r = RollingAggregate(SCALAR_WINDOW)
        push = r.push
        for t, v in points:
            push(t, v)

    benchmark.extra_info.update(items=N_SCALAR, role="ours")
    benchmark(run)


class DequeSum:
    """What a Python user writes for a rolling count/sum (no min/max, no compensation)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.points: deque[tuple[int, float]] = deque()
        self.sum = 0.0

    def push(self, ts: int, value: float) -> None:
        self.points.append((ts, value))
        self.sum += value
        cutoff = ts - self.window
        while self.points[0][0] <= cutoff:
            self.sum -= self.points.popleft()[1]


@pytest.mark.benchmark(group="rolling.push (from Python)")
def test_push_python_deque(benchmark: Any) -> None:
    points = scalar_stream()

    def run() -> None:
        push = DequeSum(SCALAR_WINDOW).push
        for t, v in points:
            push(t, v)

    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="python deque sum")
    benchmark(run)


@pytest.mark.benchmark(group="rolling.push (from Python)")
def test_push_empty_call(benchmark: Any) -> None:
    """The loop and a two-argument call that does nothing: the floor for any `push`."""
    points = scalar_stream()

    def nothing(ts: int, value: float) -> None:
        return None

    def run() -> None:
        for t, v in points:
            nothing(t, v)

    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="empty call")
    benchmark(run)
