"""Writing dead letters: input that could not be used, with the reason, never dropped.

Every entry carries its connector (``source``), ``partition``, offset (``position``),
``stage``, ``reason``, ``error`` and the payload (CONN-7). An entry from a replayable
source names its (source, partition, position, item); that tuple is unique, so a replay
adds nothing. Entries without a position always insert.

Secrets never reach the table: the payload is stored through
:func:`datanexus.redaction.redact_payload` (values under secret-like keys and textual
secrets masked; a body that is not JSON or not UTF-8 is still stored, with what can be
recognised in its text masked) and the error through
:func:`datanexus.redaction.redact_text`. The redaction is idempotent, so a replay
stores the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from datanexus.redaction import redact_payload, redact_text
from datanexus.store.progress import Progress, record_progress

__all__ = ["DeadLetter", "insert_dead_letters", "write_dead_letters"]

MAX_ERROR_CHARS = 2000


class DeadLetter(NamedTuple):
    """``stage`` is where it failed (``decode``, ``validate``, ``window``...), ``reason`` a
    short machine-readable code (``invalid_json``, ``late``), ``error`` the message,
    ``payload`` the input as received (redacted when stored). ``item`` tells apart
    several entries of one message (an NDJSON body)."""

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
                # PostgreSQL text cannot hold NUL; the payload (bytea) keeps the bytes.
                redact_text(d.error[:MAX_ERROR_CHARS]).replace("\x00", "\\x00"),
                redact_payload(d.payload),
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
