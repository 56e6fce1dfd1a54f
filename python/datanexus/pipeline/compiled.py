"""A spec made runnable: :class:`CompiledPipeline` runs validation, the transform steps,
the event-time checks and routing over a batch of events.

Per event, in order (PIPE-18):

1. the optional ``validator`` (JSON Schema, from the registry): reasons → dead letter,
   step ``"schema"``;
2. the steps in declaration order, each on the previous step's output;
3. the event time at ``settings.time_field``: missing or unreadable → dead letter
   (``invalid_timestamp: …``), more than ``max_future_skew`` after ``now_ms`` → dead
   letter ``future_timestamp`` (PIPE-11), both with step ``"event_time"``;
4. routing, if routes are declared: the destinations get the event in ``routed``.

Dead letters carry the event *as received*, never a half-transformed one (CONN-6): the
steps work on a copy — a shallow one when every step writes top-level fields only, a deep
one when some step writes a nested path. An event whose condition fails in a filter is
counted as ``filtered``, not as an error.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datanexus.errors import MissingField, TransformError
from datanexus.pipeline.dates import event_time_ms, load_zone
from datanexus.pipeline.expressions import Expression
from datanexus.pipeline.paths import parse_path
from datanexus.pipeline.reader import Table
from datanexus.pipeline.routing import ContentRouter, RouteRule, TopicExchange, expand
from datanexus.pipeline.steps import BuildContext, Step, StepCounters, build_step

if TYPE_CHECKING:
    from datanexus.pipeline.spec import PipelineSpec

__all__ = ["CompiledPipeline", "DeadLetter", "StepOutput"]

_log = logging.getLogger(__name__)

Event = dict[str, Any]
DeadLetter = tuple[Event, str, str]
Validator = Callable[[Event], list[str]]


@dataclass
class StepOutput:
    """The result of one :meth:`CompiledPipeline.process` call: the ``events`` that passed,
    the ``dead`` letters ``(event as received, step, reason)``, the number ``filtered``,
    ``routed`` (destination → events), this call's per-step ``counters`` and the number of
    ``unroutable`` events (no route matched: they went to the alternate destination)."""

    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    filtered: int = 0
    routed: dict[str, list[Event]] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    unroutable: int = 0


class CompiledPipeline:
    """See the module docstring. ``counters`` accumulate over calls (step name → counts);
    each :class:`StepOutput` has the counts of its own call. Not thread-safe: compile one
    per worker (compiling is cheap; :meth:`PipelineSpec.compile` gives fresh counters)."""

    def __init__(self, spec: PipelineSpec, *, validator: Validator | None = None) -> None:
        self.spec = spec
        self.validator = validator
        zone = load_zone(spec.settings.time_zone, where="pipeline.time_zone")
        self.zone = zone
        ctx = BuildContext(zone=zone, udf_timeout_ms=spec.settings.udf_timeout_ms)
        self.steps: list[Step] = [
            build_step(
                Table(
                    {"op": s.op, **s.options},
                    source=spec.source_name,
                    path=f"transforms[{s.index}]",
                ),
                s.index,
                ctx,
            )
            for s in spec.steps
        ]
        self.deep_copy = any(p.depth > 1 for s in self.steps for p in s.written())
        self.time_path = parse_path(spec.settings.time_field, where="pipeline.time_field")
        self.router = _build_router(spec, ctx)
        """Event → (destinations, matched), or ``None`` without routes."""
        self.counters: dict[str, StepCounters] = {s.name: s.counters for s in self.steps}

    def process(self, events: list[Event], *, now_ms: int) -> StepOutput:
        """Run every event of the batch; never raises for a bad event."""
        out = StepOutput()
        before = {name: _snapshot(c) for name, c in self.counters.items()}
        validator, steps, router = self.validator, self.steps, self.router
        deep = self.deep_copy
        max_ts = now_ms + self.spec.settings.max_future_skew_ms
        time_path, zone = self.time_path, self.zone
        passed, dead = out.events, out.dead
        for original in events:
            if validator is not None:
                try:
                    reasons = validator(original)
                except Exception as exc:  # a validator bug must not stop the batch
                    _log.exception("schema validator failed on an event")
                    reasons = [f"validator failed: {type(exc).__name__}: {exc}"]
                if reasons:
                    dead.append((original, "schema", "; ".join(reasons)))
                    continue
            event: Event | None = _deepcopy(original) if deep else dict(original)
            failed = False
            for step in steps:
                counters = step.counters
                counters.in_ += 1
                assert event is not None
                try:
                    event = step.apply(event)
                except MissingField as exc:
                    if step.skip_missing:
                        counters.skipped += 1
                        counters.out += 1
                        continue
                    counters.errors += 1
                    dead.append((original, step.name, exc.reason))
                    failed = True
                    break
                except TransformError as exc:
                    counters.errors += 1
                    dead.append((original, step.name, exc.reason))
                    failed = True
                    break
                except Exception as exc:
                    # A bug rather than bad input; still the event is kept and the batch
                    # goes on, and the log has the traceback.
                    _log.exception("step %s failed unexpectedly", step.name)
                    counters.errors += 1
                    dead.append(
                        (original, step.name, f"internal error: {type(exc).__name__}: {exc}")
                    )
                    failed = True
                    break
                if event is None:
                    counters.filtered += 1
                    out.filtered += 1
                    break
                counters.out += 1
            if failed or event is None:
                continue
            try:
                ts = event_time_ms(time_path.get(event), zone)
            except TransformError:
                ts = None
            if ts is None:
                dead.append(
                    (
                        original,
                        "event_time",
                        f"invalid_timestamp: {time_path.text} is missing or not a time",
                    )
                )
                continue
            if ts > max_ts:
                dead.append((original, "event_time", "future_timestamp"))
                continue
            if router is not None:
                try:
                    destinations, matched = router(event)
                except TransformError as exc:
                    dead.append((original, "route", exc.reason))
                    continue
                if not matched:
                    out.unroutable += 1
                for d in destinations:
                    out.routed.setdefault(d, []).append(event)
            passed.append(event)
        out.counters = {name: _diff(c, before[name]) for name, c in self.counters.items()}
        return out


Router = Callable[[Event], tuple[tuple[str, ...], bool]]


def _build_router(spec: PipelineSpec, ctx: BuildContext) -> Router | None:
    """Event → (destinations, whether a route matched); ``None`` without routes."""
    routing = spec.routing
    if not routing.routes:
        return None
    groups = routing.groups
    if routing.mode == "topic":
        assert routing.key is not None
        key_expr = Expression(routing.key, where="routing.key", timeout_ms=ctx.udf_timeout_ms)
        exchange = TopicExchange(
            [(r.topic or "", r.destination) for r in routing.routes],
            groups=groups,
            alternate=routing.alternate,
        )

        def by_topic(event: Event) -> tuple[tuple[str, ...], bool]:
            key = key_expr.evaluate(event)
            if not isinstance(key, str):
                raise TransformError(f"routing key {routing.key!r} gave {key!r}, not a string")
            missed = exchange.unroutable
            destinations = exchange.route(key)
            return destinations, exchange.unroutable == missed

        return by_topic
    rules = [
        RouteRule(
            r.name,
            Expression(r.when, where=f"routes.{r.name}.when", timeout_ms=ctx.udf_timeout_ms).test,
            r.destination,
            r.priority,
        )
        for r in routing.routes
    ]
    router = ContentRouter(rules)
    alternate = routing.alternate

    def by_content(event: Event) -> tuple[tuple[str, ...], bool]:
        result = router.route(event)
        if result.rule is None:
            return (alternate,), False
        return expand(result.destination, groups), True

    return by_content


def _deepcopy(event: Event) -> Event:
    return copy.deepcopy(event)


def _snapshot(c: StepCounters) -> StepCounters:
    return StepCounters(c.in_, c.out, c.filtered, c.errors, c.skipped, c.unparseable)


def _diff(now: StepCounters, before: StepCounters) -> dict[str, int]:
    a, b = now.as_dict(), before.as_dict()
    return {k: a[k] - b[k] for k in a}
