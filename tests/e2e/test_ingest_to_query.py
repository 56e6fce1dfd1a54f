"""The product loop on the real servers: events POSTed to the HTTP API land in the tenant's
Redis stream, the pipeline flow rolls them up into PostgreSQL, and the query API answers
from the rollups — with the counts a plain Python computation gives."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from datanexus.api import ApiSettings, create_app, create_tenant_with_admin_key
from datanexus.connectors.registry import redis_stream_key
from datanexus.demo import model_for
from datanexus.pipeline import parse_spec
from datanexus.runner import prepare, run_flow
from datanexus.store.migrations import migrate
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(database_url: str, redis_url: str) -> Iterator[dict[str, Any]]:
    schema = f"dn_e2e_{uuid.uuid4().hex[:12]}"
    tenant = f"t{uuid.uuid4().hex[:10]}"
    prefix = f"dne2e{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn, schema)
        key = create_tenant_with_admin_key(conn, schema, tenant)
    settings = ApiSettings(database_url=database_url, redis_url=redis_url, db_schema=schema,
                           key_prefix=prefix, live_prefix=f"{prefix}:live")  # fmt: skip
    yield {"schema": schema, "tenant": tenant, "key": key, "settings": settings}
    client = redis.Redis.from_url(redis_url)
    stale = [*client.scan_iter(f"{prefix}*"), redis_stream_key(tenant, "web")]
    client.delete(*stale)
    client.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_http_ingest_pipeline_and_query(world: dict[str, Any], database_url: str,
                                        redis_url: str) -> None:  # fmt: skip
    tenant, headers = world["tenant"], {"Authorization": f"Bearer {world['key']}"}
    model = model_for("web", 3_000, seed=5)
    events = [{**e, "tenant": tenant} for b in range(model.blocks) for e in model.block(b)]
    with TestClient(create_app(world["settings"])) as http:
        for i in range(0, len(events), 1000):
            reply = http.post("/v1/streams/web/events?wait=true", json=events[i : i + 1000],
                              headers=headers)  # fmt: skip
            assert reply.status_code == 200, reply.text
        # The spec of the example pipeline, for this tenant.
        text = (ROOT / "pipelines" / "web.toml").read_text()
        spec = parse_spec(text.replace('tenant = "demo"', f'tenant = "{tenant}"'),
                          source_name="web.toml", base_dir=ROOT / "pipelines")  # fmt: skip
        prepare(database_url, world["schema"], spec)
        targets = FlowTargets(database_url, redis_url, None, world["schema"])
        run_flow(build_pipeline_flow(spec, targets, stop_at_end=True))

        query = "SELECT region, count(), max(latency_ms) FROM web GROUP BY region ORDER BY region"
        reply = http.post("/v1/query", json={"query": query}, headers=headers)
        assert reply.status_code == 200, reply.text
        body = reply.json()
    counts = Counter(e["region"] for e in events)
    highest: dict[str, float] = {}
    for e in events:
        highest[e["region"]] = max(highest.get(e["region"], 0.0), float(e["latency_ms"]))
    assert [tuple(r) for r in body["rows"]] == [
        (region, counts[region], highest[region]) for region in sorted(counts)
    ]
