"""Publishing to the real RabbitMQ and Redis: topic routing with an alternate exchange,
pipelined confirms, idempotency keys and sequence numbers."""

from __future__ import annotations

import json
import time
from typing import Any

import bytewax.operators as op
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from datanexus.connectors.amqp import connect
from datanexus.connectors.idempotency import canonical_json, idempotency_key
from datanexus.connectors.publishers import RabbitStreamPublisher, RedisStreamPublisher
from datanexus.connectors.rabbitmq_topic import RabbitTopicSink


def _drain(channel: Any, queue: str) -> list[tuple[str, bytes]]:
    out = []
    while True:
        method, _props, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append((method.routing_key, body))


def test_topic_sink_routes_by_pattern_and_keeps_the_unroutable(amqp_url: str, unique: str) -> None:
    exchange = unique
    events = [
        {"id": "1", "route": "eu.orders.created"},
        {"id": "2", "route": "us.orders.created"},
        {"id": "3", "route": "eu.payments.failed"},
        {"id": "4", "route": "created"},
    ]
    conn = connect(amqp_url)
    ch = conn.channel()
    sink = RabbitTopicSink(
        amqp_url,
        exchange,
        routing_key=lambda e: e["route"],
        body=canonical_json,
        key=idempotency_key,
    )
    try:
        # Declare and bind before the flow publishes (the sink declares at first write).
        from datanexus.connectors.rabbitmq_topic import declare_topic

        unroutable = declare_topic(ch, exchange)
        eu = ch.queue_declare("", exclusive=True).method.queue
        created = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(eu, exchange, "eu.*.created")
        ch.queue_bind(created, exchange, "#.created")
        df = Dataflow("topic_test")
        op.output("route", op.input("in", df, TestingSource(events)), sink)
        run_main(df)
        assert [k for k, _ in _drain(ch, eu)] == ["eu.orders.created"]
        assert sorted(k for k, _ in _drain(ch, created)) == [
            "created", "eu.orders.created", "us.orders.created"
        ]  # fmt: skip
        lost = _drain(ch, unroutable)
        assert [json.loads(b)["id"] for _, b in lost] == ["3"]
    finally:
        ch.queue_delete(f"{exchange}.unroutable")
        ch.exchange_delete(f"{exchange}.unroutable")
        ch.exchange_delete(exchange)
        conn.close()


def test_stream_publisher_confirms_every_event_with_key_and_sequence(
    amqp_url: str, unique: str
) -> None:
    publisher = RabbitStreamPublisher(amqp_url, unique)
    events = [{"id": f"e{i}", "n": i} for i in range(5000)] + [{"n": -1}]
    try:
        published = publisher.publish(events)
        assert [p.seq for p in published] == list(range(1, 5002))
        assert published[0].key == "e0"
        assert published[-1].key == idempotency_key({"n": -1})
        assert published[-1].key.startswith("sha256:")
        again = publisher.publish(events[:2])
        assert [p.seq for p in again] == [5002, 5003], "gap-free across calls"
        got: list[tuple[int, str, int]] = []
        conn = connect(amqp_url)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)

        def on_message(channel: Any, method: Any, props: Any, body: bytes) -> None:
            got.append((props.headers["x-stream-offset"], props.message_id, props.headers["seq"]))
            channel.basic_ack(method.delivery_tag)

        ch.basic_consume(unique, on_message, arguments={"x-stream-offset": "first"})
        deadline = time.monotonic() + 10
        while len(got) < 5003 and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        conn.close()
        assert [g[0] for g in got] == list(range(5003))
        assert [g[2] for g in got] == list(range(1, 5004))
        assert [g[1] for g in got[:5001]] == [p.key for p in published]
    finally:
        publisher.close()
        conn = connect(amqp_url)
        conn.channel().queue_delete(unique)
        conn.close()


def test_redis_publisher_writes_key_seq_and_body(redis_url: str, unique: str) -> None:
    publisher = RedisStreamPublisher(redis_url, unique)
    client = redis.Redis.from_url(redis_url)
    try:
        published = publisher.publish([{"id": "a", "ts": 5}, {"ts": 6, "v": "x"}])
        entries = client.xrange(unique)
        assert [e[0] for e in entries] == publisher.last_ids
        fields = [e[1] for e in entries]
        assert [f[b"key"].decode() for f in fields] == [p.key for p in published]
        assert [int(f[b"seq"]) for f in fields] == [1, 2]
        assert json.loads(fields[1][b"data"]) == {"ts": 6, "v": "x"}
    finally:
        client.delete(unique, publisher.sequence_key)
        client.close()
        publisher.close()


def test_redis_publisher_publish_encoded_matches_publish(redis_url: str, unique: str) -> None:
    from datanexus.connectors.idempotency import keyed_canonical_json

    events = [{"id": "a", "ts": 5}, {"ts": 6, "v": "x"}, {"id": 7, "ts": 8}]
    encoded = [keyed_canonical_json(e) for e in events]
    publisher = RedisStreamPublisher(redis_url, unique)
    client = redis.Redis.from_url(redis_url)
    try:
        published = publisher.publish_encoded(encoded, fields={"traceparent": "t"})
        assert [p.key for p in published] == ["a", idempotency_key({"ts": 6, "v": "x"}), "7"]
        assert [p.seq for p in published] == [1, 2, 3]
        fields = [e[1] for e in client.xrange(unique)]
        assert [f[b"data"] for f in fields] == [body for _, body in encoded]
        assert json.loads(fields[1][b"data"])["id"] == published[1].key
        assert all(f[b"traceparent"] == b"t" for f in fields)
        assert publisher.publish_encoded([]) == []
    finally:
        client.delete(unique, publisher.sequence_key)
        client.close()
        publisher.close()
