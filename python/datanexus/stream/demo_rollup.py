"""The demo rollup: per (region, minute) counts, 5xx errors, latency and distinct users.

A batch of events becomes at most one partial rollup per region (:func:`rollup_batch`),
computed with numpy group-bys and one native ``add_many`` per group, so Python does a
few list comprehensions per batch and no per-event aggregation. Partials are keyed by
region, so Bytewax routes each region to one worker, where :func:`merge_rollups` folds
them; every field is mergeable (sums, HyperLogLog register maxima), so the result does
not depend on batching, partitioning or worker count.

Also here: the summary of the final rollups, its ``rich`` rendering, a progress bar
and the sink that prints the report. This is the demo's output path, the one place
allowed to write to the terminal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from datanexus.errors import InvalidType
from datanexus.sketches import HyperLogLog

__all__ = [
    "MINUTE_MS",
    "PRECISION",
    "BatchProgress",
    "MinuteStats",
    "RegionRollup",
    "ReportSink",
    "Rollups",
    "Row",
    "Summary",
    "merge_rollups",
    "render_summary",
    "rollup_batch",
    "summarise",
]

MINUTE_MS = 60_000
PRECISION = 12
"""HyperLogLog precision: 4096 registers, relative standard error 1.04/64 = 1.6 %."""


@dataclass
class MinuteStats:
    """Mergeable aggregates of one group of events. ``exact_users`` is kept only when
    asked for, to show the HyperLogLog's accuracy; it costs memory per distinct user."""

    count: int = 0
    errors: int = 0
    latency_sum_ms: int = 0
    users: HyperLogLog = field(default_factory=lambda: HyperLogLog(PRECISION))
    exact_users: set[str] | None = None

    def merge(self, other: MinuteStats) -> None:
        """Fold ``other`` into this one; ``other`` is untouched."""
        self.count += other.count
        self.errors += other.errors
        self.latency_sum_ms += other.latency_sum_ms
        self.users.merge(other.users)
        if other.exact_users is not None:
            if self.exact_users is None:
                self.exact_users = set()
            self.exact_users |= other.exact_users


RegionRollup = dict[int, MinuteStats]
"""Minute start (epoch ms) to the stats of that minute, for one region."""

Rollups = dict[str, RegionRollup]
"""Region to its rollup: the flow's final output."""


def _int_column(events: Sequence[Mapping[str, Any]], name: str) -> npt.NDArray[np.int64]:
    column = np.array([e[name] for e in events])
    # np.array silently widens mixed ints and floats to float; sums must stay exact.
    if column.dtype.kind not in "iu":
        raise InvalidType(f"field {name!r} must hold integers, got numpy dtype {column.dtype}")
    return column.astype(np.int64, copy=False)


