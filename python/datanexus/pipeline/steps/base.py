"""What every transform step shares: its counters, the build context, common options.

A step is a small object with ``apply(event) -> event | None``: it returns the event
(mutated in place, or a new dict), ``None`` when the event is filtered out (PIPE-16:
filtered is not an error), or raises :class:`~datanexus.TransformError` saying why the
event cannot go on. The pipeline owns copying: ``apply`` may mutate its argument, which
is never the event as received (see :mod:`datanexus.pipeline.compiled`).

Options common to every step: ``op`` (the step kind), ``name`` (unique, defaults to
``<op>_<index>``) and ``on_error`` — ``"error"`` (default: a missing field sends the
event to the dead-letter output) or ``"skip"`` (DEC-1: a missing field leaves the event
unchanged by this step and counts it as skipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar

from datanexus.errors import ConfigError
from datanexus.pipeline.paths import FieldPath, parse_path
from datanexus.pipeline.reader import Table

__all__ = ["NAME_PATTERN", "BuildContext", "Step", "StepCounters"]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(slots=True)
class StepCounters:
    """Events seen (``in_``), passed on (``out``), filtered, failed, skipped (missing field
    with ``on_error = "skip"``) and, for timestamp steps, left unparseable."""

    in_: int = 0
    out: int = 0
    filtered: int = 0
    errors: int = 0
    skipped: int = 0
    unparseable: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "in": self.in_,
            "out": self.out,
            "filtered": self.filtered,
            "errors": self.errors,
            "skipped": self.skipped,
            "unparseable": self.unparseable,
        }

    def add(self, other: StepCounters) -> None:
        self.in_ += other.in_
        self.out += other.out
        self.filtered += other.filtered
        self.errors += other.errors
        self.skipped += other.skipped
        self.unparseable += other.unparseable


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What steps need from the spec: the pipeline zone for naive dates and the UDF limit."""

    zone: tzinfo
    udf_timeout_ms: int = 30_000


class Step:
    """Base of the step classes; see the module docstring."""

    op: ClassVar[str] = ""

    def __init__(self, name: str, *, skip_missing: bool = False) -> None:
        self.name = name
        self.skip_missing = skip_missing
        self.counters = StepCounters()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError

    def written(self) -> tuple[FieldPath, ...]:
        """Paths this step writes or removes; the pipeline copies events deeply only when
        one of them is nested."""
        return ()


def read_path(table: Table, key: str, default: Any = ...) -> Any:
    """A field path option, or ``default`` when given and absent."""
    if default is not ... and not table.has(key):
        table.raw(key, None)
        return default
    return parse_path(table.raw(key), where=table.where(key))


def read_paths(table: Table, key: str) -> list[FieldPath]:
    return [parse_path(p, where=table.where(key)) for p in table.str_list(key, nonempty=True)]


def check_name(name: str, where: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{where}: name {name!r} must match [a-z][a-z0-9_]{{0,62}}")
    return name
