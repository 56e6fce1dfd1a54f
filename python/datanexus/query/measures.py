"""The measures of the language and how a function call becomes one.

Allowed: ``count()`` (also ``count(*)``: the events), ``count(f)``, ``sum(f)``,
``avg(f)`` (``mean``), ``min(f)``, ``max(f)``, ``stddev(f)`` (sample, n − 1),
``pNN(f)`` for any NN in 0..100 (``p50``, ``p99``, ``p99.9``), ``distinct(f)`` (also
``count(distinct f)``), ``rate(f)``, ``increase(f)``. ``f`` is a measured field of the
stream. Every other function is refused by name.
"""

from __future__ import annotations

import re

from sqlglot import exp

from datanexus.query.catalog import Catalog
from datanexus.query.conditions import Fail
from datanexus.query.model import Measure, MeasureKind

__all__ = ["ALLOWED_FUNCTIONS", "read_measure"]

ALLOWED_FUNCTIONS = (
    "count, sum, avg, min, max, stddev, pNN (p50, p95, p99, p99.9 …), distinct, rate, increase"
)
_PERCENTILE = re.compile(r"p(\d{1,3})(?:_(\d{1,6}))?")
_BUILTIN: dict[type[exp.Expression], MeasureKind] = {
    exp.Sum: "sum",
    exp.Avg: "avg",
    exp.Min: "min",
    exp.Max: "max",
    exp.Stddev: "stddev",
    exp.StddevSamp: "stddev",
}
_ANONYMOUS: dict[str, MeasureKind] = {
    "mean": "avg",
    "rate": "rate",
    "increase": "increase",
    "dn_distinct": "distinct",
}


def read_measure(node: exp.Expression, catalog: Catalog, fail: Fail) -> Measure | None:
    """The measure ``node`` calls, None when ``node`` is no function call at all; fails on
    a function outside the allow-list or a bad argument."""
    if isinstance(node, exp.Count):
        return _count(node, catalog, fail)
    kind = _BUILTIN.get(type(node))
    if kind is not None:
        _only_this(node, fail)
        field = _field(node.this, catalog, fail, kind)
        return Measure(kind, field, name=f"{kind}({field})")
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name in _ANONYMOUS:
            kind = _ANONYMOUS[name]
            shown: str = kind
            if len(args) != 1:
                fail(f"{shown}() takes one measured field", node)
            field = _field(args[0], catalog, fail, kind)
            return _checked(Measure(kind, field, name=f"{shown}({field})"), catalog, fail, node)
        match = _PERCENTILE.fullmatch(name)
        if match is not None:
            whole, frac = match.group(1), match.group(2)
            percent = float(f"{whole}.{frac}" if frac else whole)
            if percent > 100:
                fail(f"{name}: a percentile is at most p100", node)
            if len(args) != 1:
                fail(f"{name}() takes one measured field", node)
            field = _field(args[0], catalog, fail, "quantile")
            shown = f"p{whole}.{frac}" if frac else f"p{whole}"
            measure = Measure("quantile", field, q=percent / 100.0, name=f"{shown}({field})")
            return _checked(measure, catalog, fail, node)
        fail(f"function {node.name}() is not allowed; allowed: {ALLOWED_FUNCTIONS}", node)
    if isinstance(node, exp.Func):
        fail(
            f"function {node.sql_name().lower()}() is not allowed here; allowed: "
            f"{ALLOWED_FUNCTIONS}",
            node,
        )
    return None


def _count(node: exp.Count, catalog: Catalog, fail: Fail) -> Measure:
    _only_this(node, fail, also=("big_int",))
    arg = node.this
    if arg is None or isinstance(arg, exp.Star):
        return Measure("count", None, name="count()")
    if isinstance(arg, exp.Distinct):
        if len(arg.expressions) != 1 or arg.args.get("on") is not None:
            fail("count(distinct …) takes one measured field", arg)
        field = _field(arg.expressions[0], catalog, fail, "distinct")
        return _checked(Measure("distinct", field, name=f"distinct({field})"), catalog, fail, node)
    field = _field(arg, catalog, fail, "count")
    return Measure("count", field, name=f"count({field})")


def _only_this(node: exp.Expression, fail: Fail, also: tuple[str, ...] = ()) -> None:
    for key, value in node.args.items():
        if key != "this" and key not in also and value not in (None, False, []):
            fail(f"{type(node).__name__.lower()}() takes one measured field", node)


def _field(node: exp.Expression | None, catalog: Catalog, fail: Fail, kind: str) -> str:
    if not (
        isinstance(node, exp.Column)
        and isinstance(node.this, exp.Identifier)
        and node.args.get("table") is None
    ):
        fail(f"{kind}() takes a measured field name", node)
    name = str(node.this.this)
    if name not in catalog.metrics:
        known = ", ".join(sorted(catalog.metrics)) or "(none)"
        extra = " (a group-by field)" if name in catalog.dims else ""
        fail(f"{name!r}{extra} is not a measured field of {catalog.name}; measured: {known}", node)
    return name


def _checked(measure: Measure, catalog: Catalog, fail: Fail, node: exp.Expression) -> Measure:
    field = measure.field
    assert field is not None
    if measure.kind == "quantile" and not catalog.has_digest(field):
        fail(f"{measure.name}: {field} stores no t-digest, so it has no percentiles", node)
    if measure.kind == "distinct" and not catalog.has_hll(field):
        fail(f"{measure.name}: {field} stores no HyperLogLog, so it has no distinct count", node)
    return measure
