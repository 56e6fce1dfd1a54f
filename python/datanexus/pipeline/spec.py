"""The pipeline spec as plain, frozen data (what :func:`~datanexus.pipeline.load_spec`
returns and the flow reads).

Everything here has been checked when the spec was loaded; durations are milliseconds,
paths are resolved, measures are in canonical engine syntax. Dict-valued fields are plain
dicts for convenience: treat them as read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datanexus.pipeline.measures import parse_measure, rollup_kinds

if TYPE_CHECKING:
    from datanexus.pipeline.compiled import CompiledPipeline

__all__ = [
    "AggregationSpec",
    "PipelineSpec",
    "RouteSpec",
    "RoutingSpec",
    "SchemaRef",
    "Settings",
    "SourceSpec",
    "StepSpec",
]


@dataclass(frozen=True)
class Settings:
    """``[pipeline]`` settings: ``time_zone`` for naive dates (PIPE-15), ``time_field``
    (the event time, ``ts``), ``max_future_skew_ms`` (PIPE-11, default 5 min),
    ``dedup_window_ms`` (STREAM-14, default 60 s, 0 = off), ``udf_timeout_ms`` (PIPE-17)."""

    time_zone: str = "UTC"
    time_field: str = "ts"
    max_future_skew_ms: int = 300_000
    dedup_window_ms: int = 60_000
    udf_timeout_ms: int = 30_000


@dataclass(frozen=True)
class SourceSpec:
    """``[source]``: ``kind`` and its validated ``options`` with defaults filled in."""

    kind: str
    options: dict[str, Any]


@dataclass(frozen=True)
class SchemaRef:
    """``[schema]``: registry ``subject``, the JSON Schema file ``path`` (resolved, checked
    to hold a JSON object), the loaded ``document`` and the ``compatibility`` mode."""

    subject: str
    path: Path
    compatibility: str
    document: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class StepSpec:
    """One ``[[transforms]]`` entry: ``name``, ``op`` and its ``options`` (the table as
    written, minus ``op``; ``name`` and ``on_error`` included)."""

    index: int
    name: str
    op: str
    options: dict[str, Any]


@dataclass(frozen=True)
class RouteSpec:
    """One ``[[routes]]`` entry: a CEL condition ``when`` (content mode) or a ``topic``
    pattern (topic mode), its ``priority`` and ``destination`` (a name or a fan-out group)."""

    name: str
    destination: str
    priority: int = 0
    when: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class RoutingSpec:
    """``[routing]`` and the routes: ``mode`` content or topic, the CEL ``key`` giving
    an event's routing key (topic mode), fan-out ``groups`` and the ``alternate``
    destination of unroutable events (default ``dead-letter``)."""

    mode: str = "content"
    key: str | None = None
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    alternate: str = "dead-letter"
    routes: tuple[RouteSpec, ...] = ()


@dataclass(frozen=True)
class AggregationSpec:
    """One ``[[aggregations]]`` entry. ``window_kind`` is tumbling (``size_ms``), sliding
    (``size_ms`` and ``slide_ms``) or session (``gap_ms``); unused sizes are 0.
    ``measures`` maps output names to canonical measure strings (``p99(latency_ms)``).
    ``idle_timeout_ms`` is ``None`` when partitions never count as idle."""

    name: str
    window_kind: str
    size_ms: int
    slide_ms: int
    gap_ms: int
    group_by: tuple[str, ...]
    measures: dict[str, str]
    time_field: str
    max_out_of_orderness_ms: int
    allowed_lateness_ms: int
    idle_timeout_ms: int | None
    sinks: tuple[str, ...]


@dataclass(frozen=True)
class PipelineSpec:
    """A loaded, checked pipeline spec; ``text`` is the TOML as written and ``source_name``
    the file (or name) it came from."""

    name: str
    tenant: str
    description: str
    settings: Settings
    source: SourceSpec
    schema: SchemaRef | None
    steps: tuple[StepSpec, ...]
    routing: RoutingSpec
    aggregations: tuple[AggregationSpec, ...]
    text: str = field(repr=False)
    source_name: str = ""

    def rollup_fields(self) -> dict[str, set[str]]:
        """Each measured field with the rollup columns the store must fill for it, over
        all aggregations: ``{"*": {"count"}, "latency_ms": {"sum", "min", "max", "m2",
        "digest"}, "user_id": {"hll"}}`` (see :mod:`datanexus.pipeline.measures`)."""
        out: dict[str, set[str]] = {}
        for agg in self.aggregations:
            for name, text in agg.measures.items():
                metric, kinds = rollup_kinds(parse_measure(text, where=f"{agg.name}.{name}"))
                out.setdefault(metric, set()).update(kinds)
        return out

    def dims(self) -> list[str]:
        """The group-by fields of all aggregations, in first-seen order."""
        seen: dict[str, None] = {}
        for agg in self.aggregations:
            seen.update(dict.fromkeys(agg.group_by))
        return list(seen)

    def compile(
        self, validator: Callable[[dict[str, Any]], list[str]] | None = None
    ) -> CompiledPipeline:
        """A fresh :class:`~datanexus.pipeline.compiled.CompiledPipeline` (own counters)."""
        from datanexus.pipeline.compiled import CompiledPipeline

        return CompiledPipeline(self, validator=validator)
