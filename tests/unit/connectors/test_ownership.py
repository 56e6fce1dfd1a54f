"""Partition ownership (STREAM-19): the assignment's laws and the coordinator's handover
order, with coordinators standing for processes over one in-memory membership."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.connectors.ownership import Coordinator, MemoryMembership, assign, owner_of
from datanexus.errors import InvalidArgument, InvalidType

PARTS = [f"p{i}" for i in range(7)]

names = st.text(alphabet="abcdefghij0123456789-_.", min_size=1, max_size=6)


def test_stream19_seven_over_three_gives_three_two_two() -> None:
    got = assign(PARTS, ["c3", "c1", "c2"])
    assert got == {
        "c1": ["p0", "p1", "p2"],
        "c2": ["p3", "p4"],
        "c3": ["p5", "p6"],
    }


def test_stream19_no_consumers_no_owners_and_unknown_consumer_owns_nothing() -> None:
    assert assign(PARTS, []) == {}
    assert assign([], ["c1", "c2"]) == {"c1": [], "c2": []}
    assert assign(PARTS, ["c1"]).get("c9", []) == []


@pytest.mark.parametrize(
    ("parts", "consumers", "match"),
    [
        (["a", "a"], ["c"], r"partitions must be distinct, got duplicates \['a'\]"),
        (["a"], ["c", "c"], r"consumers must be distinct"),
        (["a", ""], ["c"], r"partitions must be non-empty"),
    ],
)
def test_stream19_bad_names_are_refused(parts: list[str], consumers: list[str], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        assign(parts, consumers)


def test_stream19_non_string_names_are_invalid_type() -> None:
    with pytest.raises(InvalidType, match="partitions must be a collection"):
        assign("abc", ["c"])
    with pytest.raises(InvalidType, match="consumers must be str, got int 3"):
        assign(["a"], [3])  # type: ignore[list-item]


@given(
    parts=st.lists(names, unique=True, max_size=60),
    consumers=st.lists(names, unique=True, max_size=12),
    data=st.data(),
)
def test_stream19_assignment_laws(
    parts: list[str], consumers: list[str], data: st.DataObject
) -> None:
    got = assign(parts, consumers)
    if not consumers:
        assert got == {}
        return
    assert set(got) == set(consumers)
    # Exactly one owner per partition.
    owned = Counter(p for ps in got.values() for p in ps)
    assert set(owned) == set(parts)
    assert all(n == 1 for n in owned.values())
    # Balanced.
    sizes = [len(ps) for ps in got.values()]
    assert max(sizes) - min(sizes) <= 1
    # Independent of the order of joining (and of listing the partitions).
    shuffled_c = data.draw(st.permutations(consumers))
    shuffled_p = data.draw(st.permutations(parts))
    assert assign(shuffled_p, shuffled_c) == got
    assert owner_of(got) == {p: c for c, ps in got.items() for p in ps}


class Log:
    """What the callbacks saw, in order, plus a committed position per partition: the
    revoke "flushes and commits" the consumer's in-memory positions."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, tuple[str, ...]]] = []
        self.committed: dict[str, int] = {}
        self.pending: dict[str, dict[str, int]] = {}
        self.started_from: dict[tuple[str, str], int] = {}
        self.fail_revokes = 0

    def on_assign(self, consumer: str, parts: list[str]) -> None:
        self.events.append(("assign", consumer, tuple(parts)))
        for p in parts:
            self.started_from[(consumer, p)] = self.committed.get(p, 0)
        self.pending[consumer] = {p: self.committed.get(p, 0) for p in parts}

    def on_revoke(self, consumer: str, parts: list[str]) -> None:
        if self.fail_revokes:
            self.fail_revokes -= 1
            raise RuntimeError("sink down")
        self.events.append(("revoke", consumer, tuple(parts)))
        for p in parts:
            self.committed[p] = self.pending[consumer][p]
        self.pending[consumer] = {}

    def process(self, consumer: str, n: int) -> None:
        for p in self.pending.get(consumer, {}):
            self.pending[consumer][p] += n


def _coordinator(membership: MemoryMembership, log: Log) -> Coordinator:
    return Coordinator(PARTS, membership, on_assign=log.on_assign, on_revoke=log.on_revoke)


def _no_double_owner(*coords: Coordinator) -> None:
    seen = Counter(p for c in coords for ps in c.owned().values() for p in ps)
    assert all(n == 1 for n in seen.values()), seen


