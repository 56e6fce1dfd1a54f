"""Ingestion publishers (used by the HTTP API): events to a RabbitMQ stream queue or a
Redis stream, each with an idempotency key and a sequence number (CONN-10).

``publish`` returns only when the server has stored every event (RabbitMQ publisher
confirms; Redis replies to one script of XADDs), and raises otherwise. A raise means
"maybe partly stored": the caller retries the same events, and consumers drop the
repeats by key (:class:`~datanexus.connectors.idempotency.RecentKeys`, then the store's
natural key).

Sequence numbers: the RabbitMQ publisher numbers events in process (unique and gap-free
per publisher in the order of the ``publish`` calls; a retried event gets a new number).
The Redis publisher numbers them in Redis, inside the script that adds them: a counter
``<stream>:seq`` per stream, so numbers are unique and gap-free per stream across
publishers and processes, follow the stream's entry order, and a call that fails before
the script runs consumes none. With a ``batch_id`` a Redis call is idempotent: a retry
of a call whose reply was lost returns the numbers of the stored one and adds nothing.

Message format, shared by the sources: the body is the event's canonical JSON; RabbitMQ
carries the key in ``message_id`` and the number in header ``seq``; Redis entries have
fields ``key``, ``seq`` and ``data`` (the body).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import redis
from pika.spec import BasicProperties

from datanexus.connectors.amqp import ConfirmingPublisher, Outgoing, connect
from datanexus.connectors.idempotency import Sequencer, canonical_json, idempotency_key

__all__ = [
    "Appended",
    "Published",
    "RabbitStreamPublisher",
    "RedisStreamPublisher",
    "StreamEntry",
    "declare_stream",
]


class Published(NamedTuple):
    key: str
    seq: int


def _prepare(
    events: Sequence[Mapping[str, Any]], sequencer: Sequencer
) -> list[tuple[Published, bytes]]:
    # Encode everything before sending anything: a bad event fails the call up front.
    bodies = [(idempotency_key(e), canonical_json(e)) for e in events]
    first = sequencer.take(len(bodies))
    return [(Published(key, first + i), body) for i, (key, body) in enumerate(bodies)]


def declare_stream(channel: Any, queue: str, max_length_bytes: int | None = None) -> None:
    """Declare stream queue ``queue`` (durable; idempotent with the same arguments)."""
    arguments: dict[str, Any] = {"x-queue-type": "stream"}
    if max_length_bytes is not None:
        arguments["x-max-length-bytes"] = max_length_bytes
    channel.queue_declare(queue, durable=True, arguments=arguments)


class RabbitStreamPublisher:
    """Publishes to stream queue ``queue`` (declared on connect). Not thread-safe."""

    def __init__(self, url: str, queue: str, *, sequencer: Sequencer | None = None) -> None:
        self._connection = connect(url)
        self._publisher = ConfirmingPublisher(self._connection)
        declare_stream(self._publisher.channel, queue)
        self._queue = queue
        self.sequencer = sequencer or Sequencer()

    def publish(self, events: Sequence[Mapping[str, Any]]) -> list[Published]:
        prepared = _prepare(events, self.sequencer)
        self._publisher.publish(
            (
                Outgoing(
                    "",
                    self._queue,
                    body,
                    BasicProperties(
                        content_type="application/json",
                        delivery_mode=2,
                        message_id=p.key,
                        headers={"seq": p.seq},
                    ),
                )
                for p, body in prepared
            ),
            mandatory=True,
        )
        return [p for p, _ in prepared]

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()


# All entries of a call in one atomic script: one round trip and one reply, where a
# MULTI/EXEC pipeline packs and parses a command per event (about 3x slower). The
# numbers come from the stream's counter in the same script, so they are consumed only
# by entries that are added. KEYS: stream, counter[, batch marker]. ARGV: maxlen (0 =
# none), marker lifetime ms, entry count, then per entry: key, body, number of extra
# field pairs, the pairs. Reply: {first number, entry ids, 1 if a replay else 0}.
_XADD_MANY = """
local n = tonumber(ARGV[3])
if #KEYS > 2 then
  local done = redis.call('GET', KEYS[3])
  if done then
    local first, count = string.match(done, '^(%d+):(%d+)$')
    if tonumber(count) ~= n then
      return redis.error_reply('batch ' .. KEYS[3] .. ' was stored with ' .. count ..
        ' entries, not ' .. n)
    end
    return {tonumber(first), {}, 1}
  end
end
local first = 0
if n > 0 then
  first = redis.call('INCRBY', KEYS[2], n) - n + 1
