"""Time partitions of the rollup and raw-event tables (STORE-1, STORE-2).

Names and ranges are fixed by migration 0002: ``rollups_pYYYYMM`` holds one UTC month of
``window_start``, ``raw_events_pYYYYMMDD`` one UTC day of ``ts``, and ``<table>_default``
catches rows that no partition covers, so a writer never fails for a missing partition.
Rows in a default partition are an alarm: :func:`ensure_partitions` logs them, creates
the partitions of their periods and moves them there, in one transaction.

Maintenance keeps the current period and ``ahead`` (4) future ones, is idempotent (an
existing partition is left alone), and after downtime starts at max(now − retention, end
of the newest partition): it never recreates periods retention has dropped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument

__all__ = [
    "RAW_EVENTS",
    "ROLLUPS",
    "Maintenance",
    "Partition",
    "PartitionScheme",
    "default_rows",
    "ensure_all",
    "ensure_partitions",
    "list_partitions",
]

log = logging.getLogger(__name__)

Period = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class PartitionScheme:
    """How ``table`` is partitioned: by ``column``, one partition per UTC ``period``."""

    table: str
    column: str
    period: Period

    @property
    def default(self) -> str:
        return f"{self.table}_default"

    def floor(self, t: datetime) -> datetime:
        """The start of the period containing ``t`` (aware, any zone) in UTC."""
        if t.tzinfo is None:
            raise InvalidArgument(f"{self.table}: naive datetime {t!r}; pass an aware one")
        t = t.astimezone(UTC)
        if self.period == "day":
            return t.replace(hour=0, minute=0, second=0, microsecond=0)
        return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def next(self, start: datetime) -> datetime:
        """The start of the period after the one starting at ``start``."""
        if self.period == "day":
            return start + timedelta(days=1)
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)

    def name(self, start: datetime) -> str:
        stamp = start.strftime("%Y%m%d" if self.period == "day" else "%Y%m")
        return f"{self.table}_p{stamp}"

    def parse(self, name: str) -> datetime | None:
        """The period start a partition name stands for, or None for other names."""
        digits = 8 if self.period == "day" else 6
        match = re.fullmatch(rf"{re.escape(self.table)}_p(\d{{{digits}}})", name)
        if match is None:
            return None
        fmt = "%Y%m%d" if self.period == "day" else "%Y%m"
        return datetime.strptime(match[1], fmt).replace(tzinfo=UTC)

    def periods(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Starts of the periods overlapping [lo, hi) ([] when the range is empty)."""
        out: list[datetime] = []
        if lo >= hi:
            return out
        start = self.floor(lo)
        while start < hi:
            out.append(start)
            start = self.next(start)
        return out


ROLLUPS = PartitionScheme("rollups", "window_start", "month")
RAW_EVENTS = PartitionScheme("raw_events", "ts", "day")


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: datetime
    end: datetime


@dataclass(slots=True)
class Maintenance:
    """What one :func:`ensure_partitions` call did."""

    created: list[str] = field(default_factory=list)
    moved: int = 0
    """Rows moved out of the default partition."""
    default_rows: int = 0
    """Rows still in the default partition afterwards (non-finite times): an alarm."""