def test_stream19_join_revokes_everything_before_anyone_receives() -> None:
    membership = MemoryMembership()
    log = Log()
    a, b = _coordinator(membership, log), _coordinator(membership, log)
    assert a.join("c1") is True
    assert a.partitions_of("c1") == PARTS
    log.process("c1", 5)
    log.events.clear()

    # b joins: a still holds generation-1 claims, so b receives nothing yet.
    assert b.join("c2") is False
    assert b.is_rebalancing
    assert b.partitions_of("c2") == []
    _no_double_owner(a, b)
    assert log.events == []

    assert a.sync() is True  # a revokes (commits), then takes its new share
    assert b.sync() is True
    assert log.events[0] == ("revoke", "c1", tuple(PARTS))
    assert [e[0] for e in log.events[1:]] == ["assign", "assign"]
    assert a.partitions_of("c1") == ["p0", "p1", "p2", "p3"]
    assert b.partitions_of("c2") == ["p4", "p5", "p6"]
    assert not a.is_rebalancing
    assert not b.is_rebalancing
    # Flush and commit before handoff: the new owner starts where the old one stopped.
    assert all(log.started_from[("c2", p)] == 5 for p in b.partitions_of("c2"))
    _no_double_owner(a, b)


def test_stream19_three_processes_seven_partitions() -> None:
    membership = MemoryMembership()
    log = Log()
    coords = [_coordinator(membership, log) for _ in range(3)]
    for i, c in enumerate(coords, 1):
        c.join(f"c{i}")
    for _ in range(3):
        for c in coords:
            c.sync()
    sizes = sorted(len(c.partitions_of(f"c{i}")) for i, c in enumerate(coords, 1))
    assert sizes == [2, 2, 3]
    assert not any(c.is_rebalancing for c in coords)
    assert membership.claims() == owner_of(assign(PARTS, ["c1", "c2", "c3"]))
    assert coords[0].partitions_of("nobody") == []


def test_stream19_failing_revoke_keeps_the_partitions_until_it_succeeds() -> None:
    membership = MemoryMembership()
    log = Log()
    a, b = _coordinator(membership, log), _coordinator(membership, log)
    a.join("c1")
    log.process("c1", 3)
    b.join("c2")
    log.fail_revokes = 1
    assert a.sync() is False
    assert isinstance(a.last_error, RuntimeError)
    # Nothing lost, nothing handed over: c1 still owns all, its claims stay, c2 waits.
    assert a.partitions_of("c1") == PARTS
    assert a.is_rebalancing
    assert set(membership.claims()) == set(PARTS)
    assert b.sync() is False
    assert b.partitions_of("c2") == []
    # The next sync retries the revoke; then the handover completes with the commit.
    assert a.sync() is True
    assert b.sync() is True
    assert sorted(a.partitions_of("c1") + b.partitions_of("c2")) == PARTS
    assert all(log.started_from[("c2", p)] == 3 for p in b.partitions_of("c2"))


def test_stream19_leave_revokes_first_and_the_rest_take_over() -> None:
    membership = MemoryMembership()
    log = Log()
    a, b = _coordinator(membership, log), _coordinator(membership, log)
    a.join("c1")
    b.join("c2")
    a.sync()
    b.sync()
    log.process("c2", 7)
    log.events.clear()
    b.leave("c2")
    assert log.events[0] == ("revoke", "c2", ("p4", "p5", "p6"))
    assert a.sync() is True
    assert a.partitions_of("c1") == PARTS
    assert b.partitions_of("c2") == []
    assert all(log.started_from[("c1", p)] == 7 for p in ("p4", "p5", "p6"))


def test_stream19_an_expired_member_drops_out_and_its_partitions_move() -> None:
    now = [datetime(2024, 1, 1, tzinfo=UTC)]
    membership = MemoryMembership(ttl=timedelta(seconds=10), clock=lambda: now[0])
    log = Log()
    a, b = _coordinator(membership, log), _coordinator(membership, log)
    a.join("c1")
    b.join("c2")
    a.sync()
    b.sync()
    generation = a.generation
    # b's process stops; a keeps syncing.
    for _ in range(3):
        now[0] += timedelta(seconds=4)
        a.sync()
    assert a.generation is not None
    assert generation is not None
    assert a.generation > generation
    assert a.partitions_of("c1") == PARTS
    assert membership.view().members == ("c1",)


def test_stream19_no_consumers_nothing_owned() -> None:
    membership = MemoryMembership()
    log = Log()
    a = _coordinator(membership, log)
    a.join("c1")
    a.leave("c1")
    assert a.sync() is True
    assert a.owned() == {}
    assert membership.claims() == {}
    assert membership.view().members == ()


def test_stream19_leave_with_a_failing_revoke_raises_and_keeps_the_member() -> None:
    membership = MemoryMembership()
    log = Log()
    a = _coordinator(membership, log)
    a.join("c1")
    log.fail_revokes = 1
    with pytest.raises(RuntimeError, match="sink down"):
        a.leave("c1")
    assert a.partitions_of("c1") == PARTS
    assert membership.view().members == ("c1",)
    assert set(membership.claims()) == set(PARTS)
    a.leave("c1")  # the retry succeeds: revoked, released, gone
    assert membership.view().members == ()
    assert membership.claims() == {}
