"""A running flow's connector tasks (CONN-8): what makes the task states mean something.

:class:`TaskTracking` describes where a flow's tasks live (database, schema, tenant,
flow name, how a partition is named as a task). Given to
:class:`~datanexus.stream.sources.PartitionedSource`, every partition a worker builds
:meth:`claims <datanexus.connectors.tasks.TaskStore.claim>` its task (RUNNING, or
RESTARTING after a run that died or failed) under the worker's identity
(:func:`worker_identity`) and gets a :class:`PartitionTask`, which the partition asks
for the task's state before each batch. The answer is cached: the database is asked at
most every ``check_every`` seconds (default 1) and a poll is written at most every
``poll_every`` seconds (default 5; health needs one within 30 s), so a batch costs one
clock read and a comparison. The partition then

- reads while the task is RUNNING (or RESTARTING);
- returns no events while it is PAUSED or UNASSIGNED, without touching the wrapped
  source, whose position (and snapshot) therefore stays where it was: nothing is lost,
  the events are read after the resume;
- ends (``StopIteration``, Bytewax's end of input for the partition, after which Bytewax
  snapshots its final position) when an operator STOPPED it; at the wrapped source's own
  end of input it marks the task STOPPED.

:func:`finish_run` (called by :func:`datanexus.runner.run_flow`) closes the run: the
tasks this process still runs become STOPPED after a normal end or an interrupt; after
an exception they, and those that already reached their end, become FAILED with the
error text. Tracking is best effort once a partition runs: a database that cannot be
reached is logged and retried with backoff, with the last known state kept, so the
data flow never fails because of its bookkeeping (its own sink needs the database
anyway). Claiming at start is not: a partition whose task
cannot be claimed fails the build with :class:`~datanexus.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from datanexus.connectors.tasks import TaskState, TaskStore
from datanexus.errors import InvalidArgument, NotFound, ServiceUnavailable, TaskStateError

__all__ = [
    "PartitionTask",
    "TaskTracking",
    "error_text",
    "finish_run",
    "flow_trackings",
    "process_identity",
    "worker_identity",
]

log = logging.getLogger(__name__)

MAX_RETRY = 30.0
"""Seconds: the longest pause between attempts to reach an unreachable task table."""

ERROR_CHARS = 2000
"""An error text kept with a FAILED task is cut to this many characters."""

_WORKER_THREAD = re.compile(r"timely:work-(\d+)")


def process_identity() -> str:
    """``host:pid/``: the prefix of every worker identity of this process."""
    return f"{socket.gethostname()}:{os.getpid()}/"


def _worker_index() -> int:
    # Bytewax runs each worker in a timely thread named "timely:work-<index>" (a single
    # worker runs in the calling thread, index 0); Python sees only "Dummy-<n>", the OS
    # thread name has the index.
    try:
        path = f"/proc/self/task/{threading.get_native_id()}/comm"
        with open(path, encoding="utf-8") as comm:
            found = _WORKER_THREAD.fullmatch(comm.read().strip())
    except OSError:
        return 0
    return int(found.group(1)) if found else 0


def worker_identity() -> str:
    """``host:pid/w<index>`` of the Bytewax worker running in the calling thread."""
    return f"{process_identity()}w{_worker_index()}"


def _same_name(partition: str) -> str:
    return partition


@dataclass(frozen=True)
class TaskTracking:
    """The tasks of ``flow`` of ``tenant`` in ``schema`` (migrated to 0008);
    ``task_id`` names a source partition's task. ``check_every`` / ``poll_every``
    (seconds) bound how often a partition reads its task's state / writes a poll."""

    database_url: str = field(repr=False)  # a secret: never in logs
    schema: str
    tenant: str
    flow: str
    task_id: Callable[[str], str] = _same_name
    check_every: float = 1.0
    poll_every: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.check_every <= self.poll_every:
            raise InvalidArgument(
                f"task tracking needs 0 < check_every <= poll_every, got"
                f" check_every={self.check_every}, poll_every={self.poll_every}"
            )

    def connect(self) -> tuple[psycopg.Connection[Any], TaskStore]:
        """A :class:`TaskStore` on a new autocommit connection, which the caller closes."""
        try:
            conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as error:
            raise ServiceUnavailable(
                f"flow {self.flow!r}: cannot reach PostgreSQL for its connector tasks: {error}"
            ) from error
        return conn, TaskStore(conn, self.schema, self.tenant)

    def partition(self, partition: str) -> PartitionTask:
        """Claim the task of ``partition`` for the calling worker (see the module)."""
        task = self.task_id(partition)
        worker = worker_identity()
        conn, store = self.connect()
        try:
            claimed = store.claim(self.flow, task, worker)
        except psycopg.OperationalError as error:
            conn.close()
            raise ServiceUnavailable(
                f"flow {self.flow!r}: cannot claim task {task!r}: {error}"
            ) from error
        except BaseException:
            conn.close()
            raise
        log.info("%s %s: %s by %s", self.flow, task, claimed.state.value, worker)
        return PartitionTask(self, conn, store, task, worker, claimed.state)


