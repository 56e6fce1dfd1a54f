"""RabbitMQ stream queues as a Bytewax source: one partition per stream queue, the offset
in the snapshot (CONN-1).

Each partition consumes its stream with a basic.qos prefetch (backpressure) from the
offset after the last one it returned (``x-stream-offset``), and emits
:class:`MessageBatch` items of raw bodies with their offsets. Resume state: the last
offset returned (None before the first), so a restart from a snapshot re-reads exactly
the messages after it; deliveries at or below it (a reconnect may repeat some) are
skipped. ``next_batch`` never blocks: it pumps the connection with a zero time limit.

A lost connection (broker restart) is reopened with backoff from the same offset; no
message is lost or duplicated. Deliveries are acked as soon as they are taken (in a
stream the ack only grants credit; the position lives in the snapshot). ``close`` acks
every delivery received before closing, because pika nacks unacked deliveries on cancel
and a stream queue answers a nack by closing the connection; ``close`` may also not run,
which loses nothing.

``stop_after`` (queue → offset) ends a partition once it has returned that offset, for
finite runs (tests, backfills); a live flow leaves it unset.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from datanexus.connectors.amqp import AMQP_ERRORS, connect
from datanexus.connectors.decode import MessageBatch
from datanexus.connectors.polling import Pacer
from datanexus.connectors.publishers import declare_stream
from datanexus.errors import InvalidArgument

__all__ = ["RabbitStreamPartition", "RabbitStreamSource"]

log = logging.getLogger(__name__)

SOURCE = "rabbitmq-stream"


def _close_quietly(conn: BlockingConnection) -> None:
    if conn.is_open:
        try:
            conn.close()
        except AMQP_ERRORS:
            log.debug("closing a connection failed", exc_info=True)


class RabbitStreamPartition(StatefulSourcePartition[MessageBatch, int | None]):
    def __init__(
        self,
        url: str,
        queue: str,
        resume_state: int | None,
        *,
        batch_size: int,
        prefetch: int,
        stop_after: int | None,
        idle: timedelta,
    ) -> None:
        self._url = url
        self._queue = queue
        self._last = resume_state
        self._batch_size = batch_size
        self._prefetch = prefetch
        self._stop_after = stop_after
        self._pacer = Pacer(f"{SOURCE}:{queue}", idle)
        self._conn: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._buffer: deque[tuple[int, bytes, int]] = deque()
        self._received_tag = 0  # highest delivery tag received on this channel
        self._acked_tag = 0  # acking a tag twice is a channel error

    def _open(self) -> None:
        conn = connect(self._url)
        channel = conn.channel()
        declare_stream(channel, self._queue)
        channel.basic_qos(prefetch_count=self._prefetch)
        start: int | str = "first" if self._last is None else self._last + 1
        channel.basic_consume(
            self._queue, self._on_message, auto_ack=False, arguments={"x-stream-offset": start}
        )
        self._conn, self._channel = conn, channel
        self._received_tag = self._acked_tag = 0
        # Bytewax may drop a partition without close() (an abort): close the socket
        # when the partition is collected instead of leaking it.
        weakref.finalize(self, _close_quietly, conn)
        log.info("%s: consuming %s from offset %s", SOURCE, self._queue, start)

    def _on_message(self, _ch: Any, method: Any, props: Any, body: bytes) -> None:
        offset = int(props.headers["x-stream-offset"])
        self._received_tag = int(method.delivery_tag)
        self._buffer.append((offset, body, self._received_tag))

    def _drop(self, error: BaseException) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        self._buffer.clear()
        if conn is not None:
            _close_quietly(conn)
        self._pacer.failed(error)

    def next_batch(self) -> list[MessageBatch]:
        if self._stop_after is not None and (
            self._last is not None and self._last >= self._stop_after
        ):
            raise StopIteration
        if not self._pacer.due():
            return []
        try:
            if self._conn is None:
                self._open()
            assert self._conn is not None
            self._conn.process_data_events(time_limit=0)
            batch = self._take()
        except AMQP_ERRORS as error:
            self._drop(error)
            return []
        if batch is None:
            self._pacer.idle()
            return []
        self._pacer.busy()
        return [batch]

    def _take(self) -> MessageBatch | None:
        positions: list[str] = []
        bodies: list[bytes] = []
        last_tag = 0
        last = -1 if self._last is None else self._last
        while self._buffer and len(bodies) < self._batch_size:
            offset, body, tag = self._buffer.popleft()
            last_tag = tag
            if offset <= last:
                continue  # a repeat after reconnecting mid-chunk
            if self._stop_after is not None and offset > self._stop_after:
                continue
            positions.append(str(offset))
            bodies.append(body)
            last = offset
        self._ack(last_tag)
        if not bodies:
            return None
        self._last = last
        return MessageBatch(SOURCE, self._queue, positions, bodies, last)

    def _ack(self, tag: int) -> None:
        if tag > self._acked_tag and self._channel is not None:
            self._channel.basic_ack(tag, multiple=True)
            self._acked_tag = tag

    def next_awake(self) -> datetime | None:
        return self._pacer.awake

    def snapshot(self) -> int | None:
        return self._last

    def close(self) -> None:
        if self._conn is None or not self._conn.is_open:
            return
        try:
            self._ack(self._received_tag)
            self._conn.close()
        except AMQP_ERRORS:
            log.debug("closing %s failed", self._queue, exc_info=True)


class RabbitStreamSource(FixedPartitionedSource[MessageBatch, int | None]):
    """Batches of messages from the stream queues ``queues`` (declared if missing), one
    partition each. ``prefetch`` bounds unacknowledged deliveries per partition; an idle
    partition polls every ``idle``."""

    def __init__(
        self,
        url: str,
        queues: Sequence[str],
        *,
        batch_size: int = 1000,
        prefetch: int = 2000,
        stop_after: Mapping[str, int] | None = None,
        idle: timedelta = timedelta(milliseconds=50),
    ) -> None:
        if not queues or len(set(queues)) != len(queues):
            raise InvalidArgument(f"queues must be distinct and non-empty, got {list(queues)}")
        if batch_size < 1 or prefetch < 1:
            raise InvalidArgument("batch_size and prefetch must be >= 1")
        self._url = url
        self._queues = list(queues)
        self._batch_size = batch_size
        self._prefetch = prefetch
        self._stop_after = dict(stop_after or {})
        self._idle = idle

    def list_parts(self) -> list[str]:
        return list(self._queues)

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> RabbitStreamPartition:
        if for_part not in self._queues:
            raise InvalidArgument(f"unknown partition {for_part!r}; queues are {self._queues}")
        return RabbitStreamPartition(
            self._url,
            for_part,
            resume_state,
            batch_size=self._batch_size,
            prefetch=self._prefetch,
            stop_after=self._stop_after.get(for_part),
            idle=self._idle,
        )
