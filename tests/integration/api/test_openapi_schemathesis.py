"""API-1: property-based requests generated from the OpenAPI document, in process: no
500s, and every response (success or error envelope) matches its documented schema and
status codes. Authenticated with an admin key of a tenant of a fresh schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from tests.integration.api.api_helpers import make_settings

from datanexus.api import create_app, create_tenant_with_admin_key
from datanexus.store.migrations import migrate

_KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_schema(database_url: str, redis_url: str) -> Iterator[Any]:
    name = f"dn_api_fuzz_{uuid.uuid4().hex[:10]}"
    prefix = f"dntest{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn, name)
        _KEYS["admin"] = create_tenant_with_admin_key(conn, name, "fuzz")
    app = create_app(
        make_settings(
            database_url,
            redis_url,
            name,
            prefix,
            rate_limit_requests=1_000_000,
            event_burst=10_000_000,
        )
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_api1_generated_requests_no_500_and_schema_conformant(fuzz_schema: Any) -> None:
    # One hypothesis run per operation (schemathesis' pytest loader does not support this
    # pytest version, so the operations are walked here).
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {_KEYS['admin']}"},
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
            )

        run()
