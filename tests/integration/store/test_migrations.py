"""The migration runner against the real PostgreSQL: forward-only, locked, all-or-nothing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from datanexus.errors import InvalidArgument, MigrationError, SchemaTooNew
from datanexus.store.migrations import Migration, applied_versions, migrate, shipped


@pytest.fixture
def fresh(pg: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"dn_mig_{uuid.uuid4().hex[:16]}"
    yield name
    pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _tables(pg: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()
    return {r[0] for r in rows}


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in shipped()]
    assert versions == list(range(1, len(versions) + 1))


def test_first_run_creates_the_tables_and_a_rerun_is_a_no_op(
    pg: psycopg.Connection[Any], fresh: str
) -> None:
    assert applied_versions(pg, fresh) == []
    assert migrate(pg, fresh) == [m.version for m in shipped()]
    assert {"rollups", "raw_events", "dead_letters", "progress"} <= _tables(pg, fresh)
    assert migrate(pg, fresh) == []
    assert applied_versions(pg, fresh) == [m.version for m in shipped()]


def test_a_new_migration_is_applied_after_the_old_ones(
    pg: psycopg.Connection[Any], fresh: str
) -> None:
    migrate(pg, fresh)
    extra = Migration(len(shipped()) + 1, "probe", "CREATE TABLE probe (x int);")
    assert migrate(pg, fresh, [*shipped(), extra]) == [extra.version]
    assert "probe" in _tables(pg, fresh)


def test_a_failing_migration_leaves_nothing_of_the_run(
    pg: psycopg.Connection[Any], fresh: str
) -> None:
    broken = Migration(len(shipped()) + 1, "broken", "CREATE TABLE ok (x int); SELECT 1/0;")
    with pytest.raises(MigrationError, match="broken") as info:
        migrate(pg, fresh, [*shipped(), broken])
    assert isinstance(info.value.__cause__, psycopg.Error)
    assert _tables(pg, fresh) == set(), "even the shipped migrations were rolled back"
    assert applied_versions(pg, fresh) == []


def test_a_newer_database_refuses_to_start(pg: psycopg.Connection[Any], fresh: str) -> None:
    newer = Migration(len(shipped()) + 1, "from_the_future", "SELECT 1;")
    migrate(pg, fresh, [*shipped(), newer])
    with pytest.raises(SchemaTooNew, match="from_the_future"):
        migrate(pg, fresh)


def test_an_edited_migration_is_refused(pg: psycopg.Connection[Any], fresh: str) -> None:
    migrate(pg, fresh)
    first, *rest = shipped()
    edited = Migration(first.version, first.name, first.text + "\n-- edited\n")
    with pytest.raises(MigrationError, match="differs"):
        migrate(pg, fresh, [edited, *rest])


def test_concurrent_starters_apply_each_migration_once(database_url: str, fresh: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                results.append(migrate(conn, fresh))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], [m.version for m in shipped()]]


@pytest.mark.parametrize("name", ["Public", "a-b", "x;drop", "", "1abc", "a" * 64])
def test_bad_schema_names_are_refused(pg: psycopg.Connection[Any], name: str) -> None:
    with pytest.raises(InvalidArgument, match="schema"):
        migrate(pg, name)
