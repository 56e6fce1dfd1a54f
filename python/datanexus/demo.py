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

import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import redis
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from datanexus.config import Settings
from datanexus.connectors.event_models import IotReadings, Payments
from datanexus.connectors.web_traffic import WebTraffic
from datanexus.errors import ConfigError, ServiceUnavailable
from datanexus.store.compaction import compact
from datanexus.store.embedded import Services
from datanexus.store.migrations import migrate

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


def _publish(url: str, key: str, model: Any, progress: Callable[[int], None]) -> int:
    from datanexus.connectors.publishers import RedisStreamPublisher

    publisher = RedisStreamPublisher(url, key)
    sent = 0
    try:
        buffer: list[Any] = []
        for block in range(model.blocks):
            buffer.extend(model.block(block))
            if len(buffer) >= PUBLISH_CHUNK or block == model.blocks - 1:
                publisher.publish(buffer)
                sent += len(buffer)
                progress(len(buffer))
                buffer = []
    finally:
        publisher.close()
    return sent


def _stream_key(spec: Any) -> str:
    from datanexus.connectors.registry import redis_stream_key

    return redis_stream_key(spec.tenant, str(spec.source.options.get("stream", spec.name)))


def _pipeline_process(
    settings: Settings,
    name: str,
    events: int,
    workers: int,
    published: Any,
    processed: Any,
    failures: Any,
) -> None:
    """One example pipeline, in its own process: publish its day of events to its Redis
    stream, then run its flow to the end of the stream. Progress goes to the shared
    counters; a failure is reported on ``failures`` as text and exits non-zero."""
    from datanexus.pipeline import SourceSpec, load_spec
    from datanexus.runner import prepare, run_flow
    from datanexus.store.embedded import open_services
    from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

    def bump(counter: Any) -> Callable[[int], None]:
        def add(k: int) -> None:
            with counter.get_lock():
                counter.value += k

        return add

    try:
        with open_services(settings) as services:  # attaches to the parent's servers
            # The examples show every source kind; the demo feeds them all through Redis
            # streams, as the embedded default ingests.
            spec = replace(
                load_spec(settings.pipelines_dir / f"{name}.toml"),
                source=SourceSpec("redis_stream", {"streams": [name], "batch_size": 1000}),
            )
            prepare(services.database_url, settings.schema, spec)
            key = _stream_key(spec)
            client = redis.Redis.from_url(services.redis_url)
            client.delete(key)
            client.close()
            _publish(services.redis_url, key, model_for(name, events), bump(published))
            targets = FlowTargets(
                services.database_url, services.redis_url, services.amqp_url, settings.schema
            )
            flow = build_pipeline_flow(spec, targets, stop_at_end=True, on_events=bump(processed))
            run_flow(flow, workers=workers)
    except BaseException as error:
        failures.put(f"pipeline {name}: {type(error).__name__}: {error}")
        raise SystemExit(1) from None


def _forget_previous_run(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Delete what an earlier demo stored for the demo tenant's example pipelines, so
    that a run with other parameters does not keep older rows of equal revision."""
    names = [*SHARES, *(f"{p}_%" for p in SHARES)]
    with conn.transaction():
        for table, column in (("rollups", "pipeline"), ("pipelines", "name")):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant_id = %s AND {} LIKE ANY(%s)").format(
                    sql.Identifier(settings.schema, table), sql.Identifier(column)
                ),
                (settings.tenant, names),
            )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE tenant_id = %s AND source LIKE ANY(%s)").format(
                sql.Identifier(settings.schema, "dead_letters")
            ),
            (settings.tenant, [f"pipeline:{p}" for p in SHARES] + ["redis-stream"]),
        )
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE flow LIKE ANY(%s)").format(
                sql.Identifier(settings.schema, "progress")
            ),
            ([f"pipeline_{p}" for p in SHARES],),
        )


def _bar(out: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"),
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
    """Run the demo; returns the events published per pipeline. Each pipeline runs in its
    own process (as separate flows would in production), all on the same servers."""
    out = out or Console()
    if events < len(SHARES):
        raise ConfigError(f"--events must be at least {len(SHARES)}, got {events}")
    started = time.perf_counter()
    where = "embedded" if services.embedded_postgres else "configured"
    out.print(
        f"[bold]DataNexus demo[/] — {events:,} events over one simulated day "
        f"({where} PostgreSQL and Redis)"
    )
    counts = {name: int(events * share) for name, share in SHARES.items()}
    counts["web"] += events - sum(counts.values())
    with psycopg.connect(services.database_url, autocommit=True) as conn:
        migrate(conn, settings.schema)  # once, before the pipelines race to do it
        _forget_previous_run(conn, settings)
    ctx = mp.get_context("spawn")
    failures = ctx.Queue()
    jobs = []
    with _bar(out) as bar:
        for name, n in counts.items():
            published, processed = ctx.Value("q", 0), ctx.Value("q", 0)
            proc = ctx.Process(
                target=_pipeline_process,
                args=(settings, name, n, workers, published, processed, failures),
                name=f"datanexus-demo-{name}",
            )
            proc.start()
            tasks = (
                bar.add_task(f"{name}: publish", total=n),
                bar.add_task(f"{name}: pipeline", total=n),
            )
            jobs.append((proc, published, processed, tasks))
        while any(proc.is_alive() for proc, *_ in jobs):
            for _proc, published, processed, (pub_task, run_task) in jobs:
                bar.update(pub_task, completed=published.value)
                bar.update(run_task, completed=processed.value)
            time.sleep(0.2)
        for _proc, published, processed, (pub_task, run_task) in jobs:
            bar.update(pub_task, completed=published.value)
            bar.update(run_task, completed=processed.value)
    errors = [proc.name for proc, *_ in jobs if proc.exitcode != 0]
    if errors:
        messages = []
        while not failures.empty():
            messages.append(failures.get())
        raise ServiceUnavailable("; ".join(messages) or f"{', '.join(errors)} failed")
    with psycopg.connect(services.database_url) as conn:
        report = compact(conn, settings.schema, datetime.now(UTC), settle=timedelta(0))
    hours, days = (level.rows_written for level in report.levels)
    out.print(f"compacted the minute rollups into {hours:,} hour and {days:,} day rows")
    from datanexus.demo_report import print_report

    print_report(settings, services, out)
    out.print(f"\nDone in {time.perf_counter() - started:.1f} s.")
    return counts
