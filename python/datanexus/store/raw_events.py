"""Writing raw events: binary COPY into staging, insert ignoring (tenant, stream, id)
conflicts (STORE-3), progress row in the same transaction (CONN-5).

A replayed batch inserts nothing; the returned count is the rows really written, so a
caller can meter only new events. Crash semantics as in :mod:`datanexus.store.rollups`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from datanexus.store.progress import Progress, record_progress
from datanexus.store.staging import copy_into_staging

__all__ = ["RawEvent", "insert_raw_events", "write_raw_events"]


class RawEvent(NamedTuple):
    """An accepted event. ``id`` is its idempotency key (the event's id, else a content
    hash); ``payload`` is the event as JSON text; ``ts_ms`` is epoch ms."""

    tenant: str
    stream: str
    id: str
    ts_ms: int
    payload: str
    seq: int | None = None


_COLUMNS = (
    ("tenant_id", "text"),
    ("stream", "text"),
    ("id", "text"),
    ("ts_ms", "int8"),
    ("payload", "text"),
    ("seq", "int8"),
)
_STAGE = "_dn_stage_raw_events"


def insert_raw_events(cur: psycopg.Cursor[Any], schema: str, events: Sequence[RawEvent]) -> int:
    """The insert alone, inside the caller's transaction; returns rows inserted."""
    if not events:
        return 0
    copy_into_staging(cur, _STAGE, _COLUMNS, events)
    cur.execute(
        sql.SQL(
            "INSERT INTO {t} (tenant_id, stream, id, ts, seq, payload)"
            " SELECT tenant_id, stream, id,"
            "  timestamptz 'epoch' + ts_ms * interval '1 millisecond', seq, payload::jsonb"
            " FROM {s} ON CONFLICT (tenant_id, stream, ts, id) DO NOTHING"
        ).format(t=sql.Identifier(schema, "raw_events"), s=sql.Identifier(_STAGE))
    )
    return max(cur.rowcount, 0)


def write_raw_events(
    conn: psycopg.Connection[Any],
    schema: str,
    events: Sequence[RawEvent],
    progress: Progress | None = None,
) -> int:
    """Store ``events`` not stored yet (and ``progress``) in one transaction; returns the
    number inserted. Invalid JSON in a payload fails the whole call (``psycopg.Error``,
    rolled back): validate before writing and dead-letter what fails."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO on")
        written = insert_raw_events(cur, schema, events)
        if progress is not None:
            record_progress(cur, schema, progress)
    return written
