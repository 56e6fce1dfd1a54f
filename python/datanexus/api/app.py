"""The ASGI app (:func:`create_app`) and the server (:func:`serve`) (API-1, API-2).

The lifespan opens the PostgreSQL pool (``search_path`` = the schema) and the Redis
client, starts the ingest worker, and at shutdown drains the ingest buffer before
closing them. The app starts even when a server is down: ``/ready`` says 503 until
everything answers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException

from datanexus.api import live
from datanexus.api.errors import envelope, map_error
from datanexus.api.ingest import Ingestor
from datanexus.api.metrics import ApiMetrics
from datanexus.api.middleware import RequestContext
from datanexus.api.ratelimit import Gcra, SlidingWindow
from datanexus.api.routes import health, ingest, keys, query, sessions, tenants
from datanexus.api.settings import ApiSettings
from datanexus.api.state import ApiState
from datanexus.api.tracing import current_correlation_id

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
}


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: pydantic's "input" and "ctx" echo caller data back.
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in error.errors()
    ][:50]


def _install_handlers(app: FastAPI) -> None:
    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return JSONResponse(
            envelope(
                "VALIDATION_FAILED",
                "request does not match the schema",
                {"errors": _validation_details(error)},
            ),
            status_code=422,
        )

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        code = _HTTP_CODES.get(error.status_code, "HTTP_ERROR")
        message = error.detail if isinstance(error.detail, str) else code.lower()
        return JSONResponse(
            envelope(code, message, {}),
            status_code=error.status_code,
            headers=dict(error.headers or {}),
        )

    async def on_ours(request: Request, error: Exception) -> JSONResponse:
        mapped = map_error(error, current_correlation_id())
        if mapped.status >= 500:
            log.warning("%s: %s", mapped.code, error)
        return JSONResponse(
            envelope(mapped.code, mapped.message, mapped.details),
            status_code=mapped.status,
            headers=mapped.headers,
        )

    from datanexus.errors import DataNexusError

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DataNexusError, on_ours)


def create_app(settings: ApiSettings) -> FastAPI:
    """The API for ``settings``; servers are opened when the app starts (lifespan)."""
    metrics = ApiMetrics()
    state = ApiState(settings=settings, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        schema = settings.db_schema
        state.pool = ConnectionPool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            kwargs={"autocommit": True, "options": f"-c search_path={schema}"},
            open=False,
            name="datanexus-api",
        )
        state.pool.open(wait=False)
        state.redis = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        state.limiter = SlidingWindow(
            state.redis,
            limit=settings.rate_limit_requests,
            window_s=settings.rate_limit_window_s,
            prefix=f"{settings.key_prefix}:rl",
        )
        state.gcra = Gcra(
            state.redis,
            rate_per_s=settings.event_rate_per_s,
            burst=settings.event_burst,
            prefix=f"{settings.key_prefix}:gcra",
        )
        state.query_limiter = SlidingWindow(
            state.redis,
            limit=settings.rate_limit_requests,
            window_s=60,
            prefix=f"{settings.key_prefix}:qpm",
        )
        state.ingest = Ingestor(settings, metrics, state.redis)
        state.ingest.start()
        try:
            yield
        finally:
            await state.ingest.drain()
            await state.redis.aclose()
            state.pool.close()

    app = FastAPI(
        title="DataNexus API",
        version="1",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.api = state
    _install_handlers(app)
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(tenants.router)
    app.include_router(keys.router)
    app.include_router(query.router)
    app.include_router(sessions.router)
    app.include_router(live.router)
    app.add_middleware(RequestContext, settings=settings, metrics=metrics)
    return app


def serve(settings: ApiSettings) -> None:
    """Run the API with uvicorn until interrupted, logging JSON (OBS-5)."""
    import uvicorn

    from datanexus.api.logs import begin_buffering, configure_logging

    begin_buffering()
    app = create_app(settings)
    configure_logging()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        ws="websockets-sansio",
    )
