"""API-1, API-2, API-12/13, OBS-1, OBS-3, OBS-4 over the real servers."""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
import uuid
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import METRICS_HEADERS, Tenant, auth, make_settings

from datanexus.api import create_app
from datanexus.api.logs import configure_logging


def _with_boom(client: TestClient) -> None:
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM users -- password=hunter2")

    client.app.add_api_route("/v1/boom", boom)  # type: ignore[attr-defined]


def test_api1_unhandled_error_is_an_envelope_with_correlation_id(client: TestClient) -> None:
    _with_boom(client)
    r = client.get("/v1/boom", headers={"x-correlation-id": "req-42"})
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "timestamp"}
    assert body["error"]["code"] == "INTERNAL"
    assert body["error"]["details"] == {"correlation_id": "req-42"}
    assert "SELECT" not in r.text
    assert "Traceback" not in r.text
    assert "hunter2" not in r.text
    assert r.headers["x-correlation-id"] == "req-42"


def test_api1_every_error_has_the_envelope(client: TestClient, tenant_a: Tenant) -> None:
    cases = [
        client.get("/nowhere"),
        client.get("/v1/keys"),
        client.put("/health", json={}),
        client.post(
            "/v1/keys",
            content=b"{",
            headers={**tenant_a.headers, "Content-Type": "application/json"},
        ),
        client.post("/v1/keys", json={"scopes": "x"}, headers=tenant_a.headers),
        client.post(
            "/v1/keys",
            content=b"a=b",
            headers={**tenant_a.headers, "Content-Type": "application/x-www-form-urlencoded"},
        ),
    ]
    assert [c.status_code for c in cases] == [404, 401, 405, 422, 422, 415]
    for c in cases:
        error = c.json()["error"]
        assert set(error) == {"code", "message", "details", "timestamp"}
        assert re.fullmatch(r"[A-Z_]+", error["code"])
        assert "Traceback" not in c.text


def test_api2_ready_503_until_migrated(
    database_url: str, redis_url: str, prefix: str, api_schema: str
) -> None:
    fresh = f"dn_api_unmigrated_{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(make_settings(database_url, redis_url, fresh, prefix))) as c:
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["migrations"] != "ok"
        assert c.get("/health").status_code == 200
    with TestClient(create_app(make_settings(database_url, redis_url, api_schema, prefix))) as c:
        r = c.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


def test_api2_ready_503_when_redis_is_unreachable(
    database_url: str, api_schema: str, prefix: str
) -> None:
    settings = make_settings(database_url, "redis://127.0.0.1:1/0", api_schema, prefix)
    with TestClient(create_app(settings)) as c:
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["redis"].startswith("unavailable")


