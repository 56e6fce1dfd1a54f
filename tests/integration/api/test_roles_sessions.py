"""API-8: roles Viewer/Editor/Admin, teams capping roles, cross-tenant admin actions in
the audit logs of both tenants, cookie sessions with a CSRF token on writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant, add_pipeline, auth

from datanexus.api import ApiSettings, create_app


@pytest.fixture
def https(settings: ApiSettings) -> Iterator[TestClient]:
    # Secure cookies travel over HTTPS only, so the client talks "https" to the app.
    with TestClient(
        create_app(settings), base_url="https://testserver", raise_server_exceptions=False
    ) as c:
        yield c


def _post_event(c: TestClient, headers: dict[str, str]) -> int:
    return c.post("/v1/streams/web/events", json=[{"ts": 1}], headers=headers).status_code


def test_api8_viewer_reads_only(
    client: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", ["region"])
    viewer = auth(tenant_a.key_with("*:*:*", role="viewer"))
    assert client.get("/v1/keys", headers=viewer).status_code == 200
    assert client.get("/v1/tenant", headers=viewer).status_code == 200
    assert client.get("/v1/streams", headers=viewer).status_code == 200
    q = client.post("/v1/query", json={"query": "SELECT count() FROM web"}, headers=viewer)
    assert q.status_code == 200, q.text
    refused = client.post("/v1/streams/web/events", json=[{"ts": 1}], headers=viewer)
    assert refused.status_code == 403
    assert "role 'viewer'" in refused.json()["error"]["message"]
    assert client.post("/v1/teams", json={"team_id": "x"}, headers=viewer).status_code == 403
    assert (
        client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=viewer).status_code == 403
    )


def test_api8_editor_writes_data_not_keys_admin_manages_keys(
    client: TestClient, tenant_a: Tenant
) -> None:
    editor = auth(tenant_a.key_with("*:*:*", role="editor"))
    assert _post_event(client, editor) == 202
    assert client.get("/v1/keys", headers=editor).status_code == 200
    assert (
        client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=editor).status_code == 403
    )
    assert client.post("/v1/teams", json={"team_id": "ops"}, headers=editor).status_code == 403

    admin = auth(tenant_a.key_with("*:*:*", role="admin"))
    made = client.post("/v1/keys", json={"scopes": ["*:*:*"], "role": "editor"}, headers=admin)
    assert made.status_code == 201
    assert made.json()["info"]["role"] == "editor"
    assert _post_event(client, auth(made.json()["key"])) == 202
    # Rotation keeps the role.
    rotated = client.post(
        f"/v1/keys/{made.json()['info']['key_id']}/rotate", json={"grace_seconds": 0}, headers=admin
    )
    assert rotated.status_code == 201
    assert rotated.json()["info"]["role"] == "editor"
    assert (
        client.post("/v1/keys", json={"scopes": ["x:y"], "role": "root"}, headers=admin).status_code
        == 422
    )


def test_api8_team_role_caps_its_keys(client: TestClient, tenant_a: Tenant) -> None:
    team = client.post(
        "/v1/teams", json={"team_id": "analysts", "role": "viewer"}, headers=tenant_a.headers
    )
    assert team.status_code == 201
    assert team.json()["role"] == "viewer"
    key = client.post(
        "/v1/keys",
        json={"scopes": ["*:*:*"], "role": "admin", "team_id": "analysts"},
        headers=tenant_a.headers,
    ).json()["key"]
    assert client.get("/v1/tenant", headers=auth(key)).json()["tenant_id"] == tenant_a.id
    assert _post_event(client, auth(key)) == 403


def test_api8_cross_tenant_admin_actions_are_audited_in_both_tenants(
    client: TestClient,
    tenant_a: Tenant,
    operator: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
) -> None:
    r = client.post(f"/v1/tenants/{tenant_a.id}/suspend", headers=operator.headers)
    assert r.status_code == 200
    rows = admin_conn.execute(
        f'SELECT tenant_id, actor_tenant, action, target, details FROM "{api_schema}".audit_log'
        " WHERE action = 'tenant.suspend' AND target = %s ORDER BY tenant_id",
        (tenant_a.id,),
    ).fetchall()
    by_tenant = {row[0]: row for row in rows}
    assert set(by_tenant) == {tenant_a.id, operator.id}
    assert by_tenant[tenant_a.id][1] == operator.id
    assert by_tenant[operator.id][4] == {"cross_tenant": True, "target_tenant": tenant_a.id}
    mine = client.get("/v1/audit", headers=operator.headers).json()
    assert any(e["action"] == "tenant.suspend" and e["target"] == tenant_a.id for e in mine)
    # A platform key of role editor cannot administer tenants.
    editor_op = auth(operator.key_with("*:*:*", "platform:admin:*", role="editor"))
    assert client.post(f"/v1/tenants/{tenant_a.id}/resume", headers=editor_op).status_code == 403


def test_api8_cookie_session_with_csrf_on_writes(
    https: TestClient, tenant_a: Tenant, admin_conn: psycopg.Connection[Any], api_schema: str
) -> None:
    opened = https.post("/v1/sessions", json={"ttl_seconds": 600}, headers=tenant_a.headers)
    assert opened.status_code == 201, opened.text
    cookie = opened.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=600"):
        assert attribute in cookie, cookie
    session_id = https.cookies["dnx_session"]
    csrf = opened.json()["csrf_token"]
    assert opened.json()["tenant"] == tenant_a.id
    # Only hashes are stored.
    stored = admin_conn.execute(
        f'SELECT session_hash, csrf_hash FROM "{api_schema}".api_sessions WHERE tenant_id = %s',
        (tenant_a.id,),
    ).fetchall()
    assert stored == [
        (hashlib.sha256(session_id.encode()).digest(), hashlib.sha256(csrf.encode()).digest())
    ]

    # The cookie alone reads.
    assert https.get("/v1/keys").status_code == 200
    # Writes need the CSRF token: missing or wrong → 403 CSRF_FAILED, nothing created.
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        r = https.post("/v1/teams", json={"team_id": "web"}, headers=headers)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "CSRF_FAILED"
    assert https.get("/v1/teams").json() == []
    ok = https.post("/v1/teams", json={"team_id": "web"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # A session cannot open another session.
    again = https.post("/v1/sessions", json={}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 403

    # Closing is a write too.
    assert https.delete("/v1/sessions").status_code == 403
    closed = https.delete("/v1/sessions", headers={"X-CSRF-Token": csrf})
    assert closed.status_code == 204
    assert "Max-Age=0" in closed.headers["set-cookie"]
    https.cookies.set("dnx_session", session_id)
    assert https.get("/v1/keys").status_code == 401


def test_api8_session_follows_its_key_role_and_life(https: TestClient, tenant_a: Tenant) -> None:
    viewer_key = tenant_a.key_with("*:*:*", role="viewer")
    opened = https.post("/v1/sessions", json={}, headers=auth(viewer_key))
    csrf = opened.json()["csrf_token"]
    assert https.get("/v1/tenant").status_code == 200
    assert (
        https.post("/v1/streams/web/events", json=[{"ts": 1}], headers={"X-CSRF-Token": csrf})
    ).status_code == 403
    # Revoking the key ends its sessions.
    key_id = next(
        k["key_id"]
        for k in https.get("/v1/keys", headers=tenant_a.headers).json()
        if k["role"] == "viewer"
    )
    assert https.delete(f"/v1/keys/{key_id}", headers=tenant_a.headers).status_code == 204
    assert https.get("/v1/tenant").status_code == 401
    # An unknown cookie is 401 like no credential.
    https.cookies.set("dnx_session", "forged")
    assert https.get("/v1/tenant").status_code == 401


def test_api2_metrics_needs_a_token_unless_dev_mode(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    from tests.integration.api.api_helpers import make_settings

    closed = make_settings(database_url, redis_url, api_schema, prefix, metrics_token=None)
    with TestClient(create_app(closed)) as c:
        for headers in ({}, tenant_a.headers):
            r = c.get("/metrics", headers=headers)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    dev = make_settings(
        database_url, redis_url, api_schema, prefix, metrics_token=None, dev_mode=True
    )
    with TestClient(create_app(dev)) as c:
        r = c.get("/metrics")
        assert r.status_code == 200
        assert "datanexus_http_requests_total" in r.text
