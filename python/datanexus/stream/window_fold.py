"""User Python folds as window measures (``measures={"top": Fold(...)}``).

**The contract.** A :class:`Fold` is called once per *emission* of a window (the first
result and each amendment), with *all* the events the window holds at that point, in
event-time order (ties: arrival order), as ``finish(fold(init(), events))``. Its value is
therefore a function of the window's events and their order only, never of how the stream
was cut into batches, of the worker count or of speed (the issue's determinism
requirement), whatever the fold computes: it needs no associativity, no commutativity and
no merge. The price is memory: a window's events are kept (by reference) until the window
can change no more (``end + allowed_lateness`` behind the watermark), and each emission
re-reads them all. Folding per batch and merging per-batch accumulators was rejected: it
is batch-size independent only for folds whose merge is associative and commutative, which
nothing can check for user code, so a wrong fold would silently give results that change
with batch sizes.

Arrival order is the order in which the window's shard engine processed the events: the
partition's order for one source partition; events of equal time from different
partitions may interleave differently between runs, so a fold that must be exact across
partitions should not depend on the order of events with equal times.

How it works: the native engine says, for each result, how many events of the batch it
had applied before the result came out (``process_routed_marks``), so each emission sees
exactly the events before it, even when one batch both emits and amends a window. A window
``[start, end)`` of a series holds exactly the series' accepted events with ``start ≤ t <
end``: tumbling and sliding windows by definition, session windows because sessions of one
series never overlap. Events too late for every window are never stored. The stored events
and the last fold values are part of the engine's snapshot (pickled with it), so events
must be picklable for recovery.

``finish`` (or ``fold`` without ``finish``) must return an int, a float, bytes or None,
the value types of :class:`~datanexus.WindowResult`; anything else raises
:class:`~datanexus.InvalidType` naming the measure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from datanexus._native import ShardBatch, WindowEngine, WindowResult
from datanexus.errors import ConfigError, InvalidType

__all__ = ["Fold", "WindowFolds", "split_measures"]

A = TypeVar("A")

HIDDEN_COUNT = "__datanexus_fold_count"
"""The native measure an engine gets when every measure is a fold (an engine needs one)."""


@dataclass(frozen=True)
class Fold(Generic[A]):
    """A user measure: ``finish(fold(init(), events))`` per emission of a window, with
    the window's events in event-time order (see the module docs for the contract).

    ``init`` makes a fresh accumulator; ``fold(acc, events)`` folds the list of events
    (the events as they came in: dicts, or the JSON documents of the raw path) and returns
    the accumulator; ``finish`` turns it into the value (int, float, bytes or None;
    default: the accumulator itself). The functions must be pure.
    """

    init: Callable[[], A]
    fold: Callable[[A, list[Any]], A]
    finish: Callable[[A], Any] | None = None

    def value(self, events: list[Any]) -> Any:
        acc = self.fold(self.init(), events)
        return acc if self.finish is None else self.finish(acc)


def split_measures(
    where: str, measures: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, Fold[Any]]]:
    """The native measure specs and the folds of ``measures``; a value that is neither a
    spec string nor a valid :class:`Fold` raises :class:`ConfigError` naming it."""
    specs: dict[str, str] = {}
    folds: dict[str, Fold[Any]] = {}
    for name, spec in measures.items():
        if isinstance(spec, str):
            specs[name] = spec
            continue
        if not isinstance(spec, Fold):
            raise ConfigError(
                f"{where}: measure {name!r} must be a spec string such as 'sum(field)' or "
                f"a datanexus.stream.Fold, got {type(spec).__name__}"
            )
        for part in ("init", "fold"):
            if not callable(getattr(spec, part)):
                raise ConfigError(f"{where}: measure {name!r}: Fold.{part} must be callable")
        if spec.finish is not None and not callable(spec.finish):
            raise ConfigError(f"{where}: measure {name!r}: Fold.finish must be callable or None")
        if name == HIDDEN_COUNT:
            raise ConfigError(f"{where}: the measure name {name!r} is reserved")
        folds[name] = spec
    if folds and not specs:
        specs[HIDDEN_COUNT] = "count"
    return specs, folds


def _typed(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A series key as the engine tells keys apart: by type and value (``True``, ``1``
    and ``1.0`` are three series), with one NaN and one zero among floats."""
    out: list[Any] = []
    for v in key:
        if isinstance(v, float):
            v = "nan" if math.isnan(v) else (0.0 if v == 0 else v)
            out.append((float, v))
        else:
            out.append((type(v), v))
    return tuple(out)


_VALUE_TYPES = (int, float, bytes, type(None))

# Stored per series: (time, arrival, event), sorted. Arrival numbers are unique, so the
# events themselves are never compared.
_Stored = tuple[int, int, Any]


