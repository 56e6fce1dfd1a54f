"""The demo: simulated web traffic rolled up per region and minute, printed as a report.

Run with ``python -m bytewax.run flows.demo`` (add ``-w 2`` for two workers). The event
count comes from ``DATANEXUS_DEMO_EVENTS`` (default 250 000, over one simulated hour).
The logic lives in :mod:`datanexus.connectors.generator` and
:mod:`datanexus.stream.demo_rollup`; this module only wires the steps.
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from datanexus.connectors import WebEvent, WebEventsSource, WebTraffic
from datanexus.errors import ConfigError
from datanexus.stream.demo_rollup import (
    BatchProgress,
    RegionRollup,
    ReportSink,
    Rollups,
    merge_rollups,
    rollup_batch,
)

__all__ = ["DEMO_SEED", "build", "events_from_env", "flow"]

DEMO_SEED = 20250101
DEFAULT_EVENTS = 250_000
EVENTS_VAR = "DATANEXUS_DEMO_EVENTS"


def events_from_env() -> int:
    """The event count from ``DATANEXUS_DEMO_EVENTS``; a bad value is a ConfigError."""
    raw = os.environ.get(EVENTS_VAR)
    if raw is None or not raw.strip():
        return DEFAULT_EVENTS
    try:
        events = int(raw.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{EVENTS_VAR} must be an integer, got {raw!r}") from None
    if events < 1:
        raise ConfigError(f"{EVENTS_VAR} must be at least 1, got {events}")
    return events


def _gather(acc: Rollups, region_rollup: tuple[str, RegionRollup]) -> Rollups:
    region, rollup = region_rollup
    acc[region] = rollup
    return acc


def build(
    events: int | None = None,
    *,
    seed: int = DEMO_SEED,
    duration: timedelta = timedelta(hours=1),
    partitions: int = 4,
    batch_size: int = 1000,
    sink: Sink[Rollups] | None = None,
    exact_users: bool = True,
    source: Source[list[WebEvent]] | None = None,
) -> Dataflow:
    """The demo dataflow over ``events`` generated events (default: from the environment).

    Its output is one :data:`Rollups` (every region's per-minute stats) once the input
    is exhausted, written to ``sink``; the default prints the report with a progress bar.
    ``source`` replaces the generator (tests use it to inject failures); ``events``
    still sizes the progress bar.
    """
    if events is None:
        events = events_from_env()
    if source is None:
        traffic = WebTraffic(events=events, seed=seed, duration=duration)
        source = WebEventsSource(traffic, batch_size=batch_size, partitions=partitions)
    progress = None
    if sink is None:
        progress = BatchProgress(events)
        sink = ReportSink(progress=progress)

    flow = Dataflow("datanexus_demo")
    batches = op.input("web_events", flow, source)
    if progress is not None:
        bar = progress

        def advance(_step_id: str, batch: list[WebEvent]) -> None:
            bar.advance(len(batch))

        op.inspect("progress", batches, advance)
    # Items are (region, partial) pairs, i.e. already a keyed stream.
    partials = op.flat_map(
        "rollup_batch", batches, functools.partial(rollup_batch, exact_users=exact_users)
    )
    per_region = op.fold_final("per_region", partials, dict, merge_rollups)
    # One key for everything, so a single worker receives all regions and one report.
    everything = op.key_on("to_report", per_region, _report_key)
    gathered = op.fold_final("gather", everything, dict, _gather)
    op.output("report", op.key_rm("unkey", gathered), sink)
    return flow


def _report_key(_item: Any) -> str:
    return "report"


flow = build()
