"""Connector task lifecycle and health rule (CONN-8), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from datanexus.connectors.tasks import (
    ALLOWED,
    HEALTHY_WITHIN,
    Task,
    TaskState,
    check_transition,
    is_healthy,
)
from datanexus.errors import InvalidArgument, TaskStateError

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
S = TaskState


def test_conn8_the_six_states() -> None:
    assert [s.value for s in TaskState] == [
        "UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING"
    ]  # fmt: skip
    assert set(ALLOWED) == set(TaskState)


@pytest.mark.parametrize("src", list(TaskState))
@pytest.mark.parametrize("dst", list(TaskState))
def test_conn8_transitions_follow_the_table(src: TaskState, dst: TaskState) -> None:
    if src is dst or dst in ALLOWED[src]:
        check_transition(src, dst)
        return
    with pytest.raises(TaskStateError) as info:
        check_transition(src, dst)
    message = str(info.value)
    assert f"{src.value} cannot become {dst.value}" in message
    assert all(s.value in message.split(":", 1)[1] for s in ALLOWED[src])
    assert isinstance(info.value, InvalidArgument)


def test_conn8_a_failed_task_must_restart_or_stop() -> None:
    with pytest.raises(
        TaskStateError,
        match=r"FAILED cannot become RUNNING; from FAILED: RESTARTING, STOPPED$",
    ):
        check_transition("FAILED", "RUNNING")


def test_conn8_unknown_state_names_the_states() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown task state 'DONE'; states are UNASSIGNED"):
        check_transition("RUNNING", "DONE")


def _task(state: TaskState, last_poll: datetime | None) -> Task:
    return Task("f", "p0", state, "w1", last_poll, None, NOW)


@pytest.mark.parametrize(
    ("state", "ago", "healthy"),
    [
        (S.RUNNING, timedelta(0), True),
        (S.RUNNING, timedelta(seconds=30), True),
        (S.RUNNING, timedelta(seconds=30, microseconds=1), False),
        (S.RUNNING, timedelta(seconds=-5), True),  # clock skew: a poll "in the future"
        (S.RUNNING, None, False),
        (S.PAUSED, timedelta(seconds=1), False),
        (S.RESTARTING, timedelta(seconds=1), False),
        (S.UNASSIGNED, timedelta(seconds=1), False),
    ],
)
def test_conn8_healthy_iff_running_and_polled_within_30s(
    state: TaskState, ago: timedelta | None, healthy: bool
) -> None:
    task = _task(state, None if ago is None else NOW - ago)
    assert timedelta(seconds=30) == HEALTHY_WITHIN
    assert is_healthy(task, NOW) is healthy
    assert task.healthy(NOW) is healthy


def test_conn8_health_needs_an_aware_now() -> None:
    with pytest.raises(InvalidArgument, match="aware"):
        is_healthy(_task(S.RUNNING, NOW), datetime(2024, 5, 1))  # noqa: DTZ001


def test_conn8_what_a_run_does_to_a_task_is_allowed_by_the_table() -> None:
    from datanexus.connectors.task_states import CLAIMED, FAILED_FROM, FINISHED_FROM

    assert set(CLAIMED) == set(TaskState)
    for before, after in CLAIMED.items():
        check_transition(before, after)
    assert CLAIMED[S.PAUSED] is S.PAUSED  # an operator's pause outlives runs
    assert {CLAIMED[s] for s in (S.RUNNING, S.FAILED, S.RESTARTING)} == {S.RESTARTING}
    for before in FINISHED_FROM:
        check_transition(before, S.STOPPED)
    for before in FAILED_FROM:
        check_transition(before, S.FAILED)
    assert S.PAUSED not in FAILED_FROM
    assert S.PAUSED not in FINISHED_FROM
