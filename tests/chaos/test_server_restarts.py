"""Restart PostgreSQL, Redis or RabbitMQ while the product flow (the web pipeline, see
``chaos_flow``) runs: it waits (retries behind its circuit breakers, reconnects its
source) and ends with the same rollups as an uninterrupted run: nothing lost, nothing
counted twice.

These restart servers every test on the machine shares, so each is short (20 000
messages, throttled to ~8 s so the restart lands mid-run) and waits until the server
answers again. They run after the SIGKILL tests (file order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chaos_flow
import harness
import psycopg
import pytest
from servers import restart_postgres, restart_rabbitmq, restart_redis

from datanexus.runner import prepare

EVENTS = 20_000
DELAY = 0.4  # seconds per batch of 1000: 20 batches, about 8 s


@pytest.mark.parametrize(
    ("server", "kind"), [("postgresql", "rabbit"), ("redis", "redis"), ("rabbitmq", "rabbit")]
)
def test_a_server_restart_mid_run_loses_and_duplicates_nothing(
    server: str,
    kind: str,
    database_url: str,
    amqp_url: str,
    redis_url: str,
    pg: psycopg.Connection[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    restart: dict[str, Callable[[], None]] = {
        "postgresql": lambda: restart_postgres(database_url),
        "redis": lambda: restart_redis(redis_url),
        "rabbitmq": lambda: restart_rabbitmq(amqp_url),
    }
    stream = harness.make_stream(kind, amqp_url if kind == "rabbit" else redis_url, EVENTS, 11)
    reference, chaos = harness.new_schema(), harness.new_schema()
    env = {"DATANEXUS_DATABASE_URL": database_url, "DATANEXUS_AMQP_URL": amqp_url,
           "DATANEXUS_REDIS_URL": redis_url}  # fmt: skip
    spec = chaos_flow.chaos_spec(kind, stream.name, stream.tenant, len(stream.positions) - 1)
    try:
        for name in (reference, chaos):
            prepare(database_url, name, spec)
        harness.finish(harness.start_flow(stream, reference, None, 1, env))
        proc = harness.start_flow(
            stream,
            chaos,
            tmp_path / "recovery",
            1,
            {**env, "DATANEXUS_CHAOS_DELAY": str(DELAY), "DATANEXUS_CHAOS_CIRCUIT_RESET": "1"},
        )
        target = stream.positions[EVENTS // 5]
        assert harness.wait_for(
            proc, lambda: harness.decode_progress(pg, chaos, stream) >= target
        ), "the flow ended before the restart"
        at = stream.index(harness.decode_progress(pg, chaos, stream))
        restarting = time.monotonic()
        restart[server]()
        pg.close()  # our own connection did not survive a PostgreSQL restart
        log = harness.finish(proc)
        took = time.monotonic() - restarting
        noticed = "datanexus." in log  # a warning from our retry, reconnect or marker code
        assert noticed, f"the flow never saw the outage:\n{log[-2000:]}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert harness.rollups(conn, chaos) == harness.rollups(conn, reference)
            count, letters = harness.check_totals(conn, chaos, stream)
        with capsys.disabled():
            print(
                f"\n[restart {server}] at message {at} of {EVENTS}; rollups equal to the "
                f"uninterrupted run; {count} events counted, {letters} dead letters; restart to"
                f" the flow's end {took:.1f} s"
            )
    finally:
        harness.drop_stream(stream, redis_url)
        with psycopg.connect(database_url, autocommit=True) as conn:
            for name in (reference, chaos):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
