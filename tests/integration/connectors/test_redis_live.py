"""The Redis live sink against the real Redis: latest values and a monotonic revision."""

from __future__ import annotations

import json
import time
from typing import Any

import bytewax.operators as op
import pytest
import redis
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main

from datanexus.connectors.redis_live import LiveUpdate, RedisLiveSink, channel_name, publish_updates
from datanexus.errors import InvalidArgument


@pytest.fixture
def client(redis_url: str) -> Any:
    c = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield c
    c.close()


def _cleanup(client: Any, prefix: str) -> None:
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_subscribers_and_the_hash_never_go_backwards(client: Any, unique: str) -> None:
    prefix = unique.replace(".", "-")
    channel = channel_name("acme", "web", prefix)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    try:
        arrivals = [4, 3, 4, 6, 5, 7]  # out of order and replayed
        for rev in arrivals:
            publish_updates(
                client, [LiveUpdate("acme", "web", "eu|0", rev, {"count": rev * 10})], prefix
            )
        publish_updates(client, [LiveUpdate("acme", "web", "us|0", 1, {"count": 1})], prefix)
        seen = []
        deadline = time.monotonic() + 5
        while len(seen) < 4 and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "message":
                seen.append(json.loads(message["data"]))
        assert [(m["key"], m["revision"]) for m in seen] == [
            ("eu|0", 4), ("eu|0", 6), ("eu|0", 7), ("us|0", 1)
        ]  # fmt: skip
        latest = client.hgetall(f"{channel}:latest")
        assert json.loads(latest[b"eu|0"]) == {"key": "eu|0", "revision": 7, "value": {"count": 70}}
        assert client.hget(f"{channel}:revision", "eu|0") == b"7"
    finally:
        pubsub.close()
        _cleanup(client, prefix)


def test_the_sink_in_a_flow_keeps_the_highest_revision(
    client: Any, redis_url: str, unique: str
) -> None:
    prefix = unique.replace(".", "-")
    updates = [LiveUpdate("t1", "p1", f"k{i % 3}", i, {"i": i}) for i in range(30)][::-1]
    df = Dataflow("redis_live_test")
    op.output(
        "live", op.input("in", df, TestingSource(updates)), RedisLiveSink(redis_url, prefix=prefix)
    )
    try:
        run_main(df)
        revisions = client.hgetall(f"{channel_name('t1', 'p1', prefix)}:revision")
        assert revisions == {b"k0": b"27", b"k1": b"28", b"k2": b"29"}
    finally:
        _cleanup(client, prefix)


@pytest.mark.parametrize(("tenant", "pipeline"), [("", "p"), ("a:b", "p"), ("t", "")])
def test_names_that_would_alias_channels_are_refused(tenant: str, pipeline: str) -> None:
    with pytest.raises(InvalidArgument):
        channel_name(tenant, pipeline)
