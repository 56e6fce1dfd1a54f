"""HyperLogLog through its Python surface: types, batches, merges, bytes, errors."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus import HyperLogLog, IncompatibleSketches, InvalidArgument, InvalidType
from datanexus.errors import SerializationError

items = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)


def test_defaults_and_bounds() -> None:
    h = HyperLogLog()
    assert h.precision == 12
    assert h.standard_error == pytest.approx(1.04 / 64)
    assert h.estimate() == 0.0
    assert h.is_empty()
    for p in (4, 18):
        assert HyperLogLog(p).precision == p
    for bad in (3, 19, -1, 2**40):
        with pytest.raises(InvalidArgument):
            HyperLogLog(bad)


def test_small_cardinalities_are_exact_to_a_rounding() -> None:
    h = HyperLogLog()
    h.add_many(f"user-{i}" for i in range(300))
    h.add_many(f"user-{i}" for i in range(300))
    assert h.is_sparse
    assert round(h.estimate()) == 300


@settings(max_examples=60, deadline=None)
@given(st.lists(items, max_size=400), st.integers(min_value=4, max_value=14))
def test_add_and_add_many_give_the_same_sketch(values: list[object], precision: int) -> None:
    one = HyperLogLog(precision)
    for v in values:
        one.add(v)  # type: ignore[arg-type]
    many = HyperLogLog(precision)
    many.add_many(values)  # type: ignore[arg-type]
    assert one == many
    assert one.to_bytes() == many.to_bytes()


@pytest.mark.parametrize(
    "dtype", ["int64", "uint64", "float64", "int32", "uint8", "float32", "bool"]
)
def test_numpy_arrays_hash_like_python_scalars(dtype: str) -> None:
    rng = np.random.default_rng(7)
    array = (
        rng.integers(0, 120, size=5000) * 0.5
        if dtype.startswith("float")
        else rng.integers(0, 120, size=5000)
    ).astype(dtype)
    from_array = HyperLogLog(10)
    from_array.add_many(array)
    from_scalars = HyperLogLog(10)
    for v in array.tolist():
        from_scalars.add(v)
    assert from_array == from_scalars
    assert round(from_array.estimate()) == len(set(array.tolist()))


def test_numpy_strided_object_and_string_arrays() -> None:
    values = np.arange(20_000, dtype=np.int64)
    strided, contiguous = HyperLogLog(), HyperLogLog()
    strided.add_many(values[::2])
    contiguous.add_many(np.ascontiguousarray(values[::2]))
    assert strided == contiguous
    words = [f"w{i}" for i in range(2000)]
    for arr in (np.array(words, dtype=object), np.array(words)):
        h = HyperLogLog()
        h.add_many(arr)
        reference = HyperLogLog()
        reference.add_many(words)
        assert h == reference


def test_large_and_negative_ints_are_distinct_items() -> None:
    h = HyperLogLog()
    h.add_many([2**64 + 1, 2**64 + 2, -(2**80), 2**63, 2**64 - 1, -1])
    assert round(h.estimate()) == 6


def test_bad_items_and_batches_raise_typed_errors() -> None:
    h = HyperLogLog()
    for bad in (None, [1], {"a": 1}, object()):
        with pytest.raises(InvalidType):
            h.add(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        h.add_many(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        h.add_many(np.zeros((2, 2)))
    with pytest.raises(InvalidType):
        h.add_many(np.array(["2024-01-01"], dtype="datetime64[D]"))
    with pytest.raises(InvalidType):
        h.add_many([1, 2, None])  # type: ignore[list-item]
    assert round(h.estimate()) == 2, "items before the bad one were added"


def test_merge_is_registerwise_max_and_leaves_the_argument() -> None:
    a, b, whole = HyperLogLog(), HyperLogLog(), HyperLogLog()
    a.add_many(np.arange(0, 60_000, dtype=np.int64))
    b.add_many(np.arange(30_000, 90_000, dtype=np.int64))
    whole.add_many(np.arange(0, 90_000, dtype=np.int64))
    b_before = b.to_bytes()
    a.merge(b)
    assert b.to_bytes() == b_before
    expected = bytes(
        max(x, y)
        for x, y in zip(
            HyperLogLog.from_bytes(a.to_bytes()).registers(), b.registers(), strict=True
        )
    )
    assert a.registers() == expected == whole.registers()
    assert abs(a.estimate() / 90_000 - 1) < 4 * a.standard_error
    a.merge(None)
    a.merge(a)
    assert a.registers() == expected
    with pytest.raises(IncompatibleSketches):
        a.merge(HyperLogLog(11))
    with pytest.raises(InvalidType):
        a.merge("sketch")  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 5000), max_size=1500),
    st.lists(st.integers(0, 5000), max_size=1500),
    st.lists(st.integers(0, 5000), max_size=1500),
)
def test_merge_laws(xs: list[int], ys: list[int], zs: list[int]) -> None:
    def sketch(values: list[int]) -> HyperLogLog:
        h = HyperLogLog(8)
        h.add_many(values)
        return h

    ab = sketch(xs)
    ab.merge(sketch(ys))
    ba = sketch(ys)
    ba.merge(sketch(xs))
    assert ab.registers() == ba.registers()
    ab_c = ab.copy()
    ab_c.merge(sketch(zs))
    bc = sketch(ys)
    bc.merge(sketch(zs))
    a_bc = sketch(xs)
    a_bc.merge(bc)
    assert ab_c.registers() == a_bc.registers()
    assert ab_c.registers() == sketch(xs + ys + zs).registers()


@pytest.mark.parametrize("n", [0, 1, 700, 200_000])
def test_bytes_pickle_and_copies_round_trip(n: int) -> None:
    h = HyperLogLog(14)
    h.add_many(np.arange(n, dtype=np.uint64))
    for clone in (
        HyperLogLog.from_bytes(h.to_bytes()),
        HyperLogLog.from_bytes(bytearray(h.to_bytes())),
        pickle.loads(pickle.dumps(h)),
        copy.copy(h),
        copy.deepcopy(h),
    ):
        assert clone == h
        assert clone.estimate() == h.estimate()
        assert clone is not h
    assert len(pickle.dumps(h)) < len(h.to_bytes()) + 100


def test_dense_image_sizes() -> None:
    h = HyperLogLog(14)
    h.add_many(np.arange(1_000_000, dtype=np.int64))
    assert not h.is_sparse
    assert len(h.to_bytes()) <= 8300
    assert len(HyperLogLog(14).to_bytes()) == 6


def test_clear_forgets_everything() -> None:
    h = HyperLogLog(9)
    h.add_many(range(10_000))
    h.clear()
    assert h == HyperLogLog(9)
    assert h.estimate() == 0.0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_with_a_typed_error(data: bytes) -> None:
    try:
        h = HyperLogLog.from_bytes(data)
    except SerializationError:
        return
    except IncompatibleSketches:
        return
    assert h.estimate() >= 0.0


def test_truncated_images_are_refused() -> None:
    h = HyperLogLog(12)
    h.add_many(range(100_000))
    image = h.to_bytes()
    for cut in (0, 1, 4, 6, 20, len(image) - 1):
        with pytest.raises(SerializationError):
            HyperLogLog.from_bytes(image[:cut])
    with pytest.raises(InvalidType):
        HyperLogLog.from_bytes("not bytes")  # type: ignore[arg-type]


def test_batches_release_the_gil(runs_without_the_gil: Callable[..., None]) -> None:
    values = np.arange(30_000_000, dtype=np.int64)
    h = HyperLogLog(14)
    runs_without_the_gil(lambda: h.add_many(values), min_ticks=1000)


def test_hashing_is_stable_across_processes() -> None:
    """Python's hash() is salted per process; ours must not be."""
    import subprocess
    import sys

    script = (
        "from datanexus import HyperLogLog; h = HyperLogLog(8); "
        "h.add_many(['a', 'b', 'héllo', b'raw', 1, -7, 2.5, 2**70]); "
        "print(h.to_bytes().hex())"
    )
    images = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "random")
    }
    assert len(images) == 1
    h = HyperLogLog.from_bytes(bytes.fromhex(images.pop()))
    assert round(h.estimate()) == 8
