"""Idempotency keys and sequence numbers for internal events (CONN-10).

Every event DataNexus publishes carries a key that identifies it across retries and
replays: its ``id`` when it has one, else a hash of its canonical JSON (never "type +
time", which collides for distinct events in the same millisecond). Consumers remember
the last 10 000 keys (:class:`RecentKeys`) to drop redeliveries cheaply; older repeats
hit the store's natural key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from datanexus.errors import InvalidArgument

__all__ = ["RecentKeys", "Sequencer", "canonical_json", "idempotency_key"]


def canonical_json(event: Mapping[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: equal events give equal bytes. NaN and infinities
    are refused (:class:`InvalidArgument`), as JSON has no such numbers."""
    try:
        return json.dumps(
            event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except ValueError as error:
        raise InvalidArgument(f"event is not canonical JSON: {error}") from None


def idempotency_key(event: Mapping[str, Any]) -> str:
    """The event's ``id`` (a non-empty str or an int, as text), else ``sha256:<hex>`` of
    :func:`canonical_json`."""
    ident = event.get("id")
    if isinstance(ident, str) and ident:
        return ident
    if isinstance(ident, int) and not isinstance(ident, bool):
        return str(ident)
    return "sha256:" + hashlib.sha256(canonical_json(event)).hexdigest()


class RecentKeys:
    """The last ``capacity`` keys seen, oldest forgotten first. Thread-safe."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise InvalidArgument(f"capacity must be >= 1, got {capacity}")
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """True if ``key`` is among the remembered ones; otherwise remember it."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return True
            self._keys[key] = None
            if len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
            return False

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def add(self, keys: list[str]) -> None:
        """Remember ``keys`` (call only once what they name is durably stored)."""
        for key in keys:
            self.seen(key)

    def __len__(self) -> int:
        return len(self._keys)


class Sequencer:
    """Gap-free, unique sequence numbers for one publisher: ``take(n)`` returns the first
    of ``n`` consecutive numbers. Thread-safe; starts at ``start`` (e.g. one past the
    last number a previous run published)."""

    def __init__(self, start: int = 1) -> None:
        self._next = start
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> int:
        with self._lock:
            first = self._next
            self._next += n
            return first
