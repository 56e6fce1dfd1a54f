"""``run_query``: parse, check, plan, fetch, merge, shape, page (QUERY-4..13).

Order of operations (QUERY-5): WHERE filters rollup rows in PostgreSQL (tenant,
pipeline, granularity, metrics, time range, dims) → rows merge per (bucket, group) →
HAVING → ORDER BY → OFFSET / cursor → LIMIT.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import psycopg.errors

from datanexus.errors import InvalidArgument, QueryError, QueryTimeout, StorageError
from datanexus.query.catalog import load_catalog
from datanexus.query.check import check, parse_query
from datanexus.query.cursor import decode_cursor, encode_cursor, query_secret
from datanexus.query.merge import digest_rank_error, finish, merge_digests, merge_rows
from datanexus.query.plan_cache import PlanCache
from datanexus.query.planner import (
    Plan,
    build_plan,
    choose_granularity,
    load_watermarks,
    ms_to_sql,
    resolve_range,
)
from datanexus.query.result import QueryResult
from datanexus.query.result_cache import QueryCache
from datanexus.query.shape import Group, compare_keys, dims_of, evaluate, ordered
from datanexus.store.tenancy import tenant_scope

__all__ = ["DEFAULT_LIMIT", "DEFAULT_PLAN_CACHE", "MAX_LIMIT", "run_query"]

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 1_000
"""Rows per page when neither the query's LIMIT nor the caller says."""
MAX_LIMIT = 10_000
"""Any larger limit is capped to this (QUERY-10)."""
DEFAULT_PLAN_CACHE = PlanCache()
DEFAULT_DIGEST_COMPRESSION = 100.0
DEFAULT_HLL_PRECISION = 12
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _now_ms(now: datetime | None) -> int:
    if now is None:
        now = datetime.now(UTC)
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise InvalidArgument(f"now must be an aware datetime, not {now!r}")
    return (now - _EPOCH) // timedelta(milliseconds=1)


def _page_size(text_limit: int | None, limit: int | None) -> int:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise QueryError(f"limit must be an integer ≥ 0, not {limit!r}")
    candidates = [x for x in (text_limit, limit) if x is not None]
    return min(min(candidates) if candidates else DEFAULT_LIMIT, MAX_LIMIT)


def run_query(
    conn: psycopg.Connection[Any],
    tenant: str,
    text: str,
    *,
    schema: str = "datanexus",
    now: datetime | None = None,
    cursor: str | None = None,
    limit: int | None = None,
    timeout_ms: int = 10_000,
    cache: QueryCache | None = None,
    plans: PlanCache | None = None,
    secret: bytes | str | None = None,
) -> QueryResult:
    """Answer ``text`` for ``tenant`` from the rollups in ``schema``.

    ``now`` (aware; default: the clock, read once) is what ``now()`` means; a
    ``cursor`` from a previous page carries the first page's ``now`` instead. ``limit``
    caps the page below the query's LIMIT (default 1000, at most 10 000). The whole
    run is one transaction with ``statement_timeout = timeout_ms`` and the tenant scope
    (``datanexus.tenant``, which row-level security checks) set locally. ``cache``
    shares results through Redis; ``plans`` defaults to a process-wide plan cache;
    ``secret`` signs cursors (default: ``DATANEXUS_QUERY_SECRET`` or a per-process key).

    Raises :class:`QueryError` (400) for bad text, a bad cursor or limit;
    :class:`~datanexus.errors.StreamNotFound` (404, also a QueryError) when FROM names
    no pipeline of the tenant; :class:`QueryTimeout` (504) when PostgreSQL cancels the
    statement; :class:`StorageError` (503) for any other database failure. After any
    of them the connection is usable again (the transaction was rolled back).
    """
    if not isinstance(tenant, str) or not tenant:
        raise InvalidArgument("tenant must be a non-empty string")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise InvalidArgument(f"timeout_ms must be a positive int, not {timeout_ms!r}")
    clock_ms = _now_ms(now)
    parsed = parse_query(text)
    plans = DEFAULT_PLAN_CACHE if plans is None else plans
    key = query_secret(secret)
    try:
        # tenant_scope: one transaction whose row-level security sees only this tenant
        # (a backstop behind the tenant_id predicates of every statement below).
        with tenant_scope(conn, tenant), conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout_ms}ms",))
            catalog = load_catalog(cur, schema, tenant, parsed.stream)
            plan = plans.get_or_build(
                parsed.normalized,
                tenant,
                parsed.stream,
                catalog.version,
                lambda: build_plan(check(parsed, catalog), catalog, schema),
            )
            query = plan.query
            now_ms, after = clock_ms, None
            if cursor is not None:
                now_ms, after = decode_cursor(key, tenant, query.normalized, cursor)
            levels = catalog.granularities
            lo, hi = resolve_range(query.time_bounds, now_ms, levels[0])
            watermarks = load_watermarks(cur, schema) if len(levels) > 1 else {}
            granularity = choose_granularity(levels, query.bucket_ms, lo, hi, watermarks)
            size = _page_size(query.limit, limit)

            def compute() -> QueryResult:
                params = plan.fetch.params(
                    tenant,
                    query.stream,
                    granularity,
                    ms_to_sql(lo, upper=False),
                    ms_to_sql(hi, upper=True),
                )
                # Binary results: bytea arrives as raw bytes (no hex text to decode) and
                # numbers without parsing; about a third off the fetch of digest rows.
                with conn.cursor(binary=True) as rows_cur:
                    rows_cur.execute(plan.fetch.statement, params)
                    rows = rows_cur.fetchall()
                return assemble(plan, rows, granularity, now_ms, after, size, key, tenant)

            if cache is None:
                return compute()
            cache_params = {
                "catalog_version": catalog.version,
                "granularity_ms": granularity,
                "lo": lo,
                "hi": hi,
                "size": size,
                "after": after,
                "now": now_ms if after is not None else None,
            }
            return cache.get_or_compute(
                tenant, query.stream, query.normalized, cache_params, lo, hi, compute
            )
    except psycopg.errors.QueryCanceled as error:
        raise QueryTimeout(
            f"the query ran longer than its timeout of {timeout_ms} ms and was cancelled"
        ) from error
    except psycopg.Error as error:
        raise StorageError(
            f"the store failed while answering the query: {type(error).__name__}: {error}"
        ) from error


