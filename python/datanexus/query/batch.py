"""``run_queries``: many queries of one tenant sharing connections and fetches (QUERY-14).

A dashboard asks many questions of the same data: p99 and count of one stream over the
last hour, by region and in total, … Run one by one, each takes a connection and fetches
its rollup rows. :func:`run_queries` takes one connection for all of them (from a pool
or the one given), checks and plans every query, groups them by what they read — stream,
range [lo, hi), granularity and WHERE filter — and fetches each group's rows once, with
the union of the group's metrics (digests and HLLs only for metrics some query of the
group needs as a sketch). Each query then merges, sorts and pages its own share of the
rows exactly as :func:`~datanexus.query.execute.run_query` does, so the results are the
same as running them one by one (at one ``now``, read once for all of them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import psycopg
import psycopg.errors

from datanexus.errors import InvalidArgument, QueryTimeout, StorageError
from datanexus.query.catalog import Catalog, load_catalog
from datanexus.query.check import check, parse_query
from datanexus.query.cursor import query_secret
from datanexus.query.execute import DEFAULT_PLAN_CACHE, _now_ms, _page_size, assemble
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
from datanexus.query.sqlgen import build_fetch
from datanexus.store.tenancy import tenant_scope

__all__ = ["ConnectionSource", "run_queries"]


class ConnectionSource(Protocol):
    """A pool: ``psycopg_pool.ConnectionPool`` or anything with its ``connection()``."""

    def connection(self) -> Any: ...


@dataclass
class _Planned:
    index: int
    plan: Plan
    granularity: int
    lo: int | None
    hi: int | None
    """None: unbounded at that end."""
    size: int


@contextmanager
def _connection(source: psycopg.Connection[Any] | ConnectionSource) -> Iterator[Any]:
    if isinstance(source, psycopg.Connection):
        yield source
    else:
        with source.connection() as conn:
            yield conn


def run_queries(
    source: psycopg.Connection[Any] | ConnectionSource,
    tenant: str,
    texts: Sequence[str],
    *,
    schema: str = "datanexus",
    now: datetime | None = None,
    timeout_ms: int = 10_000,
    plans: PlanCache | None = None,
    secret: bytes | str | None = None,
) -> list[QueryResult]:
    """The first page of each query of ``texts``, in order, from one connection of
    ``source`` (a connection, or a pool whose ``connection()`` is taken once) in one
    transaction scoped to ``tenant`` with ``statement_timeout = timeout_ms``; each group
    of queries reading the same stream, range, granularity and filter is fetched once.
    ``now`` (aware; default: the clock, read once) is ``now()`` for all of them.

    Raises like :func:`~datanexus.query.execute.run_query`: :class:`QueryError` for the
    first bad text (nothing is fetched then), :class:`QueryTimeout`,
    :class:`StorageError`."""
    if not isinstance(tenant, str) or not tenant:
        raise InvalidArgument("tenant must be a non-empty string")
    if isinstance(texts, str):
        raise InvalidArgument("texts must be a sequence of query texts, not one string")
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise InvalidArgument(f"timeout_ms must be a positive int, not {timeout_ms!r}")
    now_ms = _now_ms(now)
    parsed = [parse_query(text) for text in texts]
    plans = DEFAULT_PLAN_CACHE if plans is None else plans
    key = query_secret(secret)
    results: list[QueryResult | None] = [None] * len(parsed)
    try:
        with _connection(source) as conn, tenant_scope(conn, tenant), conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout_ms}ms",))
            catalogs: dict[str, Catalog] = {}
            watermarks: dict[Any, Any] | None = None
            groups: dict[tuple[Any, ...], list[_Planned]] = {}
            for index, p in enumerate(parsed):
                catalog = catalogs.get(p.stream)
                if catalog is None:
                    catalog = catalogs[p.stream] = load_catalog(cur, schema, tenant, p.stream)
                plan = plans.get_or_build(
                    p.normalized,
                    tenant,
                    p.stream,
                    catalog.version,
                    # Called at once (or not at all), so the loop variables are current.
                    lambda: build_plan(check(p, catalog), catalog, schema),  # noqa: B023
                )
                query = plan.query
                levels = catalog.granularities
                lo, hi = resolve_range(query.time_bounds, now_ms, levels[0])
                if len(levels) > 1 and watermarks is None:
                    watermarks = load_watermarks(cur, schema)
                granularity = choose_granularity(levels, query.bucket_ms, lo, hi, watermarks or {})
                planned = _Planned(index, plan, granularity, lo, hi, _page_size(query.limit, None))
                group = (query.stream, lo, hi, granularity, repr(query.where))
                groups.setdefault(group, []).append(planned)
            for members in groups.values():
                rows = _fetch(conn, schema, tenant, members)
                for m in members:
                    query = m.plan.query
                    metrics = {measure.metric for measure in query.measures}
                    own = [r for r in rows if r[2] in metrics] if len(members) > 1 else rows
                    results[m.index] = assemble(
                        m.plan, own, m.granularity, now_ms, None, m.size, key, tenant
                    )
    except psycopg.errors.QueryCanceled as error:
        raise QueryTimeout(
            f"the queries ran longer than their timeout of {timeout_ms} ms and were cancelled"
        ) from error
    except psycopg.Error as error:
        raise StorageError(
            f"the store failed while answering the queries: {type(error).__name__}: {error}"
        ) from error
    return [r for r in results if r is not None]


def _fetch(
    conn: psycopg.Connection[Any], schema: str, tenant: str, members: list[_Planned]
) -> list[tuple[Any, ...]]:
    """The rows of one group: one statement for the union of the members' measures."""
    first = members[0]
    measures = tuple(m for member in members for m in member.plan.query.measures)
    fetch = (
        first.plan.fetch
        if len(members) == 1
        else build_fetch(replace(first.plan.query, measures=measures), schema)
    )
    params = fetch.params(
        tenant,
        first.plan.query.stream,
        first.granularity,
        ms_to_sql(first.lo, upper=False),
        ms_to_sql(first.hi, upper=True),
    )
    with conn.cursor(binary=True) as cur:
        cur.execute(fetch.statement, params)
        return cur.fetchall()
