"""Preview: what each step does to sample events (PIPE-1), without side effects.

:func:`preview` compiles a fresh pipeline (its own counters), deep-copies the samples and
walks each one through the stages one at a time, recording every stage's output. The
samples, the spec and any other compiled pipeline are left untouched; nothing is written
anywhere. Stages are ``schema`` (when a validator is given), each transform step by name,
``event_time`` (PIPE-11) and ``route`` (when routes are declared).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datanexus.errors import MissingField, TransformError
from datanexus.pipeline.dates import event_time_ms

if TYPE_CHECKING:
    from datanexus.pipeline.spec import PipelineSpec

__all__ = ["SampleResult", "StepReport", "preview"]

Event = dict[str, Any]


@dataclass(frozen=True)
class SampleResult:
    """One sample at one stage: ``status`` is ``ok``, ``filtered``, ``skipped`` (missing
    field with ``on_error = "skip"``), ``error`` or ``not_reached`` (an earlier stage
    stopped it); ``event`` is the stage's output (``None`` unless ok/skipped); ``error``
    the reason; ``destinations`` the route stage's choice."""

    status: str
    event: Event | None = None
    error: str | None = None
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepReport:
    """One stage: its ``step`` name, ``op`` and one :class:`SampleResult` per sample."""

    step: str
    op: str
    results: tuple[SampleResult, ...]

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error is not None]


def preview(
    spec: PipelineSpec,
    samples: Sequence[Event],
    *,
    validator: Callable[[Event], list[str]] | None = None,
    now_ms: int | None = None,
) -> list[StepReport]:
    """Run ``samples`` through ``spec`` stage by stage; see the module docstring."""
    pipeline = spec.compile(validator=validator)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    current: list[Event | None] = [copy.deepcopy(s) for s in samples]
    reports: list[StepReport] = []

    def stage(step: str, op: str, fn: Callable[[Event], SampleResult]) -> None:
        results = []
        for i, event in enumerate(current):
            if event is None:
                results.append(SampleResult("not_reached"))
                continue
            result = fn(event)
            results.append(result)
            current[i] = result.event if result.status in ("ok", "skipped") else None
        reports.append(StepReport(step, op, tuple(results)))

    if validator is not None:

        def validate(event: Event) -> SampleResult:
            reasons = validator(event)
            if reasons:
                return SampleResult("error", error="; ".join(reasons))
            return SampleResult("ok", copy.deepcopy(event))

        stage("schema", "schema", validate)
    for step in pipeline.steps:

        def run(event: Event, step: Any = step) -> SampleResult:
            work = copy.deepcopy(event)
            try:
                out = step.apply(work)
            except MissingField as exc:
                if step.skip_missing:
                    return SampleResult("skipped", copy.deepcopy(event), exc.reason)
                return SampleResult("error", error=exc.reason)
            except TransformError as exc:
                return SampleResult("error", error=exc.reason)
            if out is None:
                return SampleResult("filtered")
            return SampleResult("ok", copy.deepcopy(out))

        stage(step.name, step.op, run)
    limit = now + spec.settings.max_future_skew_ms
    time_path = pipeline.time_path

    def check_time(event: Event) -> SampleResult:
        try:
            ts = event_time_ms(time_path.get(event), pipeline.zone)
        except TransformError:
            ts = None
        if ts is None:
            return SampleResult(
                "error", error=f"invalid_timestamp: {time_path.text} is missing or not a time"
            )
        if ts > limit:
            return SampleResult("error", error="future_timestamp")
        return SampleResult("ok", event)

    stage("event_time", "event_time", check_time)
    router = pipeline.router
    if router is not None:

        def route(event: Event) -> SampleResult:
            try:
                return SampleResult("ok", event, destinations=router(event)[0])
            except TransformError as exc:
                return SampleResult("error", error=exc.reason)

        stage("route", "route", route)
    return reports