def assemble(
    plan: Plan,
    rows: Sequence[Sequence[Any]],
    granularity: int,
    now_ms: int,
    after: list[Any] | None,
    size: int,
    secret: bytes,
    tenant: str,
) -> QueryResult:
    """Merge fetched rows into groups, then HAVING, ORDER BY, cursor/OFFSET, LIMIT."""
    query = plan.query
    bucket = query.bucket_ms
    dims = query.group_dims
    series_keys: dict[str, tuple[Any, ...]] = {}
    unknown = tuple((0, None) for _ in dims)

    def key_of(row: Sequence[Any]) -> tuple[int | None, tuple[Any, ...]]:
        series = row[1]
        tagged = series_keys.get(series)
        if tagged is None:
            parsed = dims_of(series, dims)
            if parsed is None:
                log.warning("rollup series %r is not a JSON object; its dims read as null", series)
                parsed = unknown
            tagged = series_keys[series] = parsed
        ws = row[0]
        return (ws - ws % bucket if bucket else None, tagged)

    samples = frozenset(m.metric for m in query.measures if m.kind in ("rate", "increase"))
    merged = merge_rows(rows, key_of, samples)
    quantiles = {m.metric for m in query.measures if m.kind == "quantile"}
    merge_digests(acc for accs in merged.values() for m, acc in accs.items() if m in quantiles)
    compressions: dict[str, float] = {}
    precisions: dict[str, int] = {}
    groups: list[Group] = []
    for (bucket_ms, tagged), accs in merged.items():
        values: dict[str, Any] = {}
        for measure in query.measures:
            acc = accs.get(measure.metric)
            values[measure.name] = finish(measure, acc)
            if acc is not None and acc.compression is not None:
                old = compressions.get(measure.name, acc.compression)
                compressions[measure.name] = min(old, acc.compression)
            if acc is not None and acc.precision is not None:
                precisions[measure.name] = acc.precision
        groups.append(
            Group(bucket_ms, {d: v for d, (_, v) in zip(dims, tagged, strict=True)}, values)
        )
    if query.having is not None:
        having = query.having
        groups = [g for g in groups if evaluate(having, g.get) is True]
    keyed = ordered(groups, query.order, dims)
    total = len(keyed)
    if after is not None:
        compare = compare_keys(query.order)
        start = next((i for i, (k, _) in enumerate(keyed) if compare(k, after) > 0), total)
    else:
        start = min(query.offset, total)
    page = keyed[start : start + size]
    next_cursor = None
    if page and start + size < total:
        next_cursor = encode_cursor(secret, tenant, query.normalized, now_ms, page[-1][0])
    out_rows = [tuple(_output(g, c.ref) for c in query.columns) for _, g in page]
    return QueryResult(
        columns=[c.label for c in query.columns],
        rows=out_rows,
        granularity_ms=granularity,
        errors=_error_bounds(plan, compressions, precisions),
        next_cursor=next_cursor,
        total=total,
    )


def _output(group: Group, ref: Any) -> Any:
    value = group.get(ref)
    if ref.kind == "time" and value is not None:
        return _EPOCH + timedelta(milliseconds=value)
    return value


def _error_bounds(
    plan: Plan, compressions: dict[str, float], precisions: dict[str, int]
) -> dict[str, float]:
    """Per approximate output column: the t-digest rank error bound (conservative over
    the groups: the smallest compression seen) or the HLL relative standard error."""
    bounds: dict[str, float] = {}
    by_name = {m.name: m for m in plan.query.measures}
    for column in plan.query.columns:
        measure = by_name.get(column.ref.name) if column.ref.kind == "measure" else None
        if measure is None or not measure.approximate:
            continue
        if measure.kind == "quantile":
            assert measure.q is not None
            compression = compressions.get(measure.name, DEFAULT_DIGEST_COMPRESSION)
            bounds[column.label] = digest_rank_error(measure.q, compression)
        else:
            precision = precisions.get(measure.name, DEFAULT_HLL_PRECISION)
            bounds[column.label] = 1.04 / math.sqrt(2.0**precision)
    return bounds
