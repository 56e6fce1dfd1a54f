"""PostgresSink in real Bytewax flows against the real PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from datanexus.connectors.decode import Decoded, MessageBatch, decode_batch
from datanexus.connectors.postgres import PostgresSink, Writer
from datanexus.retry import Backoff, CircuitBreaker, Retrier
from datanexus.store.batch import StoreBatch
from datanexus.store.progress import Progress, read_progress
from datanexus.store.rollups import RollupRow

MINUTE = 60_000


def rollup(series: str, minute: int, revision: int = 0) -> RollupRow:
    return RollupRow("acme", "web", series, MINUTE, minute * MINUTE, revision, 10, 15.0)


def run(items: list[Any], database_url: str, schema: str, flow: str = "f") -> None:
    df = Dataflow("pg_sink_test")
    op.output(
        "out",
        op.input("in", df, TestingSource(items)),
        PostgresSink(database_url, flow=flow, schema=schema),
    )
    run_main(df)


def snapshot(pg: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        f'SELECT series, window_start, revision, count, written_at FROM "{schema}".rollups'
        " ORDER BY 1, 2"
    ).fetchall()


def test_rollups_dead_letters_and_progress_land_and_a_replay_changes_nothing(
    database_url: str, schema: str, pg: psycopg.Connection[Any]
) -> None:
    batch = MessageBatch("rmq", "q0", ["7", "8", "9"], [b'{"ts": 1}', b"oops", b"[]"], 9)
    items: list[Any] = [rollup(s, m) for s in ("eu", "us") for m in range(5)]
    items.append(decode_batch(batch, flow="f"))
    run(items, database_url, schema)
    first = snapshot(pg, schema)
    assert len(first) == 10
    letters = pg.execute(
        f'SELECT position, reason FROM "{schema}".dead_letters ORDER BY position'
    ).fetchall()
    assert letters == [("8", "invalid_json"), ("9", "not_an_object")]
    progress = read_progress(pg, schema, "f")
    assert progress == {"pg_sink_test.out.0": 5 * MINUTE, "rmq/q0": 9}

    run(items, database_url, schema)  # the replay of everything after a crash
    assert snapshot(pg, schema) == first, "not even written_at moved"
    assert pg.execute(f'SELECT count(*) FROM "{schema}".dead_letters').fetchone() == (2,)
    assert read_progress(pg, schema, "f") == progress


def test_newer_revisions_replace_older_in_any_order(
    database_url: str, schema: str, pg: psycopg.Connection[Any]
) -> None:
    run([rollup("eu", 0, 2), rollup("eu", 0, 1), rollup("us", 0, 0)], database_url, schema)
    run([rollup("eu", 0, 3), rollup("us", 0, 0)], database_url, schema)
    assert [(r[0], r[2]) for r in snapshot(pg, schema)] == [("eu", 3), ("us", 0)]


def test_the_writer_waits_through_an_outage_and_loses_nothing(
    database_url: str, schema: str, pg: psycopg.Connection[Any], proxy_to: Any
) -> None:
    proxy = proxy_to(database_url)
    writer = Writer(
        proxy.url(database_url),
        schema,
        retrier=Retrier(
            CircuitBreaker("pg-test", failure_threshold=3, reset_timeout=0.3),
            (psycopg.OperationalError, psycopg.InterfaceError),
            backoff=Backoff(base=0.02, cap=0.1),
        ),
    )
    writer.write(StoreBatch(rollups=[rollup("eu", 0)]))
    proxy.down()
    threading.Timer(1.5, proxy.up).start()
    started = time.monotonic()
    written = writer.write(
        StoreBatch(rollups=[rollup("eu", 1), rollup("eu", 2)], progress=[Progress("f", "p", 3)])
    )
    waited = time.monotonic() - started
    assert waited >= 1.0, "the write cannot have succeeded while the server was unreachable"
    assert written.rollups == 2
    assert writer.retrier.breaker.state == "closed"
    assert [r[1].minute for r in snapshot(pg, schema)] == [0, 1, 2]
    writer.close()


def test_decoded_batches_carry_their_progress() -> None:
    decoded = Decoded(progress=Progress("f", "src/p", 4))
    assert decoded.events == []
    assert decoded.progress == Progress("f", "src/p", 4)
