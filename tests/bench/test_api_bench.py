"""Ingestion throughput of the API beside its ceiling, in process.

Ours: ``POST /v1/streams/{stream}/events?wait=true`` with a JSON batch of 1000 events —
authentication (one PostgreSQL round trip), the request quota and GCRA (two Redis
scripts), decoding, the per-row checks and ids, the stream-length check and the publish
to the Redis stream confirmed by MULTI/EXEC. Also the buffered path (202, published by the
worker after the answer). Anchor: a no-op FastAPI endpoint that reads the same body and
answers 202, the ceiling of any endpoint on this stack (ASGI, the in-process transport).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from datanexus.api import ApiSettings, create_app, create_tenant_with_admin_key
from datanexus.store.migrations import migrate

DATABASE_URL = os.environ.get(
    "DATANEXUS_DATABASE_URL", "postgresql://datanexus:datanexus@127.0.0.1:5432/datanexus"
)
REDIS_URL = os.environ.get("DATANEXUS_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENTS = 1000
BODY = json.dumps(
    [{"ts": 1_735_689_600_000 + i, "region": f"r{i % 7}", "user": f"u{i}", "latency_ms": i % 300}
     for i in range(EVENTS)]
).encode()  # fmt: skip


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[TestClient, dict[str, str]]]:
    schema = f"dn_bench_api_{uuid.uuid4().hex[:10]}"
    prefix = f"dnbench{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        migrate(conn, schema)
        key = create_tenant_with_admin_key(conn, schema, "bench")
    settings = ApiSettings(
        database_url=DATABASE_URL,
        redis_url=REDIS_URL,
        db_schema=schema,
        stream_prefix=prefix,
        key_prefix=prefix,
        rate_limit_requests=10_000_000,
        event_rate_per_s=1e9,
        event_burst=10_000_000,
        stream_max_length=100_000_000,
        buffer_max_events=10_000_000,
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with TestClient(create_app(settings)) as client:
        yield client, headers
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(f"{prefix}*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture(scope="module")
def noop() -> Iterator[TestClient]:
    app = FastAPI()

    @app.post("/noop")
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    with TestClient(app) as client:
        yield client


@pytest.mark.benchmark(group="api-ingest-1000")
def test_ingest_wait_true(benchmark: Any, api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    benchmark.extra_info.update(items=EVENTS, role="ours", label="ingest wait=true")

    def post() -> None:
        r = client.post("/v1/streams/web/events?wait=true", content=BODY, headers=headers)
        assert r.status_code == 200, r.text

    benchmark(post)


@pytest.mark.benchmark(group="api-ingest-1000-buffered")
def test_ingest_buffered(benchmark: Any, api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    benchmark.extra_info.update(items=EVENTS, role="ours", label="ingest 202")

    def post() -> None:
        r = client.post("/v1/streams/web2/events", content=BODY, headers=headers)
        assert r.status_code == 202, r.text

    benchmark(post)


@pytest.mark.benchmark(group="api-ingest-1000")
def test_noop_anchor(benchmark: Any, noop: TestClient) -> None:
    benchmark.extra_info.update(items=EVENTS, role="anchor", label="no-op endpoint")

    def post() -> None:
        r = noop.post("/noop", content=BODY, headers={"Content-Type": "application/json"})
        assert r.status_code == 202

    benchmark(post)


@pytest.mark.benchmark(group="api-ingest-1000-buffered")
def test_noop_anchor_buffered(benchmark: Any, noop: TestClient) -> None:
    benchmark.extra_info.update(items=EVENTS, role="anchor", label="no-op endpoint")

    def post() -> None:
        r = noop.post("/noop", content=BODY, headers={"Content-Type": "application/json"})
        assert r.status_code == 202

    benchmark(post)
