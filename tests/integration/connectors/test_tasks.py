"""Connector tasks in the real PostgreSQL (CONN-8): lifecycle, assignment, health with an
injected clock, offsets only while STOPPED, tenant isolation."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from datanexus.connectors.ownership import assign
from datanexus.connectors.tasks import TaskState, TaskStore
from datanexus.errors import InvalidArgument, NotFound, TaskStateError
from datanexus.store.progress import Progress, read_progress, record_progress

FLOW = "pipeline_orders"
TASKS = [f"redis-stream/dn:acme:orders-{i}" for i in range(10)]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(pg: psycopg.Connection[Any], schema: str, clock: Clock) -> TaskStore:
    tasks = TaskStore(pg, schema, "acme", clock=clock)
    tasks.create(FLOW, TASKS)
    return tasks


def test_conn8_tasks_start_unassigned_and_create_is_idempotent(store: TaskStore) -> None:
    listed = store.list_tasks(FLOW)
    assert [t.task for t in listed] == sorted(TASKS)
    assert {t.state for t in listed} == {TaskState.UNASSIGNED}
    assert all(t.worker is None and t.last_poll is None for t in listed)
    store.pause(FLOW, TASKS[0])
    again = store.create(FLOW, TASKS[:1])
    assert again[0].state is TaskState.PAUSED


def test_conn8_ten_tasks_over_three_workers_are_all_assigned(store: TaskStore) -> None:
    got = store.assign(["w1", "w2", "w3"])
    assert sorted(len(v) for v in got.values()) == [3, 3, 4]
    assert sorted(t for pairs in got.values() for _, t in pairs) == sorted(TASKS)
    listed = store.list_tasks()
    assert all(t.worker is not None and t.state is TaskState.RUNNING for t in listed)
    # The same assignment as the partition ownership function (one implementation).
    expected = assign([f"{FLOW}\x00{t}" for t in TASKS], ["w1", "w2", "w3"])
    assert {w: [f"{f}\x00{t}" for f, t in pairs] for w, pairs in got.items()} == expected
    assert Counter(t.worker for t in listed) == {w: len(v) for w, v in got.items()}


def test_conn8_reassignment_keeps_operator_states_and_drops_stale_polls(
    store: TaskStore,
) -> None:
    store.assign(["w1", "w2"])
    paused = TASKS[0]
    store.pause(FLOW, paused)
    owner = store.get(FLOW, TASKS[9]).worker
    assert owner is not None
    store.poll(FLOW, TASKS[9], owner)
    store.assign([])  # every worker gone
    listed = {t.task: t for t in store.list_tasks(FLOW)}
    assert listed[paused].state is TaskState.PAUSED
    assert listed[paused].worker is None
    others = [t for name, t in listed.items() if name != paused]
    assert all(t.state is TaskState.UNASSIGNED and t.worker is None for t in others)
    assert listed[TASKS[9]].last_poll is None
    store.assign(["w9"])
    assert store.get(FLOW, paused).state is TaskState.PAUSED
    assert store.get(FLOW, TASKS[1]).state is TaskState.RUNNING


def test_conn8_health_by_the_injected_clock(store: TaskStore, clock: Clock) -> None:
    store.assign(["w1"])
    task = TASKS[3]
    assert store.health(FLOW, task) is False  # RUNNING but never polled
    store.poll(FLOW, task, "w1")
    assert store.health(FLOW, task) is True
    clock.now += timedelta(seconds=30)
    assert store.health(FLOW, task) is True
    clock.now += timedelta(milliseconds=1)
    assert store.health(FLOW, task) is False
    store.poll(FLOW, task, "w1")
    store.pause(FLOW, task)
    assert store.health(FLOW, task) is False  # polled, but not RUNNING
    with pytest.raises(TaskStateError, match=r"assigned to 'w1', not 'w2'"):
        store.poll(FLOW, task, "w2")


def test_conn8_illegal_transition_names_from_to_and_allowed(store: TaskStore) -> None:
    store.assign(["w1"])
    store.transition(FLOW, TASKS[0], TaskState.FAILED, error="sink down")
    failed = store.get(FLOW, TASKS[0])
    assert failed.state is TaskState.FAILED
    assert failed.error == "sink down"
    with pytest.raises(
        TaskStateError, match=r"FAILED cannot become PAUSED; from FAILED: RESTARTING, STOPPED"
    ):
        store.pause(FLOW, TASKS[0])
    assert store.get(FLOW, TASKS[0]).state is TaskState.FAILED  # unchanged
    restarted = store.transition(FLOW, TASKS[0], TaskState.RESTARTING)
    assert restarted.error is None
    with pytest.raises(InvalidArgument, match="FAILED needs an error"):
        store.transition(FLOW, TASKS[1], TaskState.FAILED)
    with pytest.raises(NotFound, match=r"no task 'nope' of flow"):
        store.stop(FLOW, "nope")


def test_conn8_offsets_change_only_when_stopped(
    store: TaskStore, pg: psycopg.Connection[Any], schema: str
) -> None:
    task = TASKS[2]
    with pg.transaction(), pg.cursor() as cur:
        record_progress(cur, schema, Progress(FLOW, task, 500))
    store.assign(["w1"])
    for state in (TaskState.RUNNING, TaskState.PAUSED):
        assert store.get(FLOW, task).state is state
        with pytest.raises(TaskStateError, match=rf"is {state.value}: offsets change only"):
            store.alter_offset(FLOW, task, 10)
        with pytest.raises(TaskStateError, match="only while STOPPED"):
            store.reset_offset(FLOW, task)
        assert read_progress(pg, schema, FLOW) == {task: 500}
        store.pause(FLOW, task)
    store.stop(FLOW, task)
    store.alter_offset(FLOW, task, 120)  # backwards: a replay the operator asked for
    assert read_progress(pg, schema, FLOW) == {task: 120}
    store.reset_offset(FLOW, task)
    assert read_progress(pg, schema, FLOW) == {}
    store.alter_offset(FLOW, task, 7)
    assert read_progress(pg, schema, FLOW) == {task: 7}
    with pytest.raises(InvalidArgument, match="position must be >= 0"):
        store.alter_offset(FLOW, task, -1)
    assert store.resume(FLOW, task).state is TaskState.RUNNING


def test_conn8_tasks_are_tenant_scoped(
    store: TaskStore, pg: psycopg.Connection[Any], schema: str
) -> None:
    other = TaskStore(pg, schema, "globex")
    assert other.list_tasks() == []
    with pytest.raises(NotFound):
        other.get(FLOW, TASKS[0])
    other.create(FLOW, ["p0"])
    assert [t.task for t in other.list_tasks()] == ["p0"]
    assert len(store.list_tasks()) == len(TASKS)
    # Row-level security backs the filters: scoped to globex, acme's rows are invisible.
    from datanexus.store.tenancy import tenant_scope

    with tenant_scope(pg, "globex") as conn:
        rows = conn.execute(f'SELECT count(*) FROM "{schema}".connector_tasks').fetchone()
    assert rows == (1,)


def test_conn8_claim_starts_new_and_stopped_tasks_and_restarts_the_others(
    store: TaskStore, clock: Clock
) -> None:
    fresh = store.claim(FLOW, "redis-stream/dn:acme:new", "host:1/w0")  # created
    assert (fresh.state, fresh.worker, fresh.last_poll) == (TaskState.RUNNING, "host:1/w0",
                                                            clock.now)  # fmt: skip
    store.transition(FLOW, TASKS[0], TaskState.STOPPED)
    assert store.claim(FLOW, TASKS[0], "host:2/w0").state is TaskState.RUNNING
    store.assign(["w1"])  # TASKS[1:] RUNNING: a run that died leaves them so
    assert store.claim(FLOW, TASKS[1], "host:2/w0").state is TaskState.RESTARTING
    store.transition(FLOW, TASKS[2], TaskState.FAILED, error="boom")
    restarting = store.claim(FLOW, TASKS[2], "host:2/w1")
    assert (restarting.state, restarting.error) == (TaskState.RESTARTING, "boom")
    store.pause(FLOW, TASKS[3])
    paused = store.claim(FLOW, TASKS[3], "host:2/w1")
    assert (paused.state, paused.worker) == (TaskState.PAUSED, "host:2/w1")


def test_conn8_heartbeat_polls_promotes_restarting_and_reports_the_state(
    store: TaskStore, clock: Clock
) -> None:
    store.assign(["w1"])
    store.transition(FLOW, TASKS[0], TaskState.FAILED, error="boom")
    store.claim(FLOW, TASKS[0], "host:2/w0")
    clock.now += timedelta(seconds=7)
    assert store.heartbeat(FLOW, TASKS[0], "host:2/w0") is TaskState.RUNNING
    task = store.get(FLOW, TASKS[0])
    assert (task.last_poll, task.error) == (clock.now, None)
    assert store.health(FLOW, TASKS[0])
    store.pause(FLOW, TASKS[0])
    assert store.heartbeat(FLOW, TASKS[0], "host:2/w0") is TaskState.PAUSED
    with pytest.raises(TaskStateError, match="assigned to 'host:2/w0', not 'host:3/w0'"):
        store.heartbeat(FLOW, TASKS[0], "host:3/w0")
    with pytest.raises(NotFound):
        store.heartbeat(FLOW, "nope", "host:2/w0")


def test_conn8_finish_ends_only_the_runs_own_tasks(store: TaskStore) -> None:
    mine = [store.claim(FLOW, t, f"host:12/w{i % 2}").task for i, t in enumerate(TASKS[:4])]
    other = store.claim(FLOW, TASKS[4], "host:123/w0").task  # pid 123 is not pid 12
    store.pause(FLOW, mine[0])
    store.transition(FLOW, mine[1], TaskState.STOPPED)  # reached its end
    changed = store.finish(FLOW, "host:12/", error="RuntimeError: boom")
    assert [t.task for t in changed] == sorted(mine[1:])
    assert {t.state for t in changed} == {TaskState.FAILED}
    assert {t.error for t in changed} == {"RuntimeError: boom"}
    assert store.get(FLOW, mine[0]).state is TaskState.PAUSED
    assert store.get(FLOW, other).state is TaskState.RUNNING
    stopped = store.finish(FLOW, "host:123/")
    assert [(t.task, t.state, t.error) for t in stopped] == [(other, TaskState.STOPPED, None)]
    store.claim(FLOW, TASKS[5], "host:999/w0")
    assert store.finish(FLOW, "host:%/") == []  # LIKE wildcards in a prefix are literal
    assert store.get(FLOW, TASKS[5]).state is TaskState.RUNNING
