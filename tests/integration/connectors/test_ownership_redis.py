"""Partition ownership over the real Redis (STREAM-19): several coordinators, each with its
own client, stand for processes; keys live under a unique prefix and are deleted."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from datanexus.connectors.ownership import Coordinator, assign, owner_of
from datanexus.connectors.ownership_redis import RedisMembership
from datanexus.errors import InvalidArgument

PARTS = [f"orders-{i}" for i in range(7)]


class Group:
    """Coordinators ("processes") of one group, each on its own connection, recording
    the callbacks in one ordered log; revokes commit each partition's position."""

    def __init__(self, url: str, prefix: str, ttl: timedelta) -> None:
        self.url, self.prefix, self.ttl = url, prefix, ttl
        self.clients: list[redis.Redis] = []
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, tuple[str, ...]]] = []
        self.position: dict[str, int] = {}
        self.committed: dict[str, int] = {}
        self.started_from: dict[tuple[str, str], int] = {}

    def process(self) -> tuple[Coordinator, RedisMembership]:
        client = redis.Redis.from_url(self.url)
        self.clients.append(client)
        membership = RedisMembership(client, self.prefix, ttl=self.ttl)
        coord = Coordinator(PARTS, membership, on_assign=self.on_assign, on_revoke=self.on_revoke)
        return coord, membership

    def on_assign(self, consumer: str, parts: list[str]) -> None:
        with self.lock:
            self.events.append(("assign", consumer, tuple(parts)))
            for p in parts:
                self.started_from[(consumer, p)] = self.committed.get(p, 0)
                self.position[p] = self.committed.get(p, 0)

    def on_revoke(self, consumer: str, parts: list[str]) -> None:
        with self.lock:
            self.events.append(("revoke", consumer, tuple(parts)))
            for p in parts:
                self.committed[p] = self.position[p]

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def group(redis_url: str) -> Iterator[Group]:
    g = Group(redis_url, f"dntest:own:{uuid.uuid4().hex[:12]}", timedelta(seconds=1))
    yield g
    client = redis.Redis.from_url(redis_url)
    RedisMembership(client, g.prefix).delete()
    client.close()
    g.close()


def _settle(coords: list[Coordinator], rounds: int = 5) -> None:
    for _ in range(rounds):
        if all([c.sync() for c in coords]):
            return
    raise AssertionError("the group did not settle")


def test_stream19_three_processes_share_seven_partitions(group: Group) -> None:
    procs = [group.process() for _ in range(3)]
    coords = [c for c, _ in procs]
    for i, c in enumerate(coords, 1):
        c.join(f"c{i}")
    _settle(coords)
    owned = {f"c{i}": c.partitions_of(f"c{i}") for i, c in enumerate(coords, 1)}
    assert owned == assign(PARTS, ["c1", "c2", "c3"])
    assert sorted(len(v) for v in owned.values()) == [2, 2, 3]
    assert procs[0][1].claims(PARTS) == owner_of(owned)
    assert not any(c.is_rebalancing for c in coords)
    assert coords[1].partitions_of("c1") == []  # not a consumer of this process
    view = procs[0][1].view()
    assert view.members == ("c1", "c2", "c3")
    assert all(c.generation == view.generation for c in coords)


def test_stream19_a_join_is_handed_over_only_after_every_revoke(group: Group) -> None:
    (a, _), (b, _) = group.process(), group.process()
    a.join("c1")
    assert a.partitions_of("c1") == PARTS
    for p in PARTS:
        group.position[p] = 40  # c1 consumed up to 40, not yet committed
    group.events.clear()

    assert b.join("c2") is False  # c1 still holds its claims of the old generation
    assert b.is_rebalancing
    assert b.partitions_of("c2") == []
    assert group.events == []
    _settle([a, b])
    assert group.events[0] == ("revoke", "c1", tuple(PARTS))
    assert {e[0] for e in group.events[1:]} == {"assign"}
    assert b.partitions_of("c2") == assign(PARTS, ["c1", "c2"])["c2"]
    # The new owner starts from the position the old one committed in its revoke.
    assert all(group.started_from[("c2", p)] == 40 for p in b.partitions_of("c2"))
    assert not a.is_rebalancing
    assert not b.is_rebalancing


def test_stream19_failing_revoke_keeps_claims_in_redis(group: Group) -> None:
    (a, ma), (b, _) = group.process(), group.process()
    failures = [1]
    revoke = group.on_revoke

    def flaky(consumer: str, parts: list[str]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("sink unreachable")
        revoke(consumer, parts)

    a._on_revoke = flaky  # the callback of process a only
    a.join("c1")
    b.join("c2")
    assert a.sync() is False
    assert isinstance(a.last_error, ConnectionError)
    assert ma.claims(PARTS) == dict.fromkeys(PARTS, "c1")
    assert b.sync() is False
    assert b.partitions_of("c2") == []
    _settle([a, b])
    assert sorted(a.partitions_of("c1") + b.partitions_of("c2")) == PARTS


def test_stream19_a_dead_process_expires_and_the_others_take_over(group: Group) -> None:
    procs = [group.process() for _ in range(3)]
    coords = [c for c, _ in procs]
    for i, c in enumerate(coords, 1):
        c.join(f"c{i}")
    _settle(coords)
    dead = coords.pop()  # c3's process stops heartbeating (no leave, no revoke)
    assert dead.partitions_of("c3")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done = all([c.sync() for c in coords])
        if done and procs[0][1].view().members == ("c1", "c2"):
            break
        time.sleep(0.1)
    _settle(coords)
    owned = {"c1": coords[0].partitions_of("c1"), "c2": coords[1].partitions_of("c2")}
    assert owned == assign(PARTS, ["c1", "c2"])
    assert procs[0][1].claims(PARTS) == owner_of(owned)


def test_stream19_concurrent_processes_never_own_a_partition_twice(group: Group) -> None:
    """Processes join, sync and leave in threads; an observer checks the Redis claims
    and the callbacks' view: at no point do two consumers hold one partition."""
    procs = [group.process() for _ in range(4)]
    holders: dict[str, str] = {}
    violations: list[str] = []
    lock = threading.Lock()

    def track_assign(consumer: str, parts: list[str]) -> None:
        with lock:
            for p in parts:
                if p in holders:
                    violations.append(f"{p} given to {consumer} while {holders[p]} holds it")
                holders[p] = consumer

    def track_revoke(consumer: str, parts: list[str]) -> None:
        with lock:
            for p in parts:
                if holders.get(p) == consumer:
                    del holders[p]

    for c, _ in procs:
        c._on_assign, c._on_revoke = track_assign, track_revoke

    def run(i: int) -> None:
        coord = procs[i][0]
        coord.join(f"c{i}")
        for step in range(40):
            coord.sync()
            if i == 3 and step == 20:
                coord.leave("c3")
            time.sleep(0.005)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    coords = [c for c, _ in procs[:3]]
    _settle(coords, rounds=10)
    assert violations == []
    owned = {f"c{i}": coords[i].partitions_of(f"c{i}") for i in range(3)}
    assert owned == assign(PARTS, ["c0", "c1", "c2"])
    assert Counter(p for ps in owned.values() for p in ps) == Counter(PARTS)
    assert holders == owner_of(owned)


def test_stream19_redis_membership_refuses_bad_names(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(InvalidArgument, match="prefix must be non-empty"):
            RedisMembership(client, "")
        membership = RedisMembership(client, f"dntest:own:{uuid.uuid4().hex[:12]}")
        with pytest.raises(InvalidArgument, match="member must be non-empty without spaces"):
            membership.join("a b")
    finally:
        client.close()