class WindowFolds:
    """One shard engine's fold state: the events of its live windows and the last fold
    values emitted per window. Picklable (it is part of the engine's snapshot)."""

    def __init__(
        self, folds: Mapping[str, Fold[Any]], names: list[str], params: Mapping[str, Any]
    ) -> None:
        self._folds = dict(folds)
        self._names = [n for n in names if n != HIDDEN_COUNT]
        window = params["window"]
        lateness = int(params["allowed_lateness"])
        if window == "session":
            self._gap: int | None = int(params["gap"])
            # Sessions are dropped one gap after their lateness (as the engine does).
            self._keep = int(params["gap"]) + lateness
            self._every = int(params["gap"])
        else:
            self._gap = None
            self._keep = int(params["size"]) + lateness
            self._every = int(params["size"])
        self._lateness = lateness
        self._events: dict[tuple[Any, ...], list[_Stored]] = {}
        self._last: dict[tuple[tuple[Any, ...], int], tuple[int, dict[str, Any]]] = {}
        self._arrival = 0
        self._next_purge: int | None = None

    # --- snapshots ---------------------------------------------------------------------
    _DATA = ("_events", "_last", "_arrival", "_next_purge")

    def __getstate__(self) -> dict[str, Any]:
        # The data only: the folds are user functions (often lambdas, not picklable); a
        # restored state gets them back from the flow with :meth:`rebind`.
        return {name: getattr(self, name) for name in self._DATA}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def rebind(self, fresh: WindowFolds) -> None:
        """Takes the folds and parameters of ``fresh`` (a restored state has none)."""
        for name, value in fresh.__dict__.items():
            if name not in self._DATA:
                setattr(self, name, value)

    # --- processing ------------------------------------------------------------------
    def process(
        self, engine: WindowEngine, part: ShardBatch, now: int | None
    ) -> tuple[list[WindowResult], list[Any]]:
        """Processes ``part`` on ``engine``: its results with the fold values, and the
        late events."""
        results, late_at, marks = engine.process_routed_marks(part, now)
        events, times = part.events, part.times
        keys = part.keys if events else []
        late = set(late_at)
        out: list[WindowResult] = []
        applied = 0
        for j, r in enumerate(results):
            while applied < len(marks) and marks[applied] <= j:
                if applied not in late:
                    self._add(keys[applied], times[applied], events[applied])
                applied += 1
            out.append(self.complete(r))
        for i in range(applied, len(events)):
            if i not in late:
                self._add(keys[i], times[i], events[i])
        self.purge(engine.watermark)
        return out, [events[i] for i in late_at]

    def _add(self, key: tuple[Any, ...], t: int, event: Any) -> None:
        self._arrival += 1
        stored = self._events.setdefault(_typed(key), [])
        item = (t, self._arrival, event)
        if not stored or stored[-1][:2] < item[:2]:
            stored.append(item)
        else:
            bisect.insort(stored, item)

    def complete(self, r: WindowResult) -> WindowResult:
        """``r`` (a native result) with the fold values in their places."""
        key = _typed(r.key)
        window = (key, r.start_ms)
        native = r.values
        if r.retracted:
            _, last = self._last.pop(window, (0, {}))
            previous = r.previous
            assert previous is not None
            return WindowResult(
                r.key,
                r.start_ms,
                r.end_ms,
                {},
                r.revision,
                self._merge(previous, last),
                True,
            )
        stored = self._events.get(key, [])
        lo = bisect.bisect_left(stored, (r.start_ms,))
        hi = bisect.bisect_left(stored, (r.end_ms,))
        events = [e for _, _, e in stored[lo:hi]]
        values: dict[str, Any] = {}
        for name, fold in self._folds.items():
            value = fold.value(events)
            if not isinstance(value, _VALUE_TYPES):
                raise InvalidType(
                    f"measure {name!r}: a Fold must give an int, float, bytes or None, "
                    f"got {type(value).__name__}"
                )
            values[name] = value
        _, last = self._last.get(window, (0, {}))
        self._last[window] = (r.end_ms, values)
        previous = r.previous
        return WindowResult(
            r.key,
            r.start_ms,
            r.end_ms,
            self._merge(native, values),
            r.revision,
            None if previous is None else self._merge(previous, last),
            False,
        )

    def _merge(self, native: dict[str, Any], folds: dict[str, Any]) -> dict[str, Any]:
        """The values in the order the user named the measures."""
        return {n: folds.get(n) if n in self._folds else native.get(n) for n in self._names}

    # --- memory ------------------------------------------------------------------------
    def purge(self, watermark: int | None) -> None:
        """Forgets events and windows no emission can need any more (see the module docs);
        scans once per window length of watermark progress."""
        if watermark is None:
            return
        if self._next_purge is not None and watermark < self._next_purge:
            return
        self._next_purge = watermark + self._every
        horizon = watermark - self._keep
        gap = self._gap
        for key in list(self._events):
            stored = self._events[key]
            if gap is None:
                # An event's windows all end by t + size.
                cut = bisect.bisect_left(stored, (horizon + 1,))
            else:
                # A session ends one gap after its last event: drop whole sessions.
                cut = 0
                for i, (t, _, _) in enumerate(stored):
                    last = i + 1 == len(stored) or stored[i + 1][0] - t > gap
                    if last:
                        if t + gap > horizon:
                            break
                        cut = i + 1
            if cut == len(stored):
                del self._events[key]
            elif cut:
                del stored[:cut]
        for window, (end, _) in list(self._last.items()):
            if gap is None:
                gone = end + self._lateness <= watermark
            else:
                # A session may have grown since it last emitted: it is gone once its
                # first event (at its start) is, dropped with the whole session above.
                key, start = window
                stored = self._events.get(key, [])
                at = bisect.bisect_left(stored, (start,))
                gone = at == len(stored) or stored[at][0] != start
            if gone:
                del self._last[window]

    @property
    def stored_events(self) -> int:
        """How many events are held (for tests of purging)."""
        return sum(map(len, self._events.values()))
