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
import random
import re
import runpy
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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
from datanexus.sketches import HyperLogLog, TDigest
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


def web_like_images() -> list[tuple[str, bytes | None, bytes | None]]:
    """(metric, digest, hll) of a minute of one series of the web pipeline, ~80 events:
    the event-count row, the latency digest row and the distinct-users row."""
    rng = random.Random(7)
    digest = TDigest(100)
    for _ in range(80):
        digest.add(rng.lognormvariate(3.5, 0.6))
    users = HyperLogLog(12)
    for _ in range(80):
        users.add(f"u{rng.randrange(5000)}")
    return [("*", None, None), ("latency_ms", digest.to_bytes(), None),
            ("user_id", None, users.to_bytes())]  # fmt: skip


def rollup_rows(kind: str, revision: int = 0) -> list[RollupRow]:
    """ROWS rows over 50 series a minute. ``web-like``: real sketch images of a minute
    (none, a ~0.8 KB digest, a ~0.3 KB HLL in turn); ``dense``: a 2 KB HLL in every row,
    the size of a dense precision-12 image, the worst case (every row TOASTed)."""
    images = [("*", None, bytes(range(256)) * 8)] if kind == "dense" else web_like_images()
    return [
        RollupRow("acme", "web", f"region={i % 50}", 60_000, 60_000 * (i // 50), revision,
                  100 + i, 1.5 * i, 0.0, 99.0, 1.5, 2.0, images[i % len(images)][1],
                  images[i % len(images)][2], images[i % len(images)][0])
        for i in range(ROWS)
    ]  # fmt: skip


def write_split(conns: list[psycopg.Connection[Any]], schema: str, rows: list[RollupRow]) -> int:
    """What the sink does on ``len(conns)`` workers: each worker writes its own series on
    its own connection, at the same time."""
    shares = [[r for r in rows if int(r.series.split("=")[1]) % len(conns) == k]
              for k in range(len(conns))]  # fmt: skip
    with ThreadPoolExecutor(len(conns)) as pool:
        return sum(
            pool.map(lambda k: write_rollups(conns[k], schema, shares[k]), range(len(conns)))
        )


def _rate(benchmark: Any) -> str:
    return f"{ROWS / benchmark.stats.stats.min:,.0f} rows/s"


@pytest.mark.parametrize("kind", ["web-like", "dense"])
@pytest.mark.parametrize("writers", [1, 2])
@pytest.mark.benchmark(group="postgres rollup write (rows)")
def test_copy_write_ours(
    benchmark: Any, pg: tuple[psycopg.Connection[Any], str], kind: str, writers: int
) -> None:
    conn, schema = pg
    rows = rollup_rows(kind)
    benchmark.group = f"postgres rollup write, {kind} (rows)"
    conns = [psycopg.connect(DATABASE_URL, autocommit=True) for _ in range(writers)]

    def empty() -> None:
        conn.execute(f'TRUNCATE "{schema}".rollups')

    benchmark.extra_info.update(items=ROWS, role="ours")
    try:
        written = benchmark.pedantic(
            lambda: write_split(conns, schema, rows), setup=empty, rounds=3, iterations=1
        )
    finally:
        for c in conns:
            c.close()
    assert written == ROWS
    assert conn.execute(f'SELECT count(*) FROM "{schema}".rollups').fetchone() == (ROWS,)
    benchmark.extra_info["report"] = [
        f"rollup write, {kind} rows, {writers} writer(s): {_rate(benchmark)}"
        " (fastest of 3; STORE-3: >= 100 k)"
    ]


@pytest.mark.benchmark(group="postgres rollup amend (rows)")
def test_copy_amend_ours(benchmark: Any, pg: tuple[psycopg.Connection[Any], str]) -> None:
    """Late amendments: every row exists at revision 0 and is rewritten at revision 1, so
    every row takes the staging upsert."""
    conn, schema = pg
    first, amended = rollup_rows("web-like"), rollup_rows("web-like", revision=1)

    def stored() -> None:
        conn.execute(f'TRUNCATE "{schema}".rollups')
        write_rollups(conn, schema, first)

    benchmark.extra_info.update(items=ROWS, role="ours")
    written = benchmark.pedantic(
        lambda: write_rollups(conn, schema, amended), setup=stored, rounds=3, iterations=1
    )
    assert written == ROWS
    benchmark.extra_info["report"] = [
        f"rollup amend, web-like rows: {_rate(benchmark)} (fastest of 3)"
    ]


_EXECUTEMANY = (
    'INSERT INTO "{schema}".rollups AS r (tenant_id, pipeline, series, granularity_ms,'
    " window_start, revision, count, sum, min, max, mean, m2, digest, hll, metric)"
    " VALUES (%s, %s, %s, %s, timestamptz 'epoch' + %s * interval '1 millisecond',"
    " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (tenant_id, pipeline, granularity_ms, series, metric, window_start)"
    " DO UPDATE"
    " SET revision = excluded.revision, count = excluded.count, sum = excluded.sum,"
    " min = excluded.min, max = excluded.max, mean = excluded.mean, m2 = excluded.m2,"
    " digest = excluded.digest, hll = excluded.hll WHERE excluded.revision > r.revision"
)


@pytest.mark.parametrize("kind", ["web-like", "dense", "amend"])
@pytest.mark.benchmark(group="postgres rollup write (rows)")
def test_copy_write_executemany(
    benchmark: Any, pg: tuple[psycopg.Connection[Any], str], kind: str
) -> None:
    """psycopg's ``executemany`` of the same upsert on one connection (pipelined)."""
    conn, schema = pg
    source = rollup_rows("web-like" if kind == "amend" else kind, revision=int(kind == "amend"))
    rows = [(*r[:4], r.window_start_ms, *r[5:]) for r in source]
    benchmark.group = (
        "postgres rollup amend (rows)"
        if kind == "amend"
        else f"postgres rollup write, {kind} (rows)"
    )
    first = rollup_rows("web-like") if kind == "amend" else []

    def setup() -> None:
        conn.execute(f'TRUNCATE "{schema}".rollups')
        if first:
            write_rollups(conn, schema, first)

    def run() -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_EXECUTEMANY.format(schema=schema), rows)

    benchmark.extra_info.update(items=ROWS, role="anchor", label="executemany")
    benchmark.pedantic(run, setup=setup, rounds=2, iterations=1)
    assert conn.execute(
        f'SELECT count(*) FROM "{schema}".rollups WHERE revision = %s', (int(kind == "amend"),)
    ).fetchone() == (ROWS,)


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
