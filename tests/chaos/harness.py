"""What the chaos tests share: deterministic web-event streams with 1 % malformed
messages, the product flow (``chaos_flow``) as a subprocess, and the comparisons.

Every stream, tenant (hence Redis live keys) and schema is unique to its test."""

from __future__ import annotations

import bisect
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chaos_flow
import psycopg
import redis

from datanexus.connectors.amqp import ConfirmingPublisher, Outgoing, connect
from datanexus.connectors.idempotency import canonical_json
from datanexus.connectors.publishers import declare_stream
from datanexus.connectors.redis_live import channel_name
from datanexus.connectors.registry import redis_stream_key
from datanexus.demo import model_for
from datanexus.store.progress import redis_id_position

FLOW = Path(chaos_flow.__file__)
MALFORMED = 37  # message i is malformed when i % 100 == MALFORMED: 1 %
KNOWN_METHOD = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$")
# (body, stage, reason) by i // 100 % 4; bodies are distinct, as a dead letter is stored
# once per distinct message (a repeated identical message is the same event).
_BAD: list[tuple[str, str, str]] = [
    ("{not json %d", "decode", "invalid_json"),
    ('{"id": "bad-%d", "region": "eu-west-1"}', "schema", "invalid"),
    ("\xff\xfe%d", "decode", "invalid_utf8"),
    ("[%d, 2, 3]", "decode", "not_an_object"),
]


@dataclass
class Stream:
    kind: str  # "rabbit" or "redis"
    name: str  # the queue, or the stream name (key dn:<tenant>:<name>)
    tenant: str
    url: str
    positions: list[int]  # progress position of each message, by index
    valid: list[dict[str, Any]]
    bad: list[tuple[str, str]]  # (stage, reason) of each malformed message

    def index(self, position: int) -> int:
        """The message index of a progress position."""
        return bisect.bisect_left(self.positions, position)

    @property
    def partition(self) -> str:
        """The decode step's progress partition."""
        if self.kind == "rabbit":
            return f"rabbitmq-stream/{self.name}"
        return f"redis-stream/{redis_stream_key(self.tenant, self.name)}"


def _bad_body(i: int) -> tuple[bytes, str, str]:
    text, stage, reason = _BAD[(i // 100) % 4]
    body = (text % i).encode("utf-8")
    if reason == "invalid_utf8":
        body = b"\xff\xfe" + str(i).encode()
    return body, stage, reason


def make_stream(kind: str, url: str, events: int, seed: int) -> Stream:
    """Publish ``events`` web events (the demo's model: one day, 2 s jitter), every 100th
    replaced by a malformed message."""
    model = model_for("web", events, seed=seed)
    generated = [dict(e) for b in range(model.blocks) for e in model.block(b)]
    bodies: list[bytes] = []
    valid: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for i, event in enumerate(generated):
        if i % 100 == MALFORMED:
            body, stage, reason = _bad_body(i)
            bodies.append(body)
            bad.append((stage, reason))
        else:
            bodies.append(canonical_json(event))
            valid.append(event)
    tenant = f"chaos{uuid.uuid4().hex[:10]}"
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
        key = redis_stream_key(tenant, name)
        positions = []
        for lo in range(0, len(bodies), 5000):
            pipe = client.pipeline(transaction=False)
            for b in bodies[lo : lo + 5000]:
                pipe.xadd(key, {"data": b})
            positions += [redis_id_position(i) for i in pipe.execute()]
        client.close()
    return Stream(kind, name, tenant, url, positions, valid, bad)


def drop_stream(stream: Stream, redis_url: str) -> None:
    """Delete the stream and the live results its runs published."""
    if stream.kind == "rabbit":
        conn = connect(stream.url)
        conn.channel().queue_delete(stream.name)
        conn.close()
    client = redis.Redis.from_url(redis_url)
    base = channel_name(stream.tenant, "web")
    client.delete(redis_stream_key(stream.tenant, stream.name), base, f"{base}:latest")
    for key in client.scan_iter(f"{base}:*"):
        client.delete(key)
    client.close()


def new_schema() -> str:
    """A fresh schema name (the flow's start migrates it)."""
    return f"dn_chaos_{uuid.uuid4().hex[:12]}"


def start_flow(
    stream: Stream, schema: str, recovery: Path | None, workers: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    stop_after = str(len(stream.positions) - 1)
    return subprocess.Popen(
        [sys.executable, str(FLOW), stream.kind, stream.name, stream.tenant, schema,
         "-" if recovery is None else str(recovery), str(workers), stop_after],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def decode_progress(pg: psycopg.Connection[Any], schema: str, stream: Stream) -> int:
    try:
        row = pg.execute(
            f'SELECT position FROM "{schema}".progress WHERE flow = %s AND partition = %s',
            (chaos_flow.FLOW, stream.partition),
        ).fetchone()
    except psycopg.errors.UndefinedTable:  # the flow has not migrated its schema yet
        return -1
    return -1 if row is None else int(row[0])


def wait_for(
    proc: subprocess.Popen[bytes], done: Callable[[], bool], timeout: float = 180.0
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


def finish(proc: subprocess.Popen[bytes], timeout: float = 300.0) -> str:
    """Wait for a clean end; returns the flow's log (stderr)."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"the flow failed ({proc.returncode}):\n{err.decode()[-3000:]}"
    return err.decode()


ROLLUP_COLUMNS = (
    "tenant_id, pipeline, series, metric, granularity_ms, window_start, revision, count, sum,"
    " min, max, mean, m2, digest, hll"
)


def rollups(pg: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        f'SELECT {ROLLUP_COLUMNS} FROM "{schema}".rollups ORDER BY 1, 2, 3, 4, 5, 6'
    ).fetchall()


def dead_letters(pg: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        f'SELECT source, partition, position, stage, reason FROM "{schema}".dead_letters'
        " ORDER BY 1, 2, 3, 4, 5"
    ).fetchall()


def check_totals(pg: psycopg.Connection[Any], schema: str, stream: Stream) -> tuple[int, int]:
    """Counts and latency sums against a plain-Python reference (the spec's only filter
    drops unknown HTTP methods); every malformed message is one dead letter with its
    stage and reason, and nothing else is dead-lettered."""
    kept = [e for e in stream.valid if KNOWN_METHOD.match(str(e["method"]))]
    count, total = pg.execute(
        f'SELECT sum(count)::bigint, sum(sum) FROM "{schema}".rollups WHERE metric = %s'
        " AND granularity_ms = 60000",
        ("latency_ms",),
    ).fetchone() or (0, 0)
    events = pg.execute(
        f'SELECT sum(count)::bigint FROM "{schema}".rollups WHERE metric = %s'
        " AND granularity_ms = 60000",
        ("*",),
    ).fetchone()
    assert events == (len(kept),)
    assert count == len(kept)
    # Whole milliseconds: the compensated float sum is exact.
    assert total == float(sum(int(e["latency_ms"]) for e in kept))
    letters = pg.execute(
        f'SELECT stage, reason, count(*) FROM "{schema}".dead_letters GROUP BY 1, 2'
    ).fetchall()
    expected: dict[tuple[str, str], int] = {}
    for stage, reason in stream.bad:
        expected[(stage, reason)] = expected.get((stage, reason), 0) + 1
    assert {(s, r): int(n) for s, r, n in letters} == expected
    return len(kept), len(stream.bad)
