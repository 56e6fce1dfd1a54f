"""API-7 over HTTP: a token's tenant and scopes act like a key's; bad tokens → 401."""

from __future__ import annotations

import time

import jwt
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant, auth, make_settings

from datanexus.api import create_app

SECRET = "k" * 48


def test_api7_tokens_authenticate_for_their_tenant(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    settings = make_settings(
        database_url, redis_url, api_schema, prefix, jwt_enabled=True, jwt_secret=SECRET
    )
    now = int(time.time())
    good = jwt.encode(
        {
            "tenant": tenant_a.id,
            "sub": "ana",
            "scopes": ["tenant:read:*"],
            "iat": now,
            "exp": now + 300,
        },
        SECRET,
        algorithm="HS256",
    )
    unknown = jwt.encode(
        {"tenant": "nobody", "sub": "x", "scopes": ["*:*:*"], "iat": now, "exp": now + 300},
        SECRET,
        algorithm="HS256",
    )
    expired = jwt.encode(
        {"tenant": tenant_a.id, "scopes": ["*:*:*"], "iat": now - 100, "exp": now - 1},
        SECRET,
        algorithm="HS256",
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/v1/tenant", headers=auth(good))
        assert r.status_code == 200
        assert r.json()["tenant_id"] == tenant_a.id
        assert c.get("/v1/keys", headers=auth(good)).status_code == 403  # scope missing
        for bad in (unknown, expired):
            assert c.get("/v1/tenant", headers=auth(bad)).status_code == 401
        # Keys keep working beside tokens.
        assert c.get("/v1/keys", headers=tenant_a.headers).status_code == 200
    # Tokens are ignored unless enabled.
    with TestClient(create_app(make_settings(database_url, redis_url, api_schema, prefix))) as c:
        assert c.get("/v1/tenant", headers=auth(good)).status_code == 401
