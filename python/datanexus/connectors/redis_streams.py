"""Redis Streams as a Bytewax source: one partition per stream key, the entry id in the
snapshot; the embedded default transport.

Each partition reads with non-blocking ``XREAD COUNT n`` after the last entry id it
returned, so a restart from a snapshot re-reads exactly the entries after it (no loss,
no duplicate). Items are :class:`MessageBatch` of the entries' ``data`` fields (see
:mod:`datanexus.connectors.publishers`); an entry without ``data`` is passed on as an
empty body, which decoding dead-letters.

A consumer group (CONN-2) is created at start with MKSTREAM ("already exists" is
success; any other error stops start-up). The flow does not read through it: the
position that matters is the snapshot's. The group's last-delivered id is moved to the
id snapshotted two epochs before, a conservative "done up to here" marker for lag
monitoring and for trimming. A lost connection is retried with backoff from the same id.
``stop_after`` (stream → entry-id position) ends a partition for finite runs.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.decode import MessageBatch
from datanexus.connectors.polling import Pacer
from datanexus.errors import InvalidArgument, ServiceUnavailable
from datanexus.store.progress import redis_id_position

__all__ = ["RedisStreamPartition", "RedisStreamSource", "ensure_group"]

log = logging.getLogger(__name__)

SOURCE = "redis-stream"
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


def ensure_group(client: redis.Redis, stream: str, group: str) -> bool:
    """Create ``group`` on ``stream`` (and the stream) if missing; True if created."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" in str(error):
            return False
        raise ServiceUnavailable(
            f"cannot create consumer group {group!r} on stream {stream!r}: {error}"
        ) from error
    return True


class RedisStreamPartition(StatefulSourcePartition[MessageBatch, str | None]):
    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        resume_state: str | None,
        *,
        batch_size: int,
        stop_after: int | None,
        idle: timedelta,
    ) -> None:
        self._client = client
        self._stream = stream
        self._group = group
        self._last = resume_state
        self._batch_size = batch_size
        self._stop_after = stop_after
        self._pacer = Pacer(f"{SOURCE}:{stream}", idle)
        self._snapshots: deque[str | None] = deque(maxlen=3)

    def next_batch(self) -> list[MessageBatch]:
        if self._done():
            raise StopIteration
        if not self._pacer.due():
            return []
        try:
            reply: Any = self._client.xread(
                {self._stream: self._last or "0-0"}, count=self._batch_size
            )
        except _REDIS_DOWN as error:
            self._pacer.failed(error)
            return []
        entries = reply[0][1] if reply else []
        if not entries:
            self._pacer.idle()
            return []
        self._pacer.busy()
        positions: list[str] = []
        bodies: list[bytes] = []
        for entry_id, fields in entries:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if self._stop_after is not None and redis_id_position(ident) > self._stop_after:
                break
            positions.append(ident)
            bodies.append(fields.get(b"data", b""))
        if not bodies:
            raise StopIteration  # the next entry is past stop_after
        self._last = positions[-1]
        return [
            MessageBatch(SOURCE, self._stream, positions, bodies, redis_id_position(self._last))
        ]

    def _done(self) -> bool:
        if self._stop_after is None:
            return False
        if self._last is None:
            return self._stop_after <= 0  # 0: the stream was empty when the run started
        return redis_id_position(self._last) >= self._stop_after

    def next_awake(self) -> datetime | None:
        return self._pacer.awake

    def snapshot(self) -> str | None:
        self._snapshots.append(self._last)
        done = self._snapshots[0] if len(self._snapshots) == self._snapshots.maxlen else None
        if done is not None:
            try:
                self._client.xgroup_setid(self._stream, self._group, done)
            except redis.RedisError as error:  # a marker only: never fail the snapshot
                log.warning("%s: cannot move group %s: %s", self._stream, self._group, error)
        return self._last

    def close(self) -> None:
        self._client.close()


class RedisStreamSource(FixedPartitionedSource[MessageBatch, str | None]):
    """Batches of entries from the Redis streams ``streams``, one partition each; the
    consumer group ``group`` is created on each at start."""

    def __init__(
        self,
        url: str,
        streams: Sequence[str],
        *,
        group: str = "datanexus",
        batch_size: int = 1000,
        stop_after: Mapping[str, int] | None = None,
        idle: timedelta = timedelta(milliseconds=50),
    ) -> None:
        if not streams or len(set(streams)) != len(streams):
            raise InvalidArgument(f"streams must be distinct and non-empty, got {list(streams)}")
        if batch_size < 1:
            raise InvalidArgument(f"batch_size must be >= 1, got {batch_size}")
        self._url = url
        self._streams = list(streams)
        self._group = group
        self._batch_size = batch_size
        self._stop_after = dict(stop_after or {})
        self._idle = idle

    def list_parts(self) -> list[str]:
        return list(self._streams)

    def build_part(
        self, step_id: str, for_part: str, resume_state: str | None
    ) -> RedisStreamPartition:
        if for_part not in self._streams:
            raise InvalidArgument(f"unknown partition {for_part!r}; streams are {self._streams}")
        client = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        try:
            ensure_group(client, for_part, self._group)
        except _REDIS_DOWN as error:
            raise ServiceUnavailable(f"Redis unreachable at start: {error}") from error
        return RedisStreamPartition(
            client,
            for_part,
            self._group,
            resume_state,
            batch_size=self._batch_size,
            stop_after=self._stop_after.get(for_part),
            idle=self._idle,
        )