def test_api2_cors_preflight_204_before_auth_and_allow_list(client: TestClient) -> None:
    pre = {
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    r = client.options("/v1/streams/web/events", headers=pre)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert r.headers["access-control-max-age"] == "86400"
    assert "authorization" in r.headers["access-control-allow-headers"]
    evil = client.options("/v1/keys", headers={**pre, "Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert "access-control-allow-origin" not in evil.headers
    plain = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert plain.headers["access-control-allow-origin"] == "https://app.example.com"


def test_api2_wildcard_origin_only_in_dev_mode(database_url: str, redis_url: str) -> None:
    with pytest.raises(ValueError, match="dev_mode"):
        make_settings(database_url, redis_url, "datanexus", "p", cors_origins=("*",))
    assert make_settings(
        database_url, redis_url, "datanexus", "p", cors_origins=("*",), dev_mode=True
    ).dev_mode


def test_api12_quota_is_per_tenant_across_keys_with_retry_after(
    database_url: str,
    redis_url: str,
    api_schema: str,
    prefix: str,
    tenant_a: Tenant,
    tenant_b: Tenant,
) -> None:
    settings = make_settings(
        database_url, redis_url, api_schema, prefix, rate_limit_requests=5, rate_limit_window_s=30
    )
    second = tenant_a.key_with("*:*:*")
    with TestClient(create_app(settings)) as c:
        statuses = []
        for i in range(5):
            r = c.get("/v1/tenant", headers=auth(tenant_a.key if i % 2 else second))
            statuses.append(r.status_code)
            assert r.headers["x-ratelimit-remaining"] == str(4 - i)
            assert r.headers["ratelimit-policy"] == "5;w=30"
        assert statuses == [200] * 5
        refused = c.get("/v1/tenant", headers=auth(second))
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 30
        assert retry == math.ceil(retry)
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert re.fullmatch(r"limit=5, remaining=0, reset=\d+", refused.headers["ratelimit"])
        # Another tenant has its own window.
        assert c.get("/v1/tenant", headers=tenant_b.headers).status_code == 200
        metrics = c.get("/metrics", headers=METRICS_HEADERS).text
        assert 'datanexus_rate_limited_total{stage="requests"} 1.0' in metrics


def test_api12_a_slot_frees_when_the_oldest_request_leaves_the_window(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    settings = make_settings(
        database_url, redis_url, api_schema, prefix, rate_limit_requests=2, rate_limit_window_s=1
    )
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/tenant", headers=tenant_a.headers).status_code == 200
        assert c.get("/v1/tenant", headers=tenant_a.headers).status_code == 200
        refused = c.get("/v1/tenant", headers=tenant_a.headers)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        time.sleep(1.05)
        assert c.get("/v1/tenant", headers=tenant_a.headers).status_code == 200


def test_api13_redis_down_fails_open_counted_or_closed(
    database_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    down = "redis://127.0.0.1:1/0"
    with TestClient(create_app(make_settings(database_url, down, api_schema, prefix))) as c:
        assert c.get("/v1/tenant", headers=tenant_a.headers).status_code == 200
        assert (
            "datanexus_rate_limit_fail_open_total 1.0"
            in c.get("/metrics", headers=METRICS_HEADERS).text
        )
    closed = make_settings(database_url, down, api_schema, prefix, rate_limit_fail_closed=True)
    with TestClient(create_app(closed)) as c:
        r = c.get("/v1/tenant", headers=tenant_a.headers)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert "127.0.0.1" not in r.text


def test_api13_event_rate_gcra_429(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    settings = make_settings(
        database_url, redis_url, api_schema, prefix, event_rate_per_s=10.0, event_burst=20
    )
    with TestClient(create_app(settings)) as c:
        post = lambda n: c.post(  # noqa: E731
            "/v1/streams/r/events",
            json=[{"ts": 1, "i": i} for i in range(n)],
            headers=tenant_a.headers,
        )
        assert post(15).status_code == 202
        refused = post(15)  # 15 + 15 > burst 20 within the same instant
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) == 1  # 10 more events at 10/s ≈ 1 s
        assert post(5).status_code == 202
        assert post(21).status_code == 429  # larger than the burst: never whole


def test_obs1_metric_labels_are_route_templates_only(client: TestClient, tenant_a: Tenant) -> None:
    client.get(f"/v1/keys/key_{'1' * 16}", headers=tenant_a.headers)
    client.post("/v1/keys", json={"scopes": ["keys:read:*"]}, headers=tenant_a.headers)
    client.get(f"/v1/keys/key_{'2' * 16}", headers=tenant_a.headers)
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    series = [
        line for line in text.splitlines() if line.startswith("datanexus_http_requests_total{")
    ]
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', s)) for s in series]
    assert all(set(x) == {"method", "route", "status"} for x in labels)
    mine = [x for x in labels if x["route"].startswith("/v1/keys")]
    assert {(x["method"], x["route"], x["status"]) for x in mine} == {
        ("GET", "/v1/keys/{key_id}", "404"),
        ("POST", "/v1/keys", "201"),
    }
    assert tenant_a.id not in text
    assert "key_1111" not in text


def test_obs3_traceparent_continues_the_trace_with_a_new_span(client: TestClient) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = client.get("/health", headers={"traceparent": parent})
    version, trace, span, flags = r.headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span)
    assert span != "00f067aa0ba902b7"
    for bad in (
        "garbage",
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ):
        fresh = client.get("/health", headers={"traceparent": bad}).headers["traceparent"]
        assert fresh.split("-")[1] not in ("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32)


def test_obs4_correlation_id_echoed_or_generated_never_shared(client: TestClient) -> None:
    assert (
        client.get("/health", headers={"x-correlation-id": "abc-1"}).headers["x-correlation-id"]
        == "abc-1"
    )
    first = client.get("/health").headers["x-correlation-id"]
    second = client.get("/health").headers["x-correlation-id"]
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    injected = client.get("/health", headers={"x-correlation-id": "a\tb c"})
    assert injected.headers["x-correlation-id"] != "a\tb c"


def test_obs5_request_logs_are_json_with_bound_ids_and_redacted(
    client: TestClient, tenant_a: Tenant
) -> None:
    sink = io.StringIO()
    configure_logging(stream=sink)
    try:
        _with_boom(client)
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        client.get(
            "/v1/boom",
            headers={"x-correlation-id": "corr-9", "traceparent": parent, **tenant_a.headers},
        )
    finally:
        logging.getLogger("datanexus").handlers.clear()
        logging.getLogger("datanexus").propagate = True
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    boom = [r for r in records if "unhandled error" in r["event"]]
    assert boom, records
    rec = boom[0]
    assert rec["request_id"] == "corr-9"
    assert rec["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert rec["level"] == "error"
    assert "hunter2" not in sink.getvalue()
    assert tenant_a.key not in sink.getvalue()


def _redis_keys(redis_url: str, pattern: str) -> list[Any]:
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(pattern))
    finally:
        client.close()


def test_audit_rows_carry_tenant(
    admin_conn: psycopg.Connection[Any], api_schema: str, tenant_a: Tenant
) -> None:
    rows = admin_conn.execute(
        f'SELECT tenant_id, action FROM "{api_schema}".audit_log WHERE tenant_id = %s',
        (tenant_a.id,),
    ).fetchall()
    assert rows == [(tenant_a.id, "tenant.create")]


def test_obs1_metrics_token_when_configured(
    database_url: str, redis_url: str, api_schema: str, prefix: str
) -> None:
    token = "m" * 20
    settings = make_settings(database_url, redis_url, api_schema, prefix, metrics_token=token)
    with TestClient(create_app(settings)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=auth("x" * 20)).status_code == 401
        r = c.get("/metrics", headers=auth(token))
        assert r.status_code == 200
        assert "datanexus_http_requests_total" in r.text
