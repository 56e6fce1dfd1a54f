"""API-3: ingestion into Redis streams, per-row results, limits, backpressure."""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant, make_settings

from datanexus.api import ApiSettings, create_app
from datanexus.connectors.idempotency import idempotency_key


def _entries(redis_url: str, key: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [json.loads(fields[b"data"]) for _, fields in client.xrange(key)]
    finally:
        client.close()


def _wait_for(redis_url: str, key: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = _entries(redis_url, key)
        if len(got) >= n:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{key}: expected {n} entries, have {len(_entries(redis_url, key))}")


def test_api3_json_batch_202_buffered_then_published(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    events = [{"ts": 1_735_689_600_000 + i, "user": f"u{i}"} for i in range(5)]
    r = client.post("/v1/streams/web/events", json=events, headers=tenant_a.headers)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 5
    assert body["rejected"] == 0
    stored = _wait_for(redis_url, f"{prefix}:{tenant_a.id}:web", 5)
    expected = []
    for e in events:
        full = {**e, "tenant": tenant_a.id, "stream": "web"}
        full["id"] = idempotency_key(full)
        expected.append(full)
    assert stored == expected
    assert [row["id"] for row in body["results"]] == [e["id"] for e in expected]


def test_api3_wait_true_answers_200_after_the_publish(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    r = client.post(
        "/v1/streams/orders/events?wait=true",
        json=[{"id": "o-1", "ts": "2025-01-01T00:00:00Z", "amount": 3}],
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["published"] is True
    # No waiting: with wait=true the entry is in the stream when the answer arrives.
    assert _entries(redis_url, f"{prefix}:{tenant_a.id}:orders")[0]["id"] == "o-1"


def test_api3_ndjson_and_gzip(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    lines = b"\n".join(json.dumps({"id": f"e{i}", "ts": i}).encode() for i in range(3)) + b"\n"
    r = client.post(
        "/v1/streams/nd/events?wait=true",
        content=gzip.compress(lines),
        headers={
            **tenant_a.headers,
            "Content-Type": "application/x-ndjson",
            "Content-Encoding": "gzip",
        },
    )
    assert r.status_code == 200, r.text
    assert [e["id"] for e in _entries(redis_url, f"{prefix}:{tenant_a.id}:nd")] == [
        "e0",
        "e1",
        "e2",
    ]


def test_api3_mixed_batch_207_per_row_and_only_valid_rows_published(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    rows = [
        {"id": "ok-1", "ts": 5},
        "not an object",
        {"id": "bad-ts", "ts": "yesterday"},
        {"id": "naive", "ts": "2025-01-01T00:00:00"},
        {"id": "other-tenant", "tenant": "someone-else"},
        {"id": "ok-2"},
    ]
    r = client.post("/v1/streams/mixed/events?wait=true", json=rows, headers=tenant_a.headers)
    assert r.status_code == 207, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert "tenant" in results[4]["error"]
    stored = _entries(redis_url, f"{prefix}:{tenant_a.id}:mixed")
    assert [e["id"] for e in stored] == ["ok-1", "ok-2"]
    assert all(e["tenant"] == tenant_a.id for e in stored)
    assert isinstance(stored[1]["ts"], int)  # a missing ts is the receive time


def test_api3_oversized_body_413(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    settings = make_settings(database_url, redis_url, api_schema, prefix, max_body_bytes=4096)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        big = [{"ts": 1, "pad": "x" * 100} for _ in range(100)]
        r = c.post("/v1/streams/big/events", json=big, headers=tenant_a.headers)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        bomb = gzip.compress(json.dumps(big).encode())
        assert len(bomb) < 4096
        r = c.post(
            "/v1/streams/big/events",
            content=bomb,
            headers={
                **tenant_a.headers,
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        assert r.status_code == 413


def test_api1_ingestion_needs_json_or_ndjson_415(client: TestClient, tenant_a: Tenant) -> None:
    r = client.post(
        "/v1/streams/web/events",
        content=b"ts=1",
        headers={**tenant_a.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_api10_underscore_key_in_an_event_422_nothing_published(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    rows = [{"id": "a", "ts": 1}, {"id": "b", "ts": 1, "meta": {"deep": [{"__class__": 1}]}}]
    r = client.post("/v1/streams/mass/events?wait=true", json=rows, headers=tenant_a.headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["path"] == "$[1].meta.deep[0].__class__"
    assert _entries(redis_url, f"{prefix}:{tenant_a.id}:mass") == []


def test_stream21_backpressure_pauses_and_resumes_below_half(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    settings: ApiSettings = make_settings(
        database_url, redis_url, api_schema, prefix, stream_max_length=10, retry_after_s=2
    )
    key = f"{prefix}:{tenant_a.id}:bp"
    client = redis.Redis.from_url(redis_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:

        def post(n: int) -> Any:
            return c.post(
                "/v1/streams/bp/events?wait=true",
                json=[{"ts": 1, "n": i, "r": time.monotonic_ns()} for i in range(n)],
                headers=tenant_a.headers,
            )

        assert post(10).status_code == 200  # the stream now holds 10 = the threshold
        paused = post(1)
        assert paused.status_code == 503
        assert paused.json()["error"]["code"] == "INGESTION_PAUSED"
        assert paused.headers["Retry-After"] == "2"
        # The flow consumes 4: 6 left, still ≥ half the threshold → still paused.
        ids = [i for i, _ in client.xrange(key, count=4)]
        client.xdel(key, *ids)
        assert post(1).status_code == 503
        client.xdel(key, *[i for i, _ in client.xrange(key, count=2)])  # 4 left < 5
        assert post(1).status_code == 200
    client.close()


def test_obs3_traceparent_rides_the_redis_stream_entries(
    client: TestClient, tenant_a: Tenant, prefix: str, redis_url: str
) -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = client.post(
        "/v1/streams/traced/events?wait=true",
        json=[{"id": "t1", "ts": 1}],
        headers={**tenant_a.headers, "traceparent": parent},
    )
    assert r.status_code == 200
    client_ = redis.Redis.from_url(redis_url)
    try:
        ((_, fields),) = client_.xrange(f"{prefix}:{tenant_a.id}:traced")
    finally:
        client_.close()
    carried = fields[b"traceparent"].decode()
    # The entry carries the request's span: same trace, the API's span id (a child).
    assert carried == r.headers["traceparent"]
    assert carried.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert carried.split("-")[2] != "00f067aa0ba902b7"


def test_stream20_eight_producers_25_events_each_published_once_gap_free(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    # Small batches so that several flushes run while the producers still post.
    settings = make_settings(
        database_url, redis_url, api_schema, prefix, buffer_batch_events=20,
        buffer_flush_interval_s=0.2, rate_limit_requests=1000,
    )  # fmt: skip
    key = f"{prefix}:{tenant_a.id}:many"
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:

        def producer(p: int) -> list[str]:
            ids = []
            for i in range(25):
                r = c.post(
                    "/v1/streams/many/events",
                    json=[{"id": f"p{p}-{i}", "ts": i, "producer": p}],
                    headers=tenant_a.headers,
                )
                assert r.status_code == 202, r.text
                ids.append(r.json()["results"][0]["id"])
            return ids

        with ThreadPoolExecutor(8) as pool:
            accepted = [i for ids in pool.map(producer, range(8)) for i in ids]
        _wait_for(redis_url, key, 200)
    # The app has shut down (drained): nothing more can arrive.
    client = redis.Redis.from_url(redis_url)
    try:
        entries = [fields for _, fields in client.xrange(key)]
    finally:
        client.close()
    keys = [f[b"key"].decode() for f in entries]
    assert len(keys) == 200
    assert sorted(keys) == sorted(accepted)
    assert len(set(keys)) == 200
    assert [int(f[b"seq"]) for f in entries] == list(range(1, 201))
