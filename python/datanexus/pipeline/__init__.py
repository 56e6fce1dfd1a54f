"""Pipeline specs (TOML), transforms and routing — a platform module (no Bytewax, no
native code).

* :func:`load_spec` / :func:`parse_spec` → :class:`PipelineSpec`, checked at load (PIPE-1);
  the format is in docs/pipelines.md.
* :meth:`PipelineSpec.compile` → :class:`CompiledPipeline`, whose ``process`` runs a batch
  through validation, the steps, the event-time checks and routing (:class:`StepOutput`).
* :func:`preview` shows each step's output and errors for sample events, without side
  effects.
* Routing building blocks: :class:`ContentRouter`, :class:`TopicExchange`,
  :func:`topic_matches`, :class:`EndpointSelector`.
"""

from __future__ import annotations

from datanexus.pipeline.compiled import CompiledPipeline, DeadLetter, StepOutput
from datanexus.pipeline.endpoints import EndpointSelector
from datanexus.pipeline.loader import load_spec, parse_spec
from datanexus.pipeline.paths import FieldPath, parse_path
from datanexus.pipeline.preview import SampleResult, StepReport, preview
from datanexus.pipeline.routing import (
    DEAD_LETTER,
    ContentRouter,
    RouteResult,
    RouteRule,
    TopicExchange,
    topic_matches,
)
from datanexus.pipeline.spec import (
    AggregationSpec,
    PipelineSpec,
    SchemaRef,
    Settings,
    SourceSpec,
    StepSpec,
)

__all__ = [
    "DEAD_LETTER",
    "AggregationSpec",
    "CompiledPipeline",
    "ContentRouter",
    "DeadLetter",
    "EndpointSelector",
    "FieldPath",
    "PipelineSpec",
    "RouteResult",
    "RouteRule",
    "SampleResult",
    "SchemaRef",
    "Settings",
    "SourceSpec",
    "StepOutput",
    "StepReport",
    "StepSpec",
    "TopicExchange",
    "load_spec",
    "parse_path",
    "parse_spec",
    "preview",
    "topic_matches",
]
