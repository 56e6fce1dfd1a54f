"""The Redis live sink: window results for dashboards and WebSocket subscribers.

For each (tenant, pipeline) the latest value of every key (series and window) is kept in
the hash ``<prefix>:<tenant>:<pipeline>:latest`` with its revision in
``...:revision``, and every accepted update is published on the channel
``<prefix>:<tenant>:<pipeline>``. A Lua script applies an update only if its revision is
higher than the stored one and publishes it in the same atomic step, so neither a
reader of the hash nor a subscriber ever sees a key go backwards, whatever the order
of arrival (a replay after a crash re-sends old revisions: they are ignored).

Redis down: the write is retried with backoff behind a circuit breaker; the flow waits.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import redis
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from datanexus.errors import InvalidArgument
from datanexus.retry import Backoff, CircuitBreaker, Retrier

__all__ = ["LiveUpdate", "RedisLiveSink", "channel_name", "publish_updates"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "dn:live"

# KEYS: latest hash, revision hash. ARGV: channel, then (field, revision, message) triples.
_SCRIPT = """
local applied = 0
for i = 2, #ARGV, 3 do
  local field, rev, message = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local current = redis.call('HGET', KEYS[2], field)
  if (not current) or tonumber(current) < rev then
    redis.call('HSET', KEYS[1], field, message)
    redis.call('HSET', KEYS[2], field, ARGV[i + 1])
    redis.call('PUBLISH', ARGV[1], message)
    applied = applied + 1
  end
end
return applied
"""


class LiveUpdate(NamedTuple):
    """The newest value of ``key`` (e.g. ``region=eu|1735689600000``) in a pipeline."""

    tenant: str
    pipeline: str
    key: str
    revision: int
    value: Mapping[str, Any]


def channel_name(tenant: str, pipeline: str, prefix: str = DEFAULT_PREFIX) -> str:
    for name, part in (("tenant", tenant), ("pipeline", pipeline)):
        if not part or ":" in part:
            raise InvalidArgument(f"{name} must be non-empty without ':', got {part!r}")
    return f"{prefix}:{tenant}:{pipeline}"


def publish_updates(
    client: redis.Redis, updates: list[LiveUpdate], prefix: str = DEFAULT_PREFIX
) -> int:
    """Apply ``updates`` (one script call per tenant and pipeline); returns how many were
    newer than what Redis had. The message is JSON {key, revision, value}."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for u in updates:
        message = json.dumps(
            {"key": u.key, "revision": u.revision, "value": u.value}, separators=(",", ":")
        )
        groups[(u.tenant, u.pipeline)].extend((u.key, str(u.revision), message))
    script = client.register_script(_SCRIPT)
    applied = 0
    for (tenant, pipeline), args in groups.items():
        channel = channel_name(tenant, pipeline, prefix)
        applied += int(
            script(keys=[f"{channel}:latest", f"{channel}:revision"], args=[channel, *args])
        )
    return applied


class _Partition(StatelessSinkPartition[LiveUpdate]):
    def __init__(self, url: str, prefix: str, retrier: Retrier) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._prefix = prefix
        self._retrier = retrier

    def write_batch(self, items: list[LiveUpdate]) -> None:
        self._retrier.call(lambda: publish_updates(self._client, items, self._prefix))

    def close(self) -> None:
        self._client.close()


class RedisLiveSink(DynamicSink[LiveUpdate]):
    """Publishes :class:`LiveUpdate` items to Redis at ``url`` (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        retrier_factory: Callable[[], Retrier] | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._retrier_factory = retrier_factory

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        retrier = (
            self._retrier_factory()
            if self._retrier_factory
            else Retrier(
                CircuitBreaker(f"redis:{step_id}"),
                (redis.ConnectionError, redis.TimeoutError),
                backoff=Backoff(base=0.2, cap=5.0),
            )
        )
        return _Partition(self._url, self._prefix, retrier)
