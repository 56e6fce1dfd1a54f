"""Connector task states (CONN-8): the six states, the transitions allowed between them
and the health rule, without a database (the store is :mod:`datanexus.connectors.tasks`).

Transitions (:data:`ALLOWED`; staying in the same state is an idempotent no-op, anything
else raises :class:`~datanexus.errors.TaskStateError`, an ``InvalidArgument`` naming
from, to and what is allowed)::

    UNASSIGNED → RUNNING, PAUSED, STOPPED
    RUNNING    → PAUSED, STOPPED, FAILED, RESTARTING, UNASSIGNED
    PAUSED     → RUNNING, STOPPED, UNASSIGNED
    STOPPED    → RUNNING, RESTARTING, UNASSIGNED, FAILED
    FAILED     → RESTARTING, STOPPED
    RESTARTING → RUNNING, FAILED, STOPPED, UNASSIGNED

Health (:func:`is_healthy`): RUNNING and polled at most :data:`HEALTHY_WITHIN` (30 s)
before ``now`` (a poll "in the future", from clock skew, counts as recent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from datanexus.errors import InvalidArgument, TaskStateError

__all__ = [
    "ALLOWED",
    "CLAIMED",
    "FAILED_FROM",
    "FINISHED_FROM",
    "HEALTHY_WITHIN",
    "Task",
    "TaskState",
    "check_transition",
    "is_healthy",
    "parse_state",
]

HEALTHY_WITHIN = timedelta(seconds=30)


class TaskState(StrEnum):
    UNASSIGNED = "UNASSIGNED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    RESTARTING = "RESTARTING"


_S = TaskState
ALLOWED: dict[TaskState, frozenset[TaskState]] = {
    _S.UNASSIGNED: frozenset({_S.RUNNING, _S.PAUSED, _S.STOPPED}),
    _S.RUNNING: frozenset({_S.PAUSED, _S.STOPPED, _S.FAILED, _S.RESTARTING, _S.UNASSIGNED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.STOPPED, _S.UNASSIGNED}),
    # STOPPED → FAILED: a partition that reached its end (STOPPED) belongs to a run that
    # can still fail before its last events are committed; that task's work is not done.
    _S.STOPPED: frozenset({_S.RUNNING, _S.RESTARTING, _S.UNASSIGNED, _S.FAILED}),
    _S.FAILED: frozenset({_S.RESTARTING, _S.STOPPED}),
    _S.RESTARTING: frozenset({_S.RUNNING, _S.FAILED, _S.STOPPED, _S.UNASSIGNED}),
}


# What a newly built partition makes of its task (see TaskStore.claim).
CLAIMED: dict[TaskState, TaskState] = {
    _S.UNASSIGNED: _S.RUNNING,
    _S.STOPPED: _S.RUNNING,
    _S.RUNNING: _S.RESTARTING,
    _S.FAILED: _S.RESTARTING,
    _S.RESTARTING: _S.RESTARTING,
    _S.PAUSED: _S.PAUSED,
}


FINISHED_FROM = (_S.RUNNING, _S.RESTARTING)
FAILED_FROM = (_S.RUNNING, _S.RESTARTING, _S.STOPPED)


def parse_state(value: TaskState | str) -> TaskState:
    try:
        return TaskState(value)
    except ValueError:
        known = ", ".join(s.value for s in TaskState)
        raise InvalidArgument(f"unknown task state {value!r}; states are {known}") from None


def check_transition(current: TaskState | str, target: TaskState | str) -> None:
    """Raise :class:`TaskStateError` unless ``current`` → ``target`` is allowed."""
    src, dst = parse_state(current), parse_state(target)
    if src is dst or dst in ALLOWED[src]:
        return
    allowed = ", ".join(sorted(s.value for s in ALLOWED[src]))
    raise TaskStateError(
        f"task state {src.value} cannot become {dst.value}; from {src.value}: {allowed}"
    )


@dataclass(frozen=True, slots=True)
class Task:
    flow: str
    task: str
    state: TaskState
    worker: str | None
    last_poll: datetime | None
    error: str | None
    updated_at: datetime

    def healthy(self, now: datetime, within: timedelta = HEALTHY_WITHIN) -> bool:
        return is_healthy(self, now, within)


def is_healthy(task: Task, now: datetime, within: timedelta = HEALTHY_WITHIN) -> bool:
    """RUNNING and last polled at most ``within`` before ``now`` (aware)."""
    if now.tzinfo is None:
        raise InvalidArgument(f"now must be an aware datetime, got naive {now.isoformat()}")
    if task.state is not TaskState.RUNNING or task.last_poll is None:
        return False
    return now - task.last_poll <= within
