"""CONN-7 end to end: with ``[source] errors = "none"`` the web pipeline flow fails on its
first bad message, naming connector, partition, offset and stage, and stores nothing past
it; with the default ``"all"`` the same stream runs to the end with one dead letter."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from datanexus.connectors.registry import redis_stream_key
from datanexus.demo import model_for
from datanexus.errors import RecordRejected
from datanexus.pipeline import PipelineSpec, SourceSpec, load_spec
from datanexus.runner import prepare, run_flow
from datanexus.store.progress import redis_id_position
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

WEB = Path(__file__).resolve().parents[3] / "pipelines" / "web.toml"


@pytest.fixture
def stream(redis_url: str) -> Iterator[tuple[str, str, str]]:
    """300 web events, the 151st replaced by invalid JSON; yields the stream name, the
    tenant and the bad message's entry id."""
    tenant = f"tol{uuid.uuid4().hex[:10]}"
    name = f"web_{uuid.uuid4().hex[:10]}"
    key = redis_stream_key(tenant, name)
    model = model_for("web", 300, seed=4)
    events = [dict(e) for b in range(model.blocks) for e in model.block(b)]
    client = redis.Redis.from_url(redis_url)
    bad = ""
    for i, event in enumerate(events):
        body = b"{oops" if i == 150 else json.dumps(event).encode()
        entry = client.xadd(key, {"data": body})
        bad = entry.decode() if i == 150 else bad
    yield name, tenant, bad
    client.delete(key)
    for live in client.scan_iter(f"*:{tenant}:*"):
        client.delete(live)
    client.close()


def spec_for(name: str, tenant: str, errors: str) -> PipelineSpec:
    options = {"streams": [name], "batch_size": 100, "errors": errors}
    return replace(load_spec(WEB), tenant=tenant, source=SourceSpec("redis_stream", options))


def run(spec: PipelineSpec, database_url: str, redis_url: str, schema: str) -> None:
    prepare(database_url, schema, spec)
    targets = FlowTargets(database_url, redis_url, None, schema)
    run_flow(build_pipeline_flow(spec, targets, stop_at_end=True))


def test_errors_none_fails_the_flow_naming_where(
    stream: tuple[str, str, str], database_url: str, redis_url: str, pg: psycopg.Connection[Any]
) -> None:
    name, tenant, bad = stream
    schema = f"dn_tol_{uuid.uuid4().hex[:12]}"
    try:
        with pytest.raises(RuntimeError, match=r"step \"pipeline_web\.prepare") as info:
            run(spec_for(name, tenant, "none"), database_url, redis_url, schema)
        # Bytewax wraps the step's error; the typed one is in the chain of causes.
        rejected = [e for e in _chain(info.value) if isinstance(e, RecordRejected)]
        assert len(rejected) == 1
        error = rejected[0]
        key = redis_stream_key(tenant, name)
        assert (error.connector, error.partition, error.offset) == ("redis-stream", key, bad)
        assert (error.stage, "line 1 column 2" in error.reason) == ("decode", True)
        assert f"redis-stream partition '{key}' offset {bad}" in str(error)
        progress = pg.execute(f'SELECT max(position) FROM "{schema}".progress').fetchone()
        assert progress is not None
        assert progress[0] is None or int(progress[0]) < redis_id_position(bad)
        letters = pg.execute(f'SELECT count(*) FROM "{schema}".dead_letters').fetchone()
        assert letters == (0,)
    finally:
        pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_errors_all_dead_letters_and_finishes(
    stream: tuple[str, str, str], database_url: str, redis_url: str, pg: psycopg.Connection[Any]
) -> None:
    name, tenant, bad = stream
    schema = f"dn_tol_{uuid.uuid4().hex[:12]}"
    try:
        run(spec_for(name, tenant, "all"), database_url, redis_url, schema)
        letters = pg.execute(
            f'SELECT partition, position, stage, reason FROM "{schema}".dead_letters'
        ).fetchall()
        assert letters == [(redis_stream_key(tenant, name), bad, "decode", "invalid_json")]
        counted = pg.execute(
            f"SELECT sum(count) FROM \"{schema}\".rollups WHERE metric = '*'"
            " AND granularity_ms = 60000"
        ).fetchone()
        assert counted is not None
        assert 250 < int(counted[0]) <= 299
    finally:
        pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_conn7_dead_letters_name_where_and_store_a_redacted_payload(
    database_url: str, redis_url: str, pg: psycopg.Connection[Any]
) -> None:
    tenant = f"tol{uuid.uuid4().hex[:10]}"
    name = f"web_{uuid.uuid4().hex[:10]}"
    key = redis_stream_key(tenant, name)
    schema = f"dn_tol_{uuid.uuid4().hex[:12]}"
    model = model_for("web", 50, seed=5)
    events = [dict(e) for b in range(model.blocks) for e in model.block(b)]
    # Fails the schema step (status is not an integer) and carries secrets.
    secret = {**events[0], "id": "typed-secret", "status": "oops", "password": "hunter2",
              "auth": {"api_key": "k-12345"}}  # fmt: skip
    undecodable = b'{"password": "hunter2", "id": oops'
    client = redis.Redis.from_url(redis_url)
    try:
        for event in events:
            client.xadd(key, {"data": json.dumps(event).encode()})
        secret_at = client.xadd(key, {"data": json.dumps(secret).encode()}).decode()
        bad_at = client.xadd(key, {"data": undecodable}).decode()
        run(spec_for(name, tenant, "all"), database_url, redis_url, schema)
        rows = pg.execute(
            "SELECT source, partition, position, stage, reason, error, payload"
            f' FROM "{schema}".dead_letters ORDER BY stage'
        ).fetchall()
        assert len(rows) == 2
        decode, step = rows
        assert decode[:5] == ("redis-stream", key, bad_at, "decode", "invalid_json")
        assert bytes(decode[6]) == b'{"password": "[REDACTED]", "id": oops'
        assert step[:5] == ("redis-stream", key, secret_at, "schema", "invalid")
        assert f"redis-stream partition '{key}' offset {secret_at}" in step[5]
        stored = json.loads(bytes(step[6]))
        assert stored["password"] == "[REDACTED]"
        assert stored["auth"] == {"api_key": "[REDACTED]"}
        assert (stored["id"], stored["status"]) == ("typed-secret", "oops")
        for _, _, _, _, _, error, payload in rows:
            assert b"hunter2" not in bytes(payload)
            assert b"k-12345" not in bytes(payload)
            assert error
    finally:
        client.delete(key)
        for live in client.scan_iter(f"*:{tenant}:*"):
            client.delete(live)
        client.close()
        pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
