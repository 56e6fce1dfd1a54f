"""Transform steps (PIPE-10..18): the registry of ``op`` names and :func:`build_step`.

Every ``[[transforms]]`` table names its kind with ``op``; unknown kinds fail the spec
(DEC-9). See :mod:`datanexus.pipeline.steps.base` for the step contract and the options
every step shares, and docs/pipelines.md for each step's options.
"""

from __future__ import annotations

from typing import Any, Protocol

from datanexus.pipeline.reader import Table
from datanexus.pipeline.steps.base import BuildContext, Step, StepCounters, check_name
from datanexus.pipeline.steps.fields import (
    FlattenStep,
    InsertStep,
    MaskStep,
    NullsStep,
    RemoveStep,
    RenameStep,
    flatten_list,
)
from datanexus.pipeline.steps.logic import DeriveStep, FilterStep, compare
from datanexus.pipeline.steps.values import (
    CaseStep,
    CastStep,
    RegexExtractStep,
    RegexMatchStep,
    RegexReplaceStep,
    TimestampStep,
    compile_re2,
)

__all__ = [
    "OPS",
    "BuildContext",
    "Step",
    "StepCounters",
    "build_step",
    "compare",
    "compile_re2",
    "flatten_list",
]


class _Builder(Protocol):
    def __call__(self, t: Table, name: str, ctx: BuildContext, **kw: Any) -> Step: ...


OPS: dict[str, _Builder] = {
    cls.op: cls.build
    for cls in (
        RenameStep,
        InsertStep,
        RemoveStep,
        MaskStep,
        NullsStep,
        FlattenStep,
        CastStep,
        CaseStep,
        TimestampStep,
        RegexExtractStep,
        RegexReplaceStep,
        RegexMatchStep,
        FilterStep,
        DeriveStep,
    )
}


def build_step(table: Table, index: int, ctx: BuildContext) -> Step:
    """Build step ``index`` from its table; :class:`~datanexus.ConfigError` naming the
    key path for an unknown ``op``, a bad or unknown option."""
    op = table.string("op", choices=tuple(OPS))
    name = check_name(table.string("name", f"{op}_{index}"), table.where("name"))
    skip = table.string("on_error", "error", choices=("error", "skip")) == "skip"
    step = OPS[op](table, name, ctx, skip_missing=skip)
    table.done()
    return step
