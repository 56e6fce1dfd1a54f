"""What the chaos tests share: deterministic test streams with 1 % malformed messages,
the flow as a subprocess, the uninterrupted reference run, and the comparison."""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import chaos_flow
import psycopg
import redis
from bytewax.testing import run_main

from datanexus.connectors import generate_events
from datanexus.connectors.amqp import ConfirmingPublisher, Outgoing, connect
from datanexus.connectors.idempotency import canonical_json
from datanexus.connectors.publishers import declare_stream
from datanexus.store.migrations import migrate
from datanexus.store.progress import redis_id_position

FLOW = Path(chaos_flow.__file__)
MALFORMED = [b"{not json", b'{"region": "eu-west-1"}', b"\xff\xfe\x00", b"[1, 2, 3]"]
REASONS = ["invalid_json", "invalid_ts", "invalid_utf8", "not_an_object"]


@dataclass
class Stream:
    kind: str  # "rabbit" or "redis"
    name: str
    url: str
    stop_after: int  # progress position of the last message
    positions: list[int]  # progress position of each message, by index
    valid: list[dict[str, Any]]
    malformed: int

    def index(self, position: int) -> int:
        """The message index of a progress position."""
        return bisect.bisect_left(self.positions, position)

    @property
    def partition(self) -> str:
        return f"{'rabbitmq-stream' if self.kind == 'rabbit' else 'redis-stream'}/{self.name}"


def make_stream(kind: str, url: str, events: int, seed: int) -> Stream:
    """Publish ``events`` messages, every 100th malformed (cycling through MALFORMED)."""
    valid = generate_events(events, seed, duration=timedelta(minutes=30))
    bodies: list[bytes] = []
    for i, event in enumerate(valid):
        bodies.append(MALFORMED[(i // 100) % 4] if i % 100 == 37 else canonical_json(event))
    good = [e for i, e in enumerate(valid) if i % 100 != 37]
    name = f"dnchaos.{uuid.uuid4().hex[:12]}"
    if kind == "rabbit":
        # Raw bodies, not the ingestion publishers: they would refuse the malformed ones.
        conn = connect(url)
        publisher = ConfirmingPublisher(conn, window=5000)
        declare_stream(publisher.channel, name)
        for lo in range(0, len(bodies), 10_000):
            publisher.publish(Outgoing("", name, b) for b in bodies[lo : lo + 10_000])
        conn.close()
        positions = list(range(len(bodies)))
    else:
        client = redis.Redis.from_url(url)
        positions = []
        for lo in range(0, len(bodies), 5000):
            pipe = client.pipeline(transaction=False)
            for b in bodies[lo : lo + 5000]:
                pipe.xadd(name, {"data": b})
            positions += [redis_id_position(i) for i in pipe.execute()]
        client.close()
    return Stream(kind, name, url, positions[-1], positions, good, len(bodies) - len(good))


def drop_stream(stream: Stream) -> None:
    if stream.kind == "rabbit":
        conn = connect(stream.url)
        conn.channel().queue_delete(stream.name)
        conn.close()
    else:
        client = redis.Redis.from_url(stream.url)
        client.delete(stream.name)
        client.close()


def new_schema(pg: psycopg.Connection[Any]) -> str:
    name = f"dn_chaos_{uuid.uuid4().hex[:12]}"
    migrate(pg, name)
    return name


def run_reference(stream: Stream, database_url: str, schema: str, window: str) -> None:
    """The uninterrupted run, in this process, without recovery."""
    source = chaos_flow.source(stream.kind, stream.name, stream.stop_after, stream.url)
    flow = chaos_flow.build(source, database_url, schema, window=window)
    run_main(flow, epoch_interval=chaos_flow.EPOCH)


def start_flow(
    stream: Stream, schema: str, recovery: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(FLOW), stream.kind, stream.name, str(stream.stop_after), schema,
         str(recovery)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def decode_progress(pg: psycopg.Connection[Any], schema: str, stream: Stream) -> int:
    row = pg.execute(
        f'SELECT position FROM "{schema}".progress WHERE flow = %s AND partition = %s',
        ("chaos.decode", stream.partition),
    ).fetchone()
    return -1 if row is None else int(row[0])


def wait_for(
    proc: subprocess.Popen[bytes], done: Callable[[], bool], timeout: float = 120.0
) -> bool:
    """Poll until ``done()`` or the process exits; True if ``done()`` came first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"the flow made no progress in {timeout} s")


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes the pipe


def finish(proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"the flow failed ({proc.returncode}):\n{err.decode()[-3000:]}"


ROLLUP_COLUMNS = "series, window_start, revision, count, sum, min, max, mean, m2, digest, hll"


def rollups(pg: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        f'SELECT {ROLLUP_COLUMNS} FROM "{schema}".rollups ORDER BY series, window_start'
    ).fetchall()


def dead_letters(pg: psycopg.Connection[Any], schema: str) -> list[tuple[str, str]]:
    return pg.execute(
        f'SELECT position, reason FROM "{schema}".dead_letters ORDER BY source, partition,'
        " position, item"
    ).fetchall()


def check_totals(pg: psycopg.Connection[Any], schema: str, stream: Stream) -> tuple[int, int]:
    """Counts and latency sums against a plain-Python reference; dead letters = malformed."""
    count, total = pg.execute(
        f'SELECT sum(count)::bigint, sum(sum)::bigint FROM "{schema}".rollups'
    ).fetchone() or (0, 0)
    assert count == len(stream.valid)
    assert total == sum(e["latency_ms"] for e in stream.valid)
    letters = dead_letters(pg, schema)
    assert len(letters) == stream.malformed
    assert {reason for _, reason in letters} == set(REASONS)
    return int(count), len(letters)
