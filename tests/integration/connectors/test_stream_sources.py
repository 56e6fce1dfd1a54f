"""RabbitMQ stream and Redis stream sources against the real servers: every message once,
resume from the snapshot after an abort, reconnect after an outage, raw events stored
exactly once through the PostgreSQL sink."""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import psycopg
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.inputs import AbortExecution, FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, run_main

from datanexus.connectors.amqp import connect
from datanexus.connectors.decode import MessageBatch, decode_batch, to_store_batch
from datanexus.connectors.postgres import PostgresSink
from datanexus.connectors.publishers import RabbitStreamPublisher, RedisStreamPublisher
from datanexus.connectors.rabbitmq_stream import RabbitStreamPartition, RabbitStreamSource
from datanexus.connectors.redis_streams import RedisStreamSource, ensure_group
from datanexus.store.progress import read_progress, redis_id_position

N = 2500


def events(n: int = N) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"id": f"e{i}", "ts": 1_000 * i, "v": i} for i in range(n)]
    return out


@pytest.fixture
def rabbit_stream(amqp_url: str, unique: str) -> Any:
    publisher = RabbitStreamPublisher(amqp_url, unique)
    yield unique, publisher
    publisher.close()
    conn = connect(amqp_url)
    conn.channel().queue_delete(unique)
    conn.close()


@pytest.fixture
def redis_stream(redis_url: str, unique: str) -> Any:
    publisher = RedisStreamPublisher(redis_url, unique)
    client = redis.Redis.from_url(redis_url)
    yield unique, publisher, client
    client.delete(unique, publisher.sequence_key)
    client.close()
    publisher.close()


class AbortAfter(FixedPartitionedSource[MessageBatch, Any]):
    """Wraps a source; the first run aborts after ``batches`` batches."""

    def __init__(self, inner: FixedPartitionedSource[MessageBatch, Any], batches: int) -> None:
        self.inner = inner
        self.batches = batches
        self.aborted = False

    def list_parts(self) -> list[str]:
        return self.inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> Any:
        inner = self.inner.build_part(step_id, for_part, resume_state)
        outer = self

        class Part(StatefulSourcePartition[MessageBatch, Any]):
            seen = 0

            def next_batch(self) -> list[MessageBatch]:
                batch = inner.next_batch()
                self.seen += len(batch)
                if not outer.aborted and self.seen > outer.batches:
                    outer.aborted = True
                    raise AbortExecution
                return batch

            def next_awake(self) -> Any:
                return inner.next_awake()

            def snapshot(self) -> Any:
                return inner.snapshot()

        return Part()


def collect(source: Any) -> list[MessageBatch]:
    out: list[MessageBatch] = []
    df = Dataflow("collect")
    op.output("out", op.input("in", df, source), TestingSink(out))
    run_main(df)
    return out


def store_flow(source: Any, database_url: str, schema: str) -> Dataflow:
    df = Dataflow("raw_ingest")
    batches = op.input("in", df, source)
    decoded = op.map("decode", batches, functools.partial(decode_batch, flow="ingest"))
    stored = op.map(
        "to_store", decoded, functools.partial(to_store_batch, tenant="acme", stream="web")
    )
    op.output("pg", stored, PostgresSink(database_url, flow="ingest", schema=schema))
    return df


def assert_stored_once(pg: psycopg.Connection[Any], schema: str, n: int) -> None:
    ids = [r[0] for r in pg.execute(f'SELECT id FROM "{schema}".raw_events ORDER BY seq, id')]
    assert sorted(ids) == sorted(f"e{i}" for i in range(n))


# ---------------------------------------------------------------------------- RabbitMQ


def test_rabbit_stream_delivers_every_message_once_in_order(
    rabbit_stream: Any, amqp_url: str
) -> None:
    queue, publisher = rabbit_stream
    publisher.publish(events())
    out = collect(RabbitStreamSource(amqp_url, [queue], batch_size=300, stop_after={queue: N - 1}))
    offsets = [int(p) for b in out for p in b.positions]
    assert offsets == list(range(N))
    assert max(len(b) for b in out) <= 300
    assert out[-1].progress == N - 1


def test_rabbit_stream_resumes_after_the_snapshotted_offset(
    rabbit_stream: Any, amqp_url: str
) -> None:
    queue, publisher = rabbit_stream
    publisher.publish(events(100))
    part = RabbitStreamPartition(
        amqp_url, queue, 41, batch_size=1000, prefetch=50, stop_after=99, idle=timedelta(0)
    )
    got: list[int] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                got += [int(p) for b in part.next_batch() for p in b.positions]
            except StopIteration:
                break
            time.sleep(0.002)
        assert part.snapshot() == 99
    finally:
        part.close()
    assert got == list(range(42, 100))


