"""The Bytewax dataflow of a pipeline spec: source → decode → transforms → windows →
PostgreSQL rollups and Redis live results.

Steps (step ids in brackets):

1. ``[in]`` the spec's source (:mod:`datanexus.connectors.registry`), wrapped in
   :class:`PartitionedSource` so that watermarks follow each source partition, and each
   partition is a connector task of the flow (CONN-8, :mod:`datanexus.stream.task_tracking`:
   claimed when built, paused and stopped by the operator, STOPPED at its end; the run
   marks FAILED ones in :func:`datanexus.runner.run_flow`);
2. ``[prepare]`` per batch: message bodies are decoded (undecodable → dead letter
   ``decode``), then the compiled pipeline runs its schema check and steps in order
   (failures → dead letter with the step and reason; the original body is stored, never a
   half-transformed event, CONN-6); events are grouped per batch, never per event;
3. ``[dedup]`` repeats of an event id within the spec's ``dedup_window`` (wall clock,
   per source partition) become dead letters ``duplicate`` (STREAM-13/14);
4. ``[agg_<name>]`` one :func:`window_aggregate` per aggregation, computing the user's
   measures and the mergeable columns of the store (:mod:`datanexus.stream.rollup`);
5. ``[rows_<name>]`` window results → rollup rows (tumbling windows; the granularity is
   the window size) and live updates; late events → dead letter ``late``;
6. ``[store]`` one :class:`PostgresSink` (rows, dead letters, progress rows — idempotent,
   so a replay after a crash changes nothing) and ``[live]`` one :class:`RedisLiveSink`.

Nothing here runs per event in Python except the spec's transforms, which are per event
by nature; the windows run natively on whole batches.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulBatchLogic

from datanexus._native import WindowResult
from datanexus.connectors.decode import Decoded, MessageBatch, decode_batch
from datanexus.connectors.idempotency import idempotency_key
from datanexus.connectors.postgres import PostgresSink
from datanexus.connectors.redis_live import LiveUpdate, RedisLiveSink
from datanexus.connectors.registry import SourceContext, make_source, task_id
from datanexus.errors import RecordRejected
from datanexus.pipeline import AggregationSpec, PipelineSpec
from datanexus.pipeline.schema import SchemaValidator
from datanexus.pipeline.storage import StoredAggregation, stored_aggregations
from datanexus.retry import Retrier
from datanexus.store.dead_letters import DeadLetter
from datanexus.stream.dedup import DUPLICATE, Deduplicator
from datanexus.stream.dedup_keys import LocalSeenKeys
from datanexus.stream.rollup import RollupRows, rollup_measures
from datanexus.stream.sources import PartitionedSource, SourceBatch
from datanexus.stream.task_tracking import TaskTracking
from datanexus.stream.window_aggregate import DEFAULT_SHARDS, window_aggregate
from datanexus.stream.windows import Session, Sliding, Tumbling, Window

__all__ = ["FlowTargets", "build_pipeline_flow"]

_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class FlowTargets:
    """Where a pipeline flow reads and writes (URLs are secrets: never log them)."""

    database_url: str
    redis_url: str
    amqp_url: str | None = None
    schema: str = "datanexus"


def _window(agg: AggregationSpec) -> Window:
    if agg.window_kind == "tumbling":
        return Tumbling(agg.size_ms * _MS)
    if agg.window_kind == "sliding":
        return Sliding(agg.size_ms * _MS, agg.slide_ms * _MS)
    return Session(agg.gap_ms * _MS)


def _batch_len(batch: SourceBatch[Any]) -> int:
    return sum(len(x) if isinstance(x, MessageBatch) else 1 for x in batch.events)


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, Any]) -> Any:
    return pair[1]


def _partition_of(batch: SourceBatch[Any]) -> str:
    return batch.partition


def _report(on_events: Callable[[int], None], _step: str, batch: SourceBatch[Any]) -> None:
    on_events(_batch_len(batch))


def _late_letter(stage: str, tenant: str, pipeline: str, event: Any) -> DeadLetter:
    return _letter(event, stage, "late", "beyond the allowed lateness", tenant, pipeline)


def _error_letter(stage: str, tenant: str, pipeline: str, pair: tuple[Any, str]) -> DeadLetter:
    return _letter(pair[0], stage, "unwindowable", pair[1], tenant, pipeline)


def _letter(
    event: Any, stage: str, reason: str, error: str, tenant: str, pipeline: str
) -> DeadLetter:
    """A dead letter of an event past decoding whose message is unknown here: connector
    ``pipeline:<name>``, partition the stage, offset the event's key. Keyed by (step,
    event id or content hash): a replay after a crash adds no second row. The payload is
    redacted when stored (:mod:`datanexus.store.dead_letters`)."""
    if isinstance(event, dict):
        payload = json.dumps(event, default=str).encode()
        position: str | None = idempotency_key(event)
    else:
        payload, position = repr(event).encode(), None
    source = f"pipeline:{pipeline}"
    return DeadLetter(source, stage, position, stage, reason, error, payload, tenant)


class _Prepare:
    """Decode and transform one tagged batch; returns the batch of surviving events and
    the dead letters (with the decode progress riding along).

    Error tolerance (CONN-7, ``[source] errors``): ``"all"`` (default) dead-letters a bad
    record and continues; ``"none"`` raises :class:`RecordRejected` on the first one,
    naming connector, partition, offset and stage, which fails the flow. A step's dead
    letter names the message it came from (connector, partition, offset) in its columns,
    when known, and in its error."""

    def __init__(self, spec: PipelineSpec, flow: str, validator: Any) -> None:
        self._spec = spec
        self._flow = flow
        self._fail_fast = spec.source.options.get("errors", "all") == "none"
        if validator is None and spec.schema is not None:
            validator = SchemaValidator(spec.schema.document)
        self._compiled = spec.compile(validator=validator)

    def __call__(self, batch: SourceBatch[Any]) -> tuple[SourceBatch[Any], list[Any]]:
        tenant = self._spec.tenant
        events: list[dict[str, Any]] = []
        store: list[Any] = []
        decoded_from: list[tuple[MessageBatch, Decoded, list[dict[str, Any]]]] = []
        for item in batch.events:
            if isinstance(item, MessageBatch):
                decoded = decode_batch(item, flow=self._flow, tenant=tenant, require_ts=False)
                if self._fail_fast and decoded.dead_letters:
                    first = decoded.dead_letters[0]
                    raise RecordRejected(connector=item.source, partition=item.partition,
                                         offset=first.position, stage=first.stage,
                                         reason=first.error)  # fmt: skip
                events.extend(decoded.events)
                decoded_from.append((item, decoded, decoded.events))
                decoded.events = []  # the sink needs only its dead letters and progress
                store.append(decoded)
            else:
                events.append(item)
        out = self._compiled.process(events, now_ms=time.time_ns() // 1_000_000)
        if out.dead:
            origins = _origins(decoded_from)
            for dead in out.dead:
                event, step, reason = dead
                connector, partition, offset = origins.get(
                    id(event), ("pipeline", str(batch.partition), None)
                )
                if self._fail_fast:
                    raise RecordRejected(connector=connector, partition=partition,
                                         offset=offset, stage=step, reason=reason)  # fmt: skip
                where = f"{connector} partition {partition!r} offset {offset}"
                letter = _letter(event, step, "invalid", reason, tenant, self._spec.name)
                letter = letter._replace(error=f"{reason} (at {where})")
                if offset is not None:
                    # The message it came from is known: the entry names it, like a
                    # decode failure (CONN-7); that key is unique, so a replay adds none.
                    letter = letter._replace(source=connector, partition=partition,
                                             position=offset)  # fmt: skip
                store.append(letter)
        return SourceBatch(batch.partition, batch.partitions, out.events), store


class _Dedup(StatefulBatchLogic[SourceBatch[Any], tuple[SourceBatch[Any], list[Any]], object]):
    """STREAM-13/14 per source partition (the Bytewax key): repeats of an event's
    ``dedup_key`` or ``id`` within the wall-clock window leave as dead letters
    ``duplicate``; the seen identities are snapshotted with the flow, so a replay after a
    crash sees what the interrupted run had seen at the snapshot, no more."""

    def __init__(self, spec: PipelineSpec, state: object | None) -> None:
        window = spec.settings.dedup_window_ms
        seen = LocalSeenKeys(window) if state is None else LocalSeenKeys.restore(state, window)
        self._dedup = Deduplicator(seen, time_field=spec.settings.time_field)
        self._spec = spec

    def on_batch(
        self, values: list[SourceBatch[Any]]
    ) -> tuple[list[tuple[SourceBatch[Any], list[Any]]], bool]:
        out = []
        for batch in values:
            kept, repeats = self._dedup.process(batch.events)
            letters = [
                _letter(e, "dedup", DUPLICATE, "seen within the dedup window",
                        self._spec.tenant, self._spec.name)
                for e, _ in repeats
            ]  # fmt: skip
            out.append((SourceBatch(batch.partition, batch.partitions, kept), letters))
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> object:
        return self._dedup.seen.snapshot()


def _origins(
    decoded_from: list[tuple[MessageBatch, Decoded, list[dict[str, Any]]]],
) -> dict[int, tuple[str, str, str | None]]:
    """id(event) → (connector, partition, offset) of the message it was decoded from: the
    events of a decoded batch are its messages in order, minus the dead-lettered ones."""
    origins: dict[int, tuple[str, str, str | None]] = {}
    for item, decoded, decoded_events in decoded_from:
        rejected = {d.position for d in decoded.dead_letters}
        kept = [p for p in item.positions if p not in rejected]
        for position, event in zip(kept, decoded_events, strict=True):
            origins[id(event)] = (item.source, item.partition, position)
    return origins


def _rows_and_updates(
    spec: PipelineSpec, agg: AggregationSpec, stored: StoredAggregation | None
) -> Callable[[WindowResult], list[Any]]:
    user = tuple(agg.measures)
    group_by = tuple(agg.group_by)
    live = "redis_live" in agg.sinks
    rows = (
        None
        if stored is None
        else RollupRows(
            tenant=spec.tenant,
            pipeline=stored.rollup_name,
            group_by=group_by,
            granularity_ms=agg.size_ms,
            fields=stored.fields,
        )
    )

    def convert(result: WindowResult) -> list[Any]:
        out: list[Any] = []
        values = result.values  # built once: it copies the sketch images
        if rows is not None and not result.retracted:
            out.extend(rows(result, values))
        if live:
            key = "|".join(f"{g}={v}" for g, v in zip(group_by, result.key, strict=True))
            out.append(
                LiveUpdate(
                    spec.tenant,
                    spec.name,
                    f"{agg.name}|{key}|{result.start_ms}",
                    result.revision,
                    {
                        "aggregation": agg.name,
                        "key": dict(zip(group_by, result.key, strict=True)),
                        "start_ms": result.start_ms,
                        "end_ms": result.end_ms,
                        "revision": result.revision,
                        "retracted": result.retracted,
                        "values": {name: values.get(name) for name in user},
                    },
                )
            )
        return out

    return convert


def build_pipeline_flow(
    spec: PipelineSpec,
    targets: FlowTargets,
    *,
    validator: Any = None,
    stop_at_end: bool = False,
    batch_size: int = 1000,
    shards: int | None = None,
    on_events: Callable[[int], None] | None = None,
    store_retrier: Callable[[], Retrier] | None = None,
    live_retrier: Callable[[], Retrier] | None = None,
    track_tasks: bool = True,
) -> Dataflow:
    """The dataflow running ``spec`` against ``targets``. ``stop_at_end`` ends replayable
    sources at the position they had when the flow started (finite runs: the demo,
    backfills); otherwise the flow runs until stopped. ``validator`` (a callable returning
    the reasons an event is invalid; default: the spec's JSON Schema) runs before the
    spec's steps. ``on_events`` is called
    with the number of events (or messages) of each input batch, for progress displays.
    ``store_retrier`` / ``live_retrier`` build the retry policy (backoff, circuit breaker)
    of the PostgreSQL / Redis live sink; default: each sink's own. ``track_tasks``
    (default) makes each source partition a connector task ``(flow_name, task_id)`` of
    the spec's tenant in ``targets.schema`` (CONN-8); off, the flow does not touch the
    task table and operators cannot pause or stop its partitions."""
    flow_name = f"pipeline_{spec.name}"
    flow = Dataflow(flow_name)
    context = SourceContext(
        tenant=spec.tenant,
        pipeline=spec.name,
        redis_url=targets.redis_url,
        amqp_url=targets.amqp_url,
        batch_size=batch_size,
        stop_at_end=stop_at_end,
    )
    tracking = None
    if track_tasks:
        tracking = TaskTracking(
            targets.database_url,
            targets.schema,
            spec.tenant,
            flow_name,
            task_id=functools.partial(task_id, spec.source.kind),
        )
    source: PartitionedSource[Any, Any] = PartitionedSource(
        make_source(spec.source.kind, spec.source.options, context), tracking
    )
    batches: Stream[SourceBatch[Any]] = op.input("in", flow, source)
    if on_events is not None:
        op.inspect("progress", batches, functools.partial(_report, on_events))
    prepared = op.map("prepare", batches, _Prepare(spec, flow_name, validator))
    to_store: list[Stream[Any]] = [op.flat_map("dead_letters", prepared, _second)]
    events: Stream[SourceBatch[Any]] = op.map("events", prepared, _first)
    if spec.settings.dedup_window_ms > 0:
        by_partition = op.key_on("by_partition", events, _partition_of)
        deduped = op.key_rm(
            "deduped",
            op.stateful_batch("dedup", by_partition, functools.partial(_Dedup, spec)),
        )
        to_store.append(op.flat_map("duplicates", deduped, _second))
        events = op.map("unique_events", deduped, _first)
    live: list[Stream[Any]] = []
    stored = {id(x.aggregation): x for x in stored_aggregations(spec)}
    tenant = spec.tenant
    for agg in spec.aggregations:
        store_as = stored.get(id(agg))
        measures = dict(agg.measures)
        if store_as is not None:
            measures.update(rollup_measures(store_as.fields))
        out = window_aggregate(
            f"agg_{agg.name}",
            events,
            window=_window(agg),
            measures=measures,
            group_by=tuple(agg.group_by),
            time_field=agg.time_field,
            max_out_of_orderness=agg.max_out_of_orderness_ms * _MS,
            allowed_lateness=agg.allowed_lateness_ms * _MS,
            idle_timeout=agg.idle_timeout_ms * _MS if agg.idle_timeout_ms else None,
            shards=shards or DEFAULT_SHARDS,
        )
        converted = op.flat_map(
            f"rows_{agg.name}", out.results, _rows_and_updates(spec, agg, store_as)
        )
        split = op.branch(f"kinds_{agg.name}", converted, lambda x: isinstance(x, LiveUpdate))
        live.append(split.trues)
        to_store.append(split.falses)
        stage = f"window:{agg.name}"
        late = functools.partial(_late_letter, stage, tenant, spec.name)
        unwindowable = functools.partial(_error_letter, stage, tenant, spec.name)
        to_store.append(op.map(f"late_{agg.name}", out.late, late))
        to_store.append(op.map(f"unwindowable_{agg.name}", out.errors, unwindowable))
    op.output(
        "store",
        op.merge("to_store", *to_store),
        PostgresSink(
            targets.database_url,
            flow=flow_name,
            schema=targets.schema,
            retrier_factory=store_retrier,
        ),
    )
    if live:
        op.output(
            "live",
            op.merge("to_live", *live),
            RedisLiveSink(targets.redis_url, retrier_factory=live_retrier),
        )
    return flow
