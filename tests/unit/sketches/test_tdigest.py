"""TDigest through its Python surface: exactness for small inputs, monotone answers,
batches, merges, bytes and errors. Accuracy at scale is in test_tdigest_accuracy.py."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus import DataNexusError, InvalidArgument, InvalidType, TDigest
from datanexus.errors import SerializationError

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
small_ints = st.integers(min_value=-50, max_value=50).map(float)


def digest(values: object, compression: float = 200) -> TDigest:
    d = TDigest(compression)
    d.add_many(values)  # type: ignore[arg-type]
    return d


def nearest_rank(values: list[float], i: int, steps: int) -> float:
    """sorted[⌈q·n⌉ − 1] for q = i/steps, computed in integers (decimal intent)."""
    s = sorted(values)
    rank = max(1, -(-i * len(s) // steps))
    return s[rank - 1]


def assert_monotone(d: TDigest, steps: int = 100_000) -> None:
    qs = np.linspace(0.0, 1.0, steps + 1)
    values = d.quantiles(qs)
    assert np.all(np.diff(values) >= 0), "quantile is not monotone in q"
    assert values[0] == d.min
    assert values[-1] == d.max
    xs = np.linspace(d.min, d.max, 2001)
    cdf = np.array([d.cdf(x) for x in xs])
    assert np.all(np.diff(cdf) >= 0), "cdf is not monotone in x"
    assert cdf[-1] == 1.0
    assert cdf[0] >= 0.0


def test_defaults_and_empty_digest() -> None:
    d = TDigest()
    assert d.compression == 200
    assert d.is_empty()
    assert d.count == 0
    assert d.sum == 0.0
    assert math.isnan(d.quantile(0.5))
    assert math.isnan(d.quantile(0.0))
    assert math.isnan(d.cdf(1.0))
    assert math.isnan(d.min)
    assert math.isnan(d.max)
    assert math.isnan(d.mean)
    assert np.isnan(d.quantiles(np.array([0.1, 0.9]))).all()
    assert repr(d) == "TDigest(compression=200, count=0, min=NaN, max=NaN)"


def test_compression_is_validated() -> None:
    for good in (10, 57.5, 10_000):
        assert TDigest(good).compression == good
    for bad in (9.99, 10_001, -1, math.nan, math.inf):
        with pytest.raises(InvalidArgument):
            TDigest(bad)


def test_sketch_4_examples() -> None:
    # p90 of 1..20 is 18 (nearest rank), exact up to 100 values.
    d = digest(np.arange(1, 21, dtype=np.float64))
    assert d.quantile(0.9) == 18
    assert d.quantile(0.5) == 10
    assert d.quantile(0.0) == 1
    assert d.quantile(1.0) == 20
    # 0.07 · 100 is 7.000000000000001 in binary; numpy's inverted_cdf then answers 8,
    # the decimal p7 of 1..100 is 7, and so is ours.
    d = digest(range(1, 101))
    assert d.quantile(0.07) == 7
    assert np.quantile(np.arange(1, 101), 0.07, method="inverted_cdf") == 8


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(finite, small_ints), min_size=1, max_size=100))
def test_up_to_100_values_are_nearest_rank_exact(values: list[float]) -> None:
    d = digest(values)
    answers = d.quantiles(np.arange(1001) / 1000)
    for i in range(1001):
        assert answers[i] == nearest_rank(values, i, 1000), i / 1000
    # numpy's inverted_cdf is the same rule wherever q·n is not within rounding of an
    # integer.
    qs = np.array([0.013, 0.2571, 0.5003, 0.87777, 0.9919])
    np.testing.assert_array_equal(
        d.quantiles(qs), np.quantile(np.array(values), qs, method="inverted_cdf")
    )
    for x in values:
        assert d.cdf(x) == sum(v <= x for v in values) / len(values)


def test_add_and_weights() -> None:
    d = TDigest()
    d.add(3)
    d.add(1.0, weight=5)
    d.add(2, 3)
    d.add(10.0, weight=0)  # adds nothing, not even to max
    assert (d.count, d.sum, d.min, d.max) == (9.0, 14.0, 1.0, 3.0)
    assert d.mean == pytest.approx(14 / 9)
    assert [d.quantile(q) for q in (0.5, 5 / 9, 0.6, 8 / 9, 0.9)] == [1, 1, 2, 2, 3]
    w = TDigest()
    w.add_many(np.array([3.0, 1.0, 2.0]), weights=[1, 5, 3])
    assert w == d


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_non_finite_values_raise_typed_errors(bad: float) -> None:
    d = digest([1.0, 2.0])
    before = d.to_bytes()
    with pytest.raises(InvalidArgument) as info:
        d.add(bad)
    assert isinstance(info.value, DataNexusError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArgument):
        d.add_many(np.array([5.0, bad, 6.0]))
    with pytest.raises(InvalidArgument):
        d.add_many([5.0, bad])
    assert d.to_bytes() == before, "a refused batch adds nothing"


def test_bad_weights_quantiles_and_types() -> None:
    d = digest([1.0, 2.0])
    for w in (-1.0, math.nan, math.inf):
        with pytest.raises(InvalidArgument):
            d.add(1.0, weight=w)
        with pytest.raises(InvalidArgument):
            d.add_many([1.0], weights=[w])
    with pytest.raises(InvalidArgument):
        d.add_many([1.0, 2.0], weights=[1.0])
    for q in (-0.01, 1.01, math.nan):
        with pytest.raises(InvalidArgument):
            d.quantile(q)
        with pytest.raises(InvalidArgument):
            d.quantiles([0.5, q])
    with pytest.raises(InvalidArgument):
        d.cdf(math.nan)
    assert (d.cdf(-math.inf), d.cdf(math.inf)) == (0.0, 1.0)
    with pytest.raises(InvalidType):
        d.add("1.0")  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        d.add_many(["a"])  # type: ignore[list-item]
    with pytest.raises(InvalidType):
        d.add_many(np.array(["a", "b"]))
    with pytest.raises(InvalidType):
        d.add_many(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        d.add_many(np.zeros((2, 2)))
    with pytest.raises(InvalidType):
        d.merge([1.0])  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        TDigest.merge_all([d, 1.0])  # type: ignore[list-item]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int16", "uint32", "bool"])
def test_numpy_dtypes_strides_and_sequences_agree(dtype: str) -> None:
    rng = np.random.default_rng(1)
    array = (rng.random(30_000) * 1000).astype(dtype)
    expected = TDigest()
    for v in array.astype(np.float64).tolist():
        expected.add(v)
    assert digest(array) == expected
    assert digest(array.tolist()) == expected
    assert digest(array.astype(object)) == expected
    strided = np.repeat(array, 2)[::2]
    assert not strided.flags.c_contiguous
    assert digest(strided) == expected


def test_add_many_is_add_repeated_with_weights() -> None:
    rng = np.random.default_rng(2)
    values = rng.lognormal(0, 1, 50_000)
    weights = rng.choice([1.0, 0.5, 2.0, 0.0], size=values.size)
    one = TDigest(100)
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        one.add(v, weight=w)
    many = TDigest(100)
    many.add_many(values, weights)
    assert one == many
    assert one.to_bytes() == many.to_bytes()


def test_quantiles_vectorised() -> None:
    d = digest(np.random.default_rng(3).normal(size=10_000))
    qs = np.linspace(0, 1, 101)
    out = d.quantiles(qs)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (101,)
    assert out.tolist() == [d.quantile(q) for q in qs.tolist()]
    assert d.quantiles([0.5]).tolist() == [d.quantile(0.5)]
    assert d.quantiles(np.array([], dtype=np.float64)).shape == (0,)


ADVERSARIAL = {
    "duplicates": np.arange(200_000) % 7,
    "ascending": np.arange(200_000),
    "descending": np.arange(200_000)[::-1],
    "two points": np.where(np.random.default_rng(4).random(200_000) < 0.3, 1.0, 0.0),
    "one value": np.full(200_000, 3.25),
    "tiny spread": 1.0 + (np.arange(200_000) % 3) * np.finfo(float).eps,
    "huge range": (np.random.default_rng(5).random(200_000) - 0.5) * 1e300,
    "heavy tail": np.random.default_rng(6).pareto(0.5, 200_000),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_monotone_on_a_fine_grid_also_after_merges(name: str) -> None:
    values = ADVERSARIAL[name].astype(np.float64)
    d = digest(values)
    assert_monotone(d)
    d.merge(digest(values[:50_000], compression=50))
    assert_monotone(d)
    assert_monotone(TDigest.merge_all([digest(part) for part in np.array_split(values, 7)]))


def test_equal_values_are_answered_exactly() -> None:
    values = np.where(np.random.default_rng(7).random(100_000) < 0.3, 5.0, -2.0)
    low = float(np.mean(values == -2.0))
    d = digest(values)
    assert len(d.centroids()[0]) == 2
    assert d.quantile(low) == -2.0
    assert d.quantile(low + 1e-5) == 5.0
    assert d.cdf(-2.0) == low
    assert d.cdf(0.0) == low
    assert d.cdf(5.0) == 1.0


def test_merge_in_place_leaves_other_and_keeps_own_compression() -> None:
    a, b = digest([1.0, 2.0], compression=50), digest([3.0, 4.0, 5.0], compression=500)
    image = b.to_bytes()
    a.merge(b)
    assert b.to_bytes() == image
    assert (a.compression, a.count, a.min, a.max, a.sum) == (50, 5.0, 1.0, 5.0, 15.0)
    a.merge(None)
    assert a.count == 5.0
    a.merge(a)  # with itself: every weight doubles
    assert (a.count, a.sum, a.quantile(0.5)) == (10.0, 30.0, 3.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(finite, max_size=400),
    st.lists(finite, max_size=400),
    st.lists(finite, max_size=400),
)
def test_merge_laws(xs: list[float], ys: list[float], zs: list[float]) -> None:
    a, b, c = digest(xs), digest(ys), digest(zs)
    everything = xs + ys + zs
    for merged in (
        TDigest.merge_all([a, b, c]),
        TDigest.merge_all([c, a, b]),
        TDigest.merge_all([TDigest.merge_all([a, b]), c]),
    ):
        assert merged.count == len(everything)
        if everything:
            assert (merged.min, merged.max) == (min(everything), max(everything))
            assert merged.sum == pytest.approx(math.fsum(everything), rel=1e-9, abs=1e-3)
    # One pass over the same sorted centroids: the order of the inputs does not matter.
    left, right = TDigest.merge_all([a, b, c]), TDigest.merge_all([c, b, a])
    for m, n in zip(left.centroids(), right.centroids(), strict=True):
        np.testing.assert_array_equal(m, n)
    # Up to 100 values everything stays exact, however it was merged (equal centroids;
    # the images may differ in the direction of the next sweep).
    if len(everything) <= 100:
        folded = TDigest()
        for part in (a, b, c):
            folded.merge(part)
        for other in (TDigest.merge_all([a, b, c]), digest(everything)):
            for m, n in zip(folded.centroids(), other.centroids(), strict=True):
                np.testing.assert_array_equal(m, n)


def test_merge_all_compression_and_empty() -> None:
    a, b = digest([1.0], compression=30), digest([2.0], compression=300)
    assert TDigest.merge_all([a, b]).compression == 30
    assert TDigest.merge_all([a, b], compression=77).compression == 77
    assert TDigest.merge_all([]) == TDigest()
    assert TDigest.merge_all(iter([b])).count == 1
    with pytest.raises(InvalidArgument):
        TDigest.merge_all([a], compression=5)


@pytest.mark.parametrize("n", [0, 1, 50, 5_000, 300_000])
def test_bytes_pickle_and_copies_round_trip(n: int) -> None:
    d = digest(np.random.default_rng(n).lognormal(0, 2, n))
    for other in (
        TDigest.from_bytes(d.to_bytes()),
        TDigest.from_bytes(bytearray(d.to_bytes())),
        pickle.loads(pickle.dumps(d)),
        copy.copy(d),
        copy.deepcopy(d),
        d.copy(),
    ):
        assert other == d
        assert other.to_bytes() == d.to_bytes()
        if n:
            assert (
                other.quantiles([0.01, 0.5, 0.999]).tolist()
                == d.quantiles([0.01, 0.5, 0.999]).tolist()
            )
    c = d.copy()
    c.add(1e9)
    assert c != d


def test_image_is_versioned_and_refuses_corruption() -> None:
    d = digest(np.arange(1000, dtype=np.float64))
    image = d.to_bytes()
    assert image[:4] == b"DN\x02\x01"
    for bad in (
        b"",
        image[:3],
        b"XX" + image[2:],
        image[:2] + b"\x01" + image[3:],  # a HyperLogLog's type byte
        image[:3] + b"\x02" + image[4:],  # a format version this build does not read
        image[:-1],
        image + b"\x00",
    ):
        with pytest.raises(SerializationError):
            TDigest.from_bytes(bad)
    with pytest.raises(InvalidType):
        TDigest.from_bytes("DN")  # type: ignore[arg-type]


def test_clear_forgets_everything() -> None:
    d = digest(np.arange(10_000, dtype=np.float64), compression=80)
    d.clear()
    assert d == TDigest(80)
    assert d.is_empty()
    assert math.isnan(d.quantile(0.5))


def test_batches_release_the_gil(runs_without_the_gil: Callable[..., None]) -> None:
    values = np.random.default_rng(8).random(15_000_000)
    d = TDigest()
    runs_without_the_gil(lambda: d.add_many(values), min_ticks=1000)