def rollup_batch(
    events: Sequence[Mapping[str, Any]], *, exact_users: bool = False
) -> list[tuple[str, RegionRollup]]:
    """Group a batch by (region, minute of ``ts``) into one partial per region.

    Events need ``ts`` (epoch ms), ``region`` (str), ``status``, ``latency_ms`` (ints)
    and ``user_id`` (str or int). An error is a status >= 500. A field that is not an
    integer where one is needed raises :class:`InvalidType`; a missing field raises
    ``KeyError``. The partials merged with :func:`merge_rollups` in any order equal the
    rollup of all events at once.
    """
    n = len(events)
    if n == 0:
        return []
    ts = _int_column(events, "ts")
    status = _int_column(events, "status")
    latency = _int_column(events, "latency_ms")
    regions = np.array([e["region"] for e in events], dtype=object)
    users = np.array([e["user_id"] for e in events], dtype=object)

    region_names, region_idx = np.unique(regions.astype(np.str_), return_inverse=True)
    minutes, minute_idx = np.unique(ts - ts % MINUTE_MS, return_inverse=True)
    group = region_idx * len(minutes) + minute_idx
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_group[1:] != sorted_group[:-1])))
    ends = np.append(starts[1:], n)
    errors = np.add.reduceat((status[order] >= 500).astype(np.int64), starts)
    latency_sums = np.add.reduceat(latency[order], starts)
    sorted_users = users[order]

    out: dict[str, RegionRollup] = {}
    for g, lo, hi, err, lat in zip(
        sorted_group[starts].tolist(),
        starts.tolist(),
        ends.tolist(),
        errors.tolist(),
        latency_sums.tolist(),
        strict=True,
    ):
        group_users = sorted_users[lo:hi]
        hll = HyperLogLog(PRECISION)
        hll.add_many(group_users)
        stats = MinuteStats(
            count=hi - lo,
            errors=err,
            latency_sum_ms=lat,
            users=hll,
            exact_users=set(group_users.tolist()) if exact_users else None,
        )
        region = str(region_names[g // len(minutes)])
        out.setdefault(region, {})[int(minutes[g % len(minutes)])] = stats
    return list(out.items())


def merge_rollups(acc: RegionRollup, part: RegionRollup) -> RegionRollup:
    """Fold ``part`` into ``acc`` (mutated and returned); ``part``'s stats may be adopted."""
    for minute, stats in part.items():
        mine = acc.get(minute)
        if mine is None:
            acc[minute] = stats
        else:
            mine.merge(stats)
    return acc


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    label: str
    events: int
    errors: int
    latency_sum_ms: int
    distinct_estimate: float
    distinct_exact: int | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.events if self.events else 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_sum_ms / self.events if self.events else 0.0

    @property
    def distinct_error(self) -> float | None:
        """Relative error of the estimate against the exact count, when known."""
        if not self.distinct_exact:
            return None
        return self.distinct_estimate / self.distinct_exact - 1.0


@dataclass(frozen=True)
class Summary:
    regions: list[Row]
    total: Row
    busiest_minutes: list[Row]
    day: str | None
    """The UTC date of every minute, if there is only one."""


def _row(label: str, parts: Iterable[MinuteStats]) -> Row:
    acc = MinuteStats()
    for stats in parts:
        acc.merge(stats)
    return Row(
        label,
        acc.count,
        acc.errors,
        acc.latency_sum_ms,
        acc.users.estimate(),
        None if acc.exact_users is None else len(acc.exact_users),
    )


def _utc(minute_ms: int) -> datetime:
    return datetime.fromtimestamp(minute_ms / 1000, tz=UTC)


def summarise(rollups: Rollups, *, top: int = 5) -> Summary:
    """Per-region totals (busiest region first), the grand total with distinct users
    from merged sketches (not a sum of per-region counts), and the ``top`` busiest
    minutes over all regions, labelled ``HH:MM`` (UTC) when the data spans one day."""
    regions = sorted(
        (_row(region, rollup.values()) for region, rollup in rollups.items()),
        key=lambda r: (-r.events, r.label),
    )
    total = _row("all regions", (s for rollup in rollups.values() for s in rollup.values()))
    by_minute: dict[int, list[MinuteStats]] = {}
    for rollup in rollups.values():
        for minute, stats in rollup.items():
            by_minute.setdefault(minute, []).append(stats)
    days = {_utc(m).date() for m in by_minute}
    fmt = "%H:%M" if len(days) == 1 else "%Y-%m-%d %H:%M"
    minutes = sorted(by_minute, key=lambda m: (-sum(s.count for s in by_minute[m]), m))
    busiest = [_row(_utc(m).strftime(fmt), by_minute[m]) for m in minutes[:top]]
    day = days.pop().isoformat() if len(days) == 1 else None
    return Summary(regions, total, busiest, day)


def _table(title: str, first: str, rows: Sequence[Row], total: Row | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column(first, no_wrap=True)
    for name in ("events", "5xx %", "mean ms", "users (HLL)", "exact", "HLL err"):
        table.add_column(name, justify="right", no_wrap=True)

    def add(row: Row, style: str | None = None) -> None:
        err = row.distinct_error
        table.add_row(
            row.label,
            f"{row.events:,}",
            f"{100 * row.error_rate:.2f}",
            f"{row.mean_latency_ms:.1f}",
            f"{row.distinct_estimate:,.0f}",
            "-" if row.distinct_exact is None else f"{row.distinct_exact:,}",
            "-" if err is None else f"{100 * err:+.1f}%",
            style=style,
        )

    for row in rows:
        add(row)
    if total is not None:
        table.add_section()
        add(total, "bold")
    return table


def render_summary(summary: Summary, console: Console, *, elapsed_s: float | None = None) -> None:
    """Print the report: the per-region table, the busiest minutes, what to run next."""
    console.print(_table("Requests per region", "region", summary.regions, summary.total))
    when = f"UTC, {summary.day}" if summary.day else "UTC"
    console.print(_table(f"Busiest minutes ({when})", "minute", summary.busiest_minutes))
    if elapsed_s is not None and elapsed_s > 0:
        rate = summary.total.events / elapsed_s
        console.print(
            f"Processed {summary.total.events:,} events in {elapsed_s:.2f} s ({rate:,.0f}/s)."
        )
    console.print("Next: [bold]make test[/] (lint and all tests), [bold]make bench[/] (speed).")


class BatchProgress:
    """A progress bar on stderr, started by the first :meth:`advance`, safe to call from
    several worker threads; :meth:`stop` is idempotent."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self._total = total
        self._console = console or Console(stderr=True)
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started: float | None = None
        self._stopped: float | None = None

    def advance(self, events: int) -> None:
        with self._lock:
            if self._stopped is not None:
                return
            if self._progress is None:
                self._started = time.perf_counter()
                self._progress = Progress(
                    TextColumn("processing events"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=self._console,
                    transient=True,
                )
                self._task = self._progress.add_task("events", total=self._total)
                self._progress.start()
            assert self._task is not None
            self._progress.advance(self._task, events)

    def stop(self) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = time.perf_counter()
                if self._progress is not None:
                    self._progress.stop()

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from the first batch to :meth:`stop` (or now), None before any batch."""
        if self._started is None:
            return None
        return (self._stopped or time.perf_counter()) - self._started


class _ReportPartition(StatelessSinkPartition[Rollups]):
    def __init__(self, console: Console, progress: BatchProgress | None) -> None:
        self._console = console
        self._progress = progress

    def write_batch(self, items: list[Rollups]) -> None:
        for rollups in items:
            elapsed = None
            if self._progress is not None:
                self._progress.stop()
                elapsed = self._progress.elapsed_s
            render_summary(summarise(rollups), self._console, elapsed_s=elapsed)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class ReportSink(DynamicSink[Rollups]):
    """Prints each :data:`Rollups` it receives as the demo report; stops the progress bar
    first. Route the final rollups to a single worker so one report is printed."""

    def __init__(
        self, console: Console | None = None, progress: BatchProgress | None = None
    ) -> None:
        self._console = console or Console()
        self._progress = progress

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ReportPartition:
        return _ReportPartition(self._console, self._progress)
