"""TDigest accuracy against exact numpy references at n = 10⁶ (compression 200).

Two measures: the value error |estimate / exact − 1|, exact being numpy's nearest rank
(``method="inverted_cdf"``), and the rank error |F(estimate) − q|, F the data's own CDF
(the closer end of a tie's rank interval).

The floor under every tolerance: between two knots w items apart the data's empirical CDF
wanders about 0.5·√w/n from any straight line (a Brownian bridge), which no sketch that
interpolates between knots can follow. In the middle w ≈ 0.006·n here, so σ ≈ 4e-5 at
n = 10⁶; a q picked in advance is off by about that, the worst of 2 000 grid points by
three to four times that. Hence 1e-4 at named quantiles and a grid mean of 4e-5; the
value error at p99.9 of lognormal(0, 2) is the rank error times 600.

Run this file directly to print the table beside crick, DataSketches' tdigest_double and
kll_doubles_sketch on the same data: `python tests/unit/sketches/test_tdigest_accuracy.py`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from datanexus import TDigest

N = 1_000_000
SEED = 20_261_128
NAMED = np.array([0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999])
GRID = np.linspace(0.5, 0.999, 2000)
TAIL = np.linspace(0.99, 0.999, 200)

pytestmark = pytest.mark.slow


def values(kind: str, n: int = N, seed: int = SEED) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random(n)
    x = rng.lognormal(0.0, 2.0, n)
    return np.sort(x) if kind == "sorted" else x


def rank_errors(exact: np.ndarray[Any, Any], estimates: Any, qs: Any) -> np.ndarray[Any, Any]:
    n = exact.size
    lo = np.searchsorted(exact, estimates, "left") / n
    hi = np.searchsorted(exact, estimates, "right") / n
    return np.maximum(0.0, np.maximum(lo - qs, qs - hi))


def value_errors(exact: np.ndarray[Any, Any], estimates: Any, qs: Any) -> np.ndarray[Any, Any]:
    truth = np.quantile(exact, qs, method="inverted_cdf")
    return np.abs(np.asarray(estimates) / truth - 1.0)


def digest(x: np.ndarray[Any, Any]) -> TDigest:
    d = TDigest()
    d.add_many(x)
    return d


@pytest.fixture(scope="module")
def lognormal() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x = values("lognormal")
    return x, np.sort(x)


def test_lognormal_fed_item_by_item(
    lognormal: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
) -> None:
    x, exact = lognormal
    d = TDigest()
    add = d.add
    for v in x.tolist():
        add(v)
    assert d == digest(x), "add_many must build the same digest as add, item by item"
    p99, p999 = value_errors(exact, d.quantiles([0.99, 0.999]), np.array([0.99, 0.999]))
    assert p99 <= 0.005, f"p99 value error {p99:.3%}"
    assert p999 <= 0.015, f"p99.9 value error {p999:.3%}"
    assert len(d.to_bytes()) <= 5000
    assert rank_errors(exact, d.quantiles(NAMED), NAMED).max() <= 1e-4
    assert (d.min, d.max, d.count) == (exact[0], exact[-1], N)


@pytest.mark.parametrize("kind", ["uniform", "lognormal", "sorted"])
def test_rank_error_from_p50_to_p999(kind: str) -> None:
    x = values(kind)
    exact = np.sort(x)
    d = digest(x)
    named = rank_errors(exact, d.quantiles(NAMED), NAMED)
    assert named.max() <= 1e-4, dict(zip(NAMED.tolist(), named.tolist(), strict=True))
    grid = rank_errors(exact, d.quantiles(GRID), GRID)
    assert grid.mean() <= 4e-5, grid.mean()
    assert grid.max() <= 2e-4, grid.max()
    # cdf is the inverse map: the rank of the exact quantile, within the same error.
    cdf = np.array([d.cdf(v) for v in np.quantile(exact, NAMED, method="inverted_cdf")])
    assert np.abs(cdf - NAMED).max() <= 1.5e-4
    assert len(d.to_bytes()) <= 5000


def test_sorted_input_is_no_worse_than_shuffled(
    lognormal: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
) -> None:
    x, exact = lognormal
    shuffled, ascending = digest(x), digest(exact)
    # Means over a grid: single quantiles carry too much sampling noise for a ratio.
    ratio = (
        rank_errors(exact, ascending.quantiles(GRID), GRID).mean()
        / rank_errors(exact, shuffled.quantiles(GRID), GRID).mean()
    )
    assert ratio <= 1.5, ratio
    tail = (
        value_errors(exact, ascending.quantiles(TAIL), TAIL).mean()
        / value_errors(exact, shuffled.quantiles(TAIL), TAIL).mean()
    )
    assert tail <= 1.5, tail


@pytest.mark.parametrize("how", ["merge_all", "merge one by one"])
def test_merge_of_100_digests_is_within_twice_a_single_digest(
    lognormal: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], how: str
) -> None:
    x, exact = lognormal
    parts = [digest(part) for part in np.array_split(x, 100)]
    if how == "merge_all":
        merged = TDigest.merge_all(parts)
    else:
        merged = TDigest()
        for part in parts:
            merged.merge(part)
    single = digest(x)
    assert (merged.count, merged.min, merged.max) == (N, exact[0], exact[-1])
    for qs, errors in ((GRID, rank_errors), (TAIL, value_errors)):
        ours = errors(exact, merged.quantiles(qs), qs).mean()
        alone = errors(exact, single.quantiles(qs), qs).mean()
        assert ours <= 2 * alone, (errors.__name__, ours, alone)
    assert len(merged.to_bytes()) <= 5000


def test_six_hour_p99_is_the_merge_of_360_minute_digests() -> None:
    # SKETCH-5: the 6-hour p99 is the merge of 360 one-minute digests, never an average.
    x = values("lognormal", n=360 * 1000, seed=SEED + 1)
    exact = np.sort(x)
    minutes = [pickle.loads(pickle.dumps(digest(m))) for m in np.split(x, 360)]
    six_hours = TDigest.merge_all(minutes)
    p99 = six_hours.quantile(0.99)
    assert value_errors(exact, [p99], 0.99)[0] <= 0.005
    assert rank_errors(exact, [p99], 0.99)[0] <= 1e-4


def _anchors() -> dict[str, tuple[Callable[[np.ndarray[Any, Any]], Any], Any, Any]]:
    """name → (build from values fed one by one, quantile, serialised size)."""
    import crick
    import datasketches as ds

    def feed(sketch: Any, method: str) -> Callable[[np.ndarray[Any, Any]], Any]:
        def build(x: np.ndarray[Any, Any]) -> Any:
            s = sketch()
            add = getattr(s, method)
            for v in x.tolist():
                add(v)
            return s

        return build

    return {
        "datanexus TDigest(200)": (
            feed(TDigest, "add"),
            lambda s, q: s.quantile(q),
            lambda s: len(s.to_bytes()),
        ),
        "crick TDigest(200)": (
            feed(lambda: crick.TDigest(200), "add"),
            lambda s, q: s.quantile(q),
            lambda s: len(pickle.dumps(s)),
        ),
        "datasketches tdigest_double(200)": (
            feed(lambda: ds.tdigest_double(200), "update"),
            lambda s, q: s.get_quantile(q),
            lambda s: s.get_serialized_size_bytes(),
        ),
        "datasketches kll_doubles(200)": (
            feed(lambda: ds.kll_doubles_sketch(200), "update"),
            lambda s, q: s.get_quantile(q),
            lambda s: len(s.serialize()),
        ),
    }


if __name__ == "__main__":
    x = values("lognormal")
    exact = np.sort(x)
    qs = np.array([0.5, 0.9, 0.99, 0.999])
    print(f"lognormal(0, 2), n = {N:,}, seed {SEED}, fed one value at a time")
    print(f"{'':34}" + "".join(f"{'p' + format(100 * q, 'g'):>18}" for q in qs) + "   bytes")
    print(f"{'':34}" + "   value%      rank" * len(qs))
    for name, (build, quantile, size) in _anchors().items():
        s = build(x)
        est = np.array([quantile(s, q) for q in qs])
        val, rank = value_errors(exact, est, qs), rank_errors(exact, est, qs)
        cells = "".join(f"{100 * v:>9.3f} {r:>8.1e}" for v, r in zip(val, rank, strict=True))
        grid = rank_errors(exact, np.array([quantile(s, q) for q in GRID]), GRID)
        print(f"{name:34}{cells} {size(s):>7}   grid p50..p99.9 mean {grid.mean():.1e}")
