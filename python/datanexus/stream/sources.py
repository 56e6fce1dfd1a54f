"""Tagging a source's batches with their partition, so event-time operators can keep a
watermark per source partition (REQUIREMENTS STREAM-6/7).

Bytewax does not tell downstream steps which partition an item came from. Wrapping a
source in :class:`PartitionedSource` makes each item a :class:`SourceBatch`: the
partition's name, the names of all the source's partitions (so that an operator can
wait for every one of them before its watermark moves, instead of racing ahead of
partitions that start late) and the events.

Given a :class:`~datanexus.stream.task_tracking.TaskTracking`, the wrapper also makes
each partition a connector task (CONN-8): it claims the task when Bytewax builds the
partition, reads nothing while the task is PAUSED, ends when it is STOPPED and marks it
STOPPED at the end of input (see :mod:`datanexus.stream.task_tracking`). The per-batch
cost is a cached-state check; the database is asked at most every second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.tasks import TaskState
from datanexus.errors import InvalidType
from datanexus.stream.task_tracking import PartitionTask, TaskTracking

__all__ = ["PartitionedSource", "SourceBatch"]

X = TypeVar("X")
S = TypeVar("S")


@dataclass(frozen=True)
class SourceBatch(Generic[X]):
    """Events of one source partition, in the order it produced them."""

    partition: str
    partitions: tuple[str, ...]
    events: list[X]


_READING = frozenset({TaskState.RUNNING, TaskState.RESTARTING})
_ENDING = frozenset({TaskState.STOPPED, TaskState.FAILED})


class _TaggingPartition(StatefulSourcePartition[SourceBatch[X], S]):
    """Delegates to the wrapped partition; batches are tagged, state and timing unchanged
    while its task (if tracked) is RUNNING."""

    def __init__(
        self,
        inner: StatefulSourcePartition[Any, S],
        name: str,
        names: tuple[str, ...],
        task: PartitionTask | None = None,
    ) -> None:
        self._inner = inner
        self._name = name
        self._names = names
        self._task = task
        # Set while the wrapper answers next_awake in place of the wrapped partition
        # (to check its task sooner): the wrapped one's own awake time, still owed.
        self._owed: datetime | None = None

    def next_batch(self) -> Iterable[SourceBatch[X]]:
        task = self._task
        if task is not None:
            state = task.state()
            if state not in _READING:
                if state in _ENDING:
                    raise StopIteration  # the operator's decision: stays as it is
                return []  # PAUSED (or UNASSIGNED): the wrapped position does not move
            if self._owed is not None:
                if datetime.now(UTC) < self._owed:
                    return []
                self._owed = None
        try:
            items = self._inner.next_batch()
        except StopIteration:
            if task is not None:
                task.ended()
            raise
        out: list[SourceBatch[X]] = []
        singles: list[X] = []
        for item in items:
            if isinstance(item, list):
                if singles:
                    out.append(SourceBatch(self._name, self._names, singles))
                    singles = []
                out.append(SourceBatch(self._name, self._names, item))
            else:
                singles.append(item)
        if singles:
            out.append(SourceBatch(self._name, self._names, singles))
        return out

    def next_awake(self) -> datetime | None:
        task = self._task
        if task is None:
            return self._inner.next_awake()
        check = datetime.now(UTC) + timedelta(seconds=task.seconds_to_check())
        if task.cached not in _READING:
            return check  # paused: only the task's state can change anything
        awake = self._inner.next_awake()
        if awake is not None and awake > check:
            # Wake for the task check; the wrapped partition is not polled before its time.
            self._owed = awake
            return check
        self._owed = None
        return awake

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if self._task is not None:
                self._task.close()


class PartitionedSource(FixedPartitionedSource[SourceBatch[X], S]):
    """Wraps a fixed-partitioned source whose items are events or lists of events; its
    items become :class:`SourceBatch` (lists stay whole; consecutive single events of one
    poll are gathered into one batch). Partitions, resume states and pacing are the
    wrapped source's. With ``tracking``, each built partition is a connector task (see
    the module)."""

    def __init__(
        self, inner: FixedPartitionedSource[Any, S], tracking: TaskTracking | None = None
    ) -> None:
        if not isinstance(inner, FixedPartitionedSource):
            raise InvalidType(
                f"PartitionedSource wraps a FixedPartitionedSource, got {type(inner).__name__}"
            )
        self._inner = inner
        self.tracking = tracking

    def list_parts(self) -> list[str]:
        return list(self._inner.list_parts())

    def build_part(
        self, step_id: str, for_part: str, resume_state: S | None
    ) -> _TaggingPartition[X, S]:
        task = None if self.tracking is None else self.tracking.partition(for_part)
        try:
            inner = self._inner.build_part(step_id, for_part, resume_state)
        except BaseException:
            if task is not None:
                task.close()
            raise
        return _TaggingPartition(inner, for_part, tuple(self.list_parts()), task)
