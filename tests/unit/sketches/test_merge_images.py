"""TDigest.merge_images / HyperLogLog.merge_images: the batch merge of stored images."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.errors import IncompatibleSketches, InvalidType, SerializationError
from datanexus.sketches import HyperLogLog, TDigest


def _digest_images(parts: list[list[float]]) -> list[bytes]:
    images = []
    for values in parts:
        d = TDigest(100)
        d.add_many(values)
        images.append(d.to_bytes())
    return images


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=0, max_size=300),
        min_size=1,
        max_size=12,
    )
)
def test_tdigest_merge_images_is_merge_all_of_the_parsed(parts: list[list[float]]) -> None:
    images = _digest_images(parts)
    expected = TDigest.merge_all(TDigest.from_bytes(b) for b in images)
    merged = TDigest.merge_images(images)
    assert merged == expected
    assert merged.count == sum(len(p) for p in parts)
    flat = sorted(x for p in parts for x in p)
    if flat:
        assert merged.min == flat[0]
        assert merged.max == flat[-1]


def test_tdigest_merge_images_quantile_tracks_all_values() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.lognormal(3.0, 1.0, 200) for _ in range(1440)]
    merged = TDigest.merge_images(_digest_images([list(p) for p in parts]))
    everything = np.sort(np.concatenate(parts))
    for q in (0.5, 0.99):
        rank = np.searchsorted(everything, merged.quantile(q)) / everything.size
        assert abs(rank - q) < 2e-3


def test_tdigest_merge_images_errors_name_the_image() -> None:
    good = _digest_images([[1.0, 2.0, 3.0]])[0]
    with pytest.raises(SerializationError, match="image 1"):
        TDigest.merge_images([good, good[:-2]])
    with pytest.raises(InvalidType, match="position 1"):
        TDigest.merge_images([good, "text"])  # type: ignore[list-item]
    with pytest.raises(InvalidType):
        TDigest.merge_images(5)  # type: ignore[arg-type]
    empty = TDigest.merge_images([], compression=50)
    assert empty.is_empty()
    assert empty.compression == 50


def test_hll_merge_images_is_the_union() -> None:
    sketches = []
    for k in range(6):
        h = HyperLogLog(12)
        h.add_many(np.arange(k * 500, k * 500 + (40 if k < 2 else 3000), dtype=np.int64))
        sketches.append(h)
    expected = HyperLogLog(12)
    for h in sketches:
        expected.merge(h)
    images = [h.to_bytes() for h in sketches]
    assert HyperLogLog.merge_images(images) == expected
    assert HyperLogLog.merge_images(list(reversed(images)), precision=12) == expected


def test_hll_merge_images_refuses_mixed_precision_and_junk() -> None:
    a, b = HyperLogLog(12).to_bytes(), HyperLogLog(10).to_bytes()
    with pytest.raises(IncompatibleSketches, match="image 1"):
        HyperLogLog.merge_images([a, b])
    with pytest.raises(SerializationError, match="image 0"):
        HyperLogLog.merge_images([b"junk"])
    empty = HyperLogLog.merge_images([], precision=10)
    assert empty.is_empty()
    assert empty.precision == 10
