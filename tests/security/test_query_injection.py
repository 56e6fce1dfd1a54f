"""QUERY-1/2/4: injection payloads are refused before anything runs, and literal payloads
stay one bind parameter. Checked against the real PostgreSQL: a canary table survives and
no payload makes the server sleep."""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from datanexus.errors import QueryError
from datanexus.query import run_query
from datanexus.store.rollups import RollupRow, write_rollups

T0 = 1_714_521_600_000


def _integration_fixtures() -> Any:
    """The server fixtures of tests/integration/conftest.py (fail, never skip, when
    PostgreSQL is down), loaded by path: test directories are not packages."""
    path = Path(__file__).parents[1] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_dn_integration_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _integration_fixtures()
database_url = _fixtures.database_url
pg = _fixtures.pg
schema = _fixtures.schema

PAYLOADS = [
    "SELECT count() FROM web; DROP TABLE canary",
    "SELECT count() FROM web WHERE city = 'Oslo'; DROP TABLE canary",
    "SELECT count() FROM web WHERE city = 'Oslo'; DROP TABLE canary; --'",
    "SELECT count() FROM web WHERE city = 'x' -- ' AND city = 'y'",
    "SELECT count() FROM web WHERE city = 'x' /* comment */",
    "SELECT count() FROM web WHERE city = pg_sleep(2)",
    "SELECT pg_sleep(2) FROM web",
    "SELECT count(), pg_sleep(2) FROM web",
    "SELECT count() FROM web WHERE city IN (SELECT pg_sleep(2))",
    "SELECT count() FROM web UNION SELECT count(*) FROM canary",
    "SELECT count() FROM web UNION ALL SELECT 1",
    "SELECT count() FROM canary",
    "SELECT count() FROM public.canary",
    "SELECT count() FROM pg_catalog.pg_tables",
    "SELECT count() FROM information_schema.tables",
    "SELECT count() FROM web, canary",
    "SELECT count() FROM web JOIN canary ON true",
    "SELECT count() FROM (SELECT * FROM canary) AS x",
    "SELECT count() FROM generate_series(1, 10)",
    "WITH x AS (DELETE FROM canary RETURNING 1) SELECT count() FROM web",
    "DROP TABLE canary",
    "DELETE FROM canary",
    "INSERT INTO canary VALUES (1)",
    "UPDATE canary SET x = 1",
    "CREATE TABLE evil (x int)",
    "COPY canary TO PROGRAM 'id'",
    "SELECT count() FROM web WHERE city = 'a' OR 1 = 1",
    "SELECT count() FROM web WHERE city = E'\\x27'",
    "SELECT count() FROM web WHERE city::text = 'x'",
    "SELECT count() FROM web WHERE city = current_setting('datanexus.tenant')",
    "SELECT count() FROM web WHERE city = $1",
    "SELECT count() FROM web WHERE city = %s",
    "SELECT count() FROM web; SELECT pg_sleep(2)",
    "SELECT count() FROM web WHERE city = chr(39)",
    "SELECT count() FROM web INTO canary2",
    "SELECT count() FROM web FOR UPDATE",
    "SELECT * FROM web",
    "SELECT count() FROM web WHERE time >= now() - interval '1 hour'; SELECT pg_sleep(2)",
    "SELECT count() FROM web ORDER BY pg_sleep(2)",
    "SELECT count() FROM web GROUP BY pg_sleep(2)",
    "SELECT count() FROM web HAVING pg_sleep(2) IS NULL",
    "SELECT count() FROM web LIMIT (SELECT 1)",
    'SELECT count() FROM "web""; DROP TABLE canary; --"',
]


@pytest.fixture
def world(
    pg: psycopg.Connection[Any], schema: str
) -> Iterator[tuple[psycopg.Connection[Any], str, str]]:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    pg.execute(f'CREATE TABLE "{schema}".canary (x int)')
    pg.execute(f'INSERT INTO "{schema}".canary VALUES (7)')
    pg.execute(
        f'INSERT INTO "{schema}".pipelines (tenant_id, name, spec, dims, metrics)'
        " VALUES (%s, 'web', '#', %s, %s::jsonb)",
        (tenant, ["city"], json.dumps({"x": ["sum"]})),
    )
    cities = ["Oslo", "x' OR '1'='1", "a'; DROP TABLE canary; --", "O''Brien"]
    rows = [
        RollupRow(tenant, "web", json.dumps({"city": c}), 60_000, T0, 1, 1, 0.0) for c in cities
    ]
    write_rollups(pg, schema, rows)
    return pg, schema, tenant


def canary_alive(pg: psycopg.Connection[Any], schema: str) -> bool:
    row = pg.execute(f'SELECT x FROM "{schema}".canary').fetchone()
    return row == (7,)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_query_1_payload_refused_nothing_run(
    world: tuple[psycopg.Connection[Any], str, str], payload: str
) -> None:
    pg, schema, tenant = world
    started = time.monotonic()
    with pytest.raises(QueryError) as info:
        run_query(pg, tenant, payload, schema=schema, timeout_ms=5_000)
    assert info.value.code in ("QUERY_INVALID", "NOT_FOUND")
    assert time.monotonic() - started < 1.5  # no pg_sleep ran
    assert canary_alive(pg, schema)
    assert pg.execute(f"SELECT to_regclass('\"{schema}\".evil')").fetchone() == (None,)


@pytest.mark.parametrize(
    "literal",
    ["x' OR '1'='1", "a'; DROP TABLE canary; --", "O'Brien", "Oslo"],
)
def test_query_2_quote_payloads_stay_one_literal(
    world: tuple[psycopg.Connection[Any], str, str], literal: str
) -> None:
    pg, schema, tenant = world
    quoted = literal.replace("'", "''")
    text = f"SELECT city, count() FROM web WHERE city = '{quoted}' GROUP BY city"
    result = run_query(pg, tenant, text, schema=schema)
    expected = [] if literal == "O'Brien" else [(literal, 1)]
    assert result.rows == expected
    assert canary_alive(pg, schema)
    # The doubled quote of O''Brien is one literal O'Brien, not the stored "O''Brien".
    if literal == "O'Brien":
        doubled = "SELECT city, count() FROM web WHERE city = 'O''''Brien' GROUP BY city"
        assert run_query(pg, tenant, doubled, schema=schema).rows == [("O''Brien", 1)]


def test_query_4_tenant_predicate_on_every_fetch(
    world: tuple[psycopg.Connection[Any], str, str],
) -> None:
    pg, schema, tenant = world
    # Same pipeline name, another tenant's rows: never counted.
    pg.execute(
        f'INSERT INTO "{schema}".pipelines (tenant_id, name, spec, dims, metrics)'
        " VALUES ('intruder', 'web', '#', %s, '{}'::jsonb)",
        (["city"],),
    )
    write_rollups(
        pg, schema, [RollupRow("intruder", "web", '{"city":"Oslo"}', 60_000, T0, 1, 99, 0.0)]
    )
    assert run_query(pg, tenant, "SELECT count() FROM web", schema=schema).rows == [(4,)]
    assert run_query(pg, "intruder", "SELECT count() FROM web", schema=schema).rows == [(99,)]
