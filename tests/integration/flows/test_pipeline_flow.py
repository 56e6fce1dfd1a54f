"""The web example spec end to end on the real servers: Redis stream → decode → schema →
transforms → native windows → PostgreSQL rollups, compared with a plain-Python
computation over the same events; 1 and 2 workers store identical rows; bad messages
become dead letters with their reason and nothing else is lost."""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import redis

from datanexus.connectors.publishers import RedisStreamPublisher
from datanexus.connectors.registry import redis_stream_key
from datanexus.demo import model_for
from datanexus.errors import CompatibilityError
from datanexus.pipeline import PipelineSpec, SourceSpec, load_spec
from datanexus.query import run_query
from datanexus.runner import prepare, run_flow
from datanexus.sketches import HyperLogLog
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

ROOT = Path(__file__).resolve().parents[3]
EVENTS = 6_000
REPEATS = 50
MINUTE = 60_000


@pytest.fixture(scope="module")
def stream(redis_url: str) -> Any:
    """A unique Redis stream holding EVENTS web events and 1 % bad messages."""
    name = f"web_{uuid.uuid4().hex[:10]}"
    key = redis_stream_key("demo", name)
    model = model_for("web", EVENTS, seed=11)
    events = [dict(e) for b in range(model.blocks) for e in model.block(b)]
    publisher = RedisStreamPublisher(redis_url, key)
    publisher.publish(events)
    publisher.publish(events[100:150])  # resent: repeats within the dedup window
    publisher.close()
    client = redis.Redis.from_url(redis_url)
    bad = []
    for i in range(20):  # distinct ids: a repeated id is the same event, stored once
        bad.append(b"{not json")
        bad.append(json.dumps({"id": f"missing-{i}"}).encode())
        bad.append(json.dumps({**events[0], "id": f"typed-{i}", "status": "oops"}).encode())
    for body in bad:
        client.xadd(key, {"key": "bad", "seq": 0, "data": body})
    yield name, events, len(bad)
    client.delete(key, f"{key}:seq")
    client.close()


def spec_for(name: str) -> PipelineSpec:
    spec = load_spec(ROOT / "pipelines" / "web.toml")
    return replace(spec, source=SourceSpec("redis_stream", {"streams": [name], "batch_size": 500}))


def run(pg: psycopg.Connection[Any], database_url: str, redis_url: str, stream: Any,
        workers: int) -> str:  # fmt: skip
    schema = f"dn_flow_{uuid.uuid4().hex[:12]}"
    spec = spec_for(stream[0])
    prepare(database_url, schema, spec)
    flow = build_pipeline_flow(spec, FlowTargets(database_url, redis_url, None, schema),
                               stop_at_end=True)  # fmt: skip
    run_flow(flow, workers=workers)
    return schema


def rows(pg: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        f"SELECT pipeline, series, metric, granularity_ms, window_start, revision, count, sum,"
        f' min, max, mean, m2, digest, hll FROM "{schema}".rollups ORDER BY 1, 2, 3, 4, 5'
    ).fetchall()


@pytest.fixture(scope="module")
def pg_module(database_url: str) -> Any:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def one_worker(pg_module: Any, database_url: str, redis_url: str, stream: Any) -> Any:
    schema = run(pg_module, database_url, redis_url, stream, 1)
    yield schema
    pg_module.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_minute_rollups_equal_a_plain_python_computation(
    pg_module: Any, one_worker: str, stream: Any
) -> None:
    _, events, _ = stream
    expected: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in events:
        expected[(e["region"], e["ts"] - e["ts"] % MINUTE)].append(float(e["latency_ms"]))
    stored = pg_module.execute(
        f"SELECT series::jsonb ->> 'region', (extract(epoch FROM window_start) * 1000)::bigint,"
        f' count, sum, min, max FROM "{one_worker}".rollups'
        " WHERE pipeline = 'web' AND metric = 'latency_ms' AND granularity_ms = 60000"
    ).fetchall()
    got = {(r, int(t)): (n, s, lo, hi) for r, t, n, s, lo, hi in stored}
    assert set(got) == set(expected)
    for key, values in expected.items():
        n, s, lo, hi = got[key]
        assert (n, lo, hi) == (len(values), min(values), max(values))
        assert s == pytest.approx(sum(values), rel=1e-12)
    counts = pg_module.execute(
        f"SELECT sum(count) FROM \"{one_worker}\".rollups WHERE pipeline = 'web'"
        " AND metric = '*' AND granularity_ms = 60000"
    ).fetchone()
    assert counts == (len(events),)


