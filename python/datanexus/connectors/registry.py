"""Source types by name (CONN-12): the ``datanexus.sources`` entry points.

A pipeline spec names its source ``kind``; :func:`make_source` finds the factory
registered under that name in the ``datanexus.sources`` entry-point group (DataNexus
registers its own in ``pyproject.toml``; a plug-in package adds more the same way) and
calls it with the spec's options and a :class:`SourceContext`. An unknown kind is a
:class:`ConfigError` naming it and the known ones. :func:`reload_sources` re-reads the
entry points and swaps the table in one assignment, so a lookup sees the old table or the
new one, never a mix.

A flow's connector tasks (CONN-8) are named by :func:`task_id`: for the built-in
sources that write progress rows, the row's partition (``<source>/<partition>``, e.g.
``redis-stream/dn:acme:orders``), so that an operator's offset change reaches the row
the task owns; for the others (generators, plug-ins) the Bytewax partition name.

Redis stream keys follow one convention, :func:`redis_stream_key`, shared with the
ingestion publishers: ``dn:<tenant>:<stream>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import redis
from bytewax.inputs import FixedPartitionedSource

from datanexus.connectors import files, rabbitmq_stream, redis_streams
from datanexus.connectors.event_models import IotReadings, Payments
from datanexus.connectors.files import FileSource
from datanexus.connectors.generator import ModelEventsSource
from datanexus.connectors.rabbitmq_stream import RabbitStreamSource
from datanexus.connectors.redis_streams import RedisStreamSource
from datanexus.connectors.web_traffic import WebTraffic
from datanexus.errors import ConfigError
from datanexus.store.progress import redis_id_position

__all__ = [
    "SourceContext",
    "known_sources",
    "make_source",
    "redis_stream_key",
    "reload_sources",
    "task_id",
]

log = logging.getLogger(__name__)

GROUP = "datanexus.sources"


@dataclass(frozen=True)
class SourceContext:
    """What a source factory may use besides the spec's options."""

    tenant: str
    pipeline: str
    redis_url: str | None = None
    amqp_url: str | None = None
    batch_size: int = 1000
    stop_at_end: bool = False
    base_dir: Path = Path()


SourceFactory = Callable[[Mapping[str, Any], SourceContext], FixedPartitionedSource[Any, Any]]


def redis_stream_key(tenant: str, stream: str) -> str:
    """The Redis stream carrying ``stream`` of ``tenant`` (a spec with several streams
    names each: one partition per stream)."""
    return f"dn:{tenant}:{stream}"


def _need(options: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in options:
        raise ConfigError(f"source.{key} is required for a {kind} source")
    return options[key]


def _batch_size(options: Mapping[str, Any], ctx: SourceContext) -> int:
    return int(options.get("batch_size", ctx.batch_size))


def redis_stream_source(options: Mapping[str, Any], ctx: SourceContext) -> RedisStreamSource:
    """``streams`` (names; each read from ``dn:<tenant>:<name>``, one partition each),
    ``group``, ``batch_size``."""
    if ctx.redis_url is None:
        raise ConfigError("a redis_stream source needs a Redis URL (DATANEXUS_REDIS_URL)")
    names = options.get("streams") or [str(options.get("stream", ctx.pipeline))]
    keys = [redis_stream_key(ctx.tenant, str(name)) for name in names]
    stop_after: dict[str, int] | None = None
    if ctx.stop_at_end:
        client = redis.Redis.from_url(ctx.redis_url)
        try:
            stop_after = {}
            for key in keys:
                last = client.xrevrange(key, count=1)
                entry = last[0][0] if last else None
                stop_after[key] = redis_id_position(entry) if entry is not None else 0
        finally:
            client.close()
    return RedisStreamSource(
        ctx.redis_url,
        keys,
        group=str(options.get("group", "datanexus")),
        batch_size=_batch_size(options, ctx),
        stop_after=stop_after,
    )


def rabbitmq_stream_source(options: Mapping[str, Any], ctx: SourceContext) -> RabbitStreamSource:
    """``queues`` (stream queues, one partition each), ``prefetch``, ``batch_size``, and
    ``stop_after`` (queue → last offset to read) for finite runs: a stream queue does not
    report its last offset over AMQP 0.9.1, so ``stop_at_end`` alone cannot end it."""
    if ctx.amqp_url is None:
        raise ConfigError("a rabbitmq_stream source needs an AMQP URL (DATANEXUS_AMQP_URL)")
    queues = options.get("queues") or [str(options.get("queue", ctx.pipeline))]
    stop_after = options.get("stop_after")
    if stop_after is not None and not (
        isinstance(stop_after, Mapping)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in stop_after.values())
    ):
        raise ConfigError(
            f"source.stop_after must map queue names to integer offsets, got {stop_after!r}"
        )
    return RabbitStreamSource(
        ctx.amqp_url,
        [str(q) for q in queues],
        batch_size=_batch_size(options, ctx),
        prefetch=int(options.get("prefetch", 2000)),
        stop_after=None if stop_after is None else {str(k): v for k, v in stop_after.items()},
    )


