"""CONN-10 on the Redis publisher: numbers taken in Redis by the script that adds the
entries (unique and gap-free per stream across publishers), batch ids that make a retry
idempotent, per-entry fields."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from datanexus.connectors.idempotency import keyed_canonical_json
from datanexus.connectors.publishers import RedisStreamPublisher, StreamEntry


@pytest.fixture
def client(redis_url: str, unique: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    names = list(c.scan_iter(f"{unique}*", count=1000))
    if names:
        c.delete(*names)
    c.close()


def entries(tag: str, n: int) -> list[StreamEntry]:
    out = []
    for i in range(n):
        key, body = keyed_canonical_json({"id": f"{tag}-{i}", "ts": i})
        out.append(StreamEntry(key, body, {"traceparent": f"tp-{tag}", "i": str(i)}))
    return out


def test_a_batch_id_makes_the_retry_of_a_stored_batch_a_replay(
    redis_url: str, unique: str, client: redis.Redis
) -> None:
    publisher = RedisStreamPublisher(redis_url, unique)
    try:
        first = publisher.publish_entries(entries("a", 3), batch_id="b1")
        assert [p.seq for p in first.published] == [1, 2, 3]
        assert not first.replayed
        again = publisher.publish_entries(entries("a", 3), batch_id="b1")
        assert again.replayed
        assert again.ids == []
        assert again.published == first.published
        second = publisher.publish_entries(entries("b", 2), batch_id="b2")
        assert [p.seq for p in second.published] == [4, 5]
        rows = client.xrange(unique)
        assert [r[0] for r in rows] == first.ids + second.ids
        assert [int(f[b"seq"]) for _, f in rows] == [1, 2, 3, 4, 5]
        assert [f[b"traceparent"] for _, f in rows] == [b"tp-a"] * 3 + [b"tp-b"] * 2
        assert [f[b"i"] for _, f in rows] == [b"0", b"1", b"2", b"0", b"1"]
        assert int(client.get(publisher.sequence_key) or 0) == 5
        ttl = client.pttl(f"{unique}:batch:b1")
        assert 0 < ttl <= 900_000
        with pytest.raises(redis.ResponseError, match="stored with 3 entries, not 2"):
            publisher.publish_entries(entries("a", 2), batch_id="b1")
        assert client.xlen(unique) == 5
    finally:
        publisher.close()


def test_numbers_are_unique_and_gap_free_across_publishers_and_threads(
    redis_url: str, unique: str, client: redis.Redis
) -> None:
    shared = redis.Redis.from_url(redis_url)
    publishers = [RedisStreamPublisher(shared, unique), RedisStreamPublisher(redis_url, unique)]
    taken: list[int] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        publisher = publishers[t % 2]
        for call in range(20):
            got = publisher.publish_entries(entries(f"t{t}c{call}", 1 + (t + call) % 4))
            with lock:
                taken.extend(p.seq for p in got.published)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        total = sum(1 + (t + c) % 4 for t in range(6) for c in range(20))
        assert sorted(taken) == list(range(1, total + 1))
        # In the stream the numbers follow the entry order.
        assert [int(f[b"seq"]) for _, f in client.xrange(unique)] == list(range(1, total + 1))
    finally:
        for p in publishers:
            p.close()
        # The shared client is the caller's: close() of a publisher leaves it open.
        assert shared.ping()
        shared.close()


def test_an_empty_call_takes_no_number(redis_url: str, unique: str, client: redis.Redis) -> None:
    publisher = RedisStreamPublisher(redis_url, unique)
    try:
        assert publisher.publish_encoded([]) == []
        assert publisher.publish_entries([], batch_id="e").published == []
        assert [p.seq for p in publisher.publish_entries(entries("x", 2)).published] == [1, 2]
    finally:
        publisher.close()