def _lock_key(schema: str, table: str) -> int:
    digest = hashlib.sha256(f"datanexus.partitions:{schema}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def list_partitions(
    conn: psycopg.Connection[Any], schema: str, scheme: PartitionScheme
) -> list[Partition]:
    """The period partitions of ``scheme.table`` in ``schema``, oldest first (the default
    and any partition not named by this module are left out)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s)",
        (f'"{schema}"."{scheme.table}"',),
    ).fetchall()
    found = []
    for (name,) in rows:
        start = scheme.parse(str(name))
        if start is not None:
            found.append(Partition(str(name), start, scheme.next(start)))
    return sorted(found, key=lambda p: p.start)


def default_rows(conn: psycopg.Connection[Any], schema: str, scheme: PartitionScheme) -> int:
    """Rows in the default partition; more than 0 logs a warning (the STORE-2 alarm)."""
    found = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, scheme.default))
    ).fetchone()
    count = int(found[0]) if found else 0
    if count:
        log.warning(
            "%d rows in the default partition %s.%s: no partition covers their %s",
            count,
            schema,
            scheme.default,
            scheme.column,
        )
    return count


def _create(cur: psycopg.Cursor[Any], schema: str, scheme: PartitionScheme, start: datetime) -> int:
    """Create the partition of the period at ``start``, moving the default partition's
    rows of that period into it first (PostgreSQL refuses to attach a range the default
    holds rows of). Returns the rows moved."""
    end = scheme.next(start)
    name = scheme.name(start)
    parent = sql.Identifier(schema, scheme.table)
    target = sql.Identifier(schema, name)
    default = sql.Identifier(schema, scheme.default)
    column = sql.Identifier(scheme.column)
    cur.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(
            default, column, column
        ),
        (start, end),
    )
    found = cur.fetchone()
    waiting = int(found[0]) if found else 0
    if not waiting:
        cur.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                target, parent, sql.Literal(start), sql.Literal(end)
            )
        )
        return 0
    # A standalone table of the same shape gets the rows, then is attached; ATTACH builds
    # its indexes and checks the default no longer holds rows of the range.
    cur.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
            target, parent
        )
    )
    cur.execute(
        sql.SQL(
            "WITH moved AS (DELETE FROM {} WHERE {} >= %s AND {} < %s RETURNING *)"
            " INSERT INTO {} SELECT * FROM moved"
        ).format(default, column, column, target),
        (start, end),
    )
    moved = max(cur.rowcount, 0)
    cur.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
            parent, target, sql.Literal(start), sql.Literal(end)
        )
    )
    log.info("moved %d rows from %s.%s into %s", moved, schema, scheme.default, name)
    return moved


def ensure_partitions(
    conn: psycopg.Connection[Any],
    schema: str,
    scheme: PartitionScheme,
    now: datetime,
    *,
    ahead: int = 4,
    retention: timedelta | None = None,
    cover: tuple[datetime, datetime] | None = None,
) -> Maintenance:
    """Make sure ``scheme.table`` has partitions from max(now − ``retention``, end of
    the newest partition) through the current period and ``ahead`` more, plus the
    periods overlapping ``cover`` (a backfill range) and those of any rows waiting in
    the default partition (moved into them). One transaction under an advisory lock per
    table, so concurrent or repeated runs create each partition once. Without
    ``retention`` and without partitions it starts at the current period.
    """
    if ahead < 0:
        raise InvalidArgument(f"ahead must be >= 0, got {ahead}")
    report = Maintenance()
    current = scheme.floor(now)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema, scheme.table),))
        existing = {p.start for p in list_partitions(conn, schema, scheme)}
        starts = [current] if retention is None else [scheme.floor(now - retention)]
        if existing:
            starts.append(scheme.next(max(existing)))
        lo = max(starts)
        hi = current
        for _ in range(ahead + 1):
            hi = scheme.next(hi)
        wanted = set(scheme.periods(lo, hi)) if lo < hi else set()
        if cover is not None:
            wanted.update(scheme.periods(cover[0], cover[1]))
        # Periods of rows waiting in the default; infinities cannot get a partition.
        cur.execute(
            sql.SQL(
                "SELECT DISTINCT date_trunc({p}, {c} AT TIME ZONE 'UTC') FROM {d}"
                " WHERE isfinite({c})"
            ).format(
                p=sql.Literal(scheme.period),
                c=sql.Identifier(scheme.column),
                d=sql.Identifier(schema, scheme.default),
            )
        )
        wanted.update(t.replace(tzinfo=UTC) for (t,) in cur.fetchall())
        for start in sorted(wanted - existing):
            report.moved += _create(cur, schema, scheme, start)
            report.created.append(scheme.name(start))
    if report.created:
        log.info("created partitions %s in schema %s", ", ".join(report.created), schema)
    with conn.transaction():
        report.default_rows = default_rows(conn, schema, scheme)
    return report


def ensure_all(
    conn: psycopg.Connection[Any],
    schema: str,
    now: datetime,
    *,
    ahead: int = 4,
    raw_days: int = 90,
    rollup_days: int = 400,
) -> dict[str, Maintenance]:
    """:func:`ensure_partitions` for the raw-event and rollup tables with their
    retentions (the defaults of :func:`datanexus.store.retention.retain`): what a
    scheduler runs at start and then hourly."""
    return {
        scheme.table: ensure_partitions(
            conn, schema, scheme, now, ahead=ahead, retention=timedelta(days=days)
        )
        for scheme, days in ((RAW_EVENTS, raw_days), (ROLLUPS, rollup_days))
    }
