"""Chan's merge of moments and merging rollup rows, against plain Python references."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.errors import InvalidArgument
from datanexus.store.merge import Moments, chan_merge, merge_moments, merge_rows
from datanexus.store.rollups import RollupRow

values = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=0,
    max_size=40,
)


def moments(xs: list[float]) -> Moments:
    if not xs:
        return Moments(0, 0.0, 0.0)
    mean = math.fsum(xs) / len(xs)
    return Moments(len(xs), mean, math.fsum((x - mean) ** 2 for x in xs))


@given(st.lists(values, min_size=1, max_size=8))
def test_chan_merge_equals_the_moments_of_the_union(parts: list[list[float]]) -> None:
    merged = merge_moments([moments(p) for p in parts])
    union = [x for p in parts for x in p]
    expected = moments(union)
    assert merged.n == expected.n
    # Tolerance: a few ulps of the magnitudes involved per merge step.
    scale = max([abs(x) for x in union], default=0.0)
    assert merged.mean == pytest.approx(expected.mean, rel=1e-9, abs=1e-9 * scale)
    assert merged.m2 == pytest.approx(expected.m2, rel=1e-8, abs=1e-9 * scale * scale + 1e-9)


def test_chan_merge_with_an_empty_side_is_the_other_side() -> None:
    a = Moments(3, 2.0, 8.0)
    assert chan_merge(a, Moments(0, 0.0, 0.0)) == a
    assert chan_merge(Moments(0, 0.0, 0.0), a) == a


def row(xs: list[float], start: int, revision: int = 0, metric: str = "v") -> RollupRow:
    m = moments(xs)
    return RollupRow(
        "t", "p", "{}", 60_000, start, revision, len(xs), math.fsum(xs),
        min(xs) if xs else None, max(xs) if xs else None,
        m.mean if xs else None, m.m2 if xs else None, None, None, metric,
    )  # fmt: skip


def test_merge_rows_is_exact_for_count_sum_min_max() -> None:
    parts = [[1.0, 2.0, 3.0], [], [10.0, -4.0], [0.5]]
    rows = [row(xs, 60_000 * i, revision=i) for i, xs in enumerate(parts)]
    merged = merge_rows(rows, granularity_ms=3_600_000, window_start_ms=0, revision=9)
    union = [x for p in parts for x in p]
    assert merged.n == len(union)
    assert merged.sum == math.fsum(union)
    assert (merged.min, merged.max) == (-4.0, 10.0)
    assert merged.mean == pytest.approx(statistics.fmean(union))
    assert merged.m2 == pytest.approx(statistics.pvariance(union) * len(union))
    assert (merged.granularity_ms, merged.window_start_ms, merged.revision) == (3_600_000, 0, 9)
    assert merged.metric == "v"
    assert merged.digest is None
    assert merged.hll is None


def test_count_only_rows_merge_to_count_only() -> None:
    rows = [
        RollupRow("t", "p", "{}", 60_000, 0, 0, 4, 0.0),
        RollupRow("t", "p", "{}", 60_000, 60_000, 0, 5, 0.0),
    ]
    merged = merge_rows(rows, granularity_ms=3_600_000, window_start_ms=0, revision=1)
    assert (merged.n, merged.mean, merged.m2, merged.min, merged.metric) == (
        9,
        None,
        None,
        None,
        "*",
    )


def test_rows_of_different_series_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="different series"):
        merge_rows(
            [row([1.0], 0), row([1.0], 0, metric="w")],
            granularity_ms=1,
            window_start_ms=0,
            revision=0,
        )
    with pytest.raises(InvalidArgument):
        merge_rows([], granularity_ms=1, window_start_ms=0, revision=0)
