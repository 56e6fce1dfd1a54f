"""``datanexus demo``: a simulated day for the example pipelines, end to end.

1. the store is migrated and the pipelines registered in the catalog;
2. a deterministic day of events (web requests, payments, IoT readings; about a million
   by default) is published to the pipelines' Redis streams, as the HTTP ingestion
   would, with idempotency keys and sequence numbers;
3. each pipeline runs as a Bytewax flow to the end of its stream: decode, schema check,
   transforms, native event-time windows, rollups upserted into PostgreSQL, live results
   to Redis;
4. minute rollups are compacted into hours and days;
5. per-hour and per-minute tables are read back with the query language and printed.

The run is idempotent: streams are recreated and rollups upserted, so running it twice
prints the same tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from datanexus.config import Settings
from datanexus.connectors.event_models import IotReadings, Payments
from datanexus.connectors.web_traffic import WebTraffic
from datanexus.errors import ConfigError
from datanexus.store.embedded import Services

__all__ = ["DEMO_START", "model_for", "run_demo", "sample_events"]

DEMO_START = datetime(2025, 3, 3, tzinfo=UTC)
DEMO_SEED = 20250303
DAY = timedelta(days=1)
SHARES = {"web": 0.6, "payments": 0.2, "iot": 0.2}
PUBLISH_CHUNK = 5_000


def model_for(name: str, events: int, *, seed: int = DEMO_SEED) -> Any:
    """The event model feeding the example pipeline ``name``."""
    if name == "web":
        return WebTraffic(events=events, seed=seed, start=DEMO_START, duration=DAY)
    if name == "payments":
        return Payments(events=events, seed=seed, start=DEMO_START, duration=DAY)
    if name == "iot":
        return IotReadings(events=events, seed=seed, start=DEMO_START, duration=DAY)
    raise ConfigError(f"no demo event model for pipeline {name!r}; known: {sorted(SHARES)}")


def sample_events(name: str, count: int) -> list[dict[str, Any]]:
    """``count`` events of the model of pipeline ``name`` (for previews)."""
    model = model_for(name, max(count, 1))
    return [dict(e) for e in model.block(0)[:count]]


@dataclass
class _Counter:
    """Events seen by a flow's first step, for the progress bar (any worker thread)."""

    n: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, k: int) -> None:
        with self._lock:
            self.n += k


def _publish(url: str, key: str, model: Any, progress: Callable[[int], None]) -> int:
    from datanexus.connectors.publishers import RedisStreamPublisher

    publisher = RedisStreamPublisher(url, key)
    sent = 0
    try:
        buffer: list[Any] = []
        for block in range(model.blocks):
            buffer.extend(model.block(block))
            while len(buffer) >= PUBLISH_CHUNK:
                publisher.publish(buffer[:PUBLISH_CHUNK])
                sent += PUBLISH_CHUNK
                progress(PUBLISH_CHUNK)
                del buffer[:PUBLISH_CHUNK]
        if buffer:
            publisher.publish(buffer)
            sent += len(buffer)
            progress(len(buffer))
    finally:
        publisher.close()
    return sent


def _bar(out: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    )


def run_demo(
    settings: Settings,
    services: Services,
    *,
    events: int = 1_000_000,
    workers: int = 1,
    out: Console | None = None,
) -> dict[str, int]:
    """Run the demo; returns the events published per pipeline."""
    from datanexus.pipeline import load_spec
    from datanexus.runner import prepare, run_flow
    from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

    out = out or Console()
    if events < len(SHARES):
        raise ConfigError(f"--events must be at least {len(SHARES)}, got {events}")
    started = time.perf_counter()
    where = "embedded" if services.embedded_postgres else "configured"
    out.print(
        f"[bold]DataNexus demo[/] — {events:,} events over one simulated day ({where} servers)"
    )
    specs = {name: load_spec(settings.pipelines_dir / f"{name}.toml") for name in SHARES}
    counts = {name: int(events * share) for name, share in SHARES.items()}
    counts["web"] += events - sum(counts.values())
    client = redis.Redis.from_url(services.redis_url)
    try:
        with _bar(out) as bar:
            for name, spec in specs.items():
                prepare(services.database_url, settings.schema, spec)
                key = _stream_key(spec)
                task = bar.add_task(f"publish {name} → {key}", total=counts[name])
                client.delete(key)
                model = model_for(name, counts[name])
                _publish(services.redis_url, key, model, lambda k, t=task: bar.advance(t, k))
    finally:
        client.close()
    targets = FlowTargets(
        services.database_url, services.redis_url, services.amqp_url, settings.schema
    )
    with _bar(out) as bar:
        for name, spec in specs.items():
            task = bar.add_task(f"pipeline {name}", total=counts[name])
            counter = _Counter()
            flow = build_pipeline_flow(spec, targets, stop_at_end=True, on_events=counter.add)
            done = threading.Event()

            def watch(
                task: Any = task, counter: _Counter = counter, done: threading.Event = done
            ) -> None:
                while not done.wait(0.2):
                    bar.update(task, completed=counter.n)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                run_flow(flow, workers=workers)
            finally:
                done.set()
                watcher.join()
            bar.update(task, completed=counter.n)
    from datanexus.demo_report import print_report

    print_report(settings, services, out)
    out.print(f"\nDone in {time.perf_counter() - started:.1f} s.")
    return counts


def _stream_key(spec: Any) -> str:
    from datanexus.connectors.registry import redis_stream_key

    return redis_stream_key(spec.tenant, str(spec.source.options.get("stream", spec.name)))
