"""``POST /v1/query`` and the stream catalog ``GET /v1/streams[/{name}]``.

The query runs :func:`datanexus.query.run_query` for the credential's tenant (errors map
in :mod:`datanexus.api.errors`: QueryError 400, NotFound 404, QueryTimeout 504,
StorageError 503). It needs scope ``query:read:<stream>`` for the stream in FROM. The
catalog lists the tenant's pipelines (scope ``streams:read:<name>``; a name that is not
the tenant's answers 404 like a missing one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from datanexus.api.auth import Caller, api_state, require
from datanexus.api.errors import ApiError
from datanexus.api.keys import Principal
from datanexus.api.models import StrictModel
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.api.scopes import has_scope
from datanexus.api.state import ApiState
from datanexus.errors import RateLimited, ServiceUnavailable
from datanexus.query import MAX_LIMIT, QueryResult, run_query
from datanexus.query.check import parse_query
from datanexus.store.tenancy import tenant_scope

router = APIRouter(prefix="/v1", tags=["query"], responses=AUTH_ERRORS)


class QueryRequest(StrictModel):
    query: str = Field(min_length=1, max_length=10_000)
    cursor: str | None = Field(default=None, max_length=4096)
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)


class QueryAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    granularity_ms: int
    errors: dict[str, float]
    next_cursor: str | None
    total: int


class StreamInfo(BaseModel):
    name: str
    version: int
    dims: list[str]
    metrics: dict[str, list[str]]
    granularities: list[int]
    updated_at: datetime


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


@router.post("/query", response_model=QueryAnswer)
async def query(body: QueryRequest, request: Request, principal: Caller) -> Any:
    """Run a query over the tenant's rollups; page with ``next_cursor``."""
    stream = parse_query(body.query).stream
    require(principal, f"query:read:{stream}")
    state = api_state(request)
    settings = state.settings
    await _query_quota(state, principal)

    def run(conn: psycopg.Connection[Any]) -> QueryResult:
        return run_query(
            conn,
            principal.tenant,
            body.query,
            schema=settings.db_schema,
            cursor=body.cursor,
            limit=body.limit,
            timeout_ms=settings.query_timeout_ms,
        )

    result = await state.db(run)
    return QueryAnswer(
        columns=result.columns,
        rows=[[_plain(v) for v in row] for row in result.rows],
        granularity_ms=result.granularity_ms,
        errors=result.errors,
        next_cursor=result.next_cursor,
        total=result.total,
    )


async def _query_quota(state: ApiState, principal: Principal) -> None:
    """The tenant's queries-per-minute quota (API-11), when it has one."""
    quota, limiter = principal.quota_queries_per_min, state.query_limiter
    if quota is None or limiter is None:
        return
    try:
        decision = await limiter.hit(principal.tenant, quota)
    except ServiceUnavailable:
        if settings_fail_closed(state):
            raise
        state.metrics.rate_limit_fail_open.inc()
        return
    if not decision.allowed:
        state.metrics.rate_limited.labels(stage="queries").inc()
        raise RateLimited(
            f"{quota} queries per minute exceeded for this tenant", decision.retry_after_s
        )


def settings_fail_closed(state: ApiState) -> bool:
    return state.settings.rate_limit_fail_closed


_COLUMNS = "name, version, dims, metrics, granularities, updated_at"


@router.get("/streams", response_model=list[StreamInfo])
async def list_streams(request: Request, principal: Caller) -> Any:
    """The tenant's pipelines that the key may read."""

    def run(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        with tenant_scope(conn, principal.tenant), conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"SELECT {_COLUMNS} FROM pipelines WHERE tenant_id = %s ORDER BY name",
                (principal.tenant,),
            ).fetchall()

    rows = await api_state(request).db(run)
    return [
        StreamInfo(**r) for r in rows if has_scope(principal.scopes, f"streams:read:{r['name']}")
    ]


@router.get("/streams/{name}", response_model=StreamInfo)
async def get_stream(
    name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")],
    request: Request,
    principal: Caller,
) -> Any:
    def run(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        with tenant_scope(conn, principal.tenant), conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"SELECT {_COLUMNS} FROM pipelines WHERE tenant_id = %s AND name = %s",
                (principal.tenant, name),
            ).fetchone()

    row = await api_state(request).db(run)
    if row is None:
        raise ApiError(404, "NOT_FOUND", f"stream {name!r} not found")
    require(principal, f"streams:read:{name}")
    return StreamInfo(**row)