def test_rabbit_stream_reconnects_after_an_outage_without_gaps_or_repeats(
    rabbit_stream: Any, amqp_url: str, proxy_to: Any, caplog: pytest.LogCaptureFixture
) -> None:
    queue, publisher = rabbit_stream
    publisher.publish(events(3000))
    proxy = proxy_to(amqp_url)
    part = RabbitStreamPartition(
        proxy.url(amqp_url), queue, None, batch_size=200, prefetch=100, stop_after=2999,
        idle=timedelta(0),
    )  # fmt: skip
    got: list[int] = []
    up_at: float | None = None
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            try:
                got += [int(p) for b in part.next_batch() for p in b.positions]
            except StopIteration:
                break
            if got and up_at is None:
                proxy.down()  # mid-stream: some delivered, most not
                up_at = time.monotonic() + 1.0
            if up_at and time.monotonic() > up_at:
                proxy.up()
                up_at = float("inf")
            time.sleep(0.002)
    finally:
        part.close()
    assert "reconnecting" in caplog.text, "the outage must have been noticed"
    assert got == list(range(3000))


def test_rabbit_stream_to_postgres_survives_an_abort_exactly_once(
    rabbit_stream: Any, amqp_url: str, database_url: str, schema: str,
    pg: psycopg.Connection[Any], tmp_path: Path,
) -> None:  # fmt: skip
    queue, publisher = rabbit_stream
    publisher.publish([*events(), {"id": "bad", "ts": "yesterday"}])
    init_db_dir(tmp_path, 1)
    source = AbortAfter(
        RabbitStreamSource(amqp_url, [queue], batch_size=250, stop_after={queue: N}), batches=4
    )
    flow = store_flow(source, database_url, schema)
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert source.aborted
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert_stored_once(pg, schema, N)
    letters = pg.execute(f'SELECT position, reason FROM "{schema}".dead_letters').fetchall()
    assert letters == [(str(N), "invalid_ts")]
    assert read_progress(pg, schema, "ingest") == {f"rabbitmq-stream/{queue}": N}


# ---------------------------------------------------------------------------- Redis


def test_redis_group_is_created_once_with_mkstream(redis_stream: Any) -> None:
    stream, _, client = redis_stream
    assert ensure_group(client, stream, "g1") is True
    assert ensure_group(client, stream, "g1") is False, "already exists = success"
    assert client.exists(stream) == 1
    assert [g["name"] for g in client.xinfo_groups(stream)] == [b"g1"]


def test_redis_stream_to_postgres_survives_an_abort_exactly_once(
    redis_stream: Any, redis_url: str, database_url: str, schema: str,
    pg: psycopg.Connection[Any], tmp_path: Path,
) -> None:  # fmt: skip
    stream, publisher, client = redis_stream
    publisher.publish(events())
    last = publisher.last_ids[-1].decode()
    init_db_dir(tmp_path, 1)
    source = AbortAfter(
        RedisStreamSource(
            redis_url, [stream], batch_size=250, stop_after={stream: redis_id_position(last)}
        ),
        batches=4,
    )
    flow = store_flow(source, database_url, schema)
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert source.aborted
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert_stored_once(pg, schema, N)
    assert read_progress(pg, schema, "ingest") == {
        f"redis-stream/{stream}": redis_id_position(last)
    }
    # The group marker trails the snapshots but has moved past the start.
    [group] = client.xinfo_groups(stream)
    assert group["name"] == b"datanexus"
    assert group["last-delivered-id"] != b"0-0"


def test_redis_stream_entries_without_data_are_dead_lettered(
    redis_stream: Any, redis_url: str
) -> None:
    stream, _, client = redis_stream
    client.xadd(stream, {"other": "x"})
    first = client.xadd(stream, {"data": b'{"ts": 5, "id": "ok"}'})
    out = collect(
        RedisStreamSource(redis_url, [stream], stop_after={stream: redis_id_position(first)})
    )
    decoded = [decode_batch(b, flow="f") for b in out]
    assert [e["id"] for d in decoded for e in d.events] == ["ok"]
    assert [d.reason for x in decoded for d in x.dead_letters] == ["invalid_json"]
