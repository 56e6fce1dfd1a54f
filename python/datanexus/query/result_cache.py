"""The Redis result cache (QUERY-13): shared answers, computed once.

Key: tenant + normalised query + the sorted run parameters (granularity, the resolved
range snapped to the granularity's grid, page size, cursor position, catalog version):
a 1-hour and a 24-hour range are different keys, while two runs whose ``now()`` falls
in the same grid step select the same windows and share one entry.

* **Single flight.** A miss takes a Redis lock (``SET NX PX``) before computing;
  concurrent identical queries wait for the holder's result instead of hitting the
  database. A waiter that outlasts ``wait_s`` computes itself (uncached).
* **TTL with ±10 % jitter**, set atomically with the value, so entries written together
  do not all expire together.
* **Invalidation by range.** Each entry is indexed under its (tenant, pipeline) with its
  range; :meth:`QueryCache.invalidate_range` drops the entries whose range overlaps the
  given one, after bumping a generation counter so that a result computed from a
  snapshot older than the invalidation is never stored. Call it after the commit that
  changed the rollups.
* **Redis is optional.** A Redis error degrades to computing without the cache (logged),
  never to a failed query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from datanexus.errors import InvalidArgument
from datanexus.query.result import QueryResult, result_from_json, result_to_json

__all__ = ["QueryCache"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# KEYS: result, generation, index. ARGV: value, ttl ms, index member, expected
# generation, index ttl ms. Stores only while the generation is unchanged.
_STORE = """
local generation = redis.call('GET', KEYS[2]) or ''
if generation ~= ARGV[4] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _ms(value: datetime | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise InvalidArgument(f"invalidate_range needs aware datetimes, not {value!r}")
    return (value - _EPOCH) // timedelta(milliseconds=1)


class QueryCache:
    """Query results in Redis under ``prefix`` (use a unique prefix per deployment or
    test). ``ttl_s`` is the mean lifetime of an entry."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "datanexus:query:",
        ttl_s: float = 60.0,
        jitter: float = 0.1,
        lock_ttl_s: float = 30.0,
        wait_s: float = 30.0,
        poll_s: float = 0.005,
    ) -> None:
        if ttl_s <= 0 or not 0 <= jitter < 1 or lock_ttl_s <= 0 or wait_s < 0 or poll_s <= 0:
            raise InvalidArgument(
                "QueryCache needs ttl_s > 0, 0 ≤ jitter < 1, lock_ttl_s > 0, wait_s ≥ 0, poll_s > 0"
            )
        self._r = client
        self._prefix = prefix
        self._ttl_ms = ttl_s * 1000.0
        self._jitter = jitter
        self._lock_ms = int(lock_ttl_s * 1000)
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._store = client.register_script(_STORE)
        self._release = client.register_script(_RELEASE)
        self.hits = 0
        self.computed = 0

    def key_for(self, tenant: str, normalized: str, params: Mapping[str, Any]) -> str:
        """The result key: tenant + normalised query + the sorted parameters."""
        sorted_params = json.dumps(params, sort_keys=True, separators=(",", ":"))
        return f"{self._prefix}r:{_digest(tenant, normalized, sorted_params)}"

    def _scope(self, tenant: str, pipeline: str) -> str:
        return _digest(tenant, pipeline)

    def ttl_ms(self) -> int:
        """One entry's lifetime: the mean TTL ± jitter, uniformly."""
        factor = 1.0 + random.uniform(-self._jitter, self._jitter)
        return max(1, round(self._ttl_ms * factor))

    def get_or_compute(
        self,
        tenant: str,
        pipeline: str,
        normalized: str,
        params: Mapping[str, Any],
        lo: int | None,
        hi: int | None,
        compute: Callable[[], QueryResult],
    ) -> QueryResult:
        """The cached result for the key, else ``compute()`` once across all callers
        (see the module doc); ``[lo, hi)`` (epoch ms, None: unbounded) is the range the
        result read, for :meth:`invalidate_range`."""
        key = self.key_for(tenant, normalized, params)
        scope = self._scope(tenant, pipeline)
        generation_key = f"{self._prefix}g:{scope}"
        try:
            cached = self._r.get(key)
            if cached is not None:
                self.hits += 1
                return result_from_json(cached)
            token = secrets.token_hex(16)
            lock = f"{key}:lock"
            deadline = time.monotonic() + self._wait_s
            while True:
                if self._r.set(lock, token, nx=True, px=self._lock_ms):
                    try:
                        return self._fill(key, scope, generation_key, lo, hi, compute)
                    finally:
                        self._release(keys=[lock], args=[token])
                if time.monotonic() > deadline:
                    log.warning(
                        "query cache: waited %.1f s for another run; computing", self._wait_s
                    )
                    return compute()
                time.sleep(self._poll_s)
                cached = self._r.get(key)
                if cached is not None:
                    self.hits += 1
                    return result_from_json(cached)
        except redis.RedisError as error:
            log.warning("query cache unavailable (%s); answering without it", error)
            return compute()

    def _fill(
        self,
        key: str,
        scope: str,
        generation_key: str,
        lo: int | None,
        hi: int | None,
        compute: Callable[[], QueryResult],
    ) -> QueryResult:
        cached = self._r.get(key)
        if cached is not None:
            self.hits += 1
            return result_from_json(cached)
        raw_generation = self._r.get(generation_key)
        generation = "" if raw_generation is None else _text(raw_generation)
        result = compute()
        self.computed += 1
        ttl = self.ttl_ms()
        member = f"{'' if lo is None else lo}|{'' if hi is None else hi}|{key}"
        self._store(
            keys=[key, generation_key, f"{self._prefix}i:{scope}"],
            args=[result_to_json(result), ttl, member, generation, ttl + self._lock_ms],
        )
        return result

    def invalidate_range(
        self,
        tenant: str,
        pipeline: str,
        start: datetime | int | None,
        end: datetime | int | None,
    ) -> int:
        """Drop the cached results of ``pipeline`` of ``tenant`` whose range overlaps
        [start, end) (aware datetimes or epoch ms; None: unbounded); returns how many
        index entries matched. Results being computed right now are not stored."""
        lo, hi = _ms(start), _ms(end)
        scope = self._scope(tenant, pipeline)
        index = f"{self._prefix}i:{scope}"
        self._r.incr(f"{self._prefix}g:{scope}")
        dropped = 0
        for raw in self._r.smembers(index):
            member = _text(raw)
            first, second, key = member.split("|", 2)
            entry_lo = int(first) if first else None
            entry_hi = int(second) if second else None
            overlaps = (entry_lo is None or hi is None or entry_lo < hi) and (
                entry_hi is None or lo is None or entry_hi > lo
            )
            if overlaps:
                pipe = self._r.pipeline()
                pipe.delete(key)
                pipe.srem(index, raw)
                pipe.execute()
                dropped += 1
        return dropped


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
