"""RollingAggregate through its Python surface: contract, types, batches, bytes, errors."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable

import numpy as np
import pytest

from datanexus import HyperLogLog, InvalidArgument, InvalidType, RollingAggregate
from datanexus.errors import SerializationError


def test_empty_window() -> None:
    r = RollingAggregate(60)
    assert (r.count, r.sum, len(r), r.dropped) == (0, 0, 0, 0)
    assert (r.mean, r.variance, r.sample_variance, r.stddev) == (None, None, None, None)
    assert (r.min, r.max, r.newest) == (None, None, None)
    assert r.window == 60
    assert RollingAggregate(0.5).window == 0.5


@pytest.mark.parametrize("window", [0, -1, 0.0, -0.5, math.nan, math.inf])
def test_window_must_be_positive_and_finite(window: float) -> None:
    with pytest.raises(InvalidArgument):
        RollingAggregate(window)


def test_window_type_is_checked() -> None:
    with pytest.raises(InvalidType):
        RollingAggregate("60")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        RollingAggregate(2**64)


def test_holds_points_newer_than_newest_minus_window() -> None:
    r = RollingAggregate(10)
    r.push(0, 5)
    r.push(9, 1)
    assert (r.count, r.sum) == (2, 6)
    r.push(10, 2)  # cutoff 0: the point at 0 leaves
    assert (r.count, r.sum, r.min, r.max) == (2, 3, 1, 2)
    r.push(5, 100)  # late but inside: accepted
    r.push(0, 100)  # older than the window: dropped
    assert (r.count, r.sum, r.max, r.dropped) == (3, 103, 100, 1)
    r.push(15, 7)  # the late point leaves by its own timestamp, before ts 9
    assert (r.count, r.sum, r.max, r.newest) == (3, 10, 7, 15)


def test_sketch_6_integer_sums_are_exact_beyond_64_bits() -> None:
    r = RollingAggregate(100)
    r.push(0, 2**63 - 1)
    r.push(1, 10)
    assert r.sum == 9223372036854775817
    assert isinstance(r.sum, int)
    r = RollingAggregate(100)
    r.push_many(np.array([0, 1]), np.array([2**53 - 2, 2], dtype=np.int64))
    assert r.sum == 2**53


def test_sketch_6_float_sums_are_compensated() -> None:
    r = RollingAggregate(100)
    for i in range(10):
        r.push(i, 0.1)
    assert r.sum == pytest.approx(1.0, abs=1e-12)
    r = RollingAggregate(100)
    r.push(0, 2e15)
    r.push(1, 3.0)
    assert r.sum == 2e15 + 3


def test_sketch_6_variance_of_large_offsets() -> None:
    r = RollingAggregate(100)
    r.push_many([0, 1, 2, 3], [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16])
    assert r.sample_variance == pytest.approx(30, abs=1e-6)
    assert r.variance == pytest.approx(22.5, abs=1e-6)
    assert r.stddev == pytest.approx(math.sqrt(22.5), abs=1e-6)


def test_sketch_13_mean_across_batches_is_total_sum_over_total_count() -> None:
    r = RollingAggregate(1000)
    r.push_many([0, 1, 2], [1, 2, 3])
    r.push_many([3], [10])
    assert r.mean == 4
    assert r.mean != (2 + 10) / 2


def test_integers_widen_to_floats_for_good() -> None:
    r = RollingAggregate(10)
    r.push(1, 3)
    r.push(2, 4)
    assert isinstance(r.sum, int)
    r.push(3, 0.5)
    assert (r.sum, r.min, r.max) == (7.5, 0.5, 4.0)
    assert isinstance(r.max, float)
    r.push(2.5, 1)  # a float timestamp: late, inside
    assert (r.count, r.newest) == (4, 3.0)
    r.push(12.5, 0)  # cutoff 2.5: ts 1, 2 and 2.5 leave
    assert (r.count, r.sum) == (2, 0.5)


def test_numpy_scalars_and_bools_are_numbers() -> None:
    r = RollingAggregate(np.int32(10))  # type: ignore[arg-type]
    r.push(np.int64(1), np.float32(0.5))  # type: ignore[arg-type]
    r.push(np.uint8(2), True)  # type: ignore[arg-type]
    assert (r.count, r.sum, r.window) == (2, 1.5, 10)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    r = RollingAggregate(10)
    with pytest.raises(InvalidArgument):
        r.push(0, bad)
    with pytest.raises(InvalidArgument):
        r.push(bad, 0)
    with pytest.raises(InvalidArgument, match="index 2"):
        r.push_many(np.arange(3), np.array([1.0, 2.0, bad]))
    with pytest.raises(InvalidArgument):
        r.push_many(np.array([0.0, bad]), np.array([1, 2]))
    with pytest.raises(InvalidArgument):
        r.push_many([0, 1], [1.0, bad])
    assert r.count == 0


def test_out_of_range_and_wrong_types_are_refused() -> None:
    r = RollingAggregate(10)
    with pytest.raises(InvalidArgument, match="64 signed bits"):
        r.push(0, 2**63)
    with pytest.raises(InvalidArgument):
        r.push(-(2**64), 1)
    with pytest.raises(InvalidArgument):
        r.push_many([0], [2**70])
    with pytest.raises(InvalidArgument):
        r.push_many(np.array([0]), np.array([2**63], dtype=np.uint64))
    with pytest.raises(InvalidType):
        r.push(0, "1")  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        r.push_many(5, [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        r.push_many(np.array(["a"]), np.array([1]))
    with pytest.raises(InvalidArgument, match="1-D"):
        r.push_many(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(InvalidArgument, match="as many"):
        r.push_many([0, 1], [1])
    assert r.count == 0


@pytest.mark.parametrize(
    ("ts_dtype", "value_dtype"),
    [
        ("int64", "int64"),
        ("int64", "float64"),
        ("float64", "int64"),
        ("int32", "float32"),
        ("uint64", "uint8"),
        ("float32", "bool"),
        ("int16", "int32"),
    ],
)
def test_array_dtypes_match_scalar_pushes(ts_dtype: str, value_dtype: str) -> None:
    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(0, 5000, size=3000)).astype(ts_dtype)
    values = rng.integers(0, 100, size=3000) % (2 if value_dtype == "bool" else 100)
    values = values.astype(value_dtype)
    batch, single = RollingAggregate(300), RollingAggregate(300)
    batch.push_many(ts, values)
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        single.push(t, v)
    assert (batch.count, batch.min, batch.max, batch.newest) == (
        single.count,
        single.min,
        single.max,
        single.newest,
    )
    assert batch.sum == pytest.approx(single.sum, rel=1e-12)


def test_strided_object_and_list_batches() -> None:
    ts = np.arange(0, 20_000, dtype=np.int64)
    values = (ts % 17).astype(np.float64)
    strided, contiguous, objects, lists = (RollingAggregate(5000) for _ in range(4))
    strided.push_many(ts[::2], values[::2])
    contiguous.push_many(ts[::2].copy(), values[::2].copy())
    objects.push_many(ts[::2].astype(object), values[::2].astype(object))
    lists.push_many(ts[::2].tolist(), values[::2].tolist())
    swapped = RollingAggregate(5000)
    swapped.push_many(ts[::2].astype(">i8"), values[::2].astype(">f8"))
    assert strided == contiguous == objects == lists == swapped
    empty = RollingAggregate(10)
    empty.push_many([], np.array([], dtype=np.float64))
    assert isinstance(empty.sum, int)  # an empty float batch does not widen


def test_clear_keeps_only_the_window() -> None:
    r = RollingAggregate(10)
    r.push(100, 1)
    r.push(0, 1)
    r.clear()
    assert r == RollingAggregate(10)
    r.push(0, 2)
    assert (r.count, r.dropped) == (1, 0)


def filled() -> RollingAggregate:
    r = RollingAggregate(1000)
    rng = np.random.default_rng(5)
    r.push_many(np.arange(5000), rng.normal(1e6, 3.0, size=5000))
    r.push(4500, 7.25)  # a late point
    r.push(3000, 1.0)  # dropped
    return r


def test_bytes_pickle_and_copies_give_the_very_same_figures() -> None:
    r = filled()
    for twin in (
        RollingAggregate.from_bytes(r.to_bytes()),
        RollingAggregate.from_bytes(bytearray(r.to_bytes())),
        pickle.loads(pickle.dumps(r)),
        copy.copy(r),
        copy.deepcopy(r),
        r.copy(),
    ):
        assert twin == r
        stats = ("count", "sum", "mean", "variance", "min", "max", "dropped", "newest")
        assert [getattr(twin, s) for s in stats] == [getattr(r, s) for s in stats]
        twin.push(6000, 1.0)
        assert twin != r
    # 16 bytes per point held plus a small header.
    assert len(r.to_bytes()) < 16 * r.count + 128


def test_corrupt_and_foreign_bytes_are_refused() -> None:
    good = filled().to_bytes()
    for cut in range(0, len(good), 7):
        with pytest.raises(SerializationError):
            RollingAggregate.from_bytes(good[:cut])
    for bad in (good + b"\0", b"XX" + good[2:], good[:3] + b"\x09" + good[4:]):
        with pytest.raises(SerializationError):
            RollingAggregate.from_bytes(bad)
    with pytest.raises(SerializationError):
        RollingAggregate.from_bytes(HyperLogLog().to_bytes())
    with pytest.raises(InvalidType):
        RollingAggregate.from_bytes("not bytes")  # type: ignore[arg-type]


def test_repr_names_the_figures() -> None:
    r = RollingAggregate(60)
    r.push(1, 2)
    assert repr(r) == "RollingAggregate(window=60, count=1, sum=2, min=2, max=2, dropped=0)"


def test_batches_release_the_gil(runs_without_the_gil: Callable[..., None]) -> None:
    ts = np.arange(20_000_000, dtype=np.int64)
    values = np.ones(20_000_000)
    r = RollingAggregate(10_000_000)
    runs_without_the_gil(lambda: r.push_many(ts, values), min_ticks=1000)
    assert r.count == 10_000_000
