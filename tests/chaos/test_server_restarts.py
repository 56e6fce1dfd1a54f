"""Restart PostgreSQL, Redis or RabbitMQ while a flow runs: it waits (retries behind its
circuit breaker, reconnects its source) and ends with the same rollups as an
uninterrupted run: nothing lost, nothing counted twice.

These restart servers every test on the machine shares, so each is short (20 000
messages, throttled to ~8 s so the restart lands mid-run) and waits until the server
answers again. They run after the SIGKILL tests (file order).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
import psycopg
import pytest
from bytewax.recovery import init_db_dir
from servers import restart_postgres, restart_rabbitmq, restart_redis

EVENTS = 20_000
DELAY = 0.2  # seconds per batch of 500: 40 batches, about 8 s


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
    reference, chaos = harness.new_schema(pg), harness.new_schema(pg)
    try:
        harness.run_reference(stream, database_url, reference, "engine")
        init_db_dir(tmp_path, 1)
        env = {"DATANEXUS_DATABASE_URL": database_url, "DATANEXUS_AMQP_URL": amqp_url,
               "DATANEXUS_REDIS_URL": redis_url, "DATANEXUS_CHAOS_DELAY": str(DELAY),
               "DATANEXUS_CHAOS_WINDOW": "engine"}  # fmt: skip
        proc = harness.start_flow(stream, chaos, tmp_path, env)
        target = stream.positions[EVENTS // 5]
        assert harness.wait_for(
            proc, lambda: harness.decode_progress(pg, chaos, stream) >= target
        ), "the flow ended before the restart"
        at = stream.index(harness.decode_progress(pg, chaos, stream))
        restart[server]()
        pg.close()  # our own connection did not survive a PostgreSQL restart
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()[-3000:]
        log = err.decode()
        noticed = "datanexus." in log  # a warning from our retry, reconnect or marker code
        assert noticed, f"the flow never saw the outage:\n{log[-2000:]}"
        with psycopg.connect(database_url, autocommit=True) as conn:
            assert harness.rollups(conn, chaos) == harness.rollups(conn, reference)
            count, letters = harness.check_totals(conn, chaos, stream)
        with capsys.disabled():
            print(
                f"\n[restart {server}] at message {at} of {EVENTS}; rollups equal to the "
                f"uninterrupted run; {count} events counted, {letters} dead letters"
            )
    finally:
        harness.drop_stream(stream)
        with psycopg.connect(database_url, autocommit=True) as conn:
            for name in (reference, chaos):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
