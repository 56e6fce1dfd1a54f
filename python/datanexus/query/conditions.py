"""WHERE and HAVING conditions and literals: sqlglot nodes to the model's conditions.

Only these forms pass: ``AND``, ``OR``, ``NOT``, parentheses, ``=``, ``!=``/``<>``,
``<``, ``<=``, ``>``, ``>=``, ``IN (…)``, ``[NOT] LIKE``, ``[NOT] ILIKE``,
``IS [NOT] NULL``, with a column on one side and a literal on the other. A literal is a
string, a number, ``true``/``false``, or a bare word that names no column (QUERY-3: it
is the string it spells). Everything else is a :class:`QueryError` at that node.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NoReturn, Protocol

from sqlglot import exp

from datanexus.query.model import (
    And,
    Cmp,
    CmpOp,
    ColumnRef,
    Condition,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    Value,
)

__all__ = ["ConditionReader", "Fail", "node_position", "read_literal"]

_OPS: dict[type[exp.Expression], CmpOp] = {
    exp.EQ: "=",
    exp.NEQ: "!=",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
_FLIP: dict[CmpOp, CmpOp] = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
MAX_IN_VALUES = 1_000


class Fail(Protocol):
    def __call__(self, message: str, node: exp.Expression | None) -> NoReturn: ...


def node_position(node: exp.Expression | None) -> int | None:
    """The smallest source offset recorded on ``node`` or below it (None: unknown)."""
    if node is None:
        return None
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]
    return min(starts) if starts else None


def read_literal(node: exp.Expression, fail: Fail) -> Value:
    """A string, finite number or boolean literal (``-`` allowed before numbers)."""
    if isinstance(node, exp.Paren):
        return read_literal(node.this, fail)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        text = str(node.this)
        if node.is_string:
            return text
        return _number(text, node, fail)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal | exp.Neg):
        inner = read_literal(node.this, fail)
        if isinstance(inner, bool) or not isinstance(inner, int | float):
            fail("'-' applies to numbers only", node)
        return -inner
    if isinstance(node, exp.Null):
        fail("NULL compares with IS NULL or IS NOT NULL, not with an operator", node)
    fail(
        f"expected a literal (a 'string', a number, true or false), found {_describe(node)}",
        node,
    )


def _number(text: str, node: exp.Expression, fail: Fail) -> int | float:
    try:
        if text.isdigit():
            return int(text)
        value = float(text)
    except ValueError:
        fail(f"{text!r} is not a number", node)
    if not math.isfinite(value):
        fail(f"the number {text} is out of range", node)
    return value


def _describe(node: exp.Expression) -> str:
    name = type(node).__name__
    if isinstance(node, exp.Anonymous):
        return f"a call of {node.name}()"
    if isinstance(node, exp.Func):
        return f"a call of {node.sql_name().lower()}()"
    if isinstance(node, exp.Select | exp.Subquery | exp.Query):
        return "a subquery (not supported)"
    return f"{name} ({node.sql(dialect='postgres')[:40]!r})"


class ConditionReader:
    """Reads one condition tree. ``resolve`` maps a node to the column it names, or None
    when the node is a bare word that names no column (then it may be a string literal);
    it fails itself for nodes that are not columns at all."""

    def __init__(
        self,
        resolve: Callable[[exp.Expression], ColumnRef | None],
        fail: Fail,
        clause: str,
    ) -> None:
        self._resolve = resolve
        self._fail = fail
        self._clause = clause

    def read(self, node: exp.Expression) -> Condition:
        fail = self._fail
        if isinstance(node, exp.Paren):
            return self.read(node.this)
        if isinstance(node, exp.And):
            return And(tuple(self.read(p) for p in _flatten(node, exp.And)))
        if isinstance(node, exp.Or):
            return Or(tuple(self.read(p) for p in _flatten(node, exp.Or)))
        if isinstance(node, exp.Not):
            return Not(self.read(node.this))
        op = _OPS.get(type(node))
        if op is not None:
            return self._comparison(node, op)
        if isinstance(node, exp.In):
            return self._in(node)
        if isinstance(node, exp.Like | exp.ILike):
            return self._like(node)
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Null):
                fail("IS is only allowed as IS NULL or IS NOT NULL", node)
            return IsNull(self._column(node.this), negated=bool(node.args.get("negate")))
        if isinstance(node, exp.Between):
            fail("BETWEEN is not supported: write x >= low AND x < high", node)
        if isinstance(node, exp.Escape):
            fail("LIKE … ESCAPE is not supported: only % and _ are wildcards", node)
        fail(f"{_describe(node)} is not allowed in {self._clause}", node)

    def _column(self, node: exp.Expression) -> ColumnRef:
        ref = self._resolve(node)
        if ref is None:
            self._fail(f"unknown field {node.sql(dialect='postgres')!r} in {self._clause}", node)
        return ref

    def _comparison(self, node: exp.Expression, op: CmpOp) -> Condition:
        left, right = node.this, node.expression
        left_ref = self._maybe_column(left)
        right_ref = self._maybe_column(right)
        if left_ref is not None and right_ref is not None:
            self._fail("compare a field with a literal, not with another field", node)
        if left_ref is None and right_ref is None:
            if _is_word(left) or _is_word(right):
                word = left if _is_word(left) else right
                self._fail(f"unknown field {word.name!r} in {self._clause}", word)
            self._fail("a comparison needs a field on one side", node)
        if left_ref is not None:
            return Cmp(left_ref, op, self._value(right))
        assert right_ref is not None
        return Cmp(right_ref, _FLIP[op], self._value(left))

    def _maybe_column(self, node: exp.Expression) -> ColumnRef | None:
        if isinstance(node, exp.Paren):
            return self._maybe_column(node.this)
        if isinstance(node, exp.Literal | exp.Boolean | exp.Neg | exp.Null):
            return None
        return self._resolve(node)

    def _value(self, node: exp.Expression) -> Value:
        if _is_word(node):
            # A bare word naming no column is the string it spells (QUERY-3).
            return str(node.name)
        return read_literal(node, self._fail)

    def _in(self, node: exp.In) -> Condition:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            self._fail("IN takes a list of literals, not a subquery", node)
        if node.args.get("field") is not None:
            self._fail("IN takes a list of literals", node)
        values = node.expressions
        if not values:
            self._fail("IN needs at least one value", node)
        if len(values) > MAX_IN_VALUES:
            self._fail(f"IN takes at most {MAX_IN_VALUES} values", node)
        return InList(self._column(node.this), tuple(self._value(v) for v in values))

    def _like(self, node: exp.Like | exp.ILike) -> Condition:
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            self._fail("LIKE needs a 'string' pattern", pattern)
        return Like(
            self._column(node.this),
            str(pattern.this),
            case_insensitive=isinstance(node, exp.ILike),
            negated=bool(node.args.get("negate")),
        )


def _is_word(node: exp.Expression) -> bool:
    return (
        isinstance(node, exp.Column)
        and node.args.get("table") is None
        and isinstance(node.this, exp.Identifier)
        and not node.this.quoted
    )


def _flatten(node: exp.Expression, kind: type[exp.Expression]) -> list[exp.Expression]:
    out: list[exp.Expression] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, kind):
            stack.append(n.expression)
            stack.append(n.this)
        else:
            out.append(n)
    return out


def flatten_and(node: exp.Expression) -> list[exp.Expression]:
    """The top-level conjuncts of ``node`` (parentheses around an AND are looked into)."""
    out: list[exp.Expression] = []
    for part in _flatten(node, exp.And):
        if isinstance(part, exp.Paren) and isinstance(part.this, exp.And | exp.Paren):
            out.extend(flatten_and(part.this))
        else:
            out.append(part)
    return out
