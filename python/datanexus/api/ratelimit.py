"""Request quotas and event rates in Redis (API-12, API-13, DEC-10).

Requests: a rolling window per principal (the tenant, across all its keys), one atomic
Lua script over a sorted-set log of request times taken from the Redis clock (so every
API process agrees). A request is admitted while fewer than ``limit`` requests fall in
the last ``window`` ms; otherwise it waits until the oldest one leaves the window:
``Retry-After`` is that wait in seconds, rounded up. Refused requests are not logged, so
hammering does not extend the wait.

Events: GCRA (the generic cell rate algorithm) per tenant, also one script: a stored
theoretical arrival time advances by ``cost / rate`` per admitted event; a batch is
admitted when that time, less the burst tolerance, is not in the future.

Redis down: callers decide (fail open, counted, unless configured closed); this module
raises :class:`~datanexus.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from datanexus.errors import ServiceUnavailable

__all__ = ["Gcra", "QuotaDecision", "SlidingWindow"]

_SLIDING = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if n < limit then
  redis.call('ZADD', KEYS[1], now, now .. '-' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  local first = now
  if oldest[2] then first = tonumber(oldest[2]) end
  return {1, limit - n - 1, first + window - now, now}
end
return {0, 0, tonumber(oldest[2]) + window - now, now}
"""

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, tostring(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, tostring(0)}
"""


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int  # until the oldest counted request leaves the window
    now_ms: int

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.reset_ms / 1000))


class SlidingWindow:
    """``limit`` requests per rolling ``window_s`` per principal."""

    def __init__(
        self, client: aioredis.Redis, *, limit: int, window_s: int, prefix: str = "dn:rl"
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._window_ms = window_s * 1000
        self._prefix = prefix
        self._script = client.register_script(_SLIDING)

    async def hit(self, principal: str, limit: int | None = None) -> QuotaDecision:
        """Count one request of ``principal`` (``limit`` overrides the default)."""
        limit = self.limit if limit is None else limit
        try:
            allowed, remaining, reset, now = await self._script(
                keys=[f"{self._prefix}:{principal}"],
                args=[self._window_ms, limit, secrets.token_hex(6)],
            )
        except (redis.RedisError, OSError) as error:
            raise ServiceUnavailable(f"rate limiter: Redis unavailable: {error}") from error
        return QuotaDecision(bool(allowed), limit, int(remaining), int(reset), int(now))


class Gcra:
    """Events per second with a burst, per tenant (GCRA)."""

    def __init__(
        self, client: aioredis.Redis, *, rate_per_s: float, burst: int, prefix: str = "dn:gcra"
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._interval_ms = 1000.0 / rate_per_s
        self._prefix = prefix
        self._script = client.register_script(_GCRA)

    async def take(self, tenant: str, cost: int, rate_per_s: float | None = None) -> float | None:
        """None when ``cost`` events are admitted, else the seconds to wait (``inf``
        when the batch is larger than the burst and can never be admitted whole).
        ``rate_per_s`` overrides the default rate (a tenant's quota); the burst is then
        two seconds' worth of it."""
        interval_ms, burst = self._interval_ms, self.burst
        if rate_per_s is not None and rate_per_s != self.rate_per_s:
            interval_ms, burst = 1000.0 / rate_per_s, max(1, int(2 * rate_per_s))
        if cost > burst:
            return math.inf
        if cost <= 0:
            return None
        try:
            allowed, wait_ms = await self._script(
                keys=[f"{self._prefix}:{tenant}"],
                args=[repr(interval_ms), burst, cost],
            )
        except (redis.RedisError, OSError) as error:
            raise ServiceUnavailable(f"event rate: Redis unavailable: {error}") from error
        return None if int(allowed) else float(wait_ms) / 1000.0
