"""API-2, 5, 6, 9, 11: credentials, keys, scopes, tenancy, suspension, audit."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant, auth


def test_api2_routes_need_credentials_401(client: TestClient) -> None:
    for headers in ({}, auth("dnx_" + "0" * 64), auth("not-a-key"), {"X-API-Key": "dnx_x"}):
        r = client.get("/v1/keys", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert client.get("/health").status_code == 200


def test_api5_key_format_storage_and_last_used(
    client: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    r = client.post(
        "/v1/keys",
        json={"name": "ci", "scopes": ["streams:write:orders"]},
        headers=tenant_a.headers,
    )
    assert r.status_code == 201, r.text
    key, info = r.json()["key"], r.json()["info"]
    assert re.fullmatch(r"dnx_[0-9a-f]{64}", key)
    assert info["display_prefix"] == key[:12]
    assert info["last_used_at"] is None
    row = admin_conn.execute(
        f'SELECT key_hash, display_prefix FROM "{api_schema}".api_keys WHERE key_id = %s',
        (info["key_id"],),
    ).fetchone()
    assert row is not None
    assert bytes(row[0]) == hashlib.sha256(key.encode()).digest()
    # The secret is shown once: never listed again.
    listed = client.get("/v1/keys", headers=tenant_a.headers)
    assert key not in listed.text
    client.post("/v1/streams/orders/events", json=[{"ts": 1}], headers=auth(key))
    again = client.get(f"/v1/keys/{info['key_id']}", headers=tenant_a.headers).json()
    assert again["last_used_at"] is not None


def test_api5_revoked_and_expired_keys_401(client: TestClient, tenant_a: Tenant) -> None:
    created = client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=tenant_a.headers)
    key, key_id = created.json()["key"], created.json()["info"]["key_id"]
    assert client.get("/v1/keys", headers=auth(key)).status_code == 200
    assert client.delete(f"/v1/keys/{key_id}", headers=tenant_a.headers).status_code == 204
    assert client.get("/v1/keys", headers=auth(key)).status_code == 401
    expired = tenant_a.key_with("keys:read:*", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert client.get("/v1/keys", headers=auth(expired)).status_code == 401


def test_api5_rotation_keeps_the_old_key_until_its_grace_ends(
    client: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    created = client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=tenant_a.headers)
    old, old_id = created.json()["key"], created.json()["info"]["key_id"]
    rotated = client.post(
        f"/v1/keys/{old_id}/rotate", json={"grace_seconds": 3600}, headers=tenant_a.headers
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()["key"]
    assert rotated.json()["info"]["scopes"] == ["keys:read:*"]
    assert new != old
    assert client.get("/v1/keys", headers=auth(old)).status_code == 200
    assert client.get("/v1/keys", headers=auth(new)).status_code == 200
    # The grace period passes (moved into the past rather than slept through).
    admin_conn.execute(
        f"UPDATE \"{api_schema}\".api_keys SET expires_at = now() - interval '1 s'"
        " WHERE key_id = %s",
        (old_id,),
    )
    assert client.get("/v1/keys", headers=auth(old)).status_code == 401
    assert client.get("/v1/keys", headers=auth(new)).status_code == 200


def test_api6_missing_scope_on_own_resource_403(client: TestClient, tenant_a: Tenant) -> None:
    reader = tenant_a.key_with("streams:write:orders")
    r = client.post("/v1/streams/web/events", json=[{"ts": 1}], headers=auth(reader))
    assert r.status_code == 403
    assert "streams:write:web" in r.json()["error"]["message"]
    assert (
        client.post("/v1/streams/orders/events", json=[{"ts": 1}], headers=auth(reader)).status_code
        == 202
    )
    # No escalation: a key cannot mint a key with scopes it lacks.
    minter = tenant_a.key_with("keys:write:*")
    r = client.post("/v1/keys", json={"scopes": ["*:*:*"]}, headers=auth(minter))
    assert r.status_code == 403


def test_api9_another_tenants_key_id_is_404_like_a_missing_one(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    a_key = client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=tenant_a.headers)
    a_id = a_key.json()["info"]["key_id"]
    for method, path in (
        ("GET", f"/v1/keys/{a_id}"),
        ("DELETE", f"/v1/keys/{a_id}"),
        ("POST", f"/v1/keys/{a_id}/rotate"),
    ):
        theirs = client.request(method, path, headers=tenant_b.headers)
        missing = client.request(
            method, path.replace(a_id, "key_0000000000000000"), headers=tenant_b.headers
        )
        assert theirs.status_code == missing.status_code == 404, (method, path)
        assert theirs.json()["error"]["message"].replace(a_id, "X") == missing.json()["error"][
            "message"
        ].replace("key_0000000000000000", "X")
    assert client.get("/v1/keys", headers=auth(a_key.json()["key"])).status_code == 200


def test_api11_suspended_tenant_is_read_only_and_audited(
    client: TestClient, tenant_a: Tenant, operator: Tenant
) -> None:
    r = client.post(f"/v1/tenants/{tenant_a.id}/suspend", headers=operator.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "suspended"
    w = client.post("/v1/streams/web/events", json=[{"ts": 1}], headers=tenant_a.headers)
    assert w.status_code == 403
    assert w.json()["error"]["code"] == "TENANT_SUSPENDED"
    assert client.get("/v1/keys", headers=tenant_a.headers).status_code == 200  # reads work
    # A tenant cannot lift its own suspension.
    own = client.post(f"/v1/tenants/{tenant_a.id}/resume", headers=tenant_a.headers)
    assert own.status_code == 403
    assert (
        client.post(f"/v1/tenants/{tenant_a.id}/resume", headers=operator.headers).status_code
        == 200
    )
    assert (
        client.post(
            "/v1/streams/web/events", json=[{"ts": 1}], headers=tenant_a.headers
        ).status_code
        == 202
    )
    entries = client.get("/v1/audit", headers=tenant_a.headers).json()
    actions = [(e["action"], e["actor_tenant"]) for e in entries]
    assert ("tenant.suspend", operator.id) in actions
    assert ("tenant.resume", operator.id) in actions


def test_api11_create_and_delete_tenants_need_platform_scope(
    client: TestClient, tenant_a: Tenant, operator: Tenant
) -> None:
    name = f"new{tenant_a.id}"
    assert (
        client.post("/v1/tenants", json={"tenant_id": name}, headers=tenant_a.headers).status_code
        == 403
    )
    made = client.post("/v1/tenants", json={"tenant_id": name}, headers=operator.headers)
    assert made.status_code == 201, made.text
    new_key = made.json()["key"]
    assert client.get("/v1/tenant", headers=auth(new_key)).json()["tenant_id"] == name
    # Tenant A naming another tenant: 404, as for a tenant that does not exist.
    assert client.post(f"/v1/tenants/{name}/suspend", headers=tenant_a.headers).status_code == 404
    deleted = client.delete(f"/v1/tenants/{name}", headers=operator.headers).json()
    assert deleted["status"] == "deleting"
    grace = datetime.fromisoformat(deleted["delete_after"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < grace <= timedelta(days=30)


def test_api10_unknown_and_underscore_fields_422_nothing_changed(
    client: TestClient, tenant_a: Tenant
) -> None:
    def keys() -> list[dict[str, Any]]:
        listed = client.get("/v1/keys", headers=tenant_a.headers).json()
        return [{k: v for k, v in x.items() if k != "last_used_at"} for x in listed]

    before = keys()
    for body in (
        {"scopes": ["keys:read:*"], "tenant_id": "other"},
        {"scopes": ["keys:read:*"], "__class__": {"x": 1}},
        {"scopes": ["keys:read:*"], "name": "n", "_admin": True},
    ):
        r = client.post("/v1/keys", json=body, headers=tenant_a.headers)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "VALIDATION_FAILED"
    r = client.post(
        "/v1/teams", json={"team_id": "x", "name": "n", "meta": {"_p": 1}}, headers=tenant_a.headers
    )
    assert r.status_code == 422
    assert keys() == before
    assert client.get("/v1/teams", headers=tenant_a.headers).json() == []


def test_api6_keys_belong_to_teams_of_their_tenant(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert (
        client.post("/v1/teams", json={"team_id": "ops"}, headers=tenant_a.headers).status_code
        == 201
    )
    ok = client.post(
        "/v1/keys", json={"scopes": ["keys:read:*"], "team_id": "ops"}, headers=tenant_a.headers
    )
    assert ok.status_code == 201
    assert ok.json()["info"]["team_id"] == "ops"
    # Tenant B cannot attach a key to A's team: 404.
    r = client.post(
        "/v1/keys", json={"scopes": ["keys:read:*"], "team_id": "ops"}, headers=tenant_b.headers
    )
    assert r.status_code == 404


def test_api11_tenant_quotas_events_and_queries(
    client: TestClient,
    tenant_a: Tenant,
    operator: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
) -> None:
    assert (
        client.post(
            f"/v1/tenants/{tenant_a.id}/quotas",
            json={"quota_events_per_s": 5},
            headers=tenant_a.headers,
        ).status_code
        == 403
    )
    r = client.post(
        f"/v1/tenants/{tenant_a.id}/quotas",
        json={"quota_events_per_s": 5, "quota_queries_per_min": 2},
        headers=operator.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["quota_events_per_s"] == 5
    # Burst = 2 s of the quota = 10 events; then the tenant waits.
    ok = client.post(
        "/v1/streams/q/events",
        json=[{"ts": 1, "i": i} for i in range(10)],
        headers=tenant_a.headers,
    )
    assert ok.status_code == 202
    over = client.post("/v1/streams/q/events", json=[{"ts": 1, "i": 99}], headers=tenant_a.headers)
    assert over.status_code == 429
    assert "5/s" in over.json()["error"]["message"]
    too_big = client.post(
        "/v1/streams/q/events",
        json=[{"ts": 1, "i": i} for i in range(11)],
        headers=tenant_a.headers,
    )
    assert too_big.status_code == 429
    from tests.integration.api.api_helpers import add_pipeline

    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", [])
    query = {"query": "SELECT count() FROM web"}
    codes = [
        client.post("/v1/query", json=query, headers=tenant_a.headers).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    actions = [e["action"] for e in client.get("/v1/audit", headers=tenant_a.headers).json()]
    assert "tenant.quotas" in actions
