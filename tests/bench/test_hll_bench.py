"""HyperLogLog speed beside Apache DataSketches (and numpy for exact batch distinct counts)."""

from __future__ import annotations

from typing import Any

import datasketches as ds
import numpy as np
import pytest

from datanexus import HyperLogLog

N_SCALAR = 100_000
N_BATCH = 2_000_000


def ints() -> list[int]:
    return np.random.default_rng(1).integers(0, 2**62, size=N_SCALAR).tolist()


@pytest.mark.benchmark(group="hll.add (int, from Python)")
def test_add_ours(benchmark: Any) -> None:
    values = ints()

    def run() -> None:
        h = HyperLogLog(12)
        add = h.add
        for v in values:
            add(v)

    benchmark.extra_info.update(items=N_SCALAR, role="ours")
    benchmark(run)


@pytest.mark.benchmark(group="hll.add (int, from Python)")
def test_add_datasketches(benchmark: Any) -> None:
    values = ints()

    def run() -> None:
        h = ds.hll_sketch(12, ds.tgt_hll_type.HLL_8)
        update = h.update
        for v in values:
            update(v)

    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="datasketches")
    benchmark(run)


def batch(dtype: str) -> np.ndarray[Any, Any]:
    return np.random.default_rng(2).integers(0, 2**62, size=N_BATCH).astype(dtype)


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_add_many_ours(benchmark: Any, dtype: str) -> None:
    values = batch(dtype)
    benchmark.group = f"hll.add_many ({dtype} array)"

    def run() -> None:
        HyperLogLog(12).add_many(values)

    benchmark.extra_info.update(items=N_BATCH, role="ours")
    benchmark(run)


@pytest.mark.parametrize("dtype", ["int64", "uint64"])
def test_add_many_numpy_unique(benchmark: Any, dtype: str) -> None:
    """The exact answer a numpy user would compute for the same batch."""
    values = batch(dtype)
    benchmark.group = f"hll.add_many ({dtype} array)"
    benchmark.extra_info.update(items=N_BATCH, role="anchor", label="np.unique")
    benchmark(lambda: np.unique(values).size)


def test_add_many_datasketches_loop(benchmark: Any) -> None:
    """DataSketches' Python HLL has no batch call: a loop over the array is what remains."""
    values = batch("int64")[:200_000].tolist()
    benchmark.group = "hll.add_many (int64 array)"

    def run() -> None:
        h = ds.hll_sketch(12, ds.tgt_hll_type.HLL_8)
        for v in values:
            h.update(v)

    benchmark.extra_info.update(items=len(values), role="anchor", label="datasketches loop")
    benchmark(run)


def two_p14() -> tuple[HyperLogLog, HyperLogLog]:
    a, b = HyperLogLog(14), HyperLogLog(14)
    a.add_many(np.arange(0, 1_000_000, dtype=np.int64))
    b.add_many(np.arange(500_000, 1_500_000, dtype=np.int64))
    return a, b


@pytest.mark.benchmark(group="hll.merge (two p=14)")
def test_merge_ours(benchmark: Any) -> None:
    a, b = two_p14()

    def run() -> None:
        a.copy().merge(b)

    benchmark.extra_info.update(items=1, role="ours")
    benchmark(run)


@pytest.mark.benchmark(group="hll.merge (two p=14)")
def test_merge_copy_alone(benchmark: Any) -> None:
    """The copy inside the merge benchmark, to read the merge's own cost off."""
    a, _ = two_p14()
    benchmark.extra_info.update(items=1, role="anchor", label="copy only")
    benchmark(a.copy)


@pytest.mark.benchmark(group="hll.merge (two p=14)")
def test_merge_datasketches(benchmark: Any) -> None:
    a, b = two_p14()
    ta = ds.hll_sketch.deserialize(a.to_datasketches())
    tb = ds.hll_sketch.deserialize(b.to_datasketches())

    def run() -> None:
        u = ds.hll_union(14)
        u.update(ta)
        u.update(tb)
        u.get_result(ds.tgt_hll_type.HLL_8)

    benchmark.extra_info.update(items=1, role="anchor", label="datasketches union")
    benchmark(run)


@pytest.mark.benchmark(group="hll.estimate (merged p=14)")
def test_estimate_ours(benchmark: Any) -> None:
    a, b = two_p14()
    a.merge(b)
    benchmark.extra_info.update(items=1, role="ours")
    benchmark(a.estimate)


@pytest.mark.benchmark(group="hll.estimate (merged p=14)")
def test_estimate_datasketches(benchmark: Any) -> None:
    a, b = two_p14()
    u = ds.hll_union(14)
    u.update(ds.hll_sketch.deserialize(a.to_datasketches()))
    u.update(ds.hll_sketch.deserialize(b.to_datasketches()))
    result = u.get_result(ds.tgt_hll_type.HLL_8)
    benchmark.extra_info.update(items=1, role="anchor", label="datasketches")
    benchmark(result.get_estimate)
