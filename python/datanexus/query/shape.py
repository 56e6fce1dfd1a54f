"""After the merge (QUERY-5): HAVING, ORDER BY and the total row order keyset paging needs.

Groups are keyed by (bucket start, dim values). Dim values come from the series JSON;
floats are rounded to 12 significant digits (1.1 + 2.2 and 3.3 are one group), a
missing key and JSON null are both None (one group of their own), and booleans never
collide with the numbers 0 and 1.

Row order: the ORDER BY items (ASC by default; NULLS LAST for ASC and NULLS FIRST for
DESC unless said otherwise, as in PostgreSQL), then time and the GROUP BY dims
ascending as tie-breakers, so the order is total and paging by keyset is exact. Values
of different types in one column order booleans < numbers < strings.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datanexus.query.model import (
    And,
    Cmp,
    ColumnRef,
    Condition,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    OrderItem,
    Value,
)
from datanexus.query.timeexpr import parse_instant_ms

__all__ = ["Group", "compare_keys", "dims_of", "evaluate", "normalize_dim", "sort_key"]


@dataclass
class Group:
    bucket_ms: int | None
    dims: dict[str, Any]
    values: dict[str, Any]

    def get(self, ref: ColumnRef) -> Any:
        if ref.kind == "time":
            return self.bucket_ms
        if ref.kind == "dim":
            return self.dims.get(ref.name)
        return self.values.get(ref.name)


def normalize_dim(value: Any) -> Any:
    """A series value as a group key part (see the module doc)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.12g}")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dims_of(series: str, dims: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The tagged group key of ``series`` over ``dims`` (None: not a JSON object)."""
    try:
        data = json.loads(series)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return tuple(_tag(normalize_dim(data.get(d))) for d in dims)


def _tag(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, None)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    return (3, value)


# -- HAVING: SQL's three-valued logic over Python values -----------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _compare(left: Any, op: str, value: Value, is_time: bool) -> bool | None:
    if left is None:
        return None
    if is_time and isinstance(value, str):
        parsed = parse_instant_ms(value)
        if parsed is None:
            return None
        value = parsed
    a: Any
    b: Any
    if isinstance(value, bool) or isinstance(left, bool):
        if not (isinstance(value, bool) and isinstance(left, bool)) or op not in ("=", "!="):
            return None
        a, b = left, value
    elif isinstance(value, int | float):
        a, b = _number(left), float(value)
        if a is None:
            return None
    elif isinstance(left, str):
        a, b = left, value
    else:
        return None
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex: ``%`` any run, ``_`` one character, all else literal."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile("".join(parts), flags)


def evaluate(cond: Condition, get: Callable[[ColumnRef], Any]) -> bool | None:
    """``cond`` over one group: True, False or None (unknown), as SQL would."""
    if isinstance(cond, And):
        results = [evaluate(p, get) for p in cond.parts]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if isinstance(cond, Or):
        results = [evaluate(p, get) for p in cond.parts]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if isinstance(cond, Not):
        inner = evaluate(cond.part, get)
        return None if inner is None else not inner
    left = get(cond.left)
    is_time = cond.left.kind == "time"
    if isinstance(cond, Cmp):
        return _compare(left, cond.op, cond.value, is_time)
    if isinstance(cond, InList):
        results = [_compare(left, "=", v, is_time) for v in cond.values]
        found: bool | None = (
            True if any(results) else (None if any(r is None for r in results) else False)
        )
        if found is None:
            return None
        return (not found) if cond.negated else found
    if isinstance(cond, Like):
        if not isinstance(left, str):
            return None
        matched = like_regex(cond.pattern, cond.case_insensitive).fullmatch(left) is not None
        return (not matched) if cond.negated else matched
    if isinstance(cond, IsNull):
        return (left is not None) if cond.negated else (left is None)
    raise AssertionError(f"unhandled condition {cond!r}")


# -- ORDER BY and keyset ----------------------------------------------------------------


def sort_key(group: Group, order: tuple[OrderItem, ...], dims: tuple[str, ...]) -> list[Any]:
    """The JSON-able total sort key of ``group``: ORDER BY values, then time and dims."""
    key: list[Any] = [_plain(group.get(item.ref)) for item in order]
    key.append(group.bucket_ms)
    key.extend(_plain(group.dims.get(d)) for d in dims)
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rank(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    return 3


def _cmp_values(a: Any, b: Any, desc: bool, nulls_first: bool) -> int:
    # NULLS FIRST/LAST is absolute: DESC does not flip it (the checker resolved the
    # PostgreSQL default per item).
    if a is None:
        return 0 if b is None else (-1 if nulls_first else 1)
    if b is None:
        return 1 if nulls_first else -1
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return (-1 if ra < rb else 1) * (-1 if desc else 1)
    result = -1 if a < b else (1 if a > b else 0)
    return -result if desc else result


def compare_keys(order: tuple[OrderItem, ...]) -> Callable[[list[Any], list[Any]], int]:
    """A comparison function over :func:`sort_key` lists."""
    directions = [(item.desc, item.nulls_first) for item in order]

    def compare(a: list[Any], b: list[Any]) -> int:
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            desc, nulls_first = directions[i] if i < len(directions) else (False, False)
            result = _cmp_values(x, y, desc, nulls_first)
            if result:
                return result
        return 0

    return compare


def ordered(
    groups: list[Group], order: tuple[OrderItem, ...], dims: tuple[str, ...]
) -> list[tuple[list[Any], Group]]:
    """``groups`` with their sort keys, in row order (a stable sort)."""
    keyed = [(sort_key(g, order, dims), g) for g in groups]
    compare = compare_keys(order)

    def by_key(a: tuple[list[Any], Group], b: tuple[list[Any], Group]) -> int:
        return compare(a[0], b[0])

    keyed.sort(key=functools.cmp_to_key(by_key))
    return keyed
