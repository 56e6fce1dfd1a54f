"""Merging rollup rows into per-(bucket, group) measures (QUERY-7, QUERY-8).

Exact measures merge exactly: counts add, sums add with ``math.fsum`` (correctly rounded
over the stored compensated sums), min/max take the extreme, mean and M2 merge with
Chan's parallel formula. Percentiles merge the stored t-digest images in one native
``TDigest.merge_images`` call (parse and one-pass merge, GIL released) and read the
quantile of the result; distinct counts merge HyperLogLog images register-wise
(``HyperLogLog.merge_images``). Nothing is ever averaged across windows.

``rate(f)`` / ``increase(f)`` read each series' per-window **max** of the counter field
``f`` (the rollups keep no individual samples; for a monotone counter the window max is
its last value in the window). Within one bucket, per series, consecutive window maxima
add ``v − prev`` when the counter did not decrease and ``v`` when it did (a reset: the
counter restarted from 0); fewer than 2 windows give no value (None), and the result is
never negative. ``increase`` sums the series' increases; ``rate`` divides each series'
increase by the seconds between its first and last window starts, then sums. No
extrapolation to the bucket edges (Prometheus' ``extrapolate = true`` is not offered).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from datanexus.query.model import Measure
from datanexus.sketches import HyperLogLog, TDigest

__all__ = [
    "MetricAcc",
    "counter_increase",
    "digest_rank_error",
    "finish",
    "merge_digests",
    "merge_rows",
]

# Below this many digest images in all, merging in one thread is cheaper than a pool.
_PARALLEL_IMAGES = 2_000


@dataclass
class MetricAcc:
    """Running merge of one metric's rows within one (bucket, group)."""

    n: int = 0
    sums: list[float] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    moments_n: int = 0
    digests: list[bytes] = field(default_factory=list)
    hlls: list[bytes] = field(default_factory=list)
    samples: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    compression: float | None = None
    merged_digest: TDigest | None = None
    """Set by :func:`merge_digests` (else merged by :func:`finish` on demand)."""
    precision: int | None = None
    """Set by :func:`finish`: the merged digest's compression / HLL's precision (for the
    error bounds)."""

    def add(self, row: Sequence[Any], want_samples: bool) -> None:
        # row: (ws_ms, series, metric, count, sum, min, max, mean, m2, digest, hll)
        count = row[3]
        if count:
            self.n += count
            self.sums.append(row[4])
            lo, hi = row[5], row[6]
            if lo is not None and (self.min is None or lo < self.min):
                self.min = lo
            if hi is not None and (self.max is None or hi > self.max):
                self.max = hi
            mean, m2 = row[7], row[8]
            if mean is not None and m2 is not None:
                self._chan(count, mean, m2)
            if want_samples and hi is not None:
                self.samples.setdefault(row[1], []).append((row[0], hi))
        if row[9] is not None:
            self.digests.append(row[9])
        if row[10] is not None:
            self.hlls.append(row[10])

    def _chan(self, n_b: int, mean_b: float, m2_b: float) -> None:
        """Chan, Golub & LeVeque's pairwise update of (n, mean, M2)."""
        n_a = self.moments_n
        if n_a == 0:
            self.moments_n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.moments_n = n


def merge_rows(
    rows: Iterable[Sequence[Any]],
    key_of: Any,
    sample_metrics: frozenset[str],
) -> dict[Any, dict[str, MetricAcc]]:
    """Fold ``rows`` into accumulators per ``key_of(row)`` (None drops the row) and
    metric. ``sample_metrics`` keep per-series window maxima for rate/increase."""
    groups: dict[Any, dict[str, MetricAcc]] = {}
    for row in rows:
        key = key_of(row)
        if key is None:
            continue
        accs = groups.get(key)
        if accs is None:
            accs = groups[key] = {}
        metric = row[2]
        acc = accs.get(metric)
        if acc is None:
            acc = accs[metric] = MetricAcc()
        acc.add(row, metric in sample_metrics)
    return groups


def merge_digests(accs: Iterable[MetricAcc]) -> None:
    """Merge the digest images of every accumulator ahead of :func:`finish`, on a thread
    pool when there are many (the native merge releases the GIL, so groups merge on
    all cores). Raises what ``TDigest.merge_images`` raises."""
    todo = [acc for acc in accs if acc.digests and acc.merged_digest is None]
    workers = min(len(todo), os.cpu_count() or 1)
    if workers < 2 or sum(len(acc.digests) for acc in todo) < _PARALLEL_IMAGES:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dn-merge") as pool:
        merged = list(pool.map(lambda acc: TDigest.merge_images(acc.digests), todo))
    for acc, digest in zip(todo, merged, strict=True):
        acc.merged_digest = digest


def counter_increase(samples: list[tuple[int, float]]) -> tuple[float, int] | None:
    """(increase, covered ms) of one series' (window start, counter max) samples, or None
    with fewer than 2 samples. A decrease is a reset: the new value counts in full."""
    if len(samples) < 2:
        return None
    samples = sorted(samples)
    total = 0.0
    prev = samples[0][1]
    for _, value in samples[1:]:
        total += value - prev if value >= prev else max(value, 0.0)
        prev = value
    return max(total, 0.0), samples[-1][0] - samples[0][0]


def finish(measure: Measure, acc: MetricAcc | None) -> float | int | None:
    """The value of ``measure`` from its metric's accumulator (None: no data)."""
    kind = measure.kind
    if acc is None:
        return 0 if kind == "count" else None
    if kind == "count":
        return acc.n
    if acc.n == 0 and kind not in ("quantile", "distinct"):
        return None
    if kind == "sum":
        return math.fsum(acc.sums)
    if kind == "min":
        return acc.min
    if kind == "max":
        return acc.max
    if kind == "avg":
        return acc.mean if acc.moments_n else math.fsum(acc.sums) / acc.n
    if kind == "stddev":
        if acc.moments_n < 2:
            return None
        return math.sqrt(max(acc.m2, 0.0) / (acc.moments_n - 1))
    if kind == "quantile":
        if not acc.digests:
            return None
        merged = acc.merged_digest
        if merged is None:
            merged = acc.merged_digest = TDigest.merge_images(acc.digests)
        acc.compression = merged.compression
        if merged.is_empty():
            return None
        assert measure.q is not None
        return merged.quantile(measure.q)
    if kind == "distinct":
        if not acc.hlls:
            return None
        hll = HyperLogLog.merge_images(acc.hlls)
        acc.precision = hll.precision
        return hll.estimate()
    # rate / increase
    total = 0.0
    seen = False
    for samples in acc.samples.values():
        result = counter_increase(samples)
        if result is None:
            continue
        increase, span_ms = result
        if kind == "increase":
            total += increase
            seen = True
        elif span_ms > 0:
            total += increase / (span_ms / 1000.0)
            seen = True
    return total if seen else None


def digest_rank_error(q: float, compression: float) -> float:
    """The rank error bound we report for quantile ``q`` of a merged t-digest of
    compression δ: 2π·√(q(1−q))/δ, the width in rank of the largest centroid the arcsine
    scale function allows at q (k₁: dk/dq = δ / (2π√(q(1−q))), Δk ≤ 1), plus 1/(2δ)
    near the extremes where the width formula vanishes. The native digest's hybrid
    scale is finer than k₁ in the tails, so this is conservative there."""
    return 2.0 * math.pi * math.sqrt(max(q * (1.0 - q), 0.0)) / compression + 0.5 / compression
