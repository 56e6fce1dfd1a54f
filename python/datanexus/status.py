"""``datanexus status``: what each pipeline has done, read from the store and Redis.

Per pipeline of the tenant: its catalog version, the newest minute rollup (the event-time
progress the store has seen), the input lag (entries of its Redis stream after the
position the flow durably wrote; capped at :data:`LAG_CAP` so status stays cheap), and the
dead letters by reason; then the tenant's connector tasks (CONN-8) with their state,
worker and health, when it has any. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from psycopg import sql
from rich.console import Group, RenderableType
from rich.table import Table

from datanexus.config import Settings
from datanexus.connectors.tasks import Task, TaskStore
from datanexus.store.catalog import list_pipelines
from datanexus.store.embedded import Services
from datanexus.store.migrations import check_schema_name
from datanexus.store.progress import redis_entry_id

__all__ = [
    "LAG_CAP",
    "PipelineStatus",
    "collect_status",
    "status_rows",
    "task_rows",
    "task_table",
]

LAG_CAP = 100_000


@dataclass
class PipelineStatus:
    name: str
    version: int
    stream: str
    newest_window: datetime | None = None
    rollup_rows: int = 0
    lag: int | None = None
    dead_letters: dict[str, int] = field(default_factory=dict)


def _lag(client: redis.Redis, key: str, position: int | None) -> int:
    start = "-" if position is None else "(" + redis_entry_id(position)
    return len(client.xrange(key, min=start, max="+", count=LAG_CAP) or [])


def status_rows(
    conn: psycopg.Connection[Any], client: redis.Redis, schema: str, tenant: str
) -> list[PipelineStatus]:
    """The status of every pipeline of ``tenant``."""
    s = check_schema_name(schema)
    out: list[PipelineStatus] = []
    for entry in list_pipelines(conn, s, tenant):
        key = f"dn:{tenant}:{entry.name}"
        status = PipelineStatus(entry.name, entry.version, key)
        row = conn.execute(
            sql.SQL(
                "SELECT max(window_start), count(*) FROM {t}"
                " WHERE tenant_id = %s AND pipeline = %s AND granularity_ms = 60000"
            ).format(t=sql.Identifier(s, "rollups")),
            (tenant, entry.name),
        ).fetchone()
        if row is not None:
            status.newest_window, status.rollup_rows = row[0], int(row[1])
        position = conn.execute(
            sql.SQL("SELECT max(position) FROM {t} WHERE flow = %s AND partition LIKE %s").format(
                t=sql.Identifier(s, "progress")
            ),
            (f"pipeline_{entry.name}", f"redis-stream/{key}%"),
        ).fetchone()
        pos = None if position is None or position[0] is None else int(position[0])
        try:
            status.lag = _lag(client, key, pos)
        except redis.RedisError:
            status.lag = None
        for reason, n in conn.execute(
            sql.SQL(
                "SELECT reason, count(*) FROM {t} WHERE tenant_id = %s"
                " AND (source = %s OR (source = 'redis-stream' AND partition = %s))"
                " GROUP BY reason ORDER BY reason"
            ).format(t=sql.Identifier(s, "dead_letters")),
            (tenant, f"pipeline:{entry.name}", key),
        ).fetchall():
            status.dead_letters[str(reason)] = int(n)
        out.append(status)
    return out


def task_rows(conn: psycopg.Connection[Any], schema: str, tenant: str) -> list[Task]:
    """The connector tasks of ``tenant``; none when the schema predates them (0008)."""
    s = check_schema_name(schema)
    found = conn.execute("SELECT to_regclass(%s)", (f'"{s}".connector_tasks',)).fetchone()
    if found is None or found[0] is None:
        return []
    return TaskStore(conn, s, tenant).list_tasks()


def task_table(tasks: list[Task], now: datetime) -> Table:
    """One row per task: state, worker, health at ``now``, last poll and error."""
    table = Table(title="connector tasks")
    for column in ("flow", "task", "state", "worker", "health", "last poll", "error"):
        table.add_column(column)
    for t in tasks:
        health = "[green]healthy[/]" if t.healthy(now) else "[red]unhealthy[/]"
        poll = t.last_poll.isoformat() if t.last_poll else "—"
        table.add_row(t.flow, t.task, t.state.value, t.worker or "—", health, poll, t.error or "")
    return table


def collect_status(settings: Settings, services: Services) -> RenderableType:
    """A table of :func:`status_rows` for the settings' tenant, followed by the
    :func:`task_table` when the tenant has connector tasks."""
    table = Table(title=f"pipelines of tenant {settings.tenant!r}")
    for column in ("pipeline", "version", "stream", "newest minute", "rows", "lag", "dead"):
        table.add_column(column)
    client = redis.Redis.from_url(services.redis_url)
    try:
        with psycopg.connect(services.database_url) as conn:
            rows = status_rows(conn, client, settings.schema, settings.tenant)
            # Last: the task store scopes its transaction to the tenant.
            tasks = task_rows(conn, settings.schema, settings.tenant)
    finally:
        client.close()
    for st in rows:
        dead = ", ".join(f"{r}: {n}" for r, n in st.dead_letters.items()) or "0"
        lag = "?" if st.lag is None else (f"≥{LAG_CAP}" if st.lag >= LAG_CAP else str(st.lag))
        newest = st.newest_window.isoformat() if st.newest_window else "—"
        table.add_row(st.name, str(st.version), st.stream, newest, str(st.rollup_rows), lag, dead)
    if tasks:
        return Group(table, task_table(tasks, datetime.now(UTC)))
    return table
