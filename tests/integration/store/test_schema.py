"""Migration 0002 against the real PostgreSQL: partitioned tables, rows of 0001 carried
over into proper partitions, tenant_id everywhere, row-level security (STORE-1, 14, 15)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from datanexus.errors import InvalidArgument
from datanexus.store.migrations import migrate, shipped
from datanexus.store.raw_events import RawEvent, write_raw_events
from datanexus.store.rollups import RollupRow, write_rollups
from datanexus.store.tenancy import current_tenant, tenant_scope

TENANT_TABLES = (
    "rollups", "raw_events", "dead_letters", "pipelines", "rollup_invalidations",
    "zone_day_rollups",
)  # fmt: skip


@pytest.fixture
def fresh(pg: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"dn_sch_{uuid.uuid4().hex[:16]}"
    yield name
    pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def partitions(pg: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = pg.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass(%s) ORDER BY 1",
        (f'"{schema}".{table}',),
    ).fetchall()
    return [r[0] for r in rows]


def test_rows_of_0001_move_into_partitions_of_their_period(
    pg: psycopg.Connection[Any], fresh: str
) -> None:
    first = [m for m in shipped() if m.version == 1]
    migrate(pg, fresh, first)
    pg.execute(
        f'INSERT INTO "{fresh}".rollups (tenant, pipeline, series, granularity_ms,'
        " window_start, revision, count, sum) VALUES"
        " ('acme', 'web', '{}', 60000, '2024-05-31 23:59:00+00', 3, 7, 1.5),"
        " ('acme', 'web', '{}', 60000, '2024-06-01 00:00:00+00', 1, 2, 0.5)"
    )
    pg.execute(
        f'INSERT INTO "{fresh}".raw_events (tenant, stream, id, ts, payload) VALUES'
        """ ('acme', 'web', 'e1', '2024-05-31 23:59:59.999+00', '{"a": 1}'),"""
        """ ('acme', 'web', 'e2', '2024-06-01 00:00:00+00', '{"a": 2}')"""
    )
    pg.execute(
        f'INSERT INTO "{fresh}".dead_letters (tenant, source, stage, reason, error, payload)'
        " VALUES ('acme', 'http', 'decode', 'invalid_json', 'x', '\\x00')"
    )
    assert migrate(pg, fresh) == [m.version for m in shipped() if m.version > 1]

    assert partitions(pg, fresh, "rollups") == ["rollups_default", "rollups_p202405",
                                                "rollups_p202406"]  # fmt: skip
    assert partitions(pg, fresh, "raw_events") == [
        "raw_events_default", "raw_events_p20240531", "raw_events_p20240601",
    ]  # fmt: skip
    assert pg.execute(f'SELECT count(*) FROM "{fresh}".rollups_default').fetchone() == (0,)
    rows = pg.execute(
        f'SELECT tenant_id, metric, revision, count FROM "{fresh}".rollups_p202405'
    ).fetchall()
    assert rows == [("acme", "*", 3, 7)]
    ids = pg.execute(f'SELECT id FROM "{fresh}".raw_events_p20240601').fetchall()
    assert ids == [("e2",)]
    letters = pg.execute(f'SELECT tenant_id FROM "{fresh}".dead_letters').fetchall()
    assert letters == [("acme",)]


def test_every_tenant_table_has_tenant_id_and_forced_row_security(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    for table in TENANT_TABLES:
        found = pg.execute(
            "SELECT c.relrowsecurity, c.relforcerowsecurity, count(p.polname)"
            " FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid"
            " WHERE c.oid = to_regclass(%s) GROUP BY 1, 2",
            (f'"{schema}".{table}',),
        ).fetchone()
        assert found == (True, True, 1), table
        column = pg.execute(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s AND column_name = 'tenant_id'",
            (schema, table),
        ).fetchone()
        assert column == (1,), table


def test_raw_events_dedup_on_id_and_ts_within_daily_partitions(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    day = 1_714_521_600_000  # 2024-05-01T00:00Z
    events = [
        RawEvent("acme", "web", "e1", day + 5, "{}"),
        RawEvent("acme", "web", "e2", day, "{}"),
    ]
    assert write_raw_events(pg, schema, events) == 2
    assert write_raw_events(pg, schema, events) == 0, "a replay inserts nothing"
    # The documented consequence of a key containing ts: same id, other time, new row.
    assert write_raw_events(pg, schema, [RawEvent("acme", "web", "e1", day + 6, "{}")]) == 1
    # No partition for May 2024 yet: the default partition caught the rows, none failed.
    assert pg.execute(f'SELECT count(*) FROM "{schema}".raw_events_default').fetchone() == (3,)


@pytest.fixture
def scoped_role(pg: psycopg.Connection[Any], schema: str) -> Iterator[str]:
    """A role that is not superuser (superusers bypass row security), with DML rights."""
    role = f"dn_rls_{uuid.uuid4().hex[:12]}"
    pg.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
    pg.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    pg.execute(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    yield role
    pg.execute("RESET ROLE")
    pg.execute(f'DROP OWNED BY "{role}"')
    pg.execute(f'DROP ROLE "{role}"')


def test_row_security_shows_only_the_scoped_tenant(
    pg: psycopg.Connection[Any], schema: str, scoped_role: str
) -> None:
    rows = [
        RollupRow(t, "web", "{}", 60_000, 60_000 * i, 0, 1, 1.0)
        for t in ("acme", "globex") for i in range(3)
    ]  # fmt: skip
    assert write_rollups(pg, schema, rows) == 6
    pg.execute(f'SET ROLE "{scoped_role}"')
    query = f'SELECT DISTINCT tenant_id FROM "{schema}".rollups ORDER BY 1'
    assert pg.execute(query).fetchall() == [("acme",), ("globex",)], "unscoped: all rows"
    with tenant_scope(pg, "acme"):
        assert current_tenant(pg) == "acme"
        assert pg.execute(query).fetchall() == [("acme",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege), pg.transaction():
            pg.execute(
                f'INSERT INTO "{schema}".rollups (tenant_id, pipeline, series,'
                " granularity_ms, window_start, revision, count, sum)"
                " VALUES ('globex', 'web', '{}', 60000, now(), 0, 1, 1)"
            )
    assert current_tenant(pg) is None, "the scope ends with its transaction"
    assert pg.execute(query).fetchall() == [("acme",), ("globex",)]


@pytest.mark.parametrize("bad", ["", "a\x00b"])
def test_an_empty_tenant_scope_is_refused(pg: psycopg.Connection[Any], bad: str) -> None:
    with pytest.raises(InvalidArgument, match="tenant"), tenant_scope(pg, bad):
        pass


def test_rollup_timestamps_are_utc(pg: psycopg.Connection[Any], schema: str) -> None:
    write_rollups(pg, schema, [RollupRow("a", "p", "{}", 60_000, 0, 0, 1, 1.0, metric="x")])
    found = pg.execute(f'SELECT window_start, metric FROM "{schema}".rollups').fetchone()
    assert found == (datetime(1970, 1, 1, tzinfo=UTC), "x")
