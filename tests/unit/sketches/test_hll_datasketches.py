"""Interchange with Apache DataSketches (the PyPI `datasketches` package) both ways."""

from __future__ import annotations

import datasketches as ds
import numpy as np
import pytest

from datanexus import HyperLogLog, IncompatibleSketches, SerializationError

TYPES = [ds.tgt_hll_type.HLL_4, ds.tgt_hll_type.HLL_6, ds.tgt_hll_type.HLL_8]
# 0: empty; 5: LIST mode; 300: SET mode; 3000 and 200_000: HLL mode (few, many aux entries).
SIZES = [0, 5, 300, 3000, 200_000]


def theirs_and_ours(n: int, lg_k: int, tgt: object, offset: int = 0) -> tuple[object, HyperLogLog]:
    theirs = ds.hll_sketch(lg_k, tgt)
    ours = HyperLogLog(lg_k)
    for i in range(offset, offset + n):
        theirs.update(i)
    ours.add_many(np.arange(offset, offset + n, dtype=np.int64))
    return theirs, ours


def hll8_registers(image: bytes, lg_k: int) -> bytes:
    """Registers of an HLL-mode HLL_8 image: 40 preamble bytes, then one byte a slot."""
    assert image[0] == 10, "HLL mode preamble"
    assert image[7] == 2 | 2 << 2, "HLL mode, HLL_8 type"
    return image[40 : 40 + (1 << lg_k)]


@pytest.mark.parametrize("tgt", TYPES, ids=["HLL_4", "HLL_6", "HLL_8"])
@pytest.mark.parametrize("n", SIZES)
def test_their_images_load_with_the_same_registers_and_estimate(tgt: object, n: int) -> None:
    lg_k = 11
    theirs, ours = theirs_and_ours(n, lg_k, tgt)
    for image in (theirs.serialize_compact(), theirs.serialize_updatable()):  # type: ignore[attr-defined]
        loaded = HyperLogLog.from_bytes(image)
        assert loaded.registers() == ours.registers()
        expected = theirs.get_estimate()  # type: ignore[attr-defined]
        if loaded.is_sparse:
            # Their coupon estimator is an interpolation table, ours its closed form.
            assert loaded.estimate() == pytest.approx(expected, rel=1e-6, abs=1e-9)
        else:
            # In HLL mode their estimate is the HIP accumulator, which we carry over.
            assert loaded.estimate() == expected


def test_their_hll8_registers_equal_ours_byte_for_byte() -> None:
    theirs = ds.hll_sketch(12, ds.tgt_hll_type.HLL_8)
    ours = HyperLogLog(12)
    words = [f"user-{i}" for i in range(50_000)] + [1.5, -0.0, 0.0, float("nan"), 7]
    for w in words:
        theirs.update(w)
        ours.add(w)
    assert hll8_registers(theirs.serialize_compact(), 12) == ours.registers()
    assert hll8_registers(ours.to_datasketches(), 12) == ours.registers()


@pytest.mark.parametrize("n", SIZES)
def test_our_image_loads_in_datasketches(n: int) -> None:
    _, ours = theirs_and_ours(n, 12, ds.tgt_hll_type.HLL_8)
    theirs = ds.hll_sketch.deserialize(ours.to_datasketches())
    assert theirs.lg_config_k == 12
    assert theirs.is_empty() == (n == 0)
    assert theirs.get_estimate() == pytest.approx(ours.estimate(), rel=1e-12)
    if n:
        assert hll8_registers(theirs.serialize_compact(), 12) == ours.registers()


def test_merged_sketch_is_marked_out_of_order_for_them() -> None:
    a, b = HyperLogLog(12), HyperLogLog(12)
    a.add_many(np.arange(0, 100_000, dtype=np.int64))
    b.add_many(np.arange(50_000, 150_000, dtype=np.int64))
    a.merge(b)
    theirs = ds.hll_sketch.deserialize(a.to_datasketches())
    assert theirs.get_estimate() == pytest.approx(150_000, rel=4 * a.standard_error)


@pytest.mark.parametrize("tgt", TYPES, ids=["HLL_4", "HLL_6", "HLL_8"])
def test_shared_items_are_not_double_counted(tgt: object) -> None:
    """60k items on each side, 40k of them on both: the union is 80k, not 120k."""
    theirs, ours = theirs_and_ours(60_000, 12, tgt, offset=0)
    _, other = theirs_and_ours(60_000, 12, tgt, offset=20_000)
    ours.merge(other)
    # Their sketch into ours ...
    ours.merge(HyperLogLog.from_bytes(theirs.serialize_compact()))  # type: ignore[attr-defined]
    assert ours.estimate() == pytest.approx(80_000, rel=4 * ours.standard_error)
    # ... and ours into their union.
    union = ds.hll_union(12)
    union.update(theirs)
    union.update(ds.hll_sketch.deserialize(other.to_datasketches()))
    assert union.get_estimate() == pytest.approx(80_000, rel=4 * ours.standard_error)
    assert abs(union.get_estimate() - ours.estimate()) < 0.01 * 80_000


def test_our_images_are_never_larger_than_theirs() -> None:
    lg_k = 12
    theirs = [ds.hll_sketch(lg_k, t) for t in TYPES]
    ours = HyperLogLog(lg_k)
    checkpoints = {0, 1, 2, 7, 8, 100, 383, 384, 385, 500, 515, 516, 600, 1000, 5000, 100_000}
    for i in range(100_001):
        if i in checkpoints:
            smallest = min(len(t.serialize_compact()) for t in theirs)
            assert len(ours.to_bytes()) <= smallest, (i, len(ours.to_bytes()), smallest)
        ours.add(i)
        for t in theirs:
            t.update(i)


def test_unsupported_or_broken_images() -> None:
    big = ds.hll_sketch(20, ds.tgt_hll_type.HLL_8)
    big.update(1)
    with pytest.raises(IncompatibleSketches, match="lg_k 20"):
        HyperLogLog.from_bytes(big.serialize_compact())
    image = bytearray(ds.hll_sketch(12, ds.tgt_hll_type.HLL_4).serialize_updatable())
    image[7] = (image[7] & ~3) | 3  # mode 3 does not exist
    with pytest.raises(SerializationError):
        HyperLogLog.from_bytes(bytes(image))
    t = ds.hll_sketch(12, ds.tgt_hll_type.HLL_8)
    for i in range(10_000):
        t.update(i)
    with pytest.raises(SerializationError):
        HyperLogLog.from_bytes(t.serialize_compact()[:-1])
