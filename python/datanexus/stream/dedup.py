"""``dedup``: drop repeated events within a wall-clock window (REQUIREMENTS STREAM-13..15).

An event's identity is its ``dedup_key`` when present (not None), else its ``id``; an
event with neither is always processed. A repeat of an identity seen within the window
goes to the ``duplicates`` stream as ``(event, "duplicate")`` and counts nowhere;
events with the same payload but different ids are both processed. With
``content=True`` an event is also a repeat when its canonical payload, minus ``ts``
and the id field, was seen (a hash of it is remembered).

The window is wall clock (the injectable ``clock``), 60 s by default, 0 to switch
deduplication off, at most 1 h: it bounds memory, and event timestamps, even far in the
future, never move it. Older repeats reach the store, whose natural key makes them
no-ops (STORE-3). Identities are remembered per (tenant, stream): the Bytewax key of the
input stream, see :func:`dedup_scope`.

The state is a :class:`~datanexus.stream.dedup_keys.LocalSeenKeys` per key, snapshotted
with the flow for recovery, or a shared :class:`~datanexus.stream.dedup_keys.RedisSeenKeys`
(``redis_client=``) when several flows or processes must agree.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import bytewax.operators as op
import redis
from bytewax.dataflow import operator
from bytewax.operators import KeyedStream, StatefulBatchLogic

from datanexus.errors import ConfigError
from datanexus.stream.dedup_keys import DEFAULT_MAX_KEYS, LocalSeenKeys, RedisSeenKeys, SeenKeys

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "MAX_DEDUP_WINDOW",
    "DedupOut",
    "Deduplicator",
    "dedup",
    "dedup_scope",
]

DEFAULT_DEDUP_WINDOW = timedelta(seconds=60)
MAX_DEDUP_WINDOW = timedelta(hours=1)
DUPLICATE = "duplicate"

_KEPT = "e"
_DUP = "d"


def dedup_scope(tenant: str, stream: str) -> str:
    """The Bytewax key of a (tenant, stream): identities are compared within it."""
    return json.dumps([tenant, stream], ensure_ascii=False, separators=(",", ":"))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def window_ms(window: timedelta | int, *, where: str) -> int:
    """The window in ms (an int is ms): 0 (off) up to 1 h, else ConfigError."""
    if isinstance(window, bool) or not isinstance(window, timedelta | int):
        raise ConfigError(f"{where}: window must be a timedelta, got {type(window).__name__}")
    ms = window if isinstance(window, int) else window // timedelta(milliseconds=1)
    if not 0 <= ms <= MAX_DEDUP_WINDOW // timedelta(milliseconds=1):
        raise ConfigError(
            f"{where}: window must be between 0 (off) and 1 h, got {ms} ms "
            "(older repeats are caught by the store's natural key)"
        )
    return ms


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


class Deduplicator:
    """The dedup of one (tenant, stream), without Bytewax: :meth:`process` splits a batch
    into kept events and duplicates. ``seen`` holds the identities (a fresh
    :class:`LocalSeenKeys` by default); ``clock`` returns wall-clock epoch ms."""

    def __init__(
        self,
        seen: SeenKeys,
        *,
        key_field: str = "dedup_key",
        id_field: str = "id",
        content: bool = False,
        time_field: str = "ts",
        clock: Callable[[], int] = _wall_ms,
    ) -> None:
        self.seen = seen
        self.key_field = key_field
        self.id_field = id_field
        self.content = content
        self._drop = (time_field, id_field)
        self.clock = clock

    def _identity(self, event: Any) -> Hashable | None:
        # `type is dict` first: the ABC check costs more than the lookup itself.
        if type(event) is not dict and not isinstance(event, Mapping):
            return None
        value = event.get(self.key_field)
        tag = "k"
        if value is None:
            value = event.get(self.id_field)
            tag = "i"
            if value is None:
                return None
        kind = type(value)
        # Equal ints and floats (1 == 1.0) or True are different JSON values: only str
        # and int are used as they are.
        if kind is str or kind is int:
            return (tag, value)
        return (tag, kind.__name__, _canonical(value))

    def _content(self, event: Any) -> Hashable | None:
        if type(event) is not dict and not isinstance(event, Mapping):
            return None
        drop = self._drop
        payload = {k: v for k, v in event.items() if k not in drop}
        digest = hashlib.blake2b(_canonical(payload).encode(), digest_size=16).digest()
        return ("c", digest)

    def process(self, events: list[Any]) -> tuple[list[Any], list[tuple[Any, str]]]:
        """``(kept, [(event, "duplicate"), ...])`` in input order."""
        identity = self._identity
        ids = [identity(e) for e in events]
        checks = [(i, k) for i, k in enumerate(ids) if k is not None]
        if self.content:
            content = self._content
            checks += [(i, c) for i, e in enumerate(events) if (c := content(e)) is not None]
        if not checks:
            return events, []
        # Every identity of an event is recorded, repeat or not, so that a later event
        # matching any of them is a repeat.
        verdicts = self.seen.admit([k for _, k in checks], self.clock())
        if all(verdicts):
            return events, []
        repeat = {i for (i, _), new in zip(checks, verdicts, strict=True) if not new}
        kept = [e for i, e in enumerate(events) if i not in repeat]
        dups = [(events[i], DUPLICATE) for i in sorted(repeat)]
        return kept, dups


@dataclass(frozen=True)
class DedupOut:
    """The streams of :func:`dedup`, keyed like its input."""

    events: KeyedStream[list[Any]]
    """Batches of the events to process, in input order."""
    duplicates: KeyedStream[tuple[Any, str]]
    """``(event, "duplicate")`` for each repeat."""


class _DedupLogic(StatefulBatchLogic[list[Any], tuple[str, list[Any]], object]):
    def __init__(self, dedup: Deduplicator) -> None:
        self._dedup = dedup

    def on_batch(self, values: list[list[Any]]) -> tuple[list[tuple[str, list[Any]]], bool]:
        kept: list[Any] = []
        dups: list[Any] = []
        for batch in values:
            k, d = self._dedup.process(batch)
            kept += k
            dups += d
        out: list[tuple[str, list[Any]]] = []
        if kept:
            out.append((_KEPT, kept))
        if dups:
            out.append((_DUP, dups))
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> object:
        return self._dedup.seen.snapshot()


@operator
def dedup(
    step_id: str,
    up: KeyedStream[list[Any]],
    *,
    window: timedelta | int = DEFAULT_DEDUP_WINDOW,
    key_field: str = "dedup_key",
    id_field: str = "id",
    content: bool = False,
    time_field: str = "ts",
    clock: Callable[[], int] = _wall_ms,
    max_keys: int = DEFAULT_MAX_KEYS,
    redis_client: redis.Redis | None = None,
    redis_prefix: str = "datanexus:dedup",
) -> DedupOut:
    """Deduplicate batches of events keyed by (tenant, stream) (see the module
    documentation). ``window``: a timedelta (or ms) from 0 (off: everything passes, no
    state) to 1 h; anything else raises :class:`~datanexus.errors.ConfigError` when the
    flow is built. ``clock`` returns wall-clock epoch ms (tests inject one). With
    ``redis_client`` the identities live in Redis under ``redis_prefix`` and are shared
    by every flow using the same prefix; Redis errors raise ServiceUnavailable."""
    where = f"dedup {step_id!r}"
    ms = window_ms(window, where=where)
    for name, value in (("key_field", key_field), ("id_field", id_field)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: {name} must be a non-empty string, got {value!r}")
    if max_keys < 1:
        raise ConfigError(f"{where}: max_keys must be at least 1, got {max_keys}")
    if ms == 0:

        def nothing(_: tuple[str, list[Any]]) -> tuple[str, tuple[Any, str]] | None:
            return None

        return DedupOut(up, op.filter_map("no_duplicates", up, nothing))

    def deduplicator(seen: SeenKeys) -> Deduplicator:
        return Deduplicator(
            seen,
            key_field=key_field,
            id_field=id_field,
            content=content,
            time_field=time_field,
            clock=clock,
        )

    def build(state: object | None) -> _DedupLogic:
        if state is None:
            return _DedupLogic(deduplicator(LocalSeenKeys(ms, max_keys)))
        return _DedupLogic(deduplicator(LocalSeenKeys.restore(state, ms, max_keys)))

    decided: KeyedStream[tuple[str, list[Any]]]
    if redis_client is None:
        decided = op.stateful_batch("seen", up, build)
    else:
        # Redis holds the state: nothing to snapshot, and any worker may check any key.
        client = redis_client
        by_scope: dict[str, Deduplicator] = {}

        def check(item: tuple[str, list[Any]]) -> list[tuple[str, tuple[str, list[Any]]]]:
            scope, events = item
            d = by_scope.get(scope)
            if d is None:
                seen = RedisSeenKeys(client, prefix=redis_prefix, scope=scope, window_ms=ms)
                d = by_scope.setdefault(scope, deduplicator(seen))
            kept, dups = d.process(events)
            out = [(scope, (_KEPT, kept))] if kept else []
            return out + ([(scope, (_DUP, dups))] if dups else [])

        decided = op.flat_map("seen", up, check)
    kinds = op.branch("kinds", decided, lambda kv: kv[1][0] == _KEPT)
    events: KeyedStream[list[Any]] = op.map_value("events", kinds.trues, lambda v: v[1])
    duplicates: KeyedStream[tuple[Any, str]] = op.flat_map_value(
        "duplicates", kinds.falses, lambda v: v[1]
    )
    return DedupOut(events, duplicates)
