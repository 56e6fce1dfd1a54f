"""The RabbitMQ publisher sink, for routing and fan-out (PIPE-20).

Declares at build time a durable topic exchange whose ``alternate-exchange`` is a fanout
exchange ``<exchange>.unroutable`` bound to a durable queue of the same name, so a message
no binding matches is kept there (and can be counted) instead of vanishing. Every batch
is published with confirms; a lost connection is retried on a new one with backoff
(the flow waits). A retried batch may publish some messages twice: each carries its
idempotency key in ``message_id`` for consumers to de-duplicate (at-least-once).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import BasicProperties

from datanexus.connectors.amqp import AMQP_ERRORS, ConfirmingPublisher, Outgoing, connect
from datanexus.retry import Backoff, CircuitBreaker, Retrier

__all__ = ["RabbitTopicSink", "declare_topic"]

log = logging.getLogger(__name__)

X = TypeVar("X")


def declare_topic(channel: BlockingChannel, exchange: str) -> str:
    """Declare the topic exchange and its alternate; returns the unroutable queue name."""
    unroutable = f"{exchange}.unroutable"
    channel.exchange_declare(unroutable, "fanout", durable=True)
    channel.queue_declare(unroutable, durable=True)
    channel.queue_bind(unroutable, unroutable)
    channel.exchange_declare(
        exchange, "topic", durable=True, arguments={"alternate-exchange": unroutable}
    )
    return unroutable


class _Partition(StatelessSinkPartition[X], Generic[X]):
    def __init__(self, sink: RabbitTopicSink[X], retrier: Retrier) -> None:
        self._sink = sink
        self._retrier = retrier
        self._connection: BlockingConnection | None = None
        self._publisher: ConfirmingPublisher | None = None
        retrier.on_failure = self._drop

    def _open(self) -> ConfirmingPublisher:
        if self._publisher is None:
            self._connection = connect(self._sink.url)
            self._publisher = ConfirmingPublisher(self._connection)
            declare_topic(self._publisher.channel, self._sink.exchange)
        return self._publisher

    def _drop(self, error: BaseException) -> None:
        if self._connection is not None and self._connection.is_open:
            with contextlib.suppress(*AMQP_ERRORS):  # already broken; we want it gone
                self._connection.close()
        self._connection = None
        self._publisher = None

    def write_batch(self, items: list[X]) -> None:
        sink = self._sink
        messages = [
            Outgoing(
                sink.exchange,
                sink.routing_key(item),
                sink.body(item),
                BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=sink.key(item)
                ),
            )
            for item in items
        ]
        self._retrier.call(lambda: self._open().publish(messages))

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()


class RabbitTopicSink(DynamicSink[X], Generic[X]):
    """Publishes each item to topic ``exchange`` under ``routing_key(item)`` with body
    ``body(item)`` and message id ``key(item)``."""

    def __init__(
        self,
        url: str,
        exchange: str,
        *,
        routing_key: Callable[[X], str],
        body: Callable[[X], bytes],
        key: Callable[[X], str],
        retrier_factory: Callable[[], Retrier] | None = None,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.routing_key = routing_key
        self.body = body
        self.key = key
        self._retrier_factory = retrier_factory

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition[X]:
        retrier = (
            self._retrier_factory()
            if self._retrier_factory
            else Retrier(
                CircuitBreaker(f"rabbitmq:{step_id}"),
                AMQP_ERRORS,
                backoff=Backoff(base=0.2, cap=5.0),
            )
        )
        return _Partition(self, retrier)