def test_distinct_users_and_p99_through_the_query_engine(
    pg_module: Any, one_worker: str, stream: Any
) -> None:
    _, events, _ = stream
    result = run_query(pg_module, "demo", "SELECT region, count(), p99(latency_ms),"
                       " distinct(user_id) FROM web GROUP BY region ORDER BY region",
                       schema=one_worker)  # fmt: skip
    by_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_region[e["region"]].append(e)
    assert [r[0] for r in result.rows] == sorted(by_region)
    for region, n, p99, users in result.rows:
        mine = by_region[region]
        assert n == len(mine)
        latencies = np.sort([float(e["latency_ms"]) for e in mine])
        # The digest's rank error bound reported by the query (QUERY-7), plus one rank.
        bound = result.errors["p99(latency_ms)"] * len(latencies) + 1
        lo = latencies[max(int(0.99 * len(latencies) - bound), 0)]
        hi = latencies[min(int(0.99 * len(latencies) + bound), len(latencies) - 1)]
        assert lo <= p99 <= hi
        exact = len({e["user_id"] for e in mine})
        sigma = 1.04 / 64  # HyperLogLog(12)
        assert abs(users - exact) <= 3 * sigma * exact + 1
        reference = HyperLogLog(12)
        reference.add_many([e["user_id"] for e in mine])
        assert abs(users - reference.estimate()) <= 3 * sigma * exact + 1


def test_bad_messages_are_dead_letters_with_reasons(
    pg_module: Any, one_worker: str, stream: Any
) -> None:
    _, _, bad = stream
    reasons = dict(
        pg_module.execute(
            f"SELECT stage || ':' || reason, count(*) FROM \"{one_worker}\".dead_letters GROUP BY 1"
        ).fetchall()
    )
    assert sum(reasons.values()) == bad + REPEATS
    assert reasons["dedup:duplicate"] == REPEATS  # STREAM-13: counted once, then dead letters
    assert reasons["decode:invalid_json"] == bad // 3
    assert reasons["schema:invalid"] == 2 * bad // 3  # missing fields, status not an integer


def test_two_workers_store_identical_rows(
    pg_module: Any, one_worker: str, database_url: str, redis_url: str, stream: Any
) -> None:
    schema = run(pg_module, database_url, redis_url, stream, 2)
    try:
        assert rows(pg_module, schema) == rows(pg_module, one_worker)
    finally:
        pg_module.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_replaying_the_stream_changes_nothing(
    pg_module: Any, one_worker: str, database_url: str, redis_url: str, stream: Any
) -> None:
    before = rows(pg_module, one_worker)
    spec = spec_for(stream[0])
    flow = build_pipeline_flow(spec, FlowTargets(database_url, redis_url, None, one_worker),
                               stop_at_end=True)  # fmt: skip
    run_flow(flow, workers=1)
    assert rows(pg_module, one_worker) == before
    dead = pg_module.execute(f'SELECT count(*) FROM "{one_worker}".dead_letters').fetchone()
    assert dead == (stream[2] + REPEATS,)


def test_an_incompatible_schema_change_stops_the_start(
    database_url: str, pg_module: Any, tmp_path: Path
) -> None:
    schema = f"dn_flow_{uuid.uuid4().hex[:12]}"
    spec = spec_for("unused")
    try:
        prepare(database_url, schema, spec)
        assert spec.schema is not None
        document = json.loads(json.dumps(spec.schema.document))
        document["required"] = [*document["required"], "new_required_field"]
        document["properties"]["new_required_field"] = {"type": "string"}
        changed = replace(spec, schema=replace(spec.schema, document=document))
        with pytest.raises(CompatibilityError, match="REQUIRED_ADDED"):
            prepare(database_url, schema, changed)
    finally:
        pg_module.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_two_processes_store_the_same_rows(
    pg_module: Any, one_worker: str, database_url: str, redis_url: str, stream: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    """``python -m bytewax.run "flows.pipeline:build(...)" -i N -a …`` on two processes
    (DESIGN §3 scale-out) stores exactly the rows of the one-worker run."""
    import socket
    import subprocess
    import sys

    text = (ROOT / "pipelines" / "web.toml").read_text()
    text = text.replace('stream = "web"', f'stream = "{stream[0]}"')
    spec_file = tmp_path / "web.toml"
    spec_file.write_text(text)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "web.json").write_text(
        (ROOT / "pipelines" / "schemas" / "web.json").read_text()
    )
    schema = f"dn_flow_{uuid.uuid4().hex[:12]}"
    prepare(database_url, schema, load_spec(spec_file))  # migrate once, before both start
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
    env = {**os.environ, "DATANEXUS_DATABASE_URL": database_url,
           "DATANEXUS_REDIS_URL": redis_url, "DATANEXUS_SCHEMA": schema}  # fmt: skip
    target = f"flows.pipeline:build({str(spec_file)!r}, until_end=True)"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bytewax.run", target, "-i", str(i), "-a", addresses],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert rows(pg_module, schema) == rows(pg_module, one_worker)
    finally:
        for p in procs:
            p.kill()
        pg_module.execute(f'DROP SCHEMA "{schema}" CASCADE')
