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


# A stand-in id of the length of every content hash: the event is encoded once with it,
# the hash is taken of that text without the id member, and written over it in place.
_PLACEHOLDER = "sha256:" + "0" * 64
_PLACEHOLDER_MEMBER = '"id":"' + _PLACEHOLDER + '"'


def keyed_canonical_json(event: Mapping[str, Any]) -> tuple[str, bytes]:
    """``(key, body)``: ``key = idempotency_key(event)`` and ``body`` the canonical JSON
    of the event with ``id`` set to that key, in one JSON encoding instead of two for
    events without an id (the content hash is taken of the encoded text with the ``id``
    member cut out, which is the canonical JSON without it). Raises
    :class:`InvalidArgument` like :func:`canonical_json`."""
    ident = event.get("id")
    if (isinstance(ident, str) and ident) or (
        isinstance(ident, int) and not isinstance(ident, bool)
    ):
        key = str(ident)
        return key, canonical_json({**event, "id": key})
    text = canonical_json({**event, "id": _PLACEHOLDER}).decode()
    at = text.find(_PLACEHOLDER_MEMBER)
    if at < 0 or text.find(_PLACEHOLDER_MEMBER, at + 1) >= 0:
        # The placeholder also occurs in a nested value: take the slow, plain way.
        without = {k: v for k, v in event.items() if k != "id"}
        key = idempotency_key(without)
        return key, canonical_json({**without, "id": key})
    end = at + len(_PLACEHOLDER_MEMBER)
    if text[at - 1] == ",":
        bare = text[: at - 1] + text[end:]
    elif text[end] == ",":
        bare = text[:at] + text[end + 1 :]
    else:
        bare = text[:at] + text[end:]
    digest = hashlib.sha256(bare.encode()).hexdigest()
    # '"id":"sha256:' is 13 characters; the 64 hex digits replace the zeros.
    return "sha256:" + digest, (text[: at + 13] + digest + text[end - 1 :]).encode()


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
