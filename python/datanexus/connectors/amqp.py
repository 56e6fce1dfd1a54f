"""RabbitMQ plumbing shared by the sources, sinks and publishers: connecting, and
publishing many messages with publisher confirms without a round trip per message.

pika's ``BlockingChannel`` in confirm mode waits for each message's confirm (about
2 600 messages/s here). :class:`ConfirmingPublisher` drives the channel's underlying
asynchronous channel instead: it sends up to ``window`` messages ahead, collects the
broker's (possibly multiple) acks and nacks, and returns only when every message is
confirmed. A nack, a returned (unroutable, with ``mandatory``) message or a lost
connection raises; the caller then republishes the whole batch (at-least-once; consumers
de-duplicate by the idempotency key in ``message_id``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import BasicProperties

from datanexus.errors import ServiceUnavailable

__all__ = ["AMQP_ERRORS", "ConfirmingPublisher", "Outgoing", "PublishFailed", "connect"]

AMQP_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)
"""What a lost or refused connection raises; worth a retry on a new connection."""


class PublishFailed(ServiceUnavailable):
    """The broker nacked or returned a message; nothing says which were stored."""


class Outgoing(NamedTuple):
    exchange: str
    routing_key: str
    body: bytes
    properties: BasicProperties | None = None


def connect(url: str, *, heartbeat: int = 30, timeout: float = 5.0) -> BlockingConnection:
    """A blocking connection to ``url`` with bounded connect and I/O timeouts."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = timeout
    params.stack_timeout = timeout * 2
    params.blocked_connection_timeout = timeout * 6
    params.heartbeat = heartbeat
    return pika.BlockingConnection(params)


class ConfirmingPublisher:
    """Publishes batches on one channel of ``connection`` with pipelined confirms."""

    def __init__(self, connection: BlockingConnection, *, window: int = 2000) -> None:
        self._connection = connection
        self.channel: BlockingChannel = connection.channel()
        # The asynchronous channel under the blocking one: the only way in pika to have
        # several unconfirmed messages in flight without a second I/O loop.
        self._impl: Any = self.channel._impl  # type: ignore[attr-defined]
        self._window = window
        self._sent = 0
        self._pending: set[int] = set()
        self._failures: list[str] = []
        self._impl.confirm_delivery(ack_nack_callback=self._on_confirm)
        self._impl.add_on_return_callback(self._on_return)
        # Wait for Confirm.SelectOk so tags start at 1 on a confirming channel.
        connection.process_data_events(time_limit=0)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = int(method.delivery_tag)
        if isinstance(method, pika.spec.Basic.Nack):
            self._failures.append(f"broker nacked message {tag}")
        # Confirms may come out of order; "multiple" covers every tag up to this one.
        if method.multiple:
            self._pending = {t for t in self._pending if t > tag}
        else:
            self._pending.discard(tag)

    def _on_return(self, _channel: Any, method: Any, _props: Any, _body: bytes) -> None:
        self._failures.append(
            f"unroutable: exchange {method.exchange!r} routing key {method.routing_key!r}"
            f" ({method.reply_text})"
        )

    def publish(
        self, messages: Iterable[Outgoing], *, mandatory: bool = False, timeout: float = 30.0
    ) -> int:
        """Publish ``messages`` and wait for all confirms; returns how many. Raises
        :class:`PublishFailed` on a nack or return, ``AMQP_ERRORS`` on a lost connection,
        :class:`ServiceUnavailable` after ``timeout`` seconds without all confirms."""
        self._failures.clear()
        first = self._sent
        deadline = time.monotonic() + timeout
        for message in messages:
            while len(self._pending) >= self._window:
                self._pump(deadline, timeout)
            self._impl.basic_publish(
                message.exchange,
                message.routing_key,
                message.body,
                message.properties,
                mandatory,
            )
            self._sent += 1
            self._pending.add(self._sent)
        while self._pending:
            self._pump(deadline, timeout)
        # Returns arrive before the ack of the same message, so they are all in by now.
        if self._failures:
            raise PublishFailed("; ".join(self._failures[:5]))
        return self._sent - first

    def _pump(self, deadline: float, timeout: float) -> None:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"RabbitMQ left {len(self._pending)} messages unconfirmed for {timeout} s"
            )
        self._connection.process_data_events(time_limit=0.05)
