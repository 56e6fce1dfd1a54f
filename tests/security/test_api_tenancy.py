# ruff: noqa: F811  (fixtures imported from api_helpers are requested by parameter name)
"""API-9 and API-10 sweep, generated from the OpenAPI document: every route (and the
WebSocket) called with tenant B's key on tenant A's ids.

Each operation must have a classification below; a new route without one fails the test
so that nobody adds an endpoint without deciding what B may see of A:

- ``404``: the route names an id of A (key, tenant, stream): it answers exactly as for an
  id that does not exist.
- ``own``: the route takes no id of A; it answers about B's own tenant only (the test
  checks that nothing of A appears in the answer and nothing of A changed).
- ``403``: no id of A involved, but B lacks the scope (platform administration).
- ``open``: unauthenticated health routes (no tenant data).
- ``token``: ``/metrics``, which takes the metrics token only, never an API key (401).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import redis
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import (  # noqa: F401  (fixtures)
    Tenant,
    add_pipeline,
    admin_conn,
    api_schema,
    auth,
    client,
    prefix,
    settings,
    tenant_a,
    tenant_b,
)
from tests.integration.conftest import database_url, redis_url  # noqa: F401

from datanexus.api import create_app

EXPECTED: dict[tuple[str, str], tuple[str, int]] = {
    ("GET", "/health"): ("open", 200),
    ("GET", "/ready"): ("open", 200),
    ("GET", "/metrics"): ("token", 401),
    ("POST", "/v1/sessions"): ("own", 201),
    ("DELETE", "/v1/sessions"): ("own", 204),
    ("POST", "/v1/streams/{stream}/events"): ("own", 202),
    ("GET", "/v1/tenant"): ("own", 200),
    ("POST", "/v1/tenants"): ("403", 403),
    ("POST", "/v1/tenants/{tenant_id}/suspend"): ("404", 404),
    ("POST", "/v1/tenants/{tenant_id}/resume"): ("404", 404),
    ("DELETE", "/v1/tenants/{tenant_id}"): ("404", 404),
    ("POST", "/v1/tenants/{tenant_id}/quotas"): ("404", 404),
    ("GET", "/v1/teams"): ("own", 200),
    ("POST", "/v1/teams"): ("own", 201),
    ("GET", "/v1/keys"): ("own", 200),
    ("POST", "/v1/keys"): ("own", 201),
    ("GET", "/v1/keys/{key_id}"): ("404", 404),
    ("DELETE", "/v1/keys/{key_id}"): ("404", 404),
    ("POST", "/v1/keys/{key_id}/rotate"): ("404", 404),
    ("GET", "/v1/audit"): ("own", 200),
    ("POST", "/v1/query"): ("404", 404),
    ("GET", "/v1/streams"): ("own", 200),
    ("GET", "/v1/streams/{name}"): ("404", 404),
}

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/streams/{stream}/events"): [{"ts": 1, "probe": True}],
    ("POST", "/v1/tenants"): {"tenant_id": "sweep-new"},
    ("POST", "/v1/teams"): {"team_id": "ops"},
    ("POST", "/v1/keys"): {"scopes": ["keys:read:*"]},
    ("POST", "/v1/query"): {"query": "SELECT count() FROM web"},
    ("POST", "/v1/keys/{key_id}/rotate"): {"grace_seconds": 60},
    ("POST", "/v1/tenants/{tenant_id}/quotas"): {"quota_events_per_s": 1},
    ("POST", "/v1/sessions"): {"ttl_seconds": 600},
}


def _operations(app_client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    document = app_client.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _a_state(client: TestClient, a: Tenant, redis_url: str, prefix: str) -> Any:
    r = redis.Redis.from_url(redis_url)
    try:
        length = r.xlen(f"{prefix}:{a.id}:web")
    finally:
        r.close()
    return (
        client.get("/v1/tenant", headers=a.headers).json()["status"],
        sorted(k["key_id"] for k in client.get("/v1/keys", headers=a.headers).json()),
        [t["team_id"] for t in client.get("/v1/teams", headers=a.headers).json()],
        length,
    )


def test_api9_every_route_with_tenant_b_key_on_tenant_a_ids(
    client: TestClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
    redis_url: str,
    prefix: str,
) -> None:
    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", ["region"])
    a_team = client.post("/v1/teams", json={"team_id": "ops"}, headers=tenant_a.headers)
    assert a_team.status_code == 201
    a_key_id = client.get("/v1/keys", headers=tenant_a.headers).json()[0]["key_id"]
    client.post("/v1/streams/web/events?wait=true", json=[{"ts": 1}], headers=tenant_a.headers)
    ids = {"key_id": a_key_id, "tenant_id": tenant_a.id, "stream": "web", "name": "web"}
    before = _a_state(client, tenant_a, redis_url, prefix)

    operations = _operations(client)
    unclassified = [(m, p) for m, p, _ in operations if (m, p) not in EXPECTED]
    assert not unclassified, f"classify these routes in EXPECTED: {unclassified}"
    assert len(operations) == len(EXPECTED)

    for method, path, _ in operations:
        kind, status = EXPECTED[(method, path)]
        url = path.format(**{k: v for k, v in ids.items() if "{" + k + "}" in path})
        body = BODIES.get((method, path))
        r = client.request(
            method,
            url,
            content=None if body is None else json.dumps(body),
            headers={**tenant_b.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == status, (method, path, r.status_code, r.text)
        if kind == "404":
            assert r.json()["error"]["code"] == "NOT_FOUND"
            # Same answer as for an id nobody has.
            ghost = {
                "key_id": "key_" + "0" * 16,
                "tenant_id": "ghost-tenant",
                "stream": "ghost",
                "name": "ghost",
            }
            ghost_url = path.format(**{k: v for k, v in ghost.items() if "{" + k + "}" in path})
            ghost_body = body
            if path == "/v1/query":
                ghost_body = {"query": "SELECT count() FROM ghost"}
            g = client.request(
                method,
                ghost_url,
                content=None if ghost_body is None else json.dumps(ghost_body),
                headers={**tenant_b.headers, "Content-Type": "application/json"},
            )
            assert g.status_code == 404, (method, path)
        if kind == "own" and method == "GET":
            text = r.text
            assert a_key_id not in text, (method, path)
            assert tenant_a.id not in text, (method, path)

    # The WebSocket: B subscribing to A's pipeline answers like a missing pipeline.
    with client.websocket_connect("/v1/live", headers=tenant_b.headers) as ws:
        assert ws.receive_json() == {"type": "ready", "tenant": tenant_b.id}
        ws.send_json({"type": "subscribe", "id": "a", "pipeline": "web"})
        assert ws.receive_json()["code"] == "NOT_FOUND"
        ws.send_json({"type": "subscribe", "id": "g", "pipeline": "ghost"})
        assert ws.receive_json()["code"] == "NOT_FOUND"

    assert _a_state(client, tenant_a, redis_url, prefix) == before


def test_api10_underscore_keys_refused_on_every_json_route(
    client: TestClient, tenant_a: Tenant
) -> None:
    """Every operation with a JSON body refuses a `_`-prefixed key at the top and deep
    inside with 422, and nothing changes."""
    before = client.get("/v1/keys", headers=tenant_a.headers).json()
    checked = 0
    for method, path, op in _operations(client):
        if "requestBody" not in op or (method, path) not in BODIES:
            assert "requestBody" not in op or (method, path) in BODIES, (method, path)
            continue
        url = path.format(stream="web", key_id="key_" + "0" * 16, tenant_id=tenant_a.id, name="web")
        body = BODIES[(method, path)]
        poisoned = (
            [*body, {"ts": 1, "a": {"b": [{"__proto__": 1}]}}]
            if isinstance(body, list)
            else [
                {**body, "__class__": "x"},
                {**body, "_admin": True},
                {**body, "meta": {"deep": [{"_x": 1}]}},
            ]
        )
        for bad in (
            poisoned if isinstance(poisoned, list) and not isinstance(body, list) else [poisoned]
        ):
            r = client.request(
                method,
                url,
                content=json.dumps(bad),
                headers={**tenant_a.headers, "Content-Type": "application/json"},
            )
            assert r.status_code == 422, (method, path, bad, r.text)
            checked += 1
    assert checked >= 5
    after = client.get("/v1/keys", headers=tenant_a.headers).json()
    assert [k["key_id"] for k in after] == [k["key_id"] for k in before]
    assert client.get("/v1/teams", headers=tenant_a.headers).json() == []


def test_api12_quota_shared_by_two_keys_of_one_tenant(
    database_url: str,
    redis_url: str,
    api_schema: str,
    prefix: str,
    tenant_a: Tenant,
) -> None:
    from tests.integration.api.api_helpers import make_settings

    other = tenant_a.key_with("tenant:read:*")
    settings = make_settings(database_url, redis_url, api_schema, prefix, rate_limit_requests=4)
    with TestClient(create_app(settings)) as c:
        codes = [
            c.get("/v1/tenant", headers=auth(k)).status_code
            for k in (tenant_a.key, other, tenant_a.key, other, other, tenant_a.key)
        ]
    assert codes == [200, 200, 200, 200, 429, 429]
