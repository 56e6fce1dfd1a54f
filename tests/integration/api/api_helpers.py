"""Fixtures and helpers of the API tests, shared with tests/security and tests/bench: an
API app against the real PostgreSQL and Redis, a fresh schema per test module, unique Redis
prefixes per app, tenants with keys. Tests talk to the app in process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from datanexus.api import ApiSettings, create_app, create_tenant_with_admin_key
from datanexus.api.keys import create_key
from datanexus.store.migrations import migrate


@pytest.fixture(scope="module")
def api_schema(database_url: str) -> Iterator[str]:
    name = f"dn_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn, name)
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module")
def admin_conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A unique Redis key prefix; every key under it is deleted afterwards."""
    value = f"dntest{uuid.uuid4().hex[:10]}"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{value}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


METRICS_TOKEN = "metrics-" + "t" * 16
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def make_settings(
    database_url: str, redis_url: str, schema: str, prefix: str, **overrides: Any
) -> ApiSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "db_schema": schema,
        "stream_prefix": prefix,
        "key_prefix": prefix,
        "live_prefix": f"{prefix}:live",
        "cors_origins": ("https://app.example.com",),
        "metrics_token": METRICS_TOKEN,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture
def settings(database_url: str, redis_url: str, api_schema: str, prefix: str) -> ApiSettings:
    return make_settings(database_url, redis_url, api_schema, prefix)


@pytest.fixture
def client(settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


class Tenant:
    """A tenant of the test schema with its admin key."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str, *, platform: bool = False):
        self.conn = conn
        self.schema = schema
        self.id = f"t{uuid.uuid4().hex[:10]}"
        self.key = create_tenant_with_admin_key(conn, schema, self.id, platform_admin=platform)

    def key_with(self, *scopes: str, **kwargs: Any) -> str:
        return create_key(self.conn, self.schema, self.id, list(scopes), **kwargs)[1]

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.key)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_a(admin_conn: psycopg.Connection[Any], api_schema: str) -> Tenant:
    return Tenant(admin_conn, api_schema)


@pytest.fixture
def tenant_b(admin_conn: psycopg.Connection[Any], api_schema: str) -> Tenant:
    return Tenant(admin_conn, api_schema)


@pytest.fixture
def operator(admin_conn: psycopg.Connection[Any], api_schema: str) -> Tenant:
    return Tenant(admin_conn, api_schema, platform=True)


def add_pipeline(
    conn: psycopg.Connection[Any], schema: str, tenant: str, name: str, dims: list[str]
) -> None:
    """A catalog row (as the flow upserts it at start)."""
    from psycopg.types.json import Jsonb

    conn.execute(
        f'INSERT INTO "{schema}".pipelines (tenant_id, name, spec, dims, metrics)'
        " VALUES (%s, %s, %s, %s, %s)",
        (tenant, name, "# test spec", dims, Jsonb({"latency_ms": ["sum", "min", "max"]})),
    )
