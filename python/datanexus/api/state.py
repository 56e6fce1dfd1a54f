"""What the app holds while it runs: pools, clients, limiters, metrics, the ingest buffer.
Created by the lifespan of :func:`datanexus.api.create_app`; routes reach it through
``request.app.state.api``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import redis.asyncio as aioredis
from anyio import to_thread
from psycopg_pool import ConnectionPool

from datanexus.api.metrics import ApiMetrics
from datanexus.api.ratelimit import Gcra, SlidingWindow
from datanexus.api.settings import ApiSettings

__all__ = ["ApiState"]

T = TypeVar("T")


@dataclass
class ApiState:
    settings: ApiSettings
    metrics: ApiMetrics
    pool: ConnectionPool | None = None
    redis: aioredis.Redis | None = None
    limiter: SlidingWindow | None = None
    gcra: Gcra | None = None
    query_limiter: SlidingWindow | None = None
    ingest: Any = None  # datanexus.api.ingest.Ingestor, set by the lifespan
    extras: dict[str, Any] = field(default_factory=dict)

    async def db(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``fn`` with a pooled connection (search_path = the schema) in a worker
        thread, inside one transaction committed when ``fn`` returns."""
        pool = self.pool
        if pool is None:
            raise RuntimeError("the database pool is not open (app not started)")

        def run() -> T:
            with pool.connection() as conn, conn.transaction():
                return fn(conn)

        return await to_thread.run_sync(run)