end
local trim = tonumber(ARGV[1])
local ids = {}
local at = 4
for j = 0, n - 1 do
  local args = {}
  if trim > 0 then
    args = {'MAXLEN', '~', trim}
  end
  args[#args + 1] = '*'
  local nf = tonumber(ARGV[at + 2])
  for f = 1, 2 * nf do
    args[#args + 1] = ARGV[at + 2 + f]
  end
  args[#args + 1] = 'key'
  args[#args + 1] = ARGV[at]
  args[#args + 1] = 'seq'
  args[#args + 1] = first + j
  args[#args + 1] = 'data'
  args[#args + 1] = ARGV[at + 1]
  ids[#ids + 1] = redis.call('XADD', KEYS[1], unpack(args))
  at = at + 3 + 2 * nf
end
if #KEYS > 2 then
  redis.call('SET', KEYS[3], first .. ':' .. n, 'PX', ARGV[2])
end
return {first, ids, 0}
"""


class StreamEntry(NamedTuple):
    """One event to add: its key, its canonical JSON body and extra entry fields (e.g.
    a W3C ``traceparent``) written beside ``key``, ``seq`` and ``data``."""

    key: str
    body: bytes
    fields: Mapping[str, str] | None = None


class Appended(NamedTuple):
    """What one :meth:`RedisStreamPublisher.publish_entries` call stored: the keys and
    numbers, the entry ids, and whether it was a replay of an already stored batch (then
    ``ids`` is empty and nothing was added)."""

    published: list[Published]
    ids: list[bytes]
    replayed: bool


class RedisStreamPublisher:
    """Publishes to Redis stream ``stream`` with XADD (``maxlen`` trims approximately).
    The events of one call are added by one Lua script: all of them or, if the server
    fails mid-call, a prefix (scripts are atomic unless the server dies).

    ``url`` is a Redis URL, or a client to share (thread-safe; :meth:`close` leaves it
    open). Calls may run concurrently from several threads. Batch markers
    (``<stream>:batch:<id>``) live ``replay_window_s``: a retry later than that adds the
    batch again (consumers still drop the repeats by key)."""

    def __init__(
        self,
        url: str | redis.Redis,
        stream: str,
        *,
        maxlen: int | None = None,
        replay_window_s: float = 900.0,
    ) -> None:
        if isinstance(url, str):
            self._client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
            self._owned = True
        else:
            self._client, self._owned = url, False
        self._stream = stream
        self._maxlen = maxlen
        self._replay_ms = max(1, round(replay_window_s * 1000))
        self._script = self._client.register_script(_XADD_MANY)
        self.last_ids: list[bytes] = []

    @property
    def sequence_key(self) -> str:
        """The Redis key of the stream's counter (the last number handed out)."""
        return f"{self._stream}:seq"

    def publish(
        self, events: Sequence[Mapping[str, Any]], *, fields: Mapping[str, str] | None = None
    ) -> list[Published]:
        """Returns the keys and numbers; the entry ids are in :attr:`last_ids`. ``fields``
        (e.g. a W3C ``traceparent``) are added to every entry beside key, seq and data."""
        return self.publish_encoded(
            [(idempotency_key(e), canonical_json(e)) for e in events], fields=fields
        )

    def publish_encoded(
        self, items: Sequence[tuple[str, bytes]], *, fields: Mapping[str, str] | None = None
    ) -> list[Published]:
        """:meth:`publish` of events already encoded as ``(key, body)`` pairs (the body
        the event's canonical JSON, e.g. from
        :func:`~datanexus.connectors.idempotency.keyed_canonical_json`), so a caller
        that encoded them to check them does not pay for it twice."""
        appended = self.publish_entries([StreamEntry(k, b, fields) for k, b in items])
        self.last_ids = appended.ids
        return appended.published

    def publish_entries(
        self, entries: Sequence[StreamEntry], *, batch_id: str | None = None
    ) -> Appended:
        """Add ``entries`` in order, numbered from the stream's counter. With
        ``batch_id`` (unique per batch, e.g. a UUID) the call is idempotent within the
        replay window: calling again with the same id and entries after a failure adds
        nothing if the first call was stored and returns its numbers. Raises
        :class:`redis.RedisError` / :class:`OSError` when Redis cannot be reached (the
        entries may or may not be stored: retry with the same ``batch_id``), and
        :class:`redis.ResponseError` when ``batch_id`` was stored with another count."""
        if not entries and batch_id is None:
            return Appended([], [], False)
        keys = [self._stream, self.sequence_key]
        if batch_id is not None:
            keys.append(f"{self._stream}:batch:{batch_id}")
        args: list[Any] = [self._maxlen or 0, self._replay_ms, len(entries)]
        for entry in entries:
            extra = entry.fields or {}
            args += (entry.key, entry.body, len(extra))
            for name, value in extra.items():
                args += (name, value)
        first, ids, replayed = self._script(keys=keys, args=args)
        published = [Published(e.key, int(first) + i) for i, e in enumerate(entries)]
        return Appended(published, list(ids), bool(replayed))

    def close(self) -> None:
        if self._owned:
            self._client.close()
