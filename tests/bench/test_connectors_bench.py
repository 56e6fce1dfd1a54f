"""Connector speed beside what a user would otherwise write.

- Rollup rows per second into PostgreSQL: the sink's binary COPY + upsert (highest
  revision wins) beside psycopg's ``executemany`` of the same upsert. The issue's target
  is ≥ 100 k rows/s on this 2-core machine. Both write the month-partitioned rollup table
  of migration 0002, into a real partition (the default partition stays empty: checked).
- Events per second from a RabbitMQ stream through the product's web pipeline flow into
  PostgreSQL (the chaos tests' flow: decode, schema, transforms, two native window
  aggregations, COPY + upsert, Redis live results), beside a plain pika consumer that only
  acks, the ceiling of any AMQP consumer in Python here.
"""

from __future__ import annotations

import os
import re
import runpy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from datanexus.connectors.amqp import ConfirmingPublisher, Outgoing, connect
from datanexus.connectors.idempotency import canonical_json
from datanexus.connectors.publishers import declare_stream
from datanexus.demo import model_for
from datanexus.runner import prepare, run_flow
from datanexus.store.migrations import migrate
from datanexus.store.partitions import ROLLUPS, ensure_partitions
from datanexus.store.rollups import RollupRow, write_rollups
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

DATABASE_URL = os.environ.get(
    "DATANEXUS_DATABASE_URL", "postgresql://datanexus:datanexus@127.0.0.1:5432/datanexus"
)
AMQP_URL = os.environ.get("DATANEXUS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
ROWS = 100_000
ROWS_SPAN = timedelta(minutes=ROWS // 50)  # rollup_rows: 50 series a minute from the epoch
EVENTS = 100_000
KNOWN_METHOD = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$")  # web.toml's filter
REDIS_URL = os.environ.get("DATANEXUS_REDIS_URL", "redis://127.0.0.1:6379/0")
chaos_flow = runpy.run_path(str(Path(__file__).parents[1] / "chaos" / "chaos_flow.py"))


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[psycopg.Connection[Any], str]]:
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        schema = f"dn_bench_{uuid.uuid4().hex[:12]}"
        migrate(conn, schema)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        ensure_partitions(conn, schema, ROLLUPS, epoch, ahead=0, cover=(epoch, epoch + ROWS_SPAN))
        yield conn, schema
        assert conn.execute(f'SELECT count(*) FROM "{schema}".rollups_default').fetchone() == (0,)
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def rollup_rows() -> list[RollupRow]:
    hll = bytes(range(256)) * 8  # the size of a dense precision-12 image
    return [
        RollupRow("acme", "web", f"region={i % 50}", 60_000, 60_000 * (i // 50), 1, 100 + i,
                  1.5 * i, 0.0, 99.0, 1.5, 2.0, None, hll)
        for i in range(ROWS)
    ]  # fmt: skip


@pytest.mark.benchmark(group="postgres rollup upsert (rows)")
def test_copy_upsert_ours(benchmark: Any, pg: tuple[psycopg.Connection[Any], str]) -> None:
    conn, schema = pg
    rows = rollup_rows()

    def empty() -> None:
        conn.execute(f'TRUNCATE "{schema}".rollups')

    benchmark.extra_info.update(items=ROWS, role="ours")
    written = benchmark.pedantic(
        lambda: write_rollups(conn, schema, rows), setup=empty, rounds=3, iterations=1
    )
    assert written == ROWS


@pytest.mark.benchmark(group="postgres rollup upsert (rows)")
def test_copy_upsert_executemany(benchmark: Any, pg: tuple[psycopg.Connection[Any], str]) -> None:
    conn, schema = pg
    rows = [(*r[:4], r.window_start_ms, *r[5:]) for r in rollup_rows()]
    sql = (
        f'INSERT INTO "{schema}".rollups AS r (tenant_id, pipeline, series, granularity_ms,'
        " window_start, revision, count, sum, min, max, mean, m2, digest, hll, metric)"
        " VALUES (%s, %s, %s, %s, timestamptz 'epoch' + %s * interval '1 millisecond',"
        " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, pipeline, granularity_ms, series, metric, window_start)"
        " DO UPDATE"
        " SET revision = excluded.revision, count = excluded.count, sum = excluded.sum,"
        " min = excluded.min, max = excluded.max, mean = excluded.mean, m2 = excluded.m2,"
        " digest = excluded.digest, hll = excluded.hll WHERE excluded.revision > r.revision"
    )

    def empty() -> None:
        conn.execute(f'TRUNCATE "{schema}".rollups')

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(sql, rows)

    benchmark.extra_info.update(items=ROWS, role="anchor", label="executemany")
    benchmark.pedantic(run, setup=empty, rounds=3, iterations=1)
    assert conn.execute(f'SELECT count(*) FROM "{schema}".rollups').fetchone() == (ROWS,)


@pytest.fixture(scope="module")
def stream() -> Iterator[tuple[str, int]]:
    """A stream of EVENTS web events; yields its name and how many the spec keeps."""
    name = f"dnbench.{uuid.uuid4().hex[:12]}"
    conn = connect(AMQP_URL)
    publisher = ConfirmingPublisher(conn, window=5000)
    declare_stream(publisher.channel, name)
    model = model_for("web", EVENTS, seed=3)
    events = [dict(e) for b in range(model.blocks) for e in model.block(b)]
    for lo in range(0, EVENTS, 10_000):
        publisher.publish(Outgoing("", name, canonical_json(e)) for e in events[lo : lo + 10_000])
    kept = sum(1 for e in events if KNOWN_METHOD.match(str(e["method"])))
    yield name, kept
    publisher.channel.queue_delete(name)
    conn.close()


@pytest.mark.benchmark(group="rabbitmq stream -> window -> postgres (events)")
def test_end_to_end_ours(benchmark: Any, stream: tuple[str, int]) -> None:
    name, kept = stream
    tenant = f"bench{uuid.uuid4().hex[:10]}"
    spec = chaos_flow["chaos_spec"]("rabbit", name, tenant, EVENTS - 1)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        schemas: list[str] = []

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            schemas.append(f"dn_bench_{uuid.uuid4().hex[:12]}")
            prepare(DATABASE_URL, schemas[-1], spec)
            targets = FlowTargets(DATABASE_URL, REDIS_URL, AMQP_URL, schemas[-1])
            return (build_pipeline_flow(spec, targets, stop_at_end=True),), {}

        benchmark.extra_info.update(items=EVENTS, role="ours")
        try:
            benchmark.pedantic(run_flow, setup=setup, rounds=2, iterations=1)
            total = conn.execute(
                f'SELECT sum(count) FROM "{schemas[-1]}".rollups'
                " WHERE metric = '*' AND granularity_ms = 60000"
            ).fetchone()
            assert total == (kept,)
        finally:
            for s in schemas:
                conn.execute(f'DROP SCHEMA "{s}" CASCADE')
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"*:{tenant}:*"):
                client.delete(key)
            client.close()


@pytest.mark.benchmark(group="rabbitmq stream -> window -> postgres (events)")
def test_end_to_end_plain_pika_consumer(benchmark: Any, stream: tuple[str, int]) -> None:
    name = stream[0]

    def consume() -> int:
        conn = connect(AMQP_URL)
        channel = conn.channel()
        channel.basic_qos(prefetch_count=2000)
        seen = 0

        def on_message(ch: Any, method: Any, _props: Any, _body: bytes) -> None:
            nonlocal seen
            seen += 1
            if seen % 500 == 0 or seen == EVENTS:
                ch.basic_ack(method.delivery_tag, multiple=True)

        channel.basic_consume(name, on_message, arguments={"x-stream-offset": "first"})
        while seen < EVENTS:
            conn.process_data_events(time_limit=0.1)
        conn.close()
        return seen

    benchmark.extra_info.update(items=EVENTS, role="anchor", label="plain pika")
    assert benchmark.pedantic(consume, rounds=2, iterations=1) == EVENTS
