"""QUERY-13: the Redis result cache against the real Redis (unique key prefixes)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from querydata import MINUTE, T0, Event, QueryDb, build_rollups

from datanexus.query import QueryCache, QueryResult, run_query


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    prefix = f"dn-test-qc-{uuid.uuid4().hex[:12]}:"
    r.dn_prefix = prefix  # type: ignore[attr-defined]
    yield r
    for key in r.scan_iter(match=prefix + "*"):
        r.delete(key)
    r.close()


def make_cache(client: redis.Redis, **kw: Any) -> QueryCache:
    return QueryCache(client, prefix=client.dn_prefix, **kw)  # type: ignore[attr-defined]


def answer(n: int) -> QueryResult:
    return QueryResult(columns=["count()"], rows=[(n,)], granularity_ms=MINUTE, total=1)


def test_query_13_key_is_tenant_query_and_sorted_params(client: redis.Redis) -> None:
    cache = make_cache(client)
    k = cache.key_for("t", "SELECT 1", {"range": "1h", "limit": 5})
    assert k == cache.key_for("t", "SELECT 1", {"limit": 5, "range": "1h"})
    assert k != cache.key_for("t", "SELECT 1", {"range": "24h", "limit": 5})
    assert k != cache.key_for("u", "SELECT 1", {"range": "1h", "limit": 5})
    assert k != cache.key_for("t", "SELECT 2", {"range": "1h", "limit": 5})


def test_query_13_single_flight_computes_once(client: redis.Redis) -> None:
    cache = make_cache(client)
    calls = 0
    lock = threading.Lock()

    def slow() -> QueryResult:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.3)
        return answer(42)

    results: list[QueryResult] = []

    def worker() -> None:
        results.append(cache.get_or_compute("t", "web", "Q", {"p": 1}, 0, 100, slow))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert [r.rows for r in results] == [[(42,)]] * 8


def test_query_13_ttl_has_jitter_within_ten_percent(client: redis.Redis) -> None:
    cache = make_cache(client, ttl_s=100.0)
    ttls = []
    for i in range(40):
        cache.get_or_compute("t", "web", f"Q{i}", {}, None, None, lambda: answer(1))
        ttls.append(client.pttl(cache.key_for("t", f"Q{i}", {})))
    assert all(90_000 - 50 <= t <= 110_000 for t in ttls), ttls
    assert max(ttls) - min(ttls) > 2_000  # really jittered, not one fixed TTL


def test_query_13_invalidate_range_drops_only_overlapping_results(client: redis.Redis) -> None:
    cache = make_cache(client)
    ranges = {"early": (0, 100), "late": (100, 200), "open": (150, None), "other": (0, 100)}
    for name, (lo, hi) in ranges.items():
        pipeline = "other" if name == "other" else "web"
        cache.get_or_compute("t", pipeline, name, {}, lo, hi, lambda: answer(1))
    assert cache.invalidate_range("t", "web", 120, 130) == 1  # only "late"
    present = {n: client.exists(cache.key_for("t", n, {})) == 1 for n in ranges}
    assert present == {"early": True, "late": False, "open": True, "other": True}
    assert cache.invalidate_range("t", "web", 99, 101) == 1  # "early" ([0,100) holds 99)
    assert cache.invalidate_range("t", "web", 1000, None) == 1  # "open"
    assert client.exists(cache.key_for("t", "other", {})) == 1


def test_query_13_run_query_served_from_cache_until_invalidated(
    qdb: QueryDb, client: redis.Redis
) -> None:
    qdb.add_pipeline("d", ["city"], {"x": ["sum"]})
    qdb.write(build_rollups(qdb.tenant, "d", [Event(T0, {"city": "c"}, {"x": 1.0})], MINUTE))
    cache = make_cache(client)
    text = "SELECT count() FROM d WHERE time >= now() - interval '1 hour'"

    now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + 10 * MINUTE + 10_000)

    def run(at: datetime) -> list[Any]:
        return run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema, now=at, cache=cache).rows

    assert run(now) == [(1,)]
    qdb.write(build_rollups(qdb.tenant, "d", [Event(T0 + MINUTE, {"city": "c"}, {})], MINUTE))
    # Same grid step of now(): the same windows, served from the cache (stale by design).
    assert run(now + timedelta(seconds=20)) == [(1,)]
    assert (cache.computed, cache.hits) == (1, 1)
    assert cache.invalidate_range(qdb.tenant, "d", T0 + MINUTE, T0 + 2 * MINUTE) == 1
    assert run(now) == [(2,)]
    assert cache.computed == 2


def test_query_13_redis_down_degrades_to_no_cache(qdb: QueryDb) -> None:
    qdb.add_pipeline("d", ["city"], {"x": ["sum"]})
    qdb.write(build_rollups(qdb.tenant, "d", [Event(T0, {"city": "c"}, {"x": 1.0})], MINUTE))
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cache = QueryCache(dead, prefix="unused:")
    rows = run_query(qdb.conn, qdb.tenant, "SELECT count() FROM d", schema=qdb.schema, cache=cache)
    assert rows.rows == [(1,)]