def file_source(options: Mapping[str, Any], ctx: SourceContext) -> FileSource:
    """``path`` (resolved against the spec's directory by the loader), ``format``."""
    path = ctx.base_dir / Path(str(_need(options, "path", "file")))
    return FileSource(
        path.parent,
        [path.name],
        fmt=str(options.get("format", "jsonl")),  # type: ignore[arg-type]
        flow=f"pipeline_{ctx.pipeline}",
        batch_size=_batch_size(options, ctx),
        require_ts=False,
    )


_MODELS: dict[str, Callable[..., Any]] = {
    "web": WebTraffic,
    "payments": Payments,
    "iot": IotReadings,
}


def generator_source(options: Mapping[str, Any], ctx: SourceContext) -> ModelEventsSource:
    model = str(options.get("model", ctx.pipeline))
    if model not in _MODELS:
        raise ConfigError(f"source.model must be one of {sorted(_MODELS)}, got {model!r}")
    start = options.get("start")
    params: dict[str, Any] = {
        "events": int(options.get("events", 100_000)),
        "seed": int(options.get("seed", 0)),
        "duration": timedelta(milliseconds=int(options.get("duration_ms", 3_600_000))),
    }
    if start is not None:
        params["start"] = (
            start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        ).astimezone(UTC)
    rate = options.get("rate")
    return ModelEventsSource(
        _MODELS[model](**params),
        batch_size=_batch_size(options, ctx),
        partitions=int(options.get("partitions", 1)),
        rate=None if rate is None else float(rate),
    )


_BUILTIN: dict[str, SourceFactory] = {
    "redis_stream": redis_stream_source,
    "rabbitmq_stream": rabbitmq_stream_source,
    "file": file_source,
    "generator": generator_source,
}


def _load() -> dict[str, SourceFactory]:
    table: dict[str, SourceFactory] = {}
    for ep in entry_points(group=GROUP):
        try:
            table[ep.name] = ep.load()
        except Exception as error:  # a broken plug-in must not hide the others
            log.error("source plug-in %s (%s) failed to load: %s", ep.name, ep.value, error)
    for name, factory in _BUILTIN.items():
        table.setdefault(name, factory)
    return table


_sources: dict[str, SourceFactory] = _load()


def reload_sources() -> dict[str, SourceFactory]:
    """Re-read the entry points; the new table replaces the old one atomically."""
    global _sources
    table = _load()
    _sources = table
    return table


# Kind → the ``source`` its MessageBatches (and so its progress rows) are named with.
_PROGRESS_NAMES = {
    "redis_stream": redis_streams.SOURCE,
    "rabbitmq_stream": rabbitmq_stream.SOURCE,
    "file": files.SOURCE,
}


def task_id(kind: str, partition: str) -> str:
    """The connector task id of ``partition`` of a ``kind`` source (see the module)."""
    prefix = _PROGRESS_NAMES.get(kind)
    return partition if prefix is None else f"{prefix}/{partition}"


def known_sources() -> list[str]:
    return sorted(_sources)


def make_source(
    kind: str, options: Mapping[str, Any], context: SourceContext
) -> FixedPartitionedSource[Any, Any]:
    """The source of type ``kind``; unknown → :class:`ConfigError` naming the known ones."""
    table = _sources
    if kind not in table:
        raise ConfigError(f"unknown source kind {kind!r}; known: {', '.join(sorted(table))}")
    return table[kind](options, context)
