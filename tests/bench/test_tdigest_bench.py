"""TDigest speed beside Apache DataSketches (tdigest_double, kll_doubles_sketch) and crick,
all at compression (k) 200, on lognormal(0, 2) values."""

from __future__ import annotations

from typing import Any

import crick
import datasketches as ds
import numpy as np
import pytest

from datanexus import TDigest

N_SCALAR = 100_000
N_BATCH = 2_000_000


def batch() -> np.ndarray[Any, Any]:
    return np.random.default_rng(3).lognormal(0.0, 2.0, N_BATCH)


def scalars() -> list[float]:
    return batch()[:N_SCALAR].tolist()


def feed(make: Any, method: str) -> Any:
    values = scalars()

    def run() -> None:
        add = getattr(make(), method)
        for v in values:
            add(v)

    return run


@pytest.mark.benchmark(group="tdigest.add (float, from Python)")
def test_add_ours(benchmark: Any) -> None:
    benchmark.extra_info.update(items=N_SCALAR, role="ours")
    benchmark(feed(TDigest, "add"))


@pytest.mark.benchmark(group="tdigest.add (float, from Python)")
def test_add_datasketches(benchmark: Any) -> None:
    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="ds tdigest")
    benchmark(feed(lambda: ds.tdigest_double(200), "update"))


@pytest.mark.benchmark(group="tdigest.add (float, from Python)")
def test_add_datasketches_kll(benchmark: Any) -> None:
    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="ds kll")
    benchmark(feed(lambda: ds.kll_doubles_sketch(200), "update"))


@pytest.mark.benchmark(group="tdigest.add (float, from Python)")
def test_add_crick(benchmark: Any) -> None:
    benchmark.extra_info.update(items=N_SCALAR, role="anchor", label="crick")
    benchmark(feed(lambda: crick.TDigest(200), "add"))


@pytest.mark.benchmark(group="tdigest.add_many (float64 array)")
def test_add_many_ours(benchmark: Any) -> None:
    values = batch()
    benchmark.extra_info.update(items=N_BATCH, role="ours")
    benchmark(lambda: TDigest().add_many(values))


@pytest.mark.benchmark(group="tdigest.add_many (float64 array)")
def test_add_many_datasketches(benchmark: Any) -> None:
    values = batch()
    benchmark.extra_info.update(items=N_BATCH, role="anchor", label="ds tdigest")
    benchmark(lambda: ds.tdigest_double(200).update(values))


@pytest.mark.benchmark(group="tdigest.add_many (float64 array)")
def test_add_many_datasketches_kll(benchmark: Any) -> None:
    values = batch()
    benchmark.extra_info.update(items=N_BATCH, role="anchor", label="ds kll")
    benchmark(lambda: ds.kll_doubles_sketch(200).update(values))


@pytest.mark.benchmark(group="tdigest.add_many (float64 array)")
def test_add_many_crick(benchmark: Any) -> None:
    values = batch()
    benchmark.extra_info.update(items=N_BATCH, role="anchor", label="crick")
    benchmark(lambda: crick.TDigest(200).update(values))


def halves(make: Any, update: str) -> tuple[Any, Any]:
    """Two digests of 10⁶ values each (the two halves of the batch)."""
    values = batch()
    a, b = make(), make()
    getattr(a, update)(values[: N_BATCH // 2])
    getattr(b, update)(values[N_BATCH // 2 :])
    return a, b


@pytest.mark.benchmark(group="tdigest.merge (two digests of 1e6)")
def test_merge_ours(benchmark: Any) -> None:
    a, b = halves(TDigest, "add_many")
    benchmark.extra_info.update(items=1, role="ours")
    # Folding b into a again and again: the digest stays at its bounded size.
    benchmark(a.merge, b)


@pytest.mark.benchmark(group="tdigest.merge (two digests of 1e6)")
def test_merge_datasketches(benchmark: Any) -> None:
    a, b = halves(lambda: ds.tdigest_double(200), "update")
    benchmark.extra_info.update(items=1, role="anchor", label="ds tdigest")
    benchmark(a.merge, b)


@pytest.mark.benchmark(group="tdigest.merge (two digests of 1e6)")
def test_merge_crick(benchmark: Any) -> None:
    a, b = halves(lambda: crick.TDigest(200), "update")
    benchmark.extra_info.update(items=1, role="anchor", label="crick")
    benchmark(a.merge, b)


@pytest.mark.benchmark(group="tdigest.merge (two digests of 1e6)")
def test_merge_copy_then_merge_ours(benchmark: Any) -> None:
    """Merging into a copy, leaving both inputs as they were: the copy's cost on top."""
    a, b = halves(TDigest, "add_many")
    benchmark.extra_info.update(items=1, role="anchor", label="ours copy+merge")
    benchmark(lambda: a.copy().merge(b))


@pytest.mark.benchmark(group="tdigest.quantile (p99 of 1e6)")
def test_quantile_ours(benchmark: Any) -> None:
    d, _ = halves(TDigest, "add_many")
    d.quantile(0.5)  # the first query merges the buffer
    benchmark.extra_info.update(items=1, role="ours")
    benchmark(d.quantile, 0.99)


@pytest.mark.benchmark(group="tdigest.quantile (p99 of 1e6)")
def test_quantile_datasketches(benchmark: Any) -> None:
    d, _ = halves(lambda: ds.tdigest_double(200), "update")
    d.get_quantile(0.5)
    benchmark.extra_info.update(items=1, role="anchor", label="ds tdigest")
    benchmark(d.get_quantile, 0.99)


@pytest.mark.benchmark(group="tdigest.quantile (p99 of 1e6)")
def test_quantile_datasketches_kll(benchmark: Any) -> None:
    d, _ = halves(lambda: ds.kll_doubles_sketch(200), "update")
    benchmark.extra_info.update(items=1, role="anchor", label="ds kll")
    benchmark(d.get_quantile, 0.99)


@pytest.mark.benchmark(group="tdigest.quantile (p99 of 1e6)")
def test_quantile_crick(benchmark: Any) -> None:
    d, _ = halves(lambda: crick.TDigest(200), "update")
    d.quantile(0.5)
    benchmark.extra_info.update(items=1, role="anchor", label="crick")
    benchmark(d.quantile, 0.99)
