"""One transaction for everything a step of a flow produced: rollups, raw events, dead
letters and the progress rows that cover them (CONN-5).

Crash semantics: all of it commits (synchronous commit) or none of it does, so a source
position recorded here is never ahead of the rows it covers, and replaying the same input
after a crash changes nothing (every table has an idempotent natural key).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from datanexus.store.dead_letters import DeadLetter, insert_dead_letters
from datanexus.store.progress import Progress, record_progress
from datanexus.store.raw_events import RawEvent, insert_raw_events
from datanexus.store.rollups import RollupRow, upsert_rollups

__all__ = ["StoreBatch", "Written", "latest_progress", "write_batch"]


@dataclass(slots=True)
class StoreBatch:
    """What to write together; empty lists are fine (an empty batch writes nothing)."""

    rollups: list[RollupRow] = field(default_factory=list)
    raw_events: list[RawEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Written:
    """Rows really written (replayed ones do not count)."""

    rollups: int = 0
    raw_events: int = 0
    dead_letters: int = 0

    @property
    def total(self) -> int:
        return self.rollups + self.raw_events + self.dead_letters


def latest_progress(progress: Iterable[Progress]) -> list[Progress]:
    """The largest position per (flow, partition), in first-seen order."""
    best: dict[tuple[str, str], Progress] = {}
    for p in progress:
        key = (p.flow, p.partition)
        if key not in best or p.position > best[key].position:
            best[key] = p
    return list(best.values())


def write_batch(conn: psycopg.Connection[Any], schema: str, batch: StoreBatch) -> Written:
    """Write ``batch`` in one transaction. ``psycopg.Error`` propagates with everything
    rolled back; the connection stays usable unless the server went away."""
    progress: Sequence[Progress] = latest_progress(batch.progress)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO on")
        written = Written(
            rollups=upsert_rollups(cur, schema, batch.rollups),
            raw_events=insert_raw_events(cur, schema, batch.raw_events),
            dead_letters=insert_dead_letters(cur, schema, batch.dead_letters),
        )
        for p in progress:
            record_progress(cur, schema, p)
    return written
