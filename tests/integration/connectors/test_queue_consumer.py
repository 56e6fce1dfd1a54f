"""The quorum-queue consumer against the real RabbitMQ and PostgreSQL: ack after commit,
poison messages through the delivery limit to the dead-letter queue."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from pika.spec import BasicProperties

from datanexus.connectors.amqp import ConfirmingPublisher, Outgoing, connect
from datanexus.connectors.idempotency import RecentKeys, canonical_json
from datanexus.connectors.postgres import Writer
from datanexus.connectors.rabbitmq_queue import (
    Delivery,
    QueueConsumer,
    QueueSpec,
    declare_queue,
    store_deliveries,
)
from datanexus.store.progress import read_progress


@pytest.fixture
def queue(amqp_url: str, unique: str) -> Any:
    spec = QueueSpec(unique)
    conn = connect(amqp_url)
    publisher = ConfirmingPublisher(conn)
    declare_queue(publisher.channel, spec)
    yield spec, publisher
    for name in (spec.name, spec.dead_letter_queue):
        publisher.channel.queue_delete(name)
    publisher.channel.exchange_delete(spec.dead_letter_exchange)
    conn.close()


def send(
    publisher: ConfirmingPublisher, queue: str, bodies: list[bytes], first_seq: int = 1
) -> None:
    publisher.publish(
        Outgoing(
            "",
            queue,
            body,
            BasicProperties(message_id=f"m{first_seq + i}", headers={"seq": first_seq + i}),
        )
        for i, body in enumerate(bodies)
    )


def test_messages_are_stored_once_and_acked_only_after_commit(
    queue: Any, amqp_url: str, database_url: str, schema: str, pg: psycopg.Connection[Any]
) -> None:
    spec, publisher = queue
    bodies = [canonical_json({"id": f"e{i}", "ts": i}) for i in range(300)]
    bodies[10] = b"not json"
    send(publisher, spec.name, bodies)
    writer = Writer(database_url, schema)
    handle = store_deliveries(writer, flow="q", queue=spec.name, tenant="acme", stream="web")
    calls: list[int] = []

    def crash_once(batch: list[Delivery]) -> Any:
        calls.append(len(batch))
        written = handle(batch)
        if len(calls) == 1:
            raise RuntimeError("crash after the commit, before the ack")
        return written

    consumer = QueueConsumer(amqp_url, spec, crash_once, batch_size=100, flush_interval=0.2)
    consumer.run(until_idle=1.5)
    writer.close()
    count = pg.execute(f'SELECT count(*) FROM "{schema}".raw_events').fetchone()
    assert count == (299,), "the redelivered batch was not stored twice"
    letters = pg.execute(f'SELECT position, reason FROM "{schema}".dead_letters').fetchall()
    assert letters == [("m11", "invalid_json")]
    assert read_progress(pg, schema, "q") == {f"rabbitmq-queue/{spec.name}": 300}
    assert consumer.acked == 300
    assert publisher.channel.queue_declare(spec.name, passive=True).method.message_count == 0


def test_a_poison_message_reaches_the_dead_letter_queue_after_twenty_deliveries(
    queue: Any, amqp_url: str
) -> None:
    spec, publisher = queue
    send(publisher, spec.name, [b"ok-1", b"poison", b"ok-2"])
    handled: list[bytes] = []
    attempts = {"poison": 0}

    def handle(batch: list[Delivery]) -> None:
        if any(d.body == b"poison" for d in batch):
            attempts["poison"] += len(batch) == 1
            raise ValueError("cannot store this")
        handled.extend(d.body for d in batch)

    consumer = QueueConsumer(amqp_url, spec, handle, batch_size=10, flush_interval=0.05)
    consumer._backoff = consumer._backoff.__class__(base=0.001, cap=0.01)
    thread = threading.Thread(target=consumer.run, kwargs={"until_idle": 2.0})
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert sorted(handled) == [b"ok-1", b"ok-2"]
    # x-delivery-limit 20 (set explicitly): the first delivery and 20 returns.
    assert attempts["poison"] == 21
    method, _props, body = publisher.channel.basic_get(spec.dead_letter_queue, auto_ack=True)
    assert method is not None
    assert body == b"poison"


def test_recent_keys_skip_stored_redeliveries_but_never_a_failed_batch(
    database_url: str, schema: str, pg: psycopg.Connection[Any]
) -> None:
    recent = RecentKeys()
    batch = [
        Delivery(i, canonical_json({"id": f"k{i}", "ts": i}), f"k{i}", i, False)
        for i in range(1, 4)
    ]
    broken = Writer(database_url, "dn_no_such_schema")
    failing = store_deliveries(broken, flow="q", queue="q", tenant="t", stream="s", recent=recent)
    with pytest.raises(psycopg.errors.UndefinedTable):
        failing(batch)
    broken.close()
    assert len(recent) == 0, "nothing stored, nothing remembered"
    writer = Writer(database_url, schema)
    handle = store_deliveries(writer, flow="q", queue="q", tenant="t", stream="s", recent=recent)
    assert handle(batch).raw_events == 3
    assert handle(batch).raw_events == 0
    assert "k2" in recent
    writer.close()
    assert pg.execute(f'SELECT count(*) FROM "{schema}".raw_events').fetchone() == (3,)
