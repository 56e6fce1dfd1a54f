"""Retention (STORE-8): whole partitions detached and dropped, never rows deleted.

Raw events are kept ``raw_days`` (90) days: a day partition whose end is at or before
now − raw_days goes, but only once the rollups of that day are complete, that is, the
day level of compaction has closed it (its watermark is at or past the partition's end)
and no invalidation of the day level is pending for it. Until then it stays and a
warning says why: dropping raw data whose rollups might still change would lose it.

Rollups are kept ``rollup_days`` (default 400: a year and a month, so that
year-over-year comparisons of the same month work) for every granularity, by whole
months: a month partition goes when its end is at or before now − rollup_days. The
default partitions are never dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument
from datanexus.store.partitions import RAW_EVENTS, ROLLUPS, Partition, list_partitions

__all__ = ["RetentionReport", "retain"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(slots=True)
class RetentionReport:
    dropped: list[str] = field(default_factory=list)
    kept_incomplete: list[str] = field(default_factory=list)
    """Raw partitions past retention kept because their rollups are not complete yet."""


def _drop(cur: psycopg.Cursor[Any], schema: str, table: str, partition: Partition) -> None:
    cur.execute(
        sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            sql.Identifier(schema, table), sql.Identifier(schema, partition.name)
        )
    )
    cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, partition.name)))


def _rollups_complete(cur: psycopg.Cursor[Any], schema: str, partition: Partition) -> bool:
    """The day level's watermark covers the partition and no day bucket in it waits for
    a re-merge."""
    cur.execute(
        sql.SQL(
            "SELECT (SELECT watermark >= %s FROM {levels} WHERE granularity_ms = %s),"
            " EXISTS (SELECT 1 FROM {inv} WHERE bucket_start < %s AND bucket_end > %s)"
        ).format(
            levels=sql.Identifier(schema, "compaction_levels"),
            inv=sql.Identifier(schema, "rollup_invalidations"),
        ),
        (partition.end, DAY_MS, partition.end, partition.start),
    )
    found = cur.fetchone()
    return found is not None and bool(found[0]) and not found[1]


def retain(
    conn: psycopg.Connection[Any],
    schema: str,
    now: datetime,
    *,
    raw_days: int = 90,
    rollup_days: int = 400,
) -> RetentionReport:
    """Drop the raw and rollup partitions past retention; returns what was dropped and
    what was kept for incomplete rollups. One transaction: all drops or none. Detaching
    takes an ACCESS EXCLUSIVE lock on the parent briefly; run it off-peak (the
    scheduler's nightly job)."""
    if now.tzinfo is None:
        raise InvalidArgument(f"now must be an aware datetime, got naive {now!r}")
    for name, days in (("raw_days", raw_days), ("rollup_days", rollup_days)):
        if days < 1:
            raise InvalidArgument(f"{name} must be >= 1, got {days}")
    if rollup_days < raw_days:
        raise InvalidArgument(
            f"rollup_days ({rollup_days}) must be >= raw_days ({raw_days}): rollups outlive raw"
        )
    report = RetentionReport()
    raw_cutoff = now - timedelta(days=raw_days)
    rollup_cutoff = now - timedelta(days=rollup_days)
    with conn.transaction(), conn.cursor() as cur:
        for partition in list_partitions(conn, schema, RAW_EVENTS):
            if partition.end > raw_cutoff:
                continue
            if not _rollups_complete(cur, schema, partition):
                report.kept_incomplete.append(partition.name)
                continue
            _drop(cur, schema, RAW_EVENTS.table, partition)
            report.dropped.append(partition.name)
        for partition in list_partitions(conn, schema, ROLLUPS):
            if partition.end <= rollup_cutoff:
                _drop(cur, schema, ROLLUPS.table, partition)
                report.dropped.append(partition.name)
    if report.kept_incomplete:
        log.warning(
            "kept raw partitions past retention, their rollups are not complete: %s",
            ", ".join(report.kept_incomplete),
            extra={"schema": schema},
        )
    if report.dropped:
        log.info("dropped partitions %s", ", ".join(report.dropped), extra={"schema": schema})
    return report
