"""The Redis-backed dedup set (STREAM-15) against the real Redis, with unique keys."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import bytewax.operators as op
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main

from datanexus.errors import ServiceUnavailable
from datanexus.stream import Deduplicator, RedisSeenKeys, dedup, dedup_scope


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield c
    c.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    name = f"test:dedup:{uuid.uuid4().hex}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def test_set_nx_px_admits_each_key_once_per_window(client: redis.Redis, prefix: str) -> None:
    seen = RedisSeenKeys(client, prefix=prefix, scope="s", window_ms=400)
    assert seen.admit([("i", "a"), ("i", "b"), ("i", "a")], 0) == [True, True, False]
    assert seen.admit([("i", "a"), ("i", "c")], 0) == [False, True]
    ttl = client.pttl(f"{prefix}:s:" + repr(("i", "a")))
    assert 0 < ttl <= 400
    # Another scope is another set.
    other = RedisSeenKeys(client, prefix=prefix, scope="t", window_ms=400)
    assert other.admit([("i", "a")], 0) == [True]
    time.sleep(0.5)
    assert seen.admit([("i", "a")], 0) == [True], "expired on Redis's clock"
    assert seen.snapshot() is None


def test_deduplicators_sharing_redis_agree(client: redis.Redis, prefix: str) -> None:
    a = Deduplicator(RedisSeenKeys(client, prefix=prefix, scope="s", window_ms=60_000))
    b = Deduplicator(RedisSeenKeys(client, prefix=prefix, scope="s", window_ms=60_000))
    e1, e2, e3 = {"id": 1}, {"id": 2}, {"dedup_key": "k", "id": 3}
    assert a.process([e1, e3]) == ([e1, e3], [])
    assert b.process([e1, e2, {"dedup_key": "k"}]) == (
        [e2],
        [(e1, "duplicate"), ({"dedup_key": "k"}, "duplicate")],
    )


def test_a_flow_on_two_workers_shares_the_set(client: redis.Redis, prefix: str) -> None:
    scope = dedup_scope("t1", "web")
    items = [(scope, [{"id": j} for j in range(i, i + 4)]) for i in range(0, 40, 2)]
    flow = Dataflow("dedup_redis")
    out = dedup(
        "dedup",
        op.input("in", flow, TestingSource(items)),
        redis_client=client,
        redis_prefix=prefix,
    )
    kept: list[Any] = []
    dups: list[Any] = []
    op.output("kept", out.events, TestingSink(kept))
    op.output("dups", out.duplicates, TestingSink(dups))
    cluster_main(flow, [], 0, worker_count_per_proc=2, epoch_interval=timedelta(0))
    ids = sorted(e["id"] for _, batch in kept for e in batch)
    assert ids == list(range(42))
    assert len(dups) == sum(len(b) for _, b in items) - 42


def test_an_unreachable_redis_is_a_typed_error() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    seen = RedisSeenKeys(dead, prefix="test:dedup", scope="s", window_ms=1000)
    with pytest.raises(ServiceUnavailable, match="Redis dedup set"):
        seen.admit([("i", 1)], 0)
