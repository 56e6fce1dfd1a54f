"""Small computations over series of numbers: the measures a stream or a query needs
beside :class:`~datanexus.RollingAggregate`.

* :func:`moving_average` — mean of the last *n* values (SKETCH-7).
* :func:`counter_rate` — per-second rate of a monotonic counter, across resets (SKETCH-8).
* :func:`le_histogram` — Prometheus-style ``le`` buckets plus ``+Inf`` (SKETCH-9).
* :func:`downsample` — time buckets with avg/min/max/count (SKETCH-10).
* :func:`top_n` — highest scores with repeatable tie-breaks (SKETCH-11).
* :func:`running_totals` — cumulative sums restarting at window boundaries (SKETCH-12).

Each takes a whole batch or window and hands the per-element work to numpy, so there is
no per-event Python work to move into Rust; they are called per window, not per event.
(The mean across batches, SKETCH-13, is ``RollingAggregate.mean``: total sum over total
count, never a mean of means.) Inputs are validated: NaN or ±inf values raise
:class:`~datanexus.InvalidArgument`, so no result is ever NaN or infinite.

This module is for platform code as well as flows: it never imports Bytewax.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from datanexus.errors import InvalidArgument

__all__ = [
    "Bucket",
    "counter_rate",
    "downsample",
    "le_histogram",
    "moving_average",
    "running_totals",
    "top_n",
]

K = TypeVar("K", bound=Hashable)
Numbers = Sequence[float] | npt.NDArray[Any]


def _finite(values: Numbers, what: str) -> npt.NDArray[Any]:
    """`values` as a 1-D numeric array, refusing NaN and ±inf (DEC-8)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidArgument(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "biuf":
        raise InvalidArgument(f"{what} must be numbers, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        at = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidArgument(f"{what} must be finite, found {array[at]} at index {at}")
    return array


def _pair(ts: Numbers, values: Numbers) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    t, v = _finite(ts, "timestamps"), _finite(values, "values")
    if t.size != v.size:
        raise InvalidArgument(f"needs as many timestamps as values, got {t.size} and {v.size}")
    return t, v


def moving_average(values: Numbers, window: int) -> float | None:
    """The mean of the last ``window`` values (of all of them when there are fewer).

    ``None`` for a window of 0 or no values, never NaN: window 2 over 4, 8, 15 → 11.5.
    The sum is exact before the division (``math.fsum``). A negative window raises
    :class:`~datanexus.InvalidArgument`.
    """
    if window < 0:
        raise InvalidArgument(f"moving_average window must be ≥ 0, got {window}")
    array = _finite(values, "values")
    if window == 0 or array.size == 0:
        return None
    tail = array[-window:].tolist()
    return math.fsum(tail) / len(tail)


def counter_rate(ts: Numbers, values: Numbers, *, per: float = 1000.0) -> float:
    """The per-second rate of a monotonic counter sampled at ``ts`` (in time order).

    The increase is summed pair by pair; a value below its predecessor is a counter
    reset (the process restarted from zero), so the increase over that pair is the value
    itself, as in Prometheus' ``rate``. The result is increase / (last ts − first ts),
    scaled by ``per`` timestamp units per second (1000: epoch milliseconds). Fewer than
    two samples, or a time span ≤ 0, give 0.0; the rate is never negative:
    50 @ 10000 then 80 @ 13000 → 10.0. Negative counter values raise
    :class:`~datanexus.InvalidArgument`.
    """
    t, v = _pair(ts, values)
    if not per > 0:
        raise InvalidArgument(f"counter_rate per must be > 0, got {per}")
    if v.size and (v < 0).any():
        raise InvalidArgument("counter values must be ≥ 0")
    if v.size < 2:
        return 0.0
    span = float(t[-1]) - float(t[0])
    if span <= 0:
        return 0.0
    step = np.diff(v)
    increase = math.fsum(np.where(step >= 0, step, v[1:]).tolist())
    return increase / span * per


def le_histogram(
    values: Numbers, bounds: Sequence[float], *, cumulative: bool = False
) -> list[int]:
    """Counts of ``values`` in upper-inclusive buckets ``(b[i-1], b[i]]`` plus ``+Inf``.

    Returns ``len(bounds) + 1`` counts summing to the number of values: bounds
    [1, 2, 5] over 0.5, 1, 1.5, 2, 7 → [2, 2, 0, 1]. With ``cumulative=True`` each count
    includes the buckets below it, as Prometheus' ``_bucket{le=...}`` series do. Bounds
    must be finite and strictly increasing (:class:`~datanexus.InvalidArgument`).
    """
    edges = _finite(np.asarray(bounds, dtype=np.float64), "bounds")
    if (np.diff(edges) <= 0).any():
        raise InvalidArgument(f"histogram bounds must increase strictly, got {list(bounds)}")
    array = _finite(values, "values")
    # searchsorted(side="left") is the index of the first bound ≥ value: its `le` bucket.
    counts = np.bincount(np.searchsorted(edges, array, side="left"), minlength=edges.size + 1)
    return [int(c) for c in (np.cumsum(counts) if cumulative else counts)]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One downsampled interval: its start, and the values that fell in it."""

    timestamp: float
    avg: float
    min: float
    max: float
    count: int


def downsample(ts: Numbers, values: Numbers, interval: float) -> list[Bucket]:
    """Buckets of ``interval`` starting at ``floor(ts / interval) · interval``, in time
    order, each with the avg, min, max and count of its values.

    Timestamps need not be sorted. Integer timestamps with an integer interval are
    bucketed exactly; float timestamps keep their fractions (sub-second intervals and
    timestamps work). An empty series gives []; a non-positive interval raises
    :class:`~datanexus.InvalidArgument`.
    """
    if not (math.isfinite(interval) and interval > 0):
        raise InvalidArgument(f"downsample interval must be > 0, got {interval}")
    t, v = _pair(ts, values)
    if t.size == 0:
        return []
    exact = t.dtype.kind in "iu" and float(interval).is_integer()
    starts = (t // int(interval)) * int(interval) if exact else np.floor(t / interval) * interval
    order = np.argsort(starts, kind="stable")
    starts, v = starts[order], v[order].astype(np.float64)
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
    counts = np.diff(np.r_[first, starts.size])
    sums = np.add.reduceat(v, first)
    mins = np.minimum.reduceat(v, first)
    maxs = np.maximum.reduceat(v, first)
    return [
        Bucket(s, float(total / n), float(lo), float(hi), int(n))
        for s, total, lo, hi, n in zip(
            starts[first].tolist(), sums, mins, maxs, counts, strict=True
        )
    ]


def top_n(
    scores: Iterable[tuple[K, float]] | Mapping[K, float],
    n: int,
    *,
    first_seen: Mapping[K, Any] | None = None,
) -> list[tuple[K, float]]:
    """The ``n`` ids with the highest total score, highest first.

    ``scores`` is a mapping or (id, score) pairs; an id seen more than once scores the
    sum of its scores (pairs of (page, 1) count views). Ties go to the id seen first
    (its position in ``scores``, or ``first_seen[id]`` when given, e.g. a timestamp),
    then to the smaller id — so the order is repeatable whatever the input order of
    equal entries. ``n = 0`` → []; ``n`` beyond the number of ids → all of them; a
    negative ``n`` raises :class:`~datanexus.InvalidArgument`.
    """
    if n < 0:
        raise InvalidArgument(f"top_n needs n ≥ 0, got {n}")
    pairs = scores.items() if isinstance(scores, Mapping) else scores
    totals: dict[K, float] = {}
    for key, score in pairs:
        if not math.isfinite(score):
            raise InvalidArgument(f"top_n scores must be finite, got {score} for {key!r}")
        totals[key] = totals.get(key, 0) + score
    seen = {key: i for i, key in enumerate(totals)} if first_seen is None else first_seen
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], seen[kv[0]], kv[0]))
    return ranked[:n]


def running_totals(ts: Numbers, values: Numbers, window: float) -> npt.NDArray[Any]:
    """For each event, the sum of the values so far in its window
    ``[floor(ts / window) · window, + window)``, in input order.

    A window boundary starts a new total, and an event on the boundary opens the new
    window: with 1-minute windows, 3 @ 0, 4 @ 30000, 5 @ 60000 → [3, 7, 5]. Events need
    not be sorted (each adds to its own window's total, in input order). Integer values
    give exact int64 totals (an overflow raises :class:`~datanexus.InvalidArgument`);
    float totals are running sums within each window, good to ~k·ε of its magnitudes.
    """
    if not (math.isfinite(window) and window > 0):
        raise InvalidArgument(f"running_totals window must be > 0, got {window}")
    t, v = _pair(ts, values)
    if t.size == 0:
        return v[:0]
    exact = t.dtype.kind in "iu" and float(window).is_integer()
    keys = t // int(window) if exact else np.floor(t / window)
    order = np.argsort(keys, kind="stable")
    grouped = v[order]
    if grouped.dtype.kind in "biu":
        grouped = grouped.astype(np.int64)
        if int(np.abs(grouped).max()) * grouped.size >= 2**63:
            raise InvalidArgument("running_totals of these integers could overflow int64")
    k = keys[order]
    # Each window cumulates on its own, so no window carries another's magnitude.
    runs = np.split(grouped, np.flatnonzero(k[1:] != k[:-1]) + 1)
    totals = np.concatenate([np.cumsum(run) for run in runs])
    out: npt.NDArray[Any] = np.empty_like(totals)
    out[order] = totals
    return out
