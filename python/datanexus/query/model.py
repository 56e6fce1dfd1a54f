"""The checked query: what the checker hands the planner, built only from allow-listed
parts. Nothing in here is SQL text; user values are plain Python values that travel to
PostgreSQL as bind parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "And",
    "Cmp",
    "ColumnRef",
    "Condition",
    "InList",
    "IsNull",
    "Like",
    "Measure",
    "Not",
    "Or",
    "OrderItem",
    "OutputColumn",
    "Query",
    "TimeBound",
    "Value",
]

Value: TypeAlias = str | int | float | bool
"""A literal of the language: string, number or boolean (NULL only in IS [NOT] NULL)."""

MeasureKind = Literal[
    "count", "sum", "avg", "min", "max", "stddev", "quantile", "distinct", "rate", "increase"
]
CmpOp = Literal["=", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Measure:
    """One aggregate over the rollup rows of ``field`` (None: the event count rows, '*').

    ``q`` is the quantile of a ``pNN`` measure (0.999 for p99.9)."""

    kind: MeasureKind
    field: str | None
    q: float | None = None
    name: str = ""
    """Canonical spelling: ``count()``, ``p99(latency_ms)``, ``distinct(user_id)``."""

    @property
    def metric(self) -> str:
        """The rollup ``metric`` whose rows this measure reads."""
        return "*" if self.field is None else self.field

    @property
    def approximate(self) -> bool:
        return self.kind in ("quantile", "distinct")


@dataclass(frozen=True)
class ColumnRef:
    """A reference to a per-group value: ``time`` (the bucket start), a dim, or a measure
    (by its canonical name)."""

    kind: Literal["time", "dim", "measure"]
    name: str


@dataclass(frozen=True)
class OutputColumn:
    label: str
    ref: ColumnRef


@dataclass(frozen=True)
class Cmp:
    """``left op value``; ``left`` is a dim (in WHERE) or any ref (in HAVING)."""

    left: ColumnRef
    op: CmpOp
    value: Value


@dataclass(frozen=True)
class InList:
    left: ColumnRef
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """SQL LIKE/ILIKE: only ``%`` and ``_`` are wildcards; everything else is literal."""

    left: ColumnRef
    pattern: str
    case_insensitive: bool = False
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    left: ColumnRef
    negated: bool = False


@dataclass(frozen=True)
class And:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition: TypeAlias = Cmp | InList | Like | IsNull | And | Or | Not


@dataclass(frozen=True)
class TimeBound:
    """``time op (base + offset_ms)``: base is ``now()`` when ``absolute_ms`` is None."""

    op: Literal["<", "<=", ">", ">=", "="]
    absolute_ms: int | None
    offset_ms: int = 0

    def resolve(self, now_ms: int) -> int:
        return (now_ms if self.absolute_ms is None else self.absolute_ms) + self.offset_ms


@dataclass(frozen=True)
class OrderItem:
    ref: ColumnRef
    desc: bool = False
    nulls_first: bool = False


@dataclass(frozen=True)
class Query:
    """A checked query against one pipeline of one tenant's catalog."""

    stream: str
    columns: tuple[OutputColumn, ...]
    measures: tuple[Measure, ...]
    """Every measure the query computes: those of SELECT, then those only HAVING or
    ORDER BY use."""
    where: Condition | None
    time_bounds: tuple[TimeBound, ...]
    bucket_ms: int | None
    group_dims: tuple[str, ...]
    having: Condition | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int
    normalized: str
    """The query as sqlglot writes the parsed tree back: whitespace, case and quoting
    normalised; the key of the plan and result caches and what cursors are bound to."""

    @property
    def uses_now(self) -> bool:
        return any(b.absolute_ms is None for b in self.time_bounds)
