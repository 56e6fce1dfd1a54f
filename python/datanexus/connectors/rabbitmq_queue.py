"""A RabbitMQ classic or quorum queue consumer that acks only after the sink committed.

Bytewax acks what it reads from ordinary queues on receipt, which loses messages on a
crash (at-most-once), so these queues are consumed by this plain consumer instead
(CONN-1): deliveries are gathered into batches, the batch is handed to ``handle``
(which must store it durably, e.g. :func:`store_deliveries`), and only then acked with
one multiple-ack. A crash before the ack makes the broker redeliver the batch; the sink's
idempotency keys make that harmless (at-least-once delivery, exactly-once effect).

If ``handle`` raises, the batch is nacked with requeue and the consumer backs off. A
message that keeps failing is redelivered until the quorum queue's ``x-delivery-limit``
(set explicitly to 20: RabbitMQ 3.10 has no default) sends it to the dead-letter
exchange ``<queue>.dlx`` and its queue ``<queue>.dead``. Classic queues have no delivery
limit in 3.10; use quorum queues where poison messages are possible. Queues are bounded
(``x-max-length`` with ``reject-publish``) so a stalled consumer pushes back on
publishers instead of filling the broker (CONN-9).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pika.adapters.blocking_connection import BlockingChannel

from datanexus.connectors.amqp import AMQP_ERRORS, connect
from datanexus.connectors.decode import MessageBatch, decode_batch, to_store_batch
from datanexus.connectors.idempotency import RecentKeys
from datanexus.connectors.postgres import Writer
from datanexus.retry import Backoff
from datanexus.store.batch import Written

__all__ = ["Delivery", "QueueConsumer", "QueueSpec", "declare_queue", "store_deliveries"]

log = logging.getLogger(__name__)

SOURCE = "rabbitmq-queue"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    kind: Literal["quorum", "classic"] = "quorum"
    max_length: int = 1_000_000
    delivery_limit: int = 20

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.name}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"


def declare_queue(channel: BlockingChannel, spec: QueueSpec) -> None:
    """Declare the dead-letter exchange and queue, then the bounded queue itself."""
    channel.exchange_declare(spec.dead_letter_exchange, "fanout", durable=True)
    channel.queue_declare(
        spec.dead_letter_queue, durable=True, arguments={"x-queue-type": spec.kind}
    )
    channel.queue_bind(spec.dead_letter_queue, spec.dead_letter_exchange)
    arguments: dict[str, Any] = {
        "x-queue-type": spec.kind,
        "x-dead-letter-exchange": spec.dead_letter_exchange,
        "x-max-length": spec.max_length,
        "x-overflow": "reject-publish",
    }
    if spec.kind == "quorum":
        arguments["x-delivery-limit"] = spec.delivery_limit
    channel.queue_declare(spec.name, durable=True, arguments=arguments)


class Delivery(NamedTuple):
    tag: int
    body: bytes
    message_id: str | None
    seq: int | None
    redelivered: bool


Handler = Callable[[list[Delivery]], object]


class QueueConsumer:
    """Consumes ``spec`` in batches of up to ``batch_size`` (or what arrived within
    ``flush_interval`` seconds), calls ``handle(batch)``, then acks the batch."""

    def __init__(
        self,
        url: str,
        spec: QueueSpec,
        handle: Handler,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url
        self._spec = spec
        self._handle = handle
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._backoff = backoff or Backoff(base=0.2, cap=5.0)
        self.stop = threading.Event()
        self.acked = 0

    def run(self, *, until_idle: float | None = None) -> None:
        """Consume until :attr:`stop` is set (or, with ``until_idle``, until no message
        arrived for that many seconds). Connection losses are retried with backoff."""
        failures = 0
        while not self.stop.is_set():
            try:
                if self._session(until_idle):
                    return
                failures = 0
            except AMQP_ERRORS as error:
                pause = self._backoff.ceiling(failures)
                failures += 1
                log.warning("%s: %s; reconnecting in %.1f s", self._spec.name, error, pause)
                self.stop.wait(pause)

    def _session(self, until_idle: float | None) -> bool:
        conn = connect(self._url)
        try:
            channel = conn.channel()
            declare_queue(channel, self._spec)
            channel.basic_qos(prefetch_count=self._batch_size * 2)
            pending: list[Delivery] = []

            def on_message(_ch: Any, method: Any, props: Any, body: bytes) -> None:
                headers = props.headers or {}
                seq = headers.get("seq")
                pending.append(
                    Delivery(
                        int(method.delivery_tag),
                        body,
                        props.message_id,
                        seq if isinstance(seq, int) else None,
                        bool(method.redelivered),
                    )
                )

            channel.basic_consume(self._spec.name, on_message, auto_ack=False)
            last_message = time.monotonic()
            while not self.stop.is_set():
                deadline = time.monotonic() + self._flush_interval
                while len(pending) < self._batch_size and time.monotonic() < deadline:
                    conn.process_data_events(time_limit=0.05)
                if not pending:
                    if until_idle is not None and time.monotonic() - last_message > until_idle:
                        return True
                    continue
                last_message = time.monotonic()
                batch, pending[:] = list(pending), []
                self._deliver(channel, batch)
            return True
        finally:
            if conn.is_open:
                conn.close()

    def _deliver(self, channel: BlockingChannel, batch: list[Delivery]) -> None:
        try:
            self._handle(batch)
        except Exception:
            if len(batch) == 1:
                log.exception("%s: message %s failed; requeued", self._spec.name, batch[0].tag)
                channel.basic_nack(batch[0].tag, requeue=True)
                self.stop.wait(self._backoff.base)
                return
            # Isolate the culprit: one poison message must not drag its whole batch
            # through the delivery limit to the dead-letter queue.
            log.warning(
                "%s: a batch of %d failed; retrying one by one", self._spec.name, len(batch)
            )
            for delivery in batch:
                self._deliver(channel, [delivery])
            return
        # Acked only now: the batch is durably stored.
        channel.basic_ack(batch[-1].tag, multiple=len(batch) > 1)
        self.acked += len(batch)


def store_deliveries(
    writer: Writer,
    *,
    flow: str,
    queue: str,
    tenant: str,
    stream: str,
    recent: RecentKeys | None = None,
) -> Callable[[list[Delivery]], Written]:
    """A ``handle`` that decodes the bodies and stores raw events, dead letters and the
    progress (the highest publisher sequence number seen) in one transaction.

    Redeliveries whose ``message_id`` is among the last 10 000 stored (``recent``,
    CONN-10) are skipped before decoding; keys are remembered only after the commit, so
    a batch that failed to store is never skipped on its redelivery. Older repeats are
    caught by the raw-event table's key."""
    recent = RecentKeys() if recent is None else recent

    def handle(all_deliveries: list[Delivery]) -> Written:
        batch = [d for d in all_deliveries if d.message_id is None or d.message_id not in recent]
        if not batch:
            return Written()
        seqs = [d.seq for d in batch if d.seq is not None]
        message = MessageBatch(
            SOURCE,
            queue,
            # Delivery tags are per channel, not identities: without a message id the
            # body's hash names the message (so an exact repeat is one dead letter).
            [d.message_id or "sha256:" + hashlib.sha256(d.body).hexdigest() for d in batch],
            [d.body for d in batch],
            max(seqs, default=0),
        )
        decoded = decode_batch(message, flow=flow)
        if not seqs:
            decoded.progress = None
        written = writer.write(to_store_batch(decoded, tenant=tenant, stream=stream))
        recent.add([d.message_id for d in batch if d.message_id is not None])
        return written

    return handle