class PartitionTask:
    """One partition's task, as seen by the worker running it. :meth:`state` is the
    per-batch call: cached, it reaches the database only when a check or a poll is due.
    Not thread-safe: it belongs to the worker thread that built the partition."""

    def __init__(
        self,
        tracking: TaskTracking,
        conn: psycopg.Connection[Any],
        store: TaskStore,
        task: str,
        worker: str,
        state: TaskState,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tracking = tracking
        self.task = task
        self.worker = worker
        self._conn = conn
        self._store = store
        self._clock = clock
        self._state = state
        now = clock()
        # The claim recorded a poll. A RESTARTING task polls at the first batch, which
        # makes it RUNNING: it stays RESTARTING only until the partition really reads.
        restarting = state is TaskState.RESTARTING
        self._next_check = now if restarting else now + tracking.check_every
        self._next_poll = now if restarting else now + tracking.poll_every
        self._failures = 0
        self.checks = 0
        self.polls = 0

    @property
    def cached(self) -> TaskState:
        """The state last read, without asking anything."""
        return self._state

    def seconds_to_check(self) -> float:
        return max(self._next_check - self._clock(), 0.0)

    def state(self) -> TaskState:
        """The task's state, read from the database at most every ``check_every`` s;
        a poll is written (by the same statement) at most every ``poll_every`` s. An
        unreachable database keeps the last state and is retried with backoff (up to
        :data:`MAX_RETRY` s). A task that another worker has claimed since (a second run
        of the flow) or that was deleted reads as STOPPED: this partition ends."""
        now = self._clock()
        if now < self._next_check:
            return self._state
        self._next_check = now + self.tracking.check_every
        try:
            if now >= self._next_poll:
                self._next_poll = now + self.tracking.poll_every
                self.polls += 1
                self._state = self._store.heartbeat(self.tracking.flow, self.task, self.worker)
            else:
                self.checks += 1
                self._state = self._store.get(self.tracking.flow, self.task).state
            self._failures = 0
        except (TaskStateError, NotFound) as error:
            log.error("%s %s: %s; this partition stops", self.tracking.flow, self.task, error)
            self._state = TaskState.STOPPED
        except (psycopg.Error, OSError) as error:
            self._failures += 1
            pause = min(self.tracking.check_every * 2**self._failures, MAX_RETRY)
            self._next_check = now + pause
            log.warning(
                "%s %s: cannot reach the task table (%s); keeping state %s, retry in %.0f s",
                self.tracking.flow, self.task, error, self._state.value, pause,
            )  # fmt: skip
            self._reconnect()
        return self._state

    def _reconnect(self) -> None:
        self._conn.close()
        try:
            self._conn, self._store = self.tracking.connect()
        except ServiceUnavailable as error:
            log.warning("%s %s: %s", self.tracking.flow, self.task, error)

    def ended(self) -> None:
        """The wrapped source reached its end: the task becomes STOPPED (best effort)."""
        try:
            done = self._store.transition(self.tracking.flow, self.task, TaskState.STOPPED)
            self._state = done.state
        except Exception as error:  # bookkeeping must not fail the flow
            log.warning("%s %s: cannot mark STOPPED: %s", self.tracking.flow, self.task, error)

    def close(self) -> None:
        self._conn.close()


def _trackings(steps: Any) -> Iterator[TaskTracking]:
    for step in steps:
        tracking = getattr(getattr(step, "source", None), "tracking", None)
        if isinstance(tracking, TaskTracking):
            yield tracking
        yield from _trackings(getattr(step, "substeps", ()))


def flow_trackings(flow: Any) -> list[TaskTracking]:
    """The :class:`TaskTracking` of every tracked input of the Bytewax dataflow ``flow``."""
    return list(_trackings(getattr(flow, "substeps", ())))


def error_text(error: BaseException) -> str:
    """What a FAILED task keeps of ``error``: its root cause first (Bytewax wraps a
    step's exception in a RuntimeError naming the step), then the outer error's first
    line; at most :data:`ERROR_CHARS` characters."""
    chain = [error]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and nxt not in chain:
        chain.append(nxt)
    root = chain[-1]
    text = f"{type(root).__name__}: {root}"
    if root is not error:
        outer = str(error).strip().splitlines()
        text += f" (in {type(error).__name__}: {outer[0] if outer else ''})"
    return text[:ERROR_CHARS]


def finish_run(flow: Any, error: BaseException | None) -> None:
    """Close a run of the dataflow ``flow`` in this process (see the module and
    :meth:`~datanexus.connectors.tasks.TaskStore.finish`): FAILED with ``error``'s text
    when ``error`` is an exception other than an interrupt, else STOPPED. Best effort: a
    failure here is logged, never raised, so it cannot hide the run's own exception."""
    text = None
    if error is not None and not isinstance(error, KeyboardInterrupt | SystemExit):
        text = error_text(error)
    for tracking in flow_trackings(flow):
        try:
            conn, store = tracking.connect()
            try:
                changed = store.finish(tracking.flow, process_identity(), error=text)
            finally:
                conn.close()
        except Exception as problem:  # must not hide the run's outcome
            log.warning("%s: cannot record the end of the run: %s", tracking.flow, problem)
            continue
        for task in changed:
            log.info("%s %s: %s", tracking.flow, task.task, task.state.value)
