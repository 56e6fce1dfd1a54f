"""POST /v1/query and the stream catalog over rollups written by the store's writer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant, add_pipeline, auth

from datanexus.store.rollups import RollupRow, write_rollups

MINUTE = 60_000
T0 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000)


def _seed(conn: psycopg.Connection[Any], schema: str, tenant: str) -> None:
    add_pipeline(conn, schema, tenant, "web", ["region"])
    rows = [
        RollupRow(tenant, "web", '{"region":"eu"}', MINUTE, T0 + i * MINUTE, 1, 10 + i, 0.0)
        for i in range(3)
    ] + [RollupRow(tenant, "web", '{"region":"us"}', MINUTE, T0, 1, 5, 0.0)]
    write_rollups(conn, schema, rows)


def test_query_counts_by_region_against_a_python_reference(
    client: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    _seed(admin_conn, api_schema, tenant_a.id)
    r = client.post(
        "/v1/query",
        json={
            "query": "SELECT region, count() FROM web "
            "WHERE time >= '2025-01-01T00:00:00Z' AND time < '2025-01-02T00:00:00Z' "
            "GROUP BY region ORDER BY region"
        },
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == [["eu", 10 + 11 + 12], ["us", 5]]
    assert body["granularity_ms"] == MINUTE


def test_query_errors_map_to_400_404_and_tenancy(
    client: TestClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
) -> None:
    _seed(admin_conn, api_schema, tenant_a.id)
    bad = client.post("/v1/query", json={"query": "SELEC nonsense"}, headers=tenant_a.headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "QUERY_INVALID"
    # Tenant B asking for A's stream: 404, the same as a stream nobody has.
    other = client.post(
        "/v1/query", json={"query": "SELECT count() FROM web"}, headers=tenant_b.headers
    )
    missing = client.post(
        "/v1/query", json={"query": "SELECT count() FROM nothing"}, headers=tenant_b.headers
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "NOT_FOUND"


def test_api6_query_scope_per_stream_403(
    client: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    _seed(admin_conn, api_schema, tenant_a.id)
    only_orders = tenant_a.key_with("query:read:orders")
    r = client.post(
        "/v1/query", json={"query": "SELECT count() FROM web"}, headers=auth(only_orders)
    )
    assert r.status_code == 403
    assert "query:read:web" in r.json()["error"]["message"]


def test_stream_catalog_is_tenant_scoped(
    client: TestClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
) -> None:
    _seed(admin_conn, api_schema, tenant_a.id)
    listed = client.get("/v1/streams", headers=tenant_a.headers)
    assert [s["name"] for s in listed.json()] == ["web"]
    assert client.get("/v1/streams/web", headers=tenant_a.headers).json()["dims"] == ["region"]
    assert client.get("/v1/streams", headers=tenant_b.headers).json() == []
    assert client.get("/v1/streams/web", headers=tenant_b.headers).status_code == 404
