"""WatermarkTracker speed beside plain-Python trackers of the same contract.

Anchors: the reference implementation the unit tests check us against (what a user would
write to get idleness and monotone resumes), the bare minimum a user could get away with
(a dict of maxima and `min()`, no idleness), and for batches numpy's `max` feeding the
reference once per batch (the best a Python user can do with a batch).
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datanexus import WatermarkTracker

# The unit tests' reference, loaded by path: tests/ is not a package.
ReferenceTracker = runpy.run_path(
    str(Path(__file__).parents[1] / "unit" / "sketches" / "watermark_reference.py")
)["ReferenceTracker"]

PARTITIONS = 8
N_SCALAR = 100_000
BATCH = 10_000
N_BATCH = 2_000_000
START = 1_700_000_000_000  # epoch milliseconds


def events() -> list[tuple[str, int]]:
    """Round-robin partitions, epoch-ms timestamps rising with up to 2 s of disorder."""
    rng = np.random.default_rng(1)
    ts = START + np.arange(N_SCALAR) * 10 + rng.integers(-2000, 0, size=N_SCALAR)
    names = [f"partition-{i}" for i in range(PARTITIONS)]
    return [(names[i % PARTITIONS], int(t)) for i, t in enumerate(ts)]


@pytest.mark.benchmark(group="watermark.observe (epoch ms, from Python)")
def test_observe_ours(benchmark: Any) -> None:
    items = events()

    def run() -> int | float | None:
        t = WatermarkTracker(max_out_of_orderness=5000, idle_timeout=30_000)
        observe = t.observe
        for p, ts in items:
            observe(p, ts)
        return t.watermark

    benchmark.extra_info.update(items=N_SCALAR, role="ours")
    reference = ReferenceTracker(max_out_of_orderness=5000, idle_timeout=30_000)
    for p, ts in items:
        reference.observe(p, ts)
    assert benchmark(run) == reference.watermark


@pytest.mark.benchmark(group="watermark.observe (epoch ms, from Python)")
def test_observe_reference(benchmark: Any) -> None:
    items = events()

    def run() -> None:
        t = ReferenceTracker(max_out_of_orderness=5000, idle_timeout=30_000)
        observe = t.observe
        for p, ts in items:
            observe(p, ts)

    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="python reference")
    benchmark(run)


@pytest.mark.benchmark(group="watermark.observe (epoch ms, from Python)")
def test_observe_dict_min(benchmark: Any) -> None:
    """The least a Python user could write: per-partition maxima and `min()`, no idleness."""
    items = events()

    def run() -> int:
        maxima: dict[str, int] = {}
        watermark = 0
        for p, ts in items:
            if ts > maxima.get(p, ts - 1):
                maxima[p] = ts
            watermark = min(maxima.values()) - 5000
        return watermark

    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="dict+min")
    benchmark(run)


def batches(dtype: str) -> list[tuple[str, np.ndarray[Any, Any]]]:
    rng = np.random.default_rng(2)
    ts = START + np.arange(N_BATCH) * 10 + rng.integers(-2000, 0, size=N_BATCH)
    chunks = np.split(ts.astype(dtype), N_BATCH // BATCH)
    return [(f"partition-{i % PARTITIONS}", c) for i, c in enumerate(chunks)]


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_observe_many_ours(benchmark: Any, dtype: str) -> None:
    work = batches(dtype)
    benchmark.group = f"watermark.observe_many ({dtype}, batches of {BATCH})"

    def run() -> int | float | None:
        t = WatermarkTracker(max_out_of_orderness=5000, idle_timeout=30_000)
        for p, ts in work:
            t.observe_many(p, ts)
        return t.watermark

    benchmark.extra_info.update(items=N_BATCH, role="ours")
    reference = ReferenceTracker(max_out_of_orderness=5000, idle_timeout=30_000)
    for p, ts in work:
        reference.observe(p, ts.max().item())
    assert benchmark(run) == reference.watermark


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_observe_many_numpy_max(benchmark: Any, dtype: str) -> None:
    work = batches(dtype)
    benchmark.group = f"watermark.observe_many ({dtype}, batches of {BATCH})"

    def run() -> None:
        t = ReferenceTracker(max_out_of_orderness=5000, idle_timeout=30_000)
        for p, ts in work:
            t.observe(p, ts.max().item())

    benchmark.extra_info.update(items=N_BATCH, role="anchor", label="np.max+reference")
    benchmark(run)


@pytest.mark.parametrize("dtype", ["int64", "float64"])
def test_observe_many_reference_loop(benchmark: Any, dtype: str) -> None:
    work = [(p, ts.tolist()) for p, ts in batches(dtype)[:20]]
    benchmark.group = f"watermark.observe_many ({dtype}, batches of {BATCH})"

    def run() -> None:
        t = ReferenceTracker(max_out_of_orderness=5000, idle_timeout=30_000)
        for p, ts in work:
            t.observe_many(p, ts)

    benchmark.extra_info.update(items=20 * BATCH, role="anchor", label="python reference")
    benchmark(run)
