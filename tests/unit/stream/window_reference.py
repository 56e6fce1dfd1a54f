"""The window engine's contract in plain Python: slow, obvious, exact.

Every window keeps all its events; values are computed from them when emitted (exact
integer sums, ``math.fsum`` for floats, ``statistics.stdev``, nearest-rank percentiles).
Nothing is ever purged: the native engine's purging must be invisible. Event by event:

1. an event updates each of its windows with ``end + lateness > watermark`` (sessions:
   unless ``t + gap + lateness <= watermark``); one that updates none is late;
2. a changed window whose end the watermark has passed is emitted at once;
3. the event advances its partition's maximum; the watermark is the minimum over the
   partitions heard of (or announced), minus the out-of-orderness, never going back; every
   waiting window whose end it reaches is emitted, by end, then in the order they began
   to wait (new windows before amended ones at equal ends).

Distinct counts use :class:`datanexus.HyperLogLog` fed the same items in the same order
(merged the same way for sessions), which is what "an HLL fed the same items" means; so
do the ``hll(f)`` images. ``m2(f)`` is two-pass over ``math.fsum``; a ``digest(f)`` image
is described by a :class:`DigestOf` of the window's values (the test compares the
image's quantiles with their nearest ranks).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from datanexus import HyperLogLog

Number = int | float


@dataclass
class Win:
    start: int
    end: int
    events: list[dict[str, Any]] = field(default_factory=list)
    sketches: dict[str, HyperLogLog] = field(default_factory=dict)
    revision: int | None = None
    last: dict[str, Any] | None = None
    # ("pending" | "amend", order) while waiting for the watermark.
    waiting: tuple[int, int] | None = None


def _numbers(events: list[dict[str, Any]], f: str) -> list[Number]:
    return [e[f] for e in events if e.get(f) is not None]


def _extreme(xs: list[Number], smallest: bool) -> Number | None:
    """The least (or greatest) value; an int wins a tie with a float; NaN is sticky."""
    if not xs:
        return None
    floats = [x for x in xs if isinstance(x, float)]
    if any(math.isnan(x) for x in floats):
        return math.nan
    pick = min if smallest else max
    ints = [x for x in xs if isinstance(x, int)]
    if not floats:
        return pick(ints)
    if not ints:
        return pick(floats)
    i, f = pick(ints), pick(floats)
    float_better = f < i if smallest else f > i
    return f if float_better else i


def _rate(events: list[dict[str, Any]], f: str) -> float | None:
    samples = [(e["_t"], e[f]) for e in events if e.get(f) is not None]
    if not samples:
        return None
    first = min(samples, key=lambda s: (s[0], float(s[1])))
    last = max(samples, key=lambda s: (s[0], float(s[1])))
    if last[0] <= first[0]:
        return 0.0
    increase = last[1] - first[1]
    if increase < 0:
        increase = max(last[1], 0)
    return float(increase) * 1000.0 / (last[0] - first[0])


def _percentile(xs: list[Number], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(float(x) for x in xs)
    return s[max(math.ceil(q * len(s)) - 1, 0)]


@dataclass(frozen=True)
class DigestOf:
    """What a ``digest(f)`` image must describe: these values (in any order)."""

    values: tuple[float, ...]


def _m2(xs: list[Number]) -> float | None:
    if not xs:
        return None
    floats = [float(x) for x in xs]
    mean = math.fsum(floats) / len(floats)
    return math.fsum((x - mean) ** 2 for x in floats)


def _typed(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((type(v).__name__, v) for v in key)


class ReferenceEngine:
    def __init__(
        self,
        window: str,
        size: int | None = None,
        slide: int | None = None,
        gap: int | None = None,
        *,
        measures: dict[str, Any],
        group_by: tuple[str, ...] = (),
        time_field: str = "ts",
        max_out_of_orderness: int = 0,
        allowed_lateness: int = 5000,
    ) -> None:
        self.window, self.gap = window, gap
        self.size = size
        self.slide = slide if window == "sliding" else size
        self.measures = {n: self._parse(s) for n, s in measures.items()}
        self.group_by, self.time_field = group_by, time_field
        self.ooo, self.lateness = max_out_of_orderness, allowed_lateness
        self.maxima: dict[Any, int | None] = {}
        self.watermark: int | None = None
        # Keys compare by type and value (True, 1 and 1.0 are three keys).
        self.windows: dict[tuple[Any, ...], list[Win]] = {}
        self.keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.order = itertools.count()
        self.arrivals = itertools.count()

    @staticmethod
    def _parse(spec: Any) -> tuple[str, Any]:
        if not isinstance(spec, str):
            # A user fold (datanexus.stream.Fold): over the window's events in
            # (time, arrival) order, afresh at each emission.
            return ("fold", spec)
        if spec == "count":
            return ("count", None)
        fn, arg = spec.rstrip(")").split("(")
        # The reference knows the default sketch parameters only.
        return ("count" if fn == "n" else fn, arg)

    # --- values -------------------------------------------------------------------
    def _values(self, w: Win) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (fn, f) in self.measures.items():
            if fn == "fold":
                ordered = sorted(w.events, key=lambda e: (e["_t"], e["_arrival"]))
                acc = f.fold(f.init(), [e["_event"] for e in ordered])
                out[name] = acc if f.finish is None else f.finish(acc)
                continue
            if fn == "count":
                out[name] = len(w.events) if f is None else len(_numbers(w.events, f))
                continue
            assert f is not None
            xs = _numbers(w.events, f)
            if fn == "sum":
                exact = all(isinstance(x, int) for x in xs)
                out[name] = None if not xs else (sum(xs) if exact else math.fsum(xs))
            elif fn == "mean":
                out[name] = None if not xs else math.fsum(xs) / len(xs)
            elif fn == "min":
                out[name] = _extreme(xs, smallest=True)
            elif fn == "max":
                out[name] = _extreme(xs, smallest=False)
            elif fn == "stddev":
                out[name] = None if len(xs) < 2 else statistics.stdev(float(x) for x in xs)
            elif fn == "distinct":
                out[name] = w.sketches[name].estimate()
            elif fn == "hll":
                sketch = w.sketches[name]
                out[name] = None if sketch.is_empty() else sketch.to_bytes()
            elif fn == "m2":
                out[name] = _m2(xs)
            elif fn == "digest":
                finite = [float(x) for x in xs if math.isfinite(x)]
                out[name] = DigestOf(tuple(finite)) if finite else None
            elif fn == "rate":
                out[name] = _rate(w.events, f)
            else:
                out[name] = _percentile(xs, float(fn[1:]) / 100)
        return out

    # --- emission -----------------------------------------------------------------
    def _emit(self, key: tuple[Any, ...], w: Win, out: list[tuple[Any, ...]]) -> None:
        values = self._values(w)
        revision = 0 if w.revision is None else w.revision + 1
        out.append((key, w.start, w.end, values, revision, w.last, False))
        w.revision, w.last, w.waiting = revision, values, None

    def _retract(self, key: tuple[Any, ...], w: Win, out: list[tuple[Any, ...]]) -> None:
        if w.revision is not None:
            out.append((key, w.start, w.end, {}, w.revision + 1, w.last, True))
        w.revision, w.last, w.waiting = None, None, None

    def _touched(self, key: tuple[Any, ...], w: Win, out: list[tuple[Any, ...]]) -> None:
        if self.watermark is not None and w.end <= self.watermark:
            self._emit(key, w, out)
        elif w.waiting is None:
            w.waiting = (0 if w.revision is None else 1, next(self.order))

    def _release(self, out: list[tuple[Any, ...]]) -> None:
        assert self.watermark is not None
        due = [
            (w.end, w.waiting, self.keys[typed], w)
            for typed, ws in self.windows.items()
            for w in ws
            if w.waiting is not None and w.end <= self.watermark
        ]
        for _, _, key, w in sorted(due, key=lambda d: (d[0], d[1])):
            self._emit(key, w, out)

    # --- events -------------------------------------------------------------------
    def _add(self, w: Win, event: dict[str, Any]) -> None:
        w.events.append(event)
        for name, (fn, f) in self.measures.items():
            if fn in ("distinct", "hll"):
                sketch = w.sketches.setdefault(name, HyperLogLog(12))
                if event.get(f) is not None:  # type: ignore[arg-type]
                    sketch.add(event[f])  # type: ignore[index]

    def _new(self, start: int, end: int) -> Win:
        w = Win(start, end)
        for name, (fn, _) in self.measures.items():
            if fn in ("distinct", "hll"):
                w.sketches[name] = HyperLogLog(12)
        return w

    def _grid(self, key: tuple[Any, ...], t: int, event: dict[str, Any], out: list[Any]) -> bool:
        assert self.size is not None
        assert self.slide is not None
        ws = self.windows.setdefault(_typed(key), [])
        updated = False
        start = t - t % self.slide
        starts = []
        while start > t - self.size:
            starts.append(start)
            start -= self.slide
        for s in reversed(starts):
            end = s + self.size
            if self.watermark is not None and end + self.lateness <= self.watermark:
                continue
            w = next((w for w in ws if w.start == s), None)
            if w is None:
                w = self._new(s, end)
                ws.append(w)
            self._add(w, event)
            self._touched(key, w, out)
            updated = True
        return updated

    def _session(self, key: tuple[Any, ...], t: int, event: dict[str, Any], out: list[Any]) -> bool:
        gap = self.gap
        assert gap is not None
        if self.watermark is not None and t + gap + self.lateness <= self.watermark:
            return False
        ws = self.windows.setdefault(_typed(key), [])
        touched = sorted((w for w in ws if w.start - gap <= t <= w.end), key=lambda w: w.start)
        if not touched:
            w = self._new(t, t + gap)
            ws.append(w)
        else:
            w = touched[0]
            for other in touched[1:]:
                self._retract(key, other, out)
                ws.remove(other)
                w.events.extend(other.events)
                for name, sketch in other.sketches.items():
                    w.sketches[name].merge(sketch)
                w.end = max(w.end, other.end)
                w.waiting = None
            if t < w.start:
                self._retract(key, w, out)
                w.start = t
            if t + gap > w.end:
                w.end = t + gap
                w.waiting = None
        self._add(w, event)
        self._touched(key, w, out)
        return True

    def expect_partitions(self, partitions: list[Any]) -> None:
        for p in partitions:
            self.maxima.setdefault(p, None)

    def process(self, events: list[dict[str, Any]], partition: Any = "") -> tuple[list, list]:
        """Valid events only (the tests check errors on the native side): returns
        ``(results as tuples, late events)``."""
        out: list[tuple[Any, ...]] = []
        late: list[dict[str, Any]] = []
        for event in events:
            t = event[self.time_field]
            key = tuple(event.get(f) for f in self.group_by)
            e = {**event, "_t": t, "_arrival": next(self.arrivals), "_event": event}
            kept = (self._session if self.window == "session" else self._grid)(key, t, e, out)
            self.keys[_typed(key)] = key
            if not kept:
                late.append(event)
            previous = self.maxima.get(partition)
            self.maxima[partition] = t if previous is None else max(previous, t)
            heard = list(self.maxima.values())
            if None not in heard:
                w = min(m for m in heard if m is not None) - self.ooo
                if self.watermark is None or w > self.watermark:
                    self.watermark = w
                    self._release(out)
        return out, late

    def flush(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        due = [
            (w.end, w.waiting, self.keys[typed], w)
            for typed, ws in self.windows.items()
            for w in ws
            if w.waiting is not None
        ]
        for _, _, key, w in sorted(due, key=lambda d: (d[0], d[1])):
            self._emit(key, w, out)
        return out
