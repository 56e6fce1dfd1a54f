"""STORE-15: a tenant-scoped session runs as the runtime role, so row-level security holds
even for a superuser connection (the test user is one); it cannot change the schema and
runs under a statement timeout."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from datanexus.store.rollups import RollupRow, write_rollups
from datanexus.store.tenancy import RUNTIME_ROLE, tenant_scope


def rows(tenant: str) -> list[RollupRow]:
    return [RollupRow(tenant, "web", "{}", 60_000, 60_000 * i, 0, 1, 1.0) for i in range(3)]


def test_store15_scoped_superuser_sees_only_its_tenant(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    assert pg.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
        True,
    )
    write_rollups(pg, schema, rows("acme") + rows("globex"))
    with tenant_scope(pg, "acme"):
        assert pg.execute("SELECT current_user").fetchone() == (RUNTIME_ROLE,)
        seen = pg.execute(f'SELECT DISTINCT tenant_id FROM "{schema}".rollups').fetchall()
        assert seen == [("acme",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute(
                f'INSERT INTO "{schema}".rollups (tenant_id, pipeline, series, metric,'
                " granularity_ms, window_start, revision, count, sum)"
                " VALUES ('globex', 'web', '{}', '*', 60000, now(), 0, 1, 1)"
            )
    unscoped = pg.execute(f'SELECT count(*) FROM "{schema}".rollups').fetchone()
    assert unscoped == (6,)


def test_store15_no_ddl_and_a_statement_timeout(pg: psycopg.Connection[Any], schema: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege), tenant_scope(pg, "acme"):
        pg.execute(f'CREATE TABLE "{schema}".sneaky (x int)')
    with pytest.raises(psycopg.errors.QueryCanceled), tenant_scope(pg, "acme", timeout_ms=100):
        pg.execute("SELECT pg_sleep(2)")
    # Both ended with their transactions: the session is itself again.
    assert pg.execute("SELECT current_user <> %s", (RUNTIME_ROLE,)).fetchone() == (True,)
    assert pg.execute("SHOW statement_timeout").fetchone() != ("100ms",)
