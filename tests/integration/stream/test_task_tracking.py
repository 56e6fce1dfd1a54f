"""A partition's view of its connector task (CONN-8) on the real PostgreSQL: the state
is cached between checks (no database access per batch), polls are written at most
every ``poll_every`` seconds, and the wrapper reads nothing while the task is paused
and ends when it is stopped."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.tasks import TaskState, TaskStore
from datanexus.errors import InvalidArgument
from datanexus.stream.sources import PartitionedSource
from datanexus.stream.task_tracking import (
    PartitionTask,
    TaskTracking,
    error_text,
    flow_trackings,
    worker_identity,
)

FLOW = "pipeline_t"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tracking(database_url: str, schema: str, tenant: str) -> TaskTracking:
    return TaskTracking(database_url, schema, tenant, FLOW, check_every=1.0, poll_every=5.0)


@pytest.fixture
def tenant() -> str:
    return f"tt{uuid.uuid4().hex[:10]}"


def test_conn8_state_is_cached_between_checks_and_polls_are_throttled(
    pg: psycopg.Connection[Any], schema: str, database_url: str, tenant: str
) -> None:
    track = tracking(database_url, schema, tenant)
    store = TaskStore(pg, schema, tenant)
    conn, own = track.connect()
    claimed = own.claim(FLOW, "p0", "host:1/w0")
    clock = Clock()
    task = PartitionTask(track, conn, own, "p0", "host:1/w0", claimed.state, clock=clock)
    try:
        polled = store.get(FLOW, "p0").last_poll
        store.pause(FLOW, "p0")
        for _ in range(10_000):  # many batches within one second: no database access
            assert task.state() is TaskState.RUNNING
        assert (task.checks, task.polls) == (0, 0)
        clock.now += 1.0
        assert task.state() is TaskState.PAUSED  # the check sees the operator's pause
        assert (task.checks, task.polls) == (1, 0)
        assert store.get(FLOW, "p0").last_poll == polled  # a check writes nothing
        store.resume(FLOW, "p0")
        for _ in range(40):  # 10 s more in quarter seconds, 160 batches
            clock.now += 0.25
            task.state()
        assert task.state() is TaskState.RUNNING
        # One database access a second (11 in 11 s); two of them polls (at 5 s and 10 s).
        assert (task.checks, task.polls) == (9, 2)
        assert store.get(FLOW, "p0").last_poll != polled
    finally:
        task.close()


class _Counting(StatefulSourcePartition[int, int]):
    def __init__(self, end: int) -> None:
        self.calls = 0
        self.position = 0
        self.end = end

    def next_batch(self) -> Iterable[int]:
        self.calls += 1
        if self.position >= self.end:
            raise StopIteration
        self.position += 1
        return [self.position]

    def snapshot(self) -> int:
        return self.position


class _Source(FixedPartitionedSource[int, int]):
    def __init__(self, end: int) -> None:
        self.end = end
        self.built: list[_Counting] = []

    def list_parts(self) -> list[str]:
        return ["p0"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Counting:
        self.built.append(_Counting(self.end))
        return self.built[-1]


def test_conn8_the_wrapper_pauses_stops_and_ends_its_task(
    pg: psycopg.Connection[Any], schema: str, database_url: str, tenant: str
) -> None:
    # check_every at its smallest useful value: every batch sees the current state.
    track = TaskTracking(database_url, schema, tenant, FLOW, task_id=lambda p: f"src/{p}",
                         check_every=1e-9, poll_every=1e-9)  # fmt: skip
    inner = _Source(end=3)
    source = PartitionedSource(inner, track)
    store = TaskStore(pg, schema, tenant)
    part = source.build_part("in", "p0", None)
    assert store.get(FLOW, "src/p0").worker == worker_identity()
    try:
        assert [b.events for b in part.next_batch()] == [[1]]
        store.pause(FLOW, "src/p0")
        assert list(part.next_batch()) == []
        assert inner.built[0].calls == 1  # paused: the wrapped partition is not asked
        assert part.snapshot() == 1
        awake = part.next_awake()
        assert awake is not None  # paused: wake for the next check, do not spin
        assert awake >= datetime.now(UTC).replace(microsecond=0)
        store.resume(FLOW, "src/p0")
        assert [b.events for b in part.next_batch()] == [[2]]
        assert [b.events for b in part.next_batch()] == [[3]]
        with pytest.raises(StopIteration):
            part.next_batch()  # the end of the wrapped partition's input
        assert store.get(FLOW, "src/p0").state is TaskState.STOPPED
    finally:
        part.close()

    again = source.build_part("in", "p0", 3)  # a new run: STOPPED → RUNNING
    try:
        assert store.get(FLOW, "src/p0").state is TaskState.RUNNING
        store.stop(FLOW, "src/p0")  # the operator's stop
        with pytest.raises(StopIteration):
            again.next_batch()
        assert inner.built[1].calls == 0
        assert store.get(FLOW, "src/p0").state is TaskState.STOPPED
    finally:
        again.close()


def test_conn8_flow_trackings_finds_the_tracked_input(database_url: str) -> None:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow

    track = TaskTracking(database_url, "s", "t", FLOW)
    flow = Dataflow("f")
    op.inspect("seen", op.input("in", flow, PartitionedSource(_Source(1), track)), print)
    plain = Dataflow("g")
    op.inspect("seen", op.input("in", plain, PartitionedSource(_Source(1))), print)
    assert flow_trackings(flow) == [track]
    assert flow_trackings(plain) == []


def test_conn8_tracking_intervals_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="check_every <= poll_every"):
        TaskTracking("postgresql://x", "s", "t", FLOW, check_every=5, poll_every=1)


def test_conn8_error_text_puts_the_root_cause_first() -> None:
    try:
        try:
            raise ValueError("bad offset 7")
        except ValueError as inner:
            raise RuntimeError("error calling step\nTraceback ...") from inner
    except RuntimeError as outer:
        text = error_text(outer)
    assert text == "ValueError: bad offset 7 (in RuntimeError: error calling step)"
    assert len(error_text(ValueError("x" * 5000))) == 2000


def test_conn8_a_lost_connection_keeps_the_state_and_reconnects_with_backoff(
    pg: psycopg.Connection[Any], schema: str, database_url: str, tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    track = tracking(database_url, schema, tenant)
    conn, own = track.connect()
    claimed = own.claim(FLOW, "p0", "host:1/w0")
    clock = Clock()
    task = PartitionTask(track, conn, own, "p0", "host:1/w0", claimed.state, clock=clock)
    store = TaskStore(pg, schema, tenant)
    try:
        store.pause(FLOW, "p0")
        conn.close()  # the connection breaks under the partition
        clock.now += 1.0
        assert task.state() is TaskState.RUNNING  # the last known state, kept
        assert "cannot reach the task table" in caplog.text
        clock.now += 1.5  # the retry waits 2 s (backoff), not the 1 s check interval
        assert task.state() is TaskState.RUNNING
        clock.now += 0.5
        assert task.state() is TaskState.PAUSED  # reconnected: the pause is seen
    finally:
        task.close()


def test_conn8_a_partition_whose_task_was_claimed_by_another_worker_stops(
    pg: psycopg.Connection[Any], schema: str, database_url: str, tenant: str
) -> None:
    track = TaskTracking(database_url, schema, tenant, FLOW, check_every=1e-9, poll_every=1e-9)
    inner = _Source(end=100)
    part = PartitionedSource(inner, track).build_part("in", "p0", None)
    try:
        assert [b.events for b in part.next_batch()] == [[1]]
        TaskStore(pg, schema, tenant).claim(FLOW, "p0", "elsewhere:1/w0")
        with pytest.raises(StopIteration):
            part.next_batch()
        assert inner.built[0].calls == 1
    finally:
        part.close()
