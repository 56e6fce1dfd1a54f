"""The sets of recently seen event identities behind :func:`datanexus.stream.dedup`.

Both implement :class:`SeenKeys`: ``admit(keys, now_ms)`` says, for each key in order,
whether it is new (and remembers it for ``window_ms`` of wall clock from that moment) or
was seen within the window. A key is remembered from its *first* sighting: repeats do
not extend its life, so a key repeated forever is let through once per window, and the
state stays bounded by (new keys per second) × window.

* :class:`LocalSeenKeys` lives in the operator's state (one per (tenant, stream)) and is
  snapshotted with it for recovery; expiry uses the operator's clock.
* :class:`RedisSeenKeys` shares the set between workers and processes through Redis
  (``SET key 1 NX PX window``, STREAM-15); expiry is Redis's own clock. It has no state
  to snapshot: Redis is the state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from typing import Protocol

import redis

from datanexus.errors import InvalidArgument, ServiceUnavailable

__all__ = ["DEFAULT_MAX_KEYS", "LocalSeenKeys", "RedisSeenKeys", "SeenKeys"]

DEFAULT_MAX_KEYS = 1_000_000
"""Keys a local set holds at most; beyond, the oldest are forgotten early (a repeat of
them is then let through, to be caught by the store's natural key, STORE-3)."""


class SeenKeys(Protocol):
    """A set of identities seen within a wall-clock window."""

    def admit(self, keys: Sequence[Hashable], now_ms: int) -> list[bool]:
        """For each key in order: True if new (now remembered), False if seen within
        the window (including earlier in ``keys``)."""
        ...

    def snapshot(self) -> object:
        """A picklable image for recovery (None when the state lives elsewhere)."""
        ...


class LocalSeenKeys:
    """An in-memory :class:`SeenKeys`: a dict of first sightings plus their order of
    arrival, so expiry pops from the front and costs O(1) per key."""

    def __init__(self, window_ms: int, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if window_ms <= 0:
            raise InvalidArgument(f"a dedup window must be positive, got {window_ms} ms")
        if max_keys < 1:
            raise InvalidArgument(f"max_keys must be at least 1, got {max_keys}")
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._seen: dict[Hashable, int] = {}
        self._order: deque[tuple[int, Hashable]] = deque()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now_ms: int) -> None:
        horizon = now_ms - self.window_ms
        order, seen = self._order, self._seen
        while order and (order[0][0] <= horizon or len(order) > self.max_keys):
            at, key = order.popleft()
            if seen.get(key) == at:
                del seen[key]

    def admit(self, keys: Sequence[Hashable], now_ms: int) -> list[bool]:
        self._expire(now_ms)
        seen, order = self._seen, self._order
        horizon = now_ms - self.window_ms
        out: list[bool] = []
        for key in keys:
            at = seen.get(key)
            # `at > horizon`: a wall clock that stepped back keeps keys no longer than
            # the window measured from their first sighting.
            if at is not None and horizon < at:
                out.append(False)
                continue
            seen[key] = now_ms
            order.append((now_ms, key))
            out.append(True)
        if len(order) > self.max_keys:
            self._expire(now_ms)
        return out

    def snapshot(self) -> tuple[int, list[tuple[int, Hashable]]]:
        """The window and the live (first seen ms, key) pairs, oldest first."""
        live = [(at, k) for at, k in self._order if self._seen.get(k) == at]
        return (self.window_ms, live)

    @classmethod
    def restore(
        cls, image: object, window_ms: int, max_keys: int = DEFAULT_MAX_KEYS
    ) -> LocalSeenKeys:
        """A set from :meth:`snapshot`; the current ``window_ms`` applies (a snapshot
        taken under another window keeps its keys, expiring by the new one)."""
        out = cls(window_ms, max_keys)
        if not (isinstance(image, tuple) and len(image) == 2 and isinstance(image[1], list)):
            raise InvalidArgument(f"not a dedup snapshot: {type(image).__name__}")
        for at, key in image[1]:
            out._seen[key] = at
            out._order.append((at, key))
        return out


class RedisSeenKeys:
    """A :class:`SeenKeys` in Redis, shared by every worker using the same ``prefix``
    and ``scope``: one ``SET prefix:scope:key 1 NX PX window_ms`` per key, pipelined per
    batch (one round trip). ``now_ms`` is ignored: Redis expires keys on its own clock.
    Keys are the ``repr`` of the identity; connection failures raise
    :class:`~datanexus.errors.ServiceUnavailable`."""

    def __init__(self, client: redis.Redis, *, prefix: str, scope: str, window_ms: int) -> None:
        if window_ms <= 0:
            raise InvalidArgument(f"a dedup window must be positive, got {window_ms} ms")
        if not prefix:
            raise InvalidArgument("a Redis dedup set needs a non-empty key prefix")
        self.client = client
        self.window_ms = window_ms
        self._base = f"{prefix}:{scope}:"

    def admit(self, keys: Sequence[Hashable], now_ms: int) -> list[bool]:
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(self._base + repr(key), b"1", nx=True, px=self.window_ms)
        try:
            replies = pipe.execute()
        except redis.RedisError as e:
            raise ServiceUnavailable(f"Redis dedup set {self._base!r}: {e}") from e
        return [bool(r) for r in replies]

    def snapshot(self) -> None:
        return None
