"""Steps that decide or compute: ``filter`` (PIPE-16) and ``derive`` (PIPE-17).

``filter`` keeps the events for which its condition holds; the others are *filtered*,
which is counted and is not an error. The condition is either a CEL expression (``when``)
or a comparison ``field`` ``cmp`` ``value`` with ``cmp`` in gt, gte, lt, lte, eq, neq.
Comparisons are type-strict — no coercion between numbers, strings and booleans:
``False`` ≠ ``0``, ``True`` ≠ ``1``, ``"5"`` ≠ ``5``, but ``1`` = ``1.0``. Values of
different kinds are unequal (``neq`` holds) and unordered (``gt``…``lte`` do not hold).

``derive`` stores the value of a CEL expression (``expr``) at ``field``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from datanexus.pipeline.expressions import Expression
from datanexus.pipeline.paths import FieldPath
from datanexus.pipeline.reader import Table
from datanexus.pipeline.steps.base import BuildContext, Step, read_path

__all__ = ["COMPARISONS", "DeriveStep", "FilterStep", "compare"]

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "other"


def compare(cmp: str, left: Any, right: Any) -> bool:
    """``left cmp right`` with the type-strict rules of the module docstring."""
    kind = _kind(left)
    if kind != _kind(right):
        return cmp == "neq"
    if cmp in ("eq", "neq"):
        return COMPARISONS[cmp](left, right)
    if kind not in ("number", "string"):
        return False
    return COMPARISONS[cmp](left, right)


class FilterStep(Step):
    """See the module docstring."""

    op = "filter"

    def __init__(
        self,
        name: str,
        test: Callable[[dict[str, Any]], bool],
        expr: Expression | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(name, **kw)
        self._test = test
        self.expr = expr
        """The CEL condition, when the filter has one (for the load-time type check)."""

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> FilterStep:
        if t.has("when"):
            for key in ("field", "cmp", "value"):
                if t.has(key):
                    raise t.error(key, "use either when (CEL) or field/cmp/value, not both")
            expr = Expression(t.raw("when"), where=t.where("when"), timeout_ms=ctx.udf_timeout_ms)
            return cls(name, expr.test, expr, **kw)
        path = read_path(t, "field")
        cmp = t.string("cmp", choices=tuple(COMPARISONS))
        value = t.raw("value")
        if _kind(value) not in ("bool", "number", "string"):
            raise t.error("value", "must be a string, number or boolean")
        t.raw("when", None)

        def test(event: dict[str, Any]) -> bool:
            return compare(cmp, path.get(event), value)

        return cls(name, test, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        return event if self._test(event) else None


class DeriveStep(Step):
    """``field`` = the value of the CEL expression ``expr``."""

    op = "derive"

    def __init__(self, name: str, path: FieldPath, expr: Expression, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.path, self.expr = path, expr

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> DeriveStep:
        expr = Expression(t.raw("expr"), where=t.where("expr"), timeout_ms=ctx.udf_timeout_ms)
        return cls(name, read_path(t, "field"), expr, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        self.path.set(event, self.expr.evaluate(event))
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)
