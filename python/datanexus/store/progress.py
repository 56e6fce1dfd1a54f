"""Progress rows: how far each (flow, partition) has durably written (CONN-5).

A writer records its progress in the same transaction as the rows it covers, so after a
crash the stored position and the stored rows always agree. Positions only move forward:
recording an older one (a replay) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument, InvalidType

__all__ = [
    "Progress",
    "delete_progress",
    "read_progress",
    "record_progress",
    "redis_id_position",
    "set_progress",
]

_REDIS_SEQ_BITS = 64


@dataclass(frozen=True, slots=True)
class Progress:
    """``position`` reached by ``partition`` of ``flow``: a non-negative int (a stream
    offset, a window end in epoch ms, a Redis entry id through :func:`redis_id_position`)."""

    flow: str
    partition: str
    position: int

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int):
            raise InvalidType(f"position must be an int, got {type(self.position).__name__}")
        if self.position < 0:
            raise InvalidArgument(f"position must be >= 0, got {self.position}")


def redis_id_position(entry_id: str | bytes) -> int:
    """A Redis stream entry id ``ms-seq`` as one int that orders like the ids."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    try:
        return (int(ms) << _REDIS_SEQ_BITS) | int(seq or 0)
    except ValueError:
        raise InvalidArgument(f"not a Redis stream entry id: {text!r}") from None


def redis_entry_id(position: int) -> str:
    """The entry id ``ms-seq`` of a :func:`redis_id_position` (its inverse)."""
    return f"{position >> _REDIS_SEQ_BITS}-{position & ((1 << _REDIS_SEQ_BITS) - 1)}"


def record_progress(cur: psycopg.Cursor[Any], schema: str, progress: Progress) -> None:
    """Upsert ``progress`` inside the caller's transaction, keeping the larger position."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {t} AS p (flow, partition, position) VALUES (%s, %s, %s::numeric)"
            " ON CONFLICT (flow, partition) DO UPDATE"
            " SET position = excluded.position, updated_at = now()"
            " WHERE excluded.position > p.position"
        ).format(t=sql.Identifier(schema, "progress")),
        (progress.flow, progress.partition, str(progress.position)),
    )


def read_progress(conn: psycopg.Connection[Any], schema: str, flow: str) -> dict[str, int]:
    """Partition → position recorded for ``flow``."""
    rows = conn.execute(
        sql.SQL("SELECT partition, position FROM {} WHERE flow = %s").format(
            sql.Identifier(schema, "progress")
        ),
        (flow,),
    ).fetchall()
    return {str(partition): int(position) for partition, position in rows}


def set_progress(cur: psycopg.Cursor[Any], schema: str, progress: Progress) -> None:
    """Set ``progress`` inside the caller's transaction even when it moves backwards: an
    operator's offset change (CONN-8), never a writer's (writers use
    :func:`record_progress`)."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {t} (flow, partition, position) VALUES (%s, %s, %s::numeric)"
            " ON CONFLICT (flow, partition) DO UPDATE"
            " SET position = excluded.position, updated_at = now()"
        ).format(t=sql.Identifier(schema, "progress")),
        (progress.flow, progress.partition, str(progress.position)),
    )


def delete_progress(cur: psycopg.Cursor[Any], schema: str, flow: str, partition: str) -> bool:
    """Forget the position of (``flow``, ``partition``): the partition starts over from
    its beginning. True if there was one."""
    cur.execute(
        sql.SQL("DELETE FROM {t} WHERE flow = %s AND partition = %s").format(
            t=sql.Identifier(schema, "progress")
        ),
        (flow, partition),
    )
    return cur.rowcount > 0
