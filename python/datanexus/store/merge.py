"""Merging rollup rows into one coarser row: the arithmetic of compaction (STORE-4).

Every stored column is mergeable: count, sum, min and max exactly (the sum compensated
with ``math.fsum``), mean and M2 with Chan et al.'s pairwise formula, t-digests with
``TDigest.merge_images`` and HyperLogLogs with ``HyperLogLog.merge_images``. Percentiles and
distinct counts of a coarse window are therefore the merged sketches' answers, never an
average of the fine windows' answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from datanexus.errors import InvalidArgument
from datanexus.sketches import HyperLogLog, TDigest
from datanexus.store.rollups import RollupRow

__all__ = ["Moments", "chan_merge", "merge_moments", "merge_rows"]


class Moments(NamedTuple):
    """``n`` values with mean ``mean`` and M2 = Σ (x − mean)² (n = 0: mean = m2 = 0)."""

    n: int
    mean: float
    m2: float


def chan_merge(a: Moments, b: Moments) -> Moments:
    """The moments of the union of two disjoint sets of values (Chan, Golub & LeVeque
    1979): exact in real arithmetic, and stable because it adds the squared difference
    of the means weighted by n_a·n_b/n instead of differencing large sums of squares."""
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / n)
    return Moments(n, mean, m2)


def merge_moments(parts: Sequence[Moments]) -> Moments:
    """Fold :func:`chan_merge` over ``parts`` (any order gives the same result up to
    rounding)."""
    total = Moments(0, 0.0, 0.0)
    for part in parts:
        total = chan_merge(total, part)
    return total


def merge_rows(
    rows: Sequence[RollupRow], *, granularity_ms: int, window_start_ms: int, revision: int
) -> RollupRow:
    """One row of ``granularity_ms`` starting at ``window_start_ms`` that merges ``rows``
    (all of one tenant, pipeline, series and metric, else :class:`InvalidArgument`).

    mean/m2 are None when any input with values lacks them (a count-only row); digest
    and hll are None when no input has one. Sketch images that do not parse raise
    :class:`datanexus.errors.SerializationError`; HLLs of different precisions raise
    what ``HyperLogLog.merge`` raises.
    """
    if not rows:
        raise InvalidArgument("merge_rows needs at least one row")
    first = rows[0]
    identity = (first.tenant, first.pipeline, first.series, first.metric)
    for r in rows:
        if (r.tenant, r.pipeline, r.series, r.metric) != identity:
            raise InvalidArgument(
                f"merge_rows got rows of different series: {identity} and "
                f"{(r.tenant, r.pipeline, r.series, r.metric)}"
            )
    filled = [r for r in rows if r.n > 0]
    count = sum(r.n for r in rows)
    mins = [r.min for r in filled if r.min is not None]
    maxs = [r.max for r in filled if r.max is not None]
    mean: float | None = None
    m2: float | None = None
    if filled and all(r.mean is not None and r.m2 is not None for r in filled):
        moments = merge_moments(
            [Moments(r.n, float(r.mean or 0.0), float(r.m2 or 0.0)) for r in filled]
        )
        mean, m2 = moments.mean, moments.m2
    # Parsed and merged natively in one call each (no sketch object per row).
    digests = [r.digest for r in rows if r.digest is not None]
    digest = TDigest.merge_images(digests).to_bytes() if digests else None
    images = [r.hll for r in rows if r.hll is not None]
    hll = HyperLogLog.merge_images(images).to_bytes() if images else None
    return RollupRow(
        first.tenant,
        first.pipeline,
        first.series,
        granularity_ms,
        window_start_ms,
        revision,
        count,
        math.fsum(r.sum for r in rows),
        min(mins) if mins else None,
        max(maxs) if maxs else None,
        mean,
        m2,
        digest,
        hll,
        first.metric,
    )
