"""Compaction levels and their watermarks (STORE-6), shared by the rollup writer and
the compactor.

A level is a coarse granularity built from a finer ``source`` one (1 h from 1 m, 1 d
from 1 h); every bucket of the level ending at or before its ``watermark`` is closed and
materialised. The writer and the compactor agree through an advisory lock per schema:
writers hold it shared while they read the watermarks and write, the compactor holds it
exclusively while it advances them. So a writer either commits before the compactor
reads the fine rows (and its rows are merged) or sees the advanced watermark (and logs
an invalidation): no late row falls between the two.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["Level", "lock_key", "read_levels"]


@dataclass(frozen=True, slots=True)
class Level:
    """``granularity_ms`` built from ``source_ms`` rows; ``watermark_ms`` is None while
    nothing was compacted (the stored ``-infinity``)."""

    granularity_ms: int
    source_ms: int
    watermark_ms: int | None


def lock_key(schema: str) -> int:
    """The signed 64-bit advisory lock key guarding ``schema``'s watermarks."""
    digest = hashlib.sha256(f"datanexus.compaction:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def read_levels(cur: psycopg.Cursor[Any], schema: str, *, exclusive: bool = False) -> list[Level]:
    """Take the watermark lock (shared, or ``exclusive`` for the compactor) for the rest
    of the caller's transaction and return the levels, finest source first."""
    # The lock in its own statement: a READ COMMITTED statement reads with the snapshot
    # taken when it starts, so reading the watermarks in the statement that waits for the
    # lock could return the values from before the compactor committed.
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    cur.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(lock)), (lock_key(schema),))
    cur.execute(
        sql.SQL(
            "SELECT granularity_ms, source_granularity_ms,"
            " CASE WHEN watermark = '-infinity' THEN NULL"
            "  ELSE (extract(epoch FROM watermark) * 1000)::bigint END"
            " FROM {} ORDER BY source_granularity_ms"
        ).format(sql.Identifier(schema, "compaction_levels"))
    )
    return [Level(int(g), int(s), None if w is None else int(w)) for g, s, w in cur.fetchall()]
