"""Writing dead letters: input that could not be used, with the reason, never dropped.

An entry from a replayable source names its (source, partition, position, item); that
tuple is unique, so a replay adds nothing. Entries without a position always insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from datanexus.store.progress import Progress, record_progress

__all__ = ["DeadLetter", "insert_dead_letters", "write_dead_letters"]

MAX_ERROR_CHARS = 2000


class DeadLetter(NamedTuple):
    """``stage`` is where it failed (``decode``, ``validate``, ``window``...), ``reason`` a
    short machine-readable code (``invalid_json``, ``late``), ``error`` the message,
    ``payload`` the input as received. ``item`` tells apart several entries of one
    message (an NDJSON body)."""

    source: str
    partition: str | None
    position: str | None
    stage: str
    reason: str
    error: str
    payload: bytes
    tenant: str | None = None
    item: int = 0


def insert_dead_letters(
    cur: psycopg.Cursor[Any], schema: str, letters: Sequence[DeadLetter]
) -> int:
    """The insert alone, inside the caller's transaction; returns new entries."""
    if not letters:
        return 0
    cur.executemany(
        sql.SQL(
            "INSERT INTO {} (tenant_id, source, partition, position, item, stage,"
            " reason, error, payload) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (source, partition, position, item) DO NOTHING"
        ).format(sql.Identifier(schema, "dead_letters")),
        [
            (
                d.tenant,
                d.source,
                d.partition,
                d.position,
                d.item,
                d.stage,
                d.reason,
                # PostgreSQL text cannot hold NUL; the payload (bytea) keeps the original.
                d.error[:MAX_ERROR_CHARS].replace("\x00", "\\x00"),
                d.payload,
            )
            for d in letters
        ],
    )
    return max(cur.rowcount, 0)


def write_dead_letters(
    conn: psycopg.Connection[Any],
    schema: str,
    letters: Sequence[DeadLetter],
    progress: Progress | None = None,
) -> int:
    """Store ``letters`` (and ``progress``) in one transaction; returns the number of new
    entries (replayed ones are skipped)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO on")
        written = insert_dead_letters(cur, schema, letters)
        if progress is not None:
            record_progress(cur, schema, progress)
    return written
