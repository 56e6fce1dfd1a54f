"""API-4: WebSocket live queries fed by the Redis live sink's pub/sub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tests.integration.api.api_helpers import Tenant, add_pipeline, auth, make_settings

from datanexus.api import ApiSettings, create_app
from datanexus.connectors.redis_live import LiveUpdate, publish_updates


@pytest.fixture
def live_settings(database_url: str, redis_url: str, api_schema: str, prefix: str) -> ApiSettings:
    return make_settings(database_url, redis_url, api_schema, prefix, live_ping_interval_s=0.3)


@pytest.fixture
def live_client(live_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(live_settings)) as c:
        yield c


@pytest.fixture
def publisher(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _next(ws: Any, kind: str = "update") -> dict[str, Any]:
    """The next message of ``kind``, skipping pings."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
        assert message["type"] == "ping", message


def test_api4_late_amendment_arrives_with_the_next_revision(
    live_client: TestClient,
    live_settings: ApiSettings,
    tenant_a: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
    publisher: redis.Redis,
) -> None:
    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", ["region"])
    prefix = live_settings.live_prefix
    with live_client.websocket_connect("/v1/live", headers=tenant_a.headers) as ws:
        assert ws.receive_json() == {"type": "ready", "tenant": tenant_a.id}
        ws.send_json({"type": "subscribe", "id": "s1", "pipeline": "web"})
        assert _next(ws, "subscribed")["id"] == "s1"
        key = "region=eu|1735689600000"
        publish_updates(publisher, [LiveUpdate(tenant_a.id, "web", key, 1, {"count": 3})], prefix)
        first = _next(ws)
        assert (first["key"], first["revision"], first["value"]) == (key, 1, {"count": 3})
        # A late event amends the closed window: revision 2 with the new value.
        publish_updates(publisher, [LiveUpdate(tenant_a.id, "web", key, 2, {"count": 4})], prefix)
        amended = _next(ws)
        assert (amended["revision"], amended["value"]) == (2, {"count": 4})
        # A replayed older revision is never delivered; the next real one is.
        publish_updates(publisher, [LiveUpdate(tenant_a.id, "web", key, 1, {"count": 3})], prefix)
        publish_updates(publisher, [LiveUpdate(tenant_a.id, "web", key, 3, {"count": 5})], prefix)
        assert _next(ws)["revision"] == 3
        assert _next(ws, "ping") == {"type": "ping"}


def test_api4_resume_from_cursor_and_filter(
    live_client: TestClient,
    live_settings: ApiSettings,
    tenant_a: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
    publisher: redis.Redis,
) -> None:
    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", ["region"])
    prefix = live_settings.live_prefix
    publish_updates(
        publisher,
        [
            LiveUpdate(tenant_a.id, "web", "region=eu|1", 2, {"count": 7}),
            LiveUpdate(tenant_a.id, "web", "region=us|1", 5, {"count": 9}),
            LiveUpdate(tenant_a.id, "web", "region=eu|2", 1, {"count": 1}),
        ],
        prefix,
    )
    with live_client.websocket_connect("/v1/live") as ws:
        ws.send_json({"type": "auth", "key": tenant_a.key})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json(
            {
                "type": "subscribe",
                "id": "eu",
                "pipeline": "web",
                "filter": {"key_prefix": "region=eu"},
                "cursor": {"region=eu|1": 2},
            }
        )
        _next(ws, "subscribed")
        # region=eu|1 was seen at revision 2 already; us is filtered out.
        got = _next(ws)
        assert (got["key"], got["revision"]) == ("region=eu|2", 1)
        publish_updates(
            publisher,
            [
                LiveUpdate(tenant_a.id, "web", "region=us|1", 6, {}),
                LiveUpdate(tenant_a.id, "web", "region=eu|1", 3, {}),
            ],
            prefix,
        )
        got = _next(ws)
        assert (got["key"], got["revision"]) == ("region=eu|1", 3)


def test_api4_auth_tenancy_scope_and_limits(
    live_client: TestClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    admin_conn: psycopg.Connection[Any],
    api_schema: str,
) -> None:
    add_pipeline(admin_conn, api_schema, tenant_a.id, "web", [])
    with live_client.websocket_connect("/v1/live", headers=auth("dnx_" + "1" * 64)) as ws:
        assert ws.receive_json()["code"] == "UNAUTHENTICATED"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
    with live_client.websocket_connect("/v1/live", headers=tenant_b.headers) as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "id": "x", "pipeline": "web"})
        assert _next(ws, "error")["code"] == "NOT_FOUND"  # A's pipeline: like a missing one
    narrow = tenant_a.key_with("streams:read:orders")
    with live_client.websocket_connect("/v1/live", headers=auth(narrow)) as ws:
        ws.receive_json()
        ws.send_json({"type": "subscribe", "id": "x", "pipeline": "web"})
        assert _next(ws, "error")["code"] == "FORBIDDEN"
    with live_client.websocket_connect("/v1/live", headers=tenant_a.headers) as ws:
        ws.receive_json()
        for i in range(20):
            ws.send_json({"type": "subscribe", "id": f"s{i}", "pipeline": "web"})
            assert _next(ws, "subscribed")["id"] == f"s{i}"
        ws.send_json({"type": "subscribe", "id": "s20", "pipeline": "web"})
        assert _next(ws, "error")["code"] == "LIMIT_EXCEEDED"
        ws.send_json({"type": "subscribe", "id": "s21", "pipeline": "web", "_x": 1})
        assert _next(ws, "error")["code"] == "INVALID_MESSAGE"
