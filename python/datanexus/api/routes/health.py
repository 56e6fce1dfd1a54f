"""``/health`` (open, liveness), ``/ready`` (open; 503 until the schema is migrated and
PostgreSQL and Redis answer, API-2) and ``/metrics`` (Prometheus text, OBS-1): it needs
``Authorization: Bearer <metrics_token>`` (Prometheus' ``authorization`` scrape setting),
and is open only in dev mode without a token (API-2: only /health and CORS preflight
are open)."""

from __future__ import annotations

import hmac
from typing import Any

import psycopg
import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from datanexus.api.auth import api_state
from datanexus.api.schemas import AUTH_ERRORS, OPEN_ERRORS
from datanexus.errors import NotAuthenticated
from datanexus.store.migrations import applied_versions, shipped

router = APIRouter(tags=["health"], responses=OPEN_ERRORS)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(request: Request) -> Any:
    state = api_state(request)
    checks: dict[str, str] = {}
    schema = state.settings.db_schema
    wanted = {m.version for m in shipped()}

    def migrations(conn: psycopg.Connection[Any]) -> str:
        missing = wanted - set(applied_versions(conn, schema))
        return "ok" if not missing else f"pending migrations {sorted(missing)}"

    try:
        checks["postgres"] = "ok"
        checks["migrations"] = await state.db(migrations)
    except Exception as error:  # any failure means "not ready", reported by class only
        checks["postgres"] = f"unavailable ({type(error).__name__})"
        checks["migrations"] = "unknown"
    try:
        if state.redis is None or not await state.redis.ping():
            checks["redis"] = "unavailable"
        else:
            checks["redis"] = "ok"
    except (redis.RedisError, OSError) as error:
        checks["redis"] = f"unavailable ({type(error).__name__})"
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: AUTH_ERRORS[401]},
)
async def metrics(request: Request) -> Response:
    state = api_state(request)
    token = state.settings.metrics_token
    if token is None:
        # API-2: only /health (and CORS preflight) are open; dev mode may skip the token.
        if not state.settings.dev_mode:
            raise NotAuthenticated(
                "/metrics needs Authorization: Bearer <metrics_token> (set metrics_token;"
                " open only in dev_mode)"
            )
    else:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise NotAuthenticated("/metrics needs the metrics token")
    registry = state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
