"""SQL generation (QUERY-2): the one parameterised statement that fetches a plan's rollup
rows, built with ``psycopg.sql`` from the checked model only.

The statement text is assembled from constant fragments and ``sql.Identifier`` (schema
and table names, quoted); every value that came from the user (dim names, literals,
LIKE patterns) and every per-run value (tenant, pipeline, granularity, time range) is a
``%s`` bind parameter. No user text can reach the SQL string, whatever it contains.

Dims are read from the canonical series JSON: ``series::jsonb ->> 'dim'`` as text
(compared with ``COLLATE "C"``: code-point order) or, against a number literal, as a
number when the JSON value is a number or a numeric string (QUERY-3). LIKE patterns get
an explicit ``ESCAPE '\\'`` with the user's backslashes doubled, so only ``%`` and ``_``
are wildcards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from datanexus.errors import QueryError
from datanexus.query.model import (
    And,
    Cmp,
    Condition,
    InList,
    IsNull,
    Like,
    Not,
    Or,
    Query,
    Value,
)

__all__ = ["FetchSql", "build_fetch", "like_pattern"]

_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# A numeric string (JSON text) that PostgreSQL's numeric parses without overflow.
_NUMERIC_TEXT = r"^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,3})?$"


@dataclass(frozen=True)
class FetchSql:
    """The statement and the parameters fixed by the query; :meth:`params` adds the
    run-time ones (tenant, pipeline, granularity, lo, hi) in their places."""

    statement: sql.Composed
    head_params: tuple[Any, ...]
    where_params: tuple[Any, ...]

    def params(
        self, tenant: str, pipeline: str, granularity_ms: int, lo: str, hi: str
    ) -> tuple[Any, ...]:
        return (*self.head_params, tenant, pipeline, granularity_ms, lo, hi, *self.where_params)


def like_pattern(pattern: str) -> str:
    """The user's LIKE pattern for ``ESCAPE '\\'``: backslashes are literal characters."""
    return pattern.replace("\\", "\\\\")


def _text(dim: str, params: list[Any]) -> sql.Composable:
    params.append(dim)
    return sql.SQL('((series::jsonb ->> %s) COLLATE "C")')


def _plain_text(dim: str, params: list[Any]) -> sql.Composable:
    params.append(dim)
    return sql.SQL("(series::jsonb ->> %s)")


def _number(dim: str, params: list[Any]) -> sql.Composable:
    params.extend((dim, dim, dim))
    return sql.SQL(
        "(CASE WHEN jsonb_typeof(series::jsonb -> %s) = 'number'"
        " OR (series::jsonb ->> %s) ~ {pattern}"
        " THEN (series::jsonb ->> %s)::numeric END)"
    ).format(pattern=sql.Literal(_NUMERIC_TEXT))


def _is_number(value: Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def condition_sql(cond: Condition, params: list[Any]) -> sql.Composable:
    """``cond`` as SQL over the ``series`` column; appends its parameters to ``params``."""
    if isinstance(cond, And | Or):
        joiner = sql.SQL(" AND " if isinstance(cond, And) else " OR ")
        return sql.SQL("({})").format(joiner.join(condition_sql(p, params) for p in cond.parts))
    if isinstance(cond, Not):
        return sql.SQL("(NOT {})").format(condition_sql(cond.part, params))
    dim = cond.left.name
    if isinstance(cond, Cmp):
        op = sql.SQL(_SQL_OPS[cond.op])
        if _is_number(cond.value):
            column = _number(dim, params)
            params.append(repr(cond.value))
            return sql.SQL("({} {} %s::numeric)").format(column, op)
        if isinstance(cond.value, bool) and cond.op not in ("=", "!="):
            raise QueryError(
                f"{dim} {cond.op} {_value_text(cond.value)}: booleans only compare with = and !="
            )
        column = _text(dim, params)
        params.append(_value_text(cond.value))
        return sql.SQL("({} {} %s)").format(column, op)
    if isinstance(cond, InList):
        numbers = [repr(v) for v in cond.values if _is_number(v)]
        texts = [_value_text(v) for v in cond.values if not _is_number(v)]
        parts: list[sql.Composable] = []
        if texts:
            column = _text(dim, params)
            params.append(texts)
            parts.append(sql.SQL("{} = ANY(%s::text[])").format(column))
        if numbers:
            column = _number(dim, params)
            params.append(numbers)
            parts.append(sql.SQL("{} = ANY(%s::numeric[])").format(column))
        test = sql.SQL("({})").format(sql.SQL(" OR ").join(parts))
        return sql.SQL("(NOT {})").format(test) if cond.negated else test
    if isinstance(cond, Like):
        column = _plain_text(dim, params)
        params.append(like_pattern(cond.pattern))
        keyword = "ILIKE" if cond.case_insensitive else "LIKE"
        if cond.negated:
            keyword = "NOT " + keyword
        return sql.SQL("({} {} %s ESCAPE {})").format(column, sql.SQL(keyword), sql.Literal("\\"))
    if isinstance(cond, IsNull):
        column = _plain_text(dim, params)
        return sql.SQL("({} IS NOT NULL)" if cond.negated else "({} IS NULL)").format(column)
    raise AssertionError(f"unhandled condition {cond!r}")


def build_fetch(query: Query, schema: str) -> FetchSql:
    """The statement fetching every rollup row the query merges: one tenant, one
    pipeline, one granularity, the metrics its measures read, window starts in
    [lo, hi) (timestamptz text, '-infinity'/'infinity' when unbounded) and the dims
    filter of WHERE. Digests and HLLs are only transferred for metrics that need them."""
    metrics = sorted({m.metric for m in query.measures})
    digest_metrics = sorted({m.metric for m in query.measures if m.kind == "quantile"})
    hll_metrics = sorted({m.metric for m in query.measures if m.kind == "distinct"})
    head_params: list[Any] = [digest_metrics, hll_metrics]
    where_params: list[Any] = [metrics]
    dims: sql.Composable = sql.SQL("")
    if query.where is not None:
        dims = sql.SQL(" AND {}").format(condition_sql(query.where, where_params))
    statement = sql.SQL(
        "SELECT (extract(epoch FROM window_start) * 1000)::bigint, series, metric,"
        " count, sum, min, max, mean, m2,"
        " CASE WHEN metric = ANY(%s::text[]) THEN digest END,"
        " CASE WHEN metric = ANY(%s::text[]) THEN hll END"
        " FROM {table}"
        " WHERE tenant_id = %s AND pipeline = %s AND granularity_ms = %s"
        " AND window_start >= %s::timestamptz AND window_start < %s::timestamptz"
        " AND metric = ANY(%s::text[]){dims}"
    ).format(table=sql.Identifier(schema, "rollups"), dims=dims)
    return FetchSql(statement, tuple(head_params), tuple(where_params))
