"""Round trips through the real PostgreSQL, Redis and RabbitMQ the suite runs against.

These prove the environment (``scripts/services.sh``) gives the rest of the integration
suite what it relies on: a PostgreSQL 15+ login that may create tables, Redis strings and
streams, and RabbitMQ classic and stream queues with publisher confirms.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pika
import psycopg
import redis
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.spec import Basic, BasicProperties

TIMEOUT = 5  # seconds, for every connect and every wait below


def _unique(prefix: str) -> str:
    """A name no other test run (or concurrent run) uses."""
    return f"{prefix}.{uuid.uuid4().hex}"


# ---------------------------------------------------------------------------- PostgreSQL


def test_postgres_version_and_table_round_trip(database_url: str) -> None:
    with psycopg.connect(
        database_url,
        connect_timeout=TIMEOUT,
        options=f"-c statement_timeout={TIMEOUT * 1000}",
    ) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None
        assert int(version[0]) >= 150000, f"PostgreSQL 15+ required, server is {version[0]}"
        assert conn.info.dbname == urlsplit(database_url).path.lstrip("/")

        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE services_probe ("
                " id integer PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL)"
            )
            rows = [(1, "alpha"), (2, "beta"), (3, "gamma")]
            cur.executemany(
                "INSERT INTO services_probe (id, name, at) VALUES (%s, %s, now())", rows
            )
            cur.execute("SELECT id, name FROM services_probe WHERE id >= %s ORDER BY id", (2,))
            assert cur.fetchall() == rows[1:]
            cur.execute("SELECT count(*) FROM services_probe")
            assert cur.fetchone() == (3,)


# ---------------------------------------------------------------------------- Redis


def test_redis_string_and_stream_round_trip(redis_url: str) -> None:
    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT, decode_responses=True
    )
    key = _unique("datanexus:test:key")
    stream = _unique("datanexus:test:stream")
    try:
        assert client.set(key, "value-1", ex=60) is True
        assert client.get(key) == "value-1"

        ids = [client.xadd(stream, {"seq": str(seq), "kind": "probe"}) for seq in range(3)]
        entries = client.xrange(stream)
        assert entries is not None
        assert [entry_id for entry_id, _ in entries] == ids
        assert [fields["seq"] if fields else None for _, fields in entries] == ["0", "1", "2"]
        assert client.xlen(stream) == 3

        assert client.delete(key, stream) == 2
        assert client.exists(key, stream) == 0
    finally:
        client.delete(key, stream)
        client.close()


# ---------------------------------------------------------------------------- RabbitMQ


def _connect(amqp_url: str) -> BlockingConnection:
    params = pika.URLParameters(amqp_url)
    params.connection_attempts = 1
    params.socket_timeout = TIMEOUT
    params.stack_timeout = TIMEOUT * 2
    params.blocked_connection_timeout = TIMEOUT
    return pika.BlockingConnection(params)


def test_rabbitmq_classic_queue_publish_confirm_get(amqp_url: str) -> None:
    conn = _connect(amqp_url)
    try:
        channel = conn.channel()
        channel.confirm_delivery()  # basic_publish now raises unless the broker acks it
        declared = channel.queue_declare(queue="", exclusive=True, auto_delete=True)
        queue = declared.method.queue
        body = _unique("classic-probe").encode()

        channel.basic_publish(
            exchange="",
            routing_key=queue,
            body=body,
            properties=BasicProperties(content_type="text/plain"),
            mandatory=True,  # unroutable -> UnroutableError instead of silent loss
        )

        method, properties, received = channel.basic_get(queue, auto_ack=False)
        assert method is not None, "published message not in the queue"
        assert received == body
        assert properties.content_type == "text/plain"
        channel.basic_ack(method.delivery_tag)
        empty, _, _ = channel.basic_get(queue, auto_ack=True)
        assert empty is None, "acked message was delivered again"
    finally:
        conn.close()


def _read_stream(
    conn: BlockingConnection, channel: BlockingChannel, queue: str, count: int
) -> list[tuple[int, bytes]]:
    """Consume ``count`` messages of stream ``queue`` from its first offset, acking each;
    returns (stream offset, body) pairs in delivery order."""
    received: list[tuple[int, bytes]] = []

    def on_message(
        ch: BlockingChannel, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        received.append((int(properties.headers["x-stream-offset"]), body))
        ch.basic_ack(method.delivery_tag)

    tag = channel.basic_consume(
        queue, on_message, auto_ack=False, arguments={"x-stream-offset": "first"}
    )
    deadline = time.monotonic() + TIMEOUT
    while len(received) < count and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.2)
    channel.basic_cancel(tag)
    return received


def test_rabbitmq_stream_queue_publish_confirm_consume(amqp_url: str) -> None:
    queue = _unique("datanexus.test.stream")
    conn = _connect(amqp_url)
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        declared = channel.queue_declare(
            queue=queue, durable=True, arguments={"x-queue-type": "stream"}
        )
        assert declared.method.queue == queue
        bodies = [f"event-{seq}".encode() for seq in range(3)]
        for body in bodies:
            channel.basic_publish(exchange="", routing_key=queue, body=body, mandatory=True)

        # Stream consumers must ack and need a prefetch limit.
        channel.basic_qos(prefetch_count=10)
        first = _read_stream(conn, channel, queue, len(bodies))
        assert first == [(0, bodies[0]), (1, bodies[1]), (2, bodies[2])]

        # Streams are logs, not queues: consuming does not remove, so a new consumer
        # from the first offset reads the same messages again.
        again = _read_stream(conn, channel, queue, len(bodies))
        assert [body for _, body in again] == bodies
    finally:
        if conn.is_open:
            conn.channel().queue_delete(queue)
            conn.close()
