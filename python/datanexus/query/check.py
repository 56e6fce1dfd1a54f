"""Parsing and checking (QUERY-1): query text → :class:`~datanexus.query.model.Query`.

:func:`parse_query` needs no catalog: it tokenises (see :mod:`.lexing`), parses with
sqlglot and accepts one plain ``SELECT … FROM <stream>`` whose clauses are among SELECT,
FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET. :func:`check` then resolves
every name against the tenant's catalog and builds the model from allow-listed node
types only; anything else (other statements, joins, subqueries, schemas, casts, other
functions such as ``pg_sleep``, a field the stream lacks) is a :class:`QueryError`
pointing at the offending text. The checked model holds no SQL: the SQL is generated
from it (:mod:`.sqlgen`), with every user value a bind parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from datanexus.errors import QueryError
from datanexus.query.catalog import Catalog
from datanexus.query.conditions import (
    ConditionReader,
    flatten_and,
    node_position,
    read_literal,
)
from datanexus.query.lexing import Prepared, prepare
from datanexus.query.measures import read_measure
from datanexus.query.model import (
    And,
    ColumnRef,
    Condition,
    Measure,
    OrderItem,
    OutputColumn,
    Query,
    TimeBound,
)
from datanexus.query.timeexpr import UNITS_HELP, parse_duration_ms, parse_instant_ms

__all__ = ["Parsed", "check", "parse_query"]

_CLAUSES = frozenset(
    {"expressions", "from_", "from", "where", "group", "having", "order", "limit", "offset"}
)
_TIME = "time"


@dataclass(frozen=True)
class Parsed:
    """A syntactically valid single SELECT and the stream it reads."""

    prepared: Prepared
    tree: exp.Select
    stream: str
    normalized: str

    def fail(self, message: str, node: exp.Expression | None) -> NoReturn:
        raise self.prepared.error(message, node_position(node))


def parse_query(text: str) -> Parsed:
    """Parse ``text``; raises :class:`QueryError` unless it is one plain SELECT from one
    stream. Never raises anything else, whatever the text."""
    prepared = prepare(text)
    try:
        trees = sqlglot.parse(prepared.text, read="postgres")
    except ParseError as error:
        info = error.errors[0] if error.errors else {}
        message = str(info.get("description") or "unexpected text").split(" but got <")[0]
        offset = _offset(prepared.text, info.get("line"), info.get("col"))
        raise prepared.error(f"syntax error: {message}", offset) from None
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError) as error:
        raise QueryError(f"cannot parse the query: {type(error).__name__}") from None
    statements = [t for t in trees if t is not None]
    if len(statements) != 1:
        raise QueryError("expected exactly one SELECT statement")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        kind = type(tree).__name__.upper()
        raise prepared.error(f"only SELECT queries are allowed, not {kind}", 0)
    parsed_stub = Parsed(prepared, tree, "", "")
    for key, value in tree.args.items():
        if value in (None, False, []) or key in _CLAUSES:
            continue
        what = key.strip("_").upper().replace("_", " ")
        node = value if isinstance(value, exp.Expression) else tree
        parsed_stub.fail(f"{what} is not supported", node)
    stream = _stream(parsed_stub)
    try:
        normalized = tree.sql(dialect="postgres")
    except (sqlglot.errors.SqlglotError, RecursionError, ValueError):
        raise QueryError("cannot normalise the query") from None
    return Parsed(prepared, tree, stream, normalized)


def _offset(text: str, line: object, col: object) -> int | None:
    if not isinstance(line, int) or not isinstance(col, int):
        return None
    lines = text.split("\n")
    if line < 1 or line > len(lines):
        return None
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)


def _stream(parsed: Parsed) -> str:
    tree = parsed.tree
    source = tree.args.get("from_") or tree.args.get("from")
    if not isinstance(source, exp.From):
        parsed.fail("FROM <stream> is required", tree)
    table = source.this
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        parsed.fail("FROM must name one stream (no subqueries or functions)", table)
    for key, value in table.args.items():
        if key != "this" and value not in (None, False, []):
            what = {"db": "schemas", "catalog": "catalogs", "alias": "aliases"}.get(key, key)
            parsed.fail(f"FROM takes a bare stream name: {what} are not allowed", table)
    return str(table.this.this)


def check(parsed: Parsed, catalog: Catalog) -> Query:
    """Resolve ``parsed`` against ``catalog`` (which must be the catalog of
    ``parsed.stream`` for the querying tenant). Raises :class:`QueryError`."""
    return _Checker(parsed, catalog).run()


class _Checker:
    def __init__(self, parsed: Parsed, catalog: Catalog) -> None:
        self.p = parsed
        self.catalog = catalog
        self.tree = parsed.tree
        self.measures: dict[str, Measure] = {}
        self.bucket_ms: int | None = None
        self.group_dims: list[str] = []

    def fail(self, message: str, node: exp.Expression | None) -> NoReturn:
        self.p.fail(message, node)

    def run(self) -> Query:
        tree = self.tree
        self._group(tree.args.get("group"))
        columns = self._select(tree.expressions)
        labels = {c.label: c.ref for c in columns}
        where, bounds = self._where(tree.args.get("where"))
        having = self._having(tree.args.get("having"), labels)
        order = self._order(tree.args.get("order"), columns, labels)
        limit = self._count_clause(tree.args.get("limit"), "LIMIT", allow_negative=False)
        offset = self._count_clause(tree.args.get("offset"), "OFFSET", allow_negative=True)
        return Query(
            stream=self.p.stream,
            columns=tuple(columns),
            measures=tuple(self.measures.values()),
            where=where,
            time_bounds=tuple(bounds),
            bucket_ms=self.bucket_ms,
            group_dims=tuple(self.group_dims),
            having=having,
            order=tuple(order),
            limit=limit,
            offset=max(offset or 0, 0),
            normalized=self.p.normalized,
        )

    # -- names --------------------------------------------------------------------------

    def _name(self, node: exp.Expression) -> str | None:
        """The name of a bare column node, or None for anything else."""
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
            if node.args.get("table") is not None:
                self.fail("qualified names (stream.field) are not supported", node)
            return str(node.this.this)
        return None

    def _measure(self, node: exp.Expression) -> Measure | None:
        measure = read_measure(node, self.catalog, self.fail)
        if measure is not None:
            self.measures.setdefault(measure.name, measure)
        return measure

    def _group_ref(self, node: exp.Expression, clause: str) -> ColumnRef | None:
        """A per-group value: time, a grouped dim, or a measure; None for an unknown word."""
        name = self._name(node)
        if name is not None:
            if name == _TIME:
                if self.bucket_ms is None:
                    self.fail("time needs GROUP BY time(<duration>), e.g. time(5m)", node)
                return ColumnRef("time", _TIME)
            if name in self.catalog.dims:
                if name not in self.group_dims:
                    self.fail(f"{name} must appear in GROUP BY to be used in {clause}", node)
                return ColumnRef("dim", name)
            if name in self.catalog.metrics:
                self.fail(
                    f"{name} is a measured field: use it inside a measure such as "
                    f"sum({name}) or p99({name})",
                    node,
                )
            return None
        measure = self._measure(node)
        if measure is None:
            self.fail(f"{_kind(node)} is not allowed in {clause}", node)
        return ColumnRef("measure", measure.name)

    # -- clauses ------------------------------------------------------------------------

    def _group(self, group: exp.Group | None) -> None:
        if group is None:
            return
        for key, value in group.args.items():
            if key != "expressions" and value not in (None, False, []):
                self.fail("GROUP BY takes time(<duration>) and group-by fields only", group)
        for item in group.expressions:
            if isinstance(item, exp.Time) or (
                isinstance(item, exp.Anonymous) and item.name.lower() == _TIME
            ):
                if self.bucket_ms is not None:
                    self.fail("GROUP BY takes one time(<duration>)", item)
                self.bucket_ms = self._bucket(item)
                continue
            name = self._name(item)
            if name is None:
                self.fail(f"GROUP BY takes time(<duration>) and fields, not {_kind(item)}", item)
            if name == _TIME:
                self.fail("group by time with time(<duration>), e.g. time(5m)", item)
            if name not in self.catalog.dims:
                self.fail(
                    f"unknown group-by field {name!r}; {self.p.stream} groups by: "
                    f"{', '.join(self.catalog.dims) or '(nothing)'}",
                    item,
                )
            if name not in self.group_dims:
                self.group_dims.append(name)

    def _bucket(self, node: exp.Expression) -> int:
        args = [node.this] if isinstance(node, exp.Time) else list(node.expressions)
        extra = [k for k, v in node.args.items() if k not in ("this", "expressions") and v]
        if len(args) != 1 or args[0] is None or extra:
            self.fail("time() takes one duration, e.g. time(5m)", node)
        arg = args[0]
        ms: int | None = None
        if isinstance(arg, exp.Literal) and arg.is_string:
            ms = parse_duration_ms(str(arg.this))
        elif isinstance(arg, exp.Interval):
            ms = _interval_ms(arg)
        if ms is None:
            self.fail(f"time() takes a duration such as 5m or '1h' (units: {UNITS_HELP})", arg)
        return ms

    def _select(self, items: list[exp.Expression]) -> list[OutputColumn]:
        if not items:
            self.fail("SELECT needs at least one column", self.tree)
        columns: list[OutputColumn] = []
        for item in items:
            node, alias = item, None
            if isinstance(item, exp.Alias):
                node, alias = item.this, str(item.alias)
            if isinstance(node, exp.Star):
                self.fail("SELECT * is not supported: name the measures and fields", node)
            ref = self._group_ref(node, "SELECT")
            if ref is None:
                self.fail(
                    f"unknown field {self._name(node)!r}; {self.p.stream} has group-by "
                    f"fields {', '.join(self.catalog.dims) or '(none)'} and measured fields "
                    f"{', '.join(sorted(self.catalog.metrics)) or '(none)'}",
                    node,
                )
            label = alias or ref.name
            if any(c.label == label for c in columns):
                self.fail(f"two columns are named {label!r}: rename one with AS", item)
            columns.append(OutputColumn(label, ref))
        return columns

    def _where(self, where: exp.Where | None) -> tuple[Condition | None, list[TimeBound]]:
        if where is None:
            return None, []
        bounds: list[TimeBound] = []
        rest: list[Condition] = []
        reader = ConditionReader(self._where_ref, self.fail, "WHERE")
        for part in flatten_and(where.this):
            bound = self._time_bound(part)
            if bound is not None:
                bounds.append(bound)
                continue
            if any(self._name(n) == _TIME for n in part.find_all(exp.Column)):
                self.fail(
                    "conditions on time must be comparisons (time >= …, time < …) joined "
                    "by AND at the top of WHERE",
                    part,
                )
            rest.append(reader.read(part))
        if not rest:
            return None, bounds
        return (rest[0] if len(rest) == 1 else And(tuple(rest))), bounds

    def _where_ref(self, node: exp.Expression) -> ColumnRef | None:
        name = self._name(node)
        if name is None:
            if isinstance(node, exp.Func | exp.Anonymous):
                self.fail(
                    f"{_kind(node)} is not allowed in WHERE (measures filter in HAVING)", node
                )
            self.fail(f"{_kind(node)} is not allowed in WHERE", node)
        if name in self.catalog.dims:
            return ColumnRef("dim", name)
        if name in self.catalog.metrics:
            self.fail(
                f"WHERE filters on group-by fields ({', '.join(self.catalog.dims) or 'none'}) "
                f"and time; {name} is a measured field (filter measures in HAVING)",
                node,
            )
        return None

    def _time_bound(self, node: exp.Expression) -> TimeBound | None:
        ops: dict[type[exp.Expression], str] = {
            exp.GT: ">",
            exp.GTE: ">=",
            exp.LT: "<",
            exp.LTE: "<=",
            exp.EQ: "=",
        }
        op = ops.get(type(node))
        if op is None:
            return None
        flip = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}
        left, right = node.this, node.expression
        if self._name(left) == _TIME:
            base, offset = self._instant(right)
        elif self._name(right) == _TIME:
            base, offset = self._instant(left)
            op = flip[op]
        else:
            return None
        return TimeBound(op, base, offset)  # type: ignore[arg-type]

    def _instant(self, node: exp.Expression) -> tuple[int | None, int]:
        """(absolute ms or None for now(), offset ms) of a time expression."""
        if isinstance(node, exp.Paren):
            return self._instant(node.this)
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "now" and not node.expressions
        ):
            return None, 0
        if isinstance(node, exp.Add | exp.Sub):
            base, offset = self._instant(node.this)
            delta = self._duration(node.expression)
            return base, offset + (delta if isinstance(node, exp.Add) else -delta)
        text: str | None = None
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
            if not node.to.is_type(exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ, exp.DType.DATE):
                self.fail("only timestamp '…' casts are allowed for time", node)
            text = str(node.this.this)
        elif isinstance(node, exp.Literal):
            if not node.is_string:
                value = read_literal(node, self.fail)
                if isinstance(value, int):
                    return value, 0  # epoch milliseconds
                self.fail("an epoch time is an integer number of milliseconds", node)
            text = str(node.this)
        if text is None:
            self.fail(
                "time compares with now(), now() ± interval '…', a 'RFC 3339' string or "
                f"epoch milliseconds, not {_kind(node)}",
                node,
            )
        ms = parse_instant_ms(text)
        if ms is None:
            self.fail(f"{text!r} is not an RFC 3339 time such as '2024-05-01T00:00:00Z'", node)
        return ms, 0

    def _duration(self, node: exp.Expression) -> int:
        ms: int | None = None
        if isinstance(node, exp.Interval):
            ms = _interval_ms(node)
        elif isinstance(node, exp.Literal) and node.is_string:
            ms = parse_duration_ms(str(node.this))
        if ms is None:
            self.fail(f"expected a duration such as interval '6 hours' (units: {UNITS_HELP})", node)
        return ms

    def _having(self, having: exp.Having | None, labels: dict[str, ColumnRef]) -> Condition | None:
        if having is None:
            return None

        def resolve(node: exp.Expression) -> ColumnRef | None:
            name = self._name(node)
            if name is not None and name in labels and name not in self.catalog.dims:
                return labels[name]
            return self._group_ref(node, "HAVING")

        return ConditionReader(resolve, self.fail, "HAVING").read(having.this)

    def _order(
        self, order: exp.Order | None, columns: list[OutputColumn], labels: dict[str, ColumnRef]
    ) -> list[OrderItem]:
        if order is None:
            return []
        items: list[OrderItem] = []
        for item in order.expressions:
            if not isinstance(item, exp.Ordered):
                self.fail("ORDER BY takes columns", item)
            node = item.this
            ref: ColumnRef | None
            if isinstance(node, exp.Literal) and not node.is_string:
                index = read_literal(node, self.fail)
                if not isinstance(index, int) or not 1 <= index <= len(columns):
                    self.fail(f"ORDER BY position must be 1..{len(columns)}", node)
                ref = columns[index - 1].ref
            else:
                name = self._name(node)
                ref = labels.get(name) if name is not None else None
                if ref is None:
                    ref = self._group_ref(node, "ORDER BY")
                if ref is None:
                    self.fail(f"ORDER BY names unknown column {name!r}", node)
            items.append(
                OrderItem(
                    ref,
                    desc=bool(item.args.get("desc")),
                    nulls_first=bool(item.args.get("nulls_first")),
                )
            )
        return items

    def _count_clause(
        self, clause: exp.Expression | None, what: str, *, allow_negative: bool
    ) -> int | None:
        if clause is None:
            return None
        node = clause.args.get("expression")
        if node is None or any(
            v not in (None, False, []) for k, v in clause.args.items() if k != "expression"
        ):
            self.fail(f"{what} takes one integer", clause)
        value = read_literal(node, self.fail)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{what} takes an integer", node)
        if value < 0 and not allow_negative:
            self.fail(f"{what} must be 0 or more", node)
        return value


def _interval_ms(node: exp.Interval) -> int | None:
    value = node.this
    if not isinstance(value, exp.Literal):
        return None
    unit = node.args.get("unit")
    unit_text = unit.name if isinstance(unit, exp.Var) else None
    if unit is not None and unit_text is None:
        return None
    return parse_duration_ms(str(value.this), unit_text)


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return f"function {node.name}()"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()}()"
    if isinstance(node, exp.Subquery | exp.Query):
        return "a subquery"
    return f"{type(node).__name__} {node.sql(dialect='postgres')[:40]!r}"
