"""``window_aggregate``: event-time windows over a Bytewax stream, on the native engine.

How it runs (DESIGN §3, "batches, not items"):

1. ``split`` (stateless, on the worker that holds the input): each batch of events is
   read natively in one pass and split by *shard*, a stable hash of the series key, into
   :class:`ShardBatch` parts that also carry the partition's progress; events that cannot
   be windowed travel on beside them, to ``errors``.
2. ``engines`` (stateful, one Bytewax key per shard): one native engine per shard holds
   all its series, so Bytewax sees ``shards`` keys however many series there are, and no
   Python runs per event or per series. Engines snapshot to compact bytes for recovery.
3. Results, late events and errors leave as one list per kind and call, unpacked into
   the ``results``, ``late`` and ``errors`` streams.

Watermarks follow each *source partition*: wrap the source in
:class:`~datanexus.stream.PartitionedSource` so that batches say where they come from
(and which partitions to wait for). Untagged input counts as one partition, which is
exact for a single-partition source and otherwise lets a fast partition make a slow
one's events late. Event time is deterministic: the output depends only on the input
and the parameters, never on batch sizes, worker counts or speed; the wall clock enters
only through ``idle_timeout``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from datanexus._native import ShardBatch, WindowEngine, WindowResult, WindowRouter
from datanexus.errors import ConfigError, DataNexusError
from datanexus.stream.sources import SourceBatch
from datanexus.stream.window_fold import Fold, WindowFolds, split_measures
from datanexus.stream.windows import Session, Sliding, Tumbling, Window

__all__ = ["DEFAULT_SHARDS", "WindowAggregateOut", "window_aggregate"]

DEFAULT_SHARDS = 8
"""Engines per operator. Fixed, not derived from the worker count, so that results do not
depend on it; more shards spread work over more workers, fewer cost less per batch."""

_ERROR = "!"
_RESULT = "r"
_LATE = "l"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class WindowAggregateOut:
    """The streams of :func:`window_aggregate`."""

    results: Stream[WindowResult]
    """Each emission of a window: first results, amendments (``revision`` > 0) and
    retractions of merged sessions. Upsert on ``(key, start)``, newest revision wins."""
    late: Stream[Any]
    """Events too late for every window they belong to, as they came in."""
    errors: Stream[tuple[Any, str]]
    """``(event, reason)`` for events that cannot be windowed (no or unparseable time, a
    non-numeric measure field, an unsupported group-by value…)."""


def _field_of(spec: str) -> str | None:
    if "(" not in spec:
        return None
    return spec[spec.index("(") + 1 : spec.rindex(")")].strip() if ")" in spec else None


def _build_engine(
    step_id: str,
    window: Window,
    measures: Mapping[str, str],  # native specs only (folds split off by the caller)
    group_by: Sequence[str] | str,
    time_field: str,
    durations: dict[str, timedelta | None],
    max_open_windows: int,
    fields: Collection[str] | None,
) -> WindowEngine:
    """The prototype engine: every parameter checked now, when the flow is built."""
    where = f"window_aggregate {step_id!r}"
    if not isinstance(window, Tumbling | Sliding | Session):
        raise ConfigError(
            f"{where}: window must be Tumbling, Sliding or Session, got {type(window).__name__}"
        )
    if not isinstance(measures, Mapping):
        raise ConfigError(f"{where}: measures must be a mapping of name to spec")
    for name, value in durations.items():
        if value is not None and not isinstance(value, timedelta):
            raise ConfigError(f"{where}: {name} must be a timedelta, got {type(value).__name__}")
    keys = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    try:
        engine = WindowEngine(
            **window.engine_args(),
            measures=dict(measures),
            group_by=keys,
            time_field=time_field,
            max_out_of_orderness=durations["max_out_of_orderness"],
            allowed_lateness=durations["allowed_lateness"],
            idle_timeout=durations["idle_timeout"],
            max_open_windows=max_open_windows,
        )
    except (DataNexusError, ValueError, TypeError, OverflowError) as e:
        raise ConfigError(f"{where}: {e}") from e
    if fields is not None:
        used = [time_field, *keys, *(f for _, s in engine.measures if (f := _field_of(s)))]
        unknown = sorted({f for f in used if f not in set(fields)})
        if unknown:
            raise ConfigError(
                f"{where}: unknown fields {unknown}; the events have {sorted(fields)}"
            )
    return engine


_RAW_TYPES = (bytes, bytearray, str)


class _Errors(list[tuple[Any, str]]):
    """Events that cannot be windowed, riding to the engines' step with the parts (so
    that the flow needs no extra step per part to separate them)."""


class _Split:
    """The stateless first step: items (events, lists of events, :class:`SourceBatch`,
    JSON documents) to ``(shard, part)`` pairs, and errors as ``(shard 0, _Errors)``.
    Python looks at the types of a batch once (``map(type, …)`` runs in C), never per
    event."""

    def __init__(self, router: WindowRouter) -> None:
        self._router = router
        self._keys = [str(shard) for shard in range(router.shards)]

    def __call__(self, items: list[Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if items and WindowRouter.only_dicts(items):
            # The common case: a batch of dict events.
            self._split(out, items, "", None, raw=False)
            return out
        types = set(map(type, items))
        if not {SourceBatch, list} & types:
            self._batch(out, items, "", None)
            return out
        loose: list[Any] = []
        for item in items:
            if isinstance(item, SourceBatch | list):
                self._batch(out, loose, "", None)
                loose = []
            if isinstance(item, SourceBatch):
                self._batch(out, item.events, item.partition, item.partitions)
            elif isinstance(item, list):
                self._batch(out, item, "", None)
            else:
                loose.append(item)
        self._batch(out, loose, "", None)
        return out

    def _batch(
        self,
        out: list[tuple[str, Any]],
        events: list[Any],
        partition: str,
        partitions: Iterable[str] | None,
    ) -> None:
        if not events:
            return
        types = set(map(type, events))
        raw = {t for t in types if issubclass(t, _RAW_TYPES)}
        if not raw or raw == types:
            self._split(out, events, partition, partitions, raw=bool(raw))
            return
        # Runs of JSON documents and of mappings, in order: each kind has its reader.
        start = 0
        while start < len(events):
            is_raw = isinstance(events[start], _RAW_TYPES)
            end = start
            while end < len(events) and isinstance(events[end], _RAW_TYPES) == is_raw:
                end += 1
            self._split(out, events[start:end], partition, partitions, raw=is_raw)
            start = end

    def _split(
        self,
        out: list[tuple[str, Any]],
        events: list[Any],
        partition: str,
        partitions: Iterable[str] | None,
        *,
        raw: bool,
    ) -> None:
        split = self._router.split_json if raw else self._router.split
        parts, errors = split(events, partition, partitions, _now_ms())
        keys = self._keys
        out.extend([(keys[shard], part) for shard, part in parts])
        if errors:
            out.append((keys[0], _Errors(errors)))


def _out(
    results: list[Any], late: list[Any], errors: list[Any] | None = None
) -> list[tuple[str, list[Any]]]:
    out = [(_RESULT, results)] if results else []
    if late:
        out.append((_LATE, late))
    if errors:
        out.append((_ERROR, errors))
    return out


# A shard's snapshot: the engine's bytes, with its fold state when it has folds.
_State = bytes | tuple[bytes, WindowFolds]


class _ShardLogic(StatefulBatchLogic[ShardBatch | _Errors, tuple[str, list[Any]], _State]):
    """One shard's engine. Ticks the idleness clock every half ``idle_timeout``."""

    def __init__(
        self, engine: WindowEngine, folds: WindowFolds | None, tick: timedelta | None
    ) -> None:
        self._engine = engine
        self._folds = folds
        self._tick = tick
        self._next = None if tick is None else datetime.now(UTC) + tick

    # Results and late events leave as lists, one item per kind and call: Bytewax then
    # handles a few items per batch, not one per result.
    def on_batch(
        self, values: list[ShardBatch | _Errors]
    ) -> tuple[list[tuple[str, list[Any]]], bool]:
        now = _now_ms()
        results: list[Any] = []
        late: list[Any] = []
        errors: list[Any] = []
        for part in values:
            if isinstance(part, _Errors):
                errors += part
                continue
            if self._folds is None:
                r, lt = self._engine.process_routed(part, now)
            else:
                r, lt = self._folds.process(self._engine, part, now)
            results += r
            late += lt
        return _out(results, late, errors), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list[tuple[str, list[Any]]], bool]:
        assert self._tick is not None
        self._next = datetime.now(UTC) + self._tick
        return _out(self._completed(self._engine.tick(_now_ms())), []), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[tuple[str, list[Any]]], bool]:
        # End of input: every open window emits. The state stays for a resumed run.
        return _out(self._completed(self._engine.flush()), []), StatefulBatchLogic.RETAIN

    def _completed(self, results: list[WindowResult]) -> list[WindowResult]:
        if self._folds is None:
            return results
        done = [self._folds.complete(r) for r in results]
        self._folds.purge(self._engine.watermark)
        return done

    def notify_at(self) -> datetime | None:
        return self._next

    def snapshot(self) -> _State:
        if self._folds is None:
            return self._engine.to_bytes()
        return (self._engine.to_bytes(), self._folds)


