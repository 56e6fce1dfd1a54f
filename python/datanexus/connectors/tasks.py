"""Connector tasks (CONN-8): the unit of work of a flow's source, with a lifecycle, a
worker, health and operator-controlled offsets, stored in PostgreSQL.

A task is named by (flow, task) within a tenant; its ``task`` id is the source
partition whose progress row (:mod:`datanexus.store.progress`, ``(flow, partition)``) it
owns. States, transitions and the health rule are in
:mod:`datanexus.connectors.task_states` (re-exported here).

:meth:`TaskStore.assign` spreads a tenant's tasks over workers with the partition
assignment of :func:`datanexus.connectors.ownership.assign` (balanced, deterministic). A
task that gets a worker while UNASSIGNED becomes RUNNING; a RUNNING or RESTARTING task
left without one becomes UNASSIGNED; PAUSED, STOPPED and FAILED keep the operator's
decision. A task whose worker changes forgets its last poll.

Health (:func:`is_healthy`): RUNNING and polled at most :data:`HEALTHY_WITHIN` (30 s)
ago by the clock the store was given (a poll "in the future", from clock skew, counts
as recent). Offsets (:meth:`TaskStore.alter_offset`, :meth:`TaskStore.reset_offset`)
change only while the task is STOPPED, so no running reader races the change; the task
row is locked for the change. A reset deletes the progress row (the partition starts
over); an alter sets it, backwards too.

A running flow drives its own tasks (:mod:`datanexus.stream.task_tracking`): the worker
that builds a source partition claims its task (:meth:`TaskStore.claim`), reports polls
while it reads (:meth:`TaskStore.heartbeat`), and the run ends them
(:meth:`TaskStore.finish`: STOPPED at a normal end, FAILED with the error otherwise).

Every operation runs in one transaction scoped to the tenant
(:func:`datanexus.store.tenancy.tenant_scope`), so row-level security applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from datanexus.connectors.ownership import assign, owner_of
from datanexus.connectors.task_states import (
    ALLOWED,
    CLAIMED,
    FAILED_FROM,
    FINISHED_FROM,
    HEALTHY_WITHIN,
    Task,
    TaskState,
    check_transition,
    is_healthy,
    parse_state,
)
from datanexus.errors import InvalidArgument, NotFound, TaskStateError
from datanexus.store.migrations import check_schema_name
from datanexus.store.progress import Progress, delete_progress, set_progress
from datanexus.store.tenancy import tenant_scope

__all__ = [
    "ALLOWED",
    "HEALTHY_WITHIN",
    "Task",
    "TaskState",
    "TaskStore",
    "check_transition",
    "is_healthy",
]

_COLUMNS = "flow, task, state, worker, last_poll, error, updated_at"


def _task(row: Sequence[Any]) -> Task:
    return Task(str(row[0]), str(row[1]), TaskState(row[2]), row[3], row[4], row[5], row[6])


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidArgument(f"{what} must be a non-empty string without NUL, got {value!r}")
    return value


class TaskStore:
    """The tasks of ``tenant`` in ``schema`` (migrated to 0008). ``clock`` stamps polls
    and judges health (inject one in tests). Unknown tasks raise :class:`NotFound`."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        schema: str,
        tenant: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._conn = conn
        self._schema = check_schema_name(schema)
        self._tenant = _name(tenant, "tenant")
        self._clock = clock
        self._table = sql.Identifier(self._schema, "connector_tasks")

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(t=self._table)

    def create(self, flow: str, tasks: Sequence[str]) -> list[Task]:
        """Register ``tasks`` of ``flow`` (UNASSIGNED); existing ones are left as they are."""
        _name(flow, "flow")
        with tenant_scope(self._conn, self._tenant) as conn, conn.cursor() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {t} (tenant_id, flow, task) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING"
                ),
                [(self._tenant, flow, _name(task, "task")) for task in tasks],
            )
        return [self.get(flow, task) for task in tasks]

    def _locked(self, conn: psycopg.Connection[Any], flow: str, task: str) -> Task:
        row = conn.execute(
            self._q(
                f"SELECT {_COLUMNS} FROM {{t}} WHERE tenant_id = %s AND flow = %s AND task = %s"
                " FOR UPDATE"
            ),
            (self._tenant, flow, task),
        ).fetchone()
        if row is None:
            raise NotFound(f"no task {task!r} of flow {flow!r} for tenant {self._tenant!r}")
        return _task(row)

    def get(self, flow: str, task: str) -> Task:
        with tenant_scope(self._conn, self._tenant) as conn:
            return self._locked(conn, flow, task)

    def list_tasks(self, flow: str | None = None) -> list[Task]:
        """The tenant's tasks (of ``flow`` if given), by flow and task."""
        with tenant_scope(self._conn, self._tenant) as conn:
            rows = conn.execute(
                self._q(
                    f"SELECT {_COLUMNS} FROM {{t}} WHERE tenant_id = %s"
                    " AND (%s::text IS NULL OR flow = %s) ORDER BY flow, task"
                ),
                (self._tenant, flow, flow),
            ).fetchall()
        return [_task(r) for r in rows]

    def transition(
        self, flow: str, task: str, target: TaskState | str, *, error: str | None = None
    ) -> Task:
        """Move the task to ``target`` (checked); ``error`` is kept with FAILED and
        required for it, cleared by any other state."""
        dst = parse_state(target)
        if dst is TaskState.FAILED and not error:
            raise InvalidArgument(f"task {task!r} of flow {flow!r}: FAILED needs an error")
        with tenant_scope(self._conn, self._tenant) as conn:
            current = self._locked(conn, flow, task)
            check_transition(current.state, dst)
            row = conn.execute(
                self._q(
                    "UPDATE {t} SET state = %s, error = %s, updated_at = now()"
                    f" WHERE tenant_id = %s AND flow = %s AND task = %s RETURNING {_COLUMNS}"
                ),
                (dst.value, error if dst is TaskState.FAILED else None, self._tenant, flow, task),
            ).fetchone()
        assert row is not None  # locked above
        return _task(row)

    def pause(self, flow: str, task: str) -> Task:
        return self.transition(flow, task, TaskState.PAUSED)

    def stop(self, flow: str, task: str) -> Task:
        return self.transition(flow, task, TaskState.STOPPED)

    def resume(self, flow: str, task: str) -> Task:
        """RUNNING if the task has a worker, else UNASSIGNED (it runs once assigned)."""
        current = self.get(flow, task)
        target = TaskState.RUNNING if current.worker else TaskState.UNASSIGNED
        return self.transition(flow, task, target)

    def poll(self, flow: str, task: str, worker: str) -> Task:
        """Record that ``worker`` polled the task now (by the clock). Only its assigned
        worker may: a stale one gets :class:`TaskStateError` (it no longer owns it)."""
        now = self._clock()
        with tenant_scope(self._conn, self._tenant) as conn:
            current = self._locked(conn, flow, task)
            if current.worker != worker:
                raise TaskStateError(
                    f"task {task!r} of flow {flow!r} is assigned to {current.worker!r},"
                    f" not {worker!r}"
                )
            row = conn.execute(
                self._q(
                    "UPDATE {t} SET last_poll = %s WHERE tenant_id = %s AND flow = %s"
                    f" AND task = %s RETURNING {_COLUMNS}"
                ),
                (now, self._tenant, flow, task),
            ).fetchone()
        assert row is not None
        return _task(row)

    def health(self, flow: str, task: str) -> bool:
        return is_healthy(self.get(flow, task), self._clock())

    def assign(self, workers: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """Spread all the tenant's tasks over ``workers`` (see the module docstring);
        returns worker → its (flow, task) pairs."""
        with tenant_scope(self._conn, self._tenant) as conn:
            rows = conn.execute(
                self._q(
                    f"SELECT {_COLUMNS} FROM {{t}} WHERE tenant_id = %s"
                    " ORDER BY flow, task FOR UPDATE"
                ),
                (self._tenant,),
            ).fetchall()
            tasks = {(t.flow, t.task): t for t in map(_task, rows)}
            # A task key as one name for the partition assignment; NUL never occurs in
            # flow or task names, so the key is unambiguous.
            keys = {f"{flow}\x00{task}": (flow, task) for flow, task in tasks}
            owners = owner_of(assign(keys, workers))
            for key, (flow, task) in keys.items():
                current = tasks[(flow, task)]
                worker = owners.get(key)
                state = current.state
                if worker is not None and state is TaskState.UNASSIGNED:
                    state = TaskState.RUNNING
                elif worker is None and state in (TaskState.RUNNING, TaskState.RESTARTING):
                    state = TaskState.UNASSIGNED
                check_transition(current.state, state)
                if worker == current.worker and state is current.state:
                    continue
                conn.execute(
                    self._q(
                        "UPDATE {t} SET worker = %s, state = %s, updated_at = now(),"
                        " last_poll = CASE WHEN worker IS NOT DISTINCT FROM %s"
                        " THEN last_poll END"
                        " WHERE tenant_id = %s AND flow = %s AND task = %s"
                    ),
                    (worker, state.value, worker, self._tenant, flow, task),
                )
        out: dict[str, list[tuple[str, str]]] = {w: [] for w in workers}
        for key, worker in owners.items():
            out[worker].append(keys[key])
        return out

    def claim(self, flow: str, task: str, worker: str) -> Task:
        """``worker`` starts running the task (it built its source partition): the task is
        created if missing, gets ``worker`` and a poll, and moves by :data:`ALLOWED`:
        UNASSIGNED and STOPPED (a run that ended, or an operator's stop) → RUNNING;
        RUNNING, FAILED and RESTARTING (a run that died or failed) → RESTARTING, which
        the first :meth:`heartbeat` turns RUNNING (the error of a failure stays visible
        until then); PAUSED stays PAUSED (the operator's decision outlives runs)."""
        _name(flow, "flow")
        _name(task, "task")
        _name(worker, "worker")
        now = self._clock()
        with tenant_scope(self._conn, self._tenant) as conn:
            conn.execute(
                self._q(
                    "INSERT INTO {t} (tenant_id, flow, task) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING"
                ),
                (self._tenant, flow, task),
            )
            current = self._locked(conn, flow, task)
            target = CLAIMED[current.state]
            check_transition(current.state, target)
            keep_error = target is TaskState.RESTARTING
            row = conn.execute(
                self._q(
                    "UPDATE {t} SET state = %s, worker = %s, last_poll = %s, updated_at = now(),"
                    " error = CASE WHEN %s THEN error END"
                    f" WHERE tenant_id = %s AND flow = %s AND task = %s RETURNING {_COLUMNS}"
                ),
                (target.value, worker, now, keep_error, self._tenant, flow, task),
            ).fetchone()
        assert row is not None  # locked above
        return _task(row)

    def heartbeat(self, flow: str, task: str, worker: str) -> TaskState:
        """Record a poll by ``worker`` (one statement) and return the task's state, which
        the operator may have changed; RESTARTING becomes RUNNING. A task claimed by
        another worker since raises :class:`TaskStateError`; a missing one
        :class:`NotFound`."""
        now = self._clock()
        with tenant_scope(self._conn, self._tenant) as conn:
            row = conn.execute(
                self._q(
                    "UPDATE {t} SET last_poll = %s,"
                    " updated_at = CASE WHEN state = 'RESTARTING' THEN now() ELSE updated_at END,"
                    " error = CASE WHEN state = 'RESTARTING' THEN NULL ELSE error END,"
                    " state = CASE WHEN state = 'RESTARTING' THEN 'RUNNING' ELSE state END"
                    " WHERE tenant_id = %s AND flow = %s AND task = %s AND worker = %s"
                    " RETURNING state"
                ),
                (now, self._tenant, flow, task, worker),
            ).fetchone()
        if row is None:
            current = self.get(flow, task)  # NotFound when missing
            raise TaskStateError(
                f"task {task!r} of flow {flow!r} is assigned to {current.worker!r}, not {worker!r}"
            )
        return TaskState(row[0])

    def finish(self, flow: str, worker_prefix: str, *, error: str | None = None) -> list[Task]:
        """End a run of ``flow`` by the workers whose identity starts with
        ``worker_prefix`` (the run's process). Normal end (no ``error``): its RUNNING and
        RESTARTING tasks become STOPPED. Failure: its RUNNING, RESTARTING and STOPPED
        tasks become FAILED with ``error`` (a partition that reached its end before the
        run failed has not had its last events committed). PAUSED tasks are left as they
        are: the pause outlives the run. Returns the changed tasks."""
        _name(flow, "flow")
        _name(worker_prefix, "worker_prefix")
        target = TaskState.FAILED if error else TaskState.STOPPED
        sources = FAILED_FROM if error else FINISHED_FROM
        for source in sources:
            check_transition(source, target)
        like = worker_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with tenant_scope(self._conn, self._tenant) as conn:
            rows = conn.execute(
                self._q(
                    "UPDATE {t} SET state = %s, error = %s, updated_at = now()"
                    " WHERE tenant_id = %s AND flow = %s AND worker LIKE %s"
                    f" AND state = ANY(%s) RETURNING {_COLUMNS}"
                ),
                (target.value, error, self._tenant, flow, like + "%", [s.value for s in sources]),
            ).fetchall()
        return sorted(map(_task, rows), key=lambda t: t.task)

    def _offset(self, flow: str, task: str, change: Callable[[psycopg.Cursor[Any]], None]) -> None:
        with tenant_scope(self._conn, self._tenant) as conn:
            current = self._locked(conn, flow, task)
            if current.state is not TaskState.STOPPED:
                raise TaskStateError(
                    f"task {task!r} of flow {flow!r} is {current.state.value}: offsets"
                    " change only while STOPPED (stop it first)"
                )
            with conn.cursor() as cur:
                change(cur)

    def alter_offset(self, flow: str, task: str, position: int) -> None:
        """Set the task's progress position (forwards or backwards); STOPPED only."""
        progress = Progress(flow, task, position)  # validates position
        self._offset(flow, task, lambda cur: set_progress(cur, self._schema, progress))

    def reset_offset(self, flow: str, task: str) -> None:
        """Delete the task's progress position (it starts over); STOPPED only."""

        def reset(cur: psycopg.Cursor[Any]) -> None:
            delete_progress(cur, self._schema, flow, task)

        self._offset(flow, task, reset)