def _restore(
    step_id: str,
    prototype: WindowEngine,
    new_folds: Callable[[], WindowFolds | None],
    state: _State | None,
) -> tuple[WindowEngine, WindowFolds | None]:
    if state is None:
        return prototype.copy(), new_folds()
    fresh = new_folds()
    if isinstance(state, tuple):
        image, folds = state
        if fresh is None:
            raise ConfigError(
                f"window_aggregate {step_id!r}: the recovery snapshot has Fold measures and "
                "this flow has none; start from an empty recovery directory"
            )
    else:
        image, folds = state, None
        if fresh is not None:
            raise ConfigError(
                f"window_aggregate {step_id!r}: this flow has Fold measures and the "
                "recovery snapshot has none; start from an empty recovery directory"
            )
    engine = WindowEngine.from_bytes(image)
    if engine.params != prototype.params:
        raise ConfigError(
            f"window_aggregate {step_id!r}: the recovery snapshot was made with other "
            f"parameters ({engine.params}) than this flow's ({prototype.params}); "
            "start from an empty recovery directory or restore the old parameters"
        )
    if folds is not None and fresh is not None:
        folds.rebind(fresh)
    return engine, folds


@operator
def window_aggregate(
    step_id: str,
    up: Stream[Any],
    window: Window,
    measures: Mapping[str, str | Fold[Any]],
    group_by: Sequence[str] | str = (),
    time_field: str = "ts",
    max_out_of_orderness: timedelta = timedelta(0),
    allowed_lateness: timedelta = timedelta(seconds=5),
    idle_timeout: timedelta | None = timedelta(seconds=30),
    shards: int = DEFAULT_SHARDS,
    max_open_windows: int = 10_000,
    fields: Collection[str] | None = None,
) -> WindowAggregateOut:
    """Aggregates ``up`` into event-time windows per series.

    ``up`` carries events (mappings), lists of events, :class:`SourceBatch` items (see
    :class:`~datanexus.stream.PartitionedSource`) or raw JSON documents (bytes or str,
    parsed natively). ``window`` is :class:`Tumbling`, :class:`Sliding` or
    :class:`Session`; ``measures`` maps result names to ``count``, ``sum(f)``, ``min(f)``,
    ``max(f)``, ``mean(f)``, ``stddev(f)``, ``pNN(f)``, ``distinct(f)``, ``rate(f)``, or
    the store's mergeable state ``count(f)``, ``m2(f)``, ``digest(f)``, ``hll(f)`` (see
    :func:`datanexus.stream.rollup_measures`), or a user :class:`Fold` (Python, called
    once per emission of a window with all its events in event-time order: see
    :mod:`datanexus.stream.window_fold` for why and what it costs); ``group_by`` names
    the key fields (missing → None); ``time_field`` holds epoch ms, an RFC 3339 string or an aware
    datetime. The semantics are those of
    :class:`datanexus.WindowEngine`: windows emit once the watermark reaches their end,
    events within ``allowed_lateness`` of an emitted window amend it (``revision`` + 1),
    later ones go to ``late``, every open window emits at the end of input.

    ``max_open_windows`` bounds the windows awaiting their first emission (REQUIREMENTS
    STREAM-12): past it the oldest emit early, and later events amend them. Each of the
    ``shards`` engines holds its share, ``ceil(max_open_windows / shards)``, so the
    operator as a whole holds at most about ``max_open_windows``; "oldest" is judged
    within an engine. ``shards`` is the number of engines (Bytewax keys) the series are
    spread over: fixed, so that results and recovery do not depend on the worker count.

    ``fields``, when given, lists the fields events have: any other field named here is
    refused. Every parameter is checked when the flow is built: a bad one raises
    :class:`datanexus.ConfigError` naming the step and what is wrong.
    """
    where = f"window_aggregate {step_id!r}"
    if not isinstance(measures, Mapping):
        raise ConfigError(f"{where}: measures must be a mapping of name to spec")
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= 65_536:
        raise ConfigError(f"{where}: shards must be in 1..65536")
    if isinstance(max_open_windows, bool) or not isinstance(max_open_windows, int):
        raise ConfigError(f"{where}: max_open_windows must be an int")
    if max_open_windows < 1:
        raise ConfigError(f"{where}: max_open_windows must be at least 1")
    specs, folds = split_measures(where, measures)
    prototype = _build_engine(
        step_id,
        window,
        specs,
        group_by,
        time_field,
        {
            "max_out_of_orderness": max_out_of_orderness,
            "allowed_lateness": allowed_lateness,
            "idle_timeout": idle_timeout,
        },
        -(-max_open_windows // shards),  # each engine's share of the operator's bound
        fields,
    )
    router = WindowRouter(prototype, shards)
    tick = None if idle_timeout is None else max(idle_timeout / 2, timedelta(milliseconds=100))

    names = list(measures)
    params = prototype.params

    def new_folds() -> WindowFolds | None:
        return WindowFolds(folds, names, params) if folds else None

    def build(state: _State | None) -> _ShardLogic:
        engine, shard_folds = _restore(step_id, prototype, new_folds, state)
        return _ShardLogic(engine, shard_folds, tick)

    parts = op.flat_map_batch("split", up, _Split(router))
    emitted = op.key_rm("unkey", op.stateful_batch("engines", parts, build))
    kinds = op.branch("kinds", emitted, lambda item: item[0] == _RESULT)
    rest = op.branch("late_or_errors", kinds.falses, lambda item: item[0] == _LATE)
    results = op.flat_map("results", kinds.trues, lambda item: item[1])
    late = op.flat_map("late", rest.trues, lambda item: item[1])
    errors = op.flat_map("errors", rest.falses, lambda item: item[1])
    return WindowAggregateOut(results, late, errors)
