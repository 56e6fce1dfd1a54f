"""The schema registry against the real PostgreSQL, a fresh schema per test
(PIPE-2, PIPE-3, PIPE-4, PIPE-6, STORE-15)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import psycopg
import pytest

from datanexus.errors import (
    CompatibilityError,
    InvalidArgument,
    InvalidSchema,
    SchemaLimitExceeded,
    SchemaNotFound,
    SchemaStateError,
    ServiceUnavailable,
)
from datanexus.pipeline.schema import (
    CompatibilityMode,
    Level,
    RegisteredSchema,
    SchemaRegistry,
    ViolationKind,
)


def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


V1 = obj({"id": {"type": "integer"}}, ["id"])
V2 = obj({"id": {"type": "integer"}, "name": {"type": "string"}}, ["id"])
V3 = obj({"id": {"type": "number"}, "name": {"type": "string"}}, ["id"])


@pytest.fixture
def connect(database_url: str) -> Callable[[], AbstractContextManager[psycopg.Connection[Any]]]:
    """A pool-like source: each call opens a connection that closes when the block ends."""
    return lambda: psycopg.connect(database_url, autocommit=True)


@pytest.fixture
def registry(pg: psycopg.Connection[Any], schema: str) -> SchemaRegistry:
    return SchemaRegistry(pg, schema=schema, tenant="acme")


def table_counts(pg: psycopg.Connection[Any], schema: str) -> tuple[int, int]:
    subjects = pg.execute(f'SELECT count(*) FROM "{schema}".schema_subjects').fetchone()
    versions = pg.execute(f'SELECT count(*) FROM "{schema}".schema_versions').fetchone()
    assert subjects is not None
    assert versions is not None
    return int(subjects[0]), int(versions[0])


# ---------------------------------------------------------------------------- PIPE-2


def test_PIPE_2_an_empty_registry_works(registry: SchemaRegistry) -> None:
    assert registry.subjects() == []
    assert registry.versions("web") == []
    assert registry.get("web") is None
    assert registry.get("web", 1) is None
    assert registry.get_compatibility("web") is CompatibilityMode.BACKWARD
    assert registry.check("web", V1) == []
    assert registry.validator("web") is None


def test_PIPE_2_versions_1_2_3_and_an_identical_canonical_schema_returns_its_version(
    registry: SchemaRegistry, pg: psycopg.Connection[Any], schema: str
) -> None:
    first = registry.register("web", V1)
    second = registry.register("web", V2)
    third = registry.register("web", V3)
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert len({first.id, second.id, third.id}) == 3
    # the same schema with keys and `required` in another order is version 2 again
    reordered = {"properties": {"name": {"type": "string"}, "id": {"type": "integer"}}, **V2}
    reordered = dict(reversed(list(reordered.items())))
    assert registry.register("web", reordered) == RegisteredSchema(second.id, 2)
    assert table_counts(pg, schema) == (1, 3)
    assert registry.versions("web") == [1, 2, 3]
    assert registry.subjects() == ["web"]
    stored = registry.get("web", 2)
    assert stored is not None
    assert stored.schema == V2
    assert stored.id == second.id
    assert stored.created_at.tzinfo is not None
    assert registry.lookup("web", reordered) == stored


def _register_in_threads(
    count: int, make_registry: Callable[[], SchemaRegistry], schema_of: Callable[[int], Any]
) -> list[RegisteredSchema]:
    barrier = threading.Barrier(count)
    results: list[RegisteredSchema | BaseException | None] = [None] * count

    def work(index: int) -> None:
        registry = make_registry()
        barrier.wait()
        try:
            results[index] = registry.register("orders", schema_of(index))
        except BaseException as error:  # reported below with the thread's index
            results[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for index, result in enumerate(results):
        assert isinstance(result, RegisteredSchema), (index, result)
    return [r for r in results if isinstance(r, RegisteredSchema)]


def test_PIPE_2_concurrent_registrations_on_separate_connections_get_distinct_consecutive_versions(
    database_url: str, schema: str
) -> None:
    count = 12
    connections = [psycopg.connect(database_url, autocommit=True) for _ in range(count)]
    made = iter(connections)
    try:
        results = _register_in_threads(
            count,
            lambda: SchemaRegistry(next(made), schema=schema, tenant="acme"),
            # each adds its own optional field: all BACKWARD compatible with each other
            lambda i: obj({"id": {"type": "integer"}, f"f{i}": {"type": "string"}}),
        )
    finally:
        for conn in connections:
            conn.close()
    assert sorted(r.version for r in results) == list(range(1, count + 1))
    assert len({r.id for r in results}) == count


def test_PIPE_2_concurrent_registrations_of_one_schema_share_one_version(
    connect: Callable[[], AbstractContextManager[psycopg.Connection[Any]]], schema: str
) -> None:
    results = _register_in_threads(
        8, lambda: SchemaRegistry(connect, schema=schema, tenant="acme"), lambda _: V1
    )
    assert {(r.id, r.version) for r in results} == {(results[0].id, 1)}


# ---------------------------------------------------------------------------- PIPE-3


def test_PIPE_3_lookup_latest_unknown_and_bad_versions(registry: SchemaRegistry) -> None:
    registry.register("web", V1)
    registry.register("web", V2)
    latest = registry.get("web", -1)
    assert latest is not None
    assert latest.version == 2
    assert registry.get("web") == latest
    assert registry.get("web", 3) is None
    assert registry.get("mobile") is None
    for bad in (0, -2, 101):
        with pytest.raises(InvalidArgument, match=r"-1 \(latest\) or 1\.\.100"):
            registry.get("web", bad)
    with pytest.raises(InvalidArgument, match="subject"):
        registry.get("", 1)


def test_PIPE_3_soft_delete_hides_but_still_decodes_and_hard_delete_needs_it_first(
    registry: SchemaRegistry,
) -> None:
    registry.register("web", V1)
    registry.register("web", V2)
    with pytest.raises(SchemaStateError, match="soft-delete it first"):
        registry.delete("web", 2, permanent=True)
    registry.delete("web", 2)
    latest = registry.get("web")
    assert latest is not None
    assert latest.version == 1
    assert registry.versions("web") == [1]
    assert registry.versions("web", include_deleted=True) == [1, 2]
    hidden = registry.get("web", 2)
    assert hidden is not None
    assert hidden.deleted
    assert hidden.schema == V2
    validator = registry.validator("web", 2)
    assert validator is not None
    assert validator.errors({"id": 1, "name": 5}) == ['/name: 5 is not of type "string"']
    with pytest.raises(SchemaNotFound, match="already soft-deleted"):
        registry.delete("web", 2)
    registry.delete("web", 2, permanent=True)
    assert registry.get("web", 2) is None
    with pytest.raises(SchemaNotFound, match="no version 2"):
        registry.delete("web", 2, permanent=True)
    # numbers are never reused: the next version is 3
    assert registry.register("web", V3).version == 3


def test_PIPE_3_registering_a_soft_deleted_schema_again_brings_its_version_back(
    registry: SchemaRegistry,
) -> None:
    registry.register("web", V1)
    registry.register("web", V2)
    registry.delete("web", 2)
    assert registry.register("web", V2).version == 2
    assert registry.versions("web") == [1, 2]


def test_PIPE_3_subjects_soft_and_hard_deleted(registry: SchemaRegistry) -> None:
    registry.register("web", V1)
    registry.register("app", V1)
    assert registry.delete_subject("web") == [1]
    assert registry.subjects() == ["app"]
    assert registry.subjects(include_deleted=True) == ["app", "web"]
    assert registry.get("web") is None
    stored = registry.get("web", 1)
    assert stored is not None
    assert stored.deleted
    with pytest.raises(SchemaStateError):
        registry.delete_subject("app", permanent=True)
    assert registry.delete_subject("web", permanent=True) == [1]
    assert registry.subjects(include_deleted=True) == ["app"]
    with pytest.raises(SchemaNotFound):
        registry.delete_subject("web")


def test_PIPE_3_version_101_is_refused_and_nothing_changes(
    registry: SchemaRegistry, pg: psycopg.Connection[Any], schema: str
) -> None:
    registry.set_compatibility("big", "NONE")
    for i in range(1, 101):
        assert registry.register("big", {"const": i}).version == i
    before = table_counts(pg, schema)
    with pytest.raises(SchemaLimitExceeded, match="version 101 is refused"):
        registry.register("big", {"const": 101})
    assert table_counts(pg, schema) == before
    assert registry.register("big", {"const": 7}).version == 7  # existing ones still found


# ---------------------------------------------------------------------------- PIPE-4/6


def test_PIPE_4_compatibility_is_set_per_subject_and_applies_to_the_next_registration(
    registry: SchemaRegistry,
) -> None:
    widened_away = obj({"id": {"type": "string"}}, ["id"])
    registry.register("web", V1)
    registry.register("app", V1)
    registry.set_compatibility("web", CompatibilityMode.NONE)
    assert registry.get_compatibility("web") is CompatibilityMode.NONE
    assert registry.get_compatibility("app") is CompatibilityMode.BACKWARD
    assert registry.register("web", widened_away).version == 2
    with pytest.raises(CompatibilityError):
        registry.register("app", widened_away)
    with pytest.raises(InvalidArgument, match="compatibility mode must be one of"):
        registry.set_compatibility("app", "LOOSE")


def test_PIPE_4_transitive_modes_check_every_live_version_and_skip_soft_deleted_ones(
    registry: SchemaRegistry,
) -> None:
    v1 = obj({"id": {"type": "integer"}, "code": {"type": "string"}})
    v2 = obj({"id": {"type": "integer"}})
    v3 = obj({"id": {"type": "integer"}, "code": {"type": "integer"}})
    registry.set_compatibility("web", "BACKWARD_TRANSITIVE")
    registry.register("web", v1)
    registry.register("web", v2)
    found = registry.check("web", v3)
    assert [(v.kind, v.path, v.version) for v in found] == [(ViolationKind.TYPE_CHANGED, "code", 1)]
    with pytest.raises(CompatibilityError):
        registry.register("web", v3)
    registry.delete("web", 1)
    assert registry.register("web", v3).version == 3


def test_PIPE_6_a_breach_lists_every_violation_and_leaves_the_registry_unchanged(
    registry: SchemaRegistry, pg: psycopg.Connection[Any], schema: str
) -> None:
    registry.register("web", V2)
    before = table_counts(pg, schema)
    breaking = obj(
        {"id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"}},
        ["id", "email"],
    )
    with pytest.raises(CompatibilityError) as caught:
        registry.register("web", breaking)
    assert {(v.kind, v.path, v.level, v.version) for v in caught.value.violations} == {
        (ViolationKind.TYPE_CHANGED, "id", Level.ERROR, 1),
        (ViolationKind.REQUIRED_ADDED, "email", Level.ERROR, 1),
    }
    assert table_counts(pg, schema) == before
    assert registry.versions("web") == [1]
    assert registry.register("web", V3).version == 2  # no number was burnt


def test_PIPE_9_a_schema_the_validator_refuses_is_never_stored(
    registry: SchemaRegistry, pg: psycopg.Connection[Any], schema: str
) -> None:
    with pytest.raises(InvalidSchema, match="not local"):
        registry.register("web", {"$ref": "https://example.com/s.json"})
    with pytest.raises(InvalidSchema, match="pattern"):
        registry.register("web", {"type": "string", "pattern": "(a)\\1"})
    assert table_counts(pg, schema) == (0, 0)


# ---------------------------------------------------------------------------- STORE-15


def test_STORE_15_tenants_are_isolated(pg: psycopg.Connection[Any], schema: str) -> None:
    acme = SchemaRegistry(pg, schema=schema, tenant="acme")
    globex = SchemaRegistry(pg, schema=schema, tenant="globex")
    acme.register("web", V1)
    acme.register("web", V2)
    assert globex.register("web", V2).version == 1
    assert globex.get("web", 2) is None
    assert globex.subjects() == ["web"]
    assert acme.versions("web") == [1, 2]
    with pytest.raises(InvalidArgument, match="tenant"):
        SchemaRegistry(pg, schema=schema, tenant="")


@pytest.fixture
def scoped_role(pg: psycopg.Connection[Any], schema: str) -> Iterator[str]:
    """A role that is neither superuser nor BYPASSRLS (those ignore row security)."""
    role = f"dn_rls_{uuid.uuid4().hex[:12]}"
    pg.execute(f'CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS')
    pg.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    pg.execute(
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'
    )
    yield role
    pg.execute("RESET ROLE")
    pg.execute(f'DROP OWNED BY "{role}"')
    pg.execute(f'DROP ROLE "{role}"')


def test_STORE_15_row_security_backs_the_tenant_filters_up(
    pg: psycopg.Connection[Any], schema: str, scoped_role: str
) -> None:
    SchemaRegistry(pg, schema=schema, tenant="acme").register("web", V1)
    SchemaRegistry(pg, schema=schema, tenant="globex").register("web", V1)
    pg.execute(f'SET ROLE "{scoped_role}"')
    query = f'SELECT DISTINCT tenant_id FROM "{schema}".schema_versions ORDER BY 1'
    with pg.transaction():
        pg.execute("SELECT set_config('datanexus.tenant', 'acme', true)")
        assert pg.execute(query).fetchall() == [("acme",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege), pg.transaction():
            pg.execute(
                f'INSERT INTO "{schema}".schema_subjects (tenant_id, subject) VALUES (%s, %s)',
                ("globex", "other"),
            )
    # the registry works under the restricted role, through its own scoping
    acme = SchemaRegistry(pg, schema=schema, tenant="acme")
    assert acme.register("web", V2).version == 2
    assert acme.versions("web") == [1, 2]


def test_a_dead_server_is_service_unavailable(schema: str) -> None:
    def refused() -> psycopg.Connection[Any]:
        return psycopg.connect("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)

    registry = SchemaRegistry(refused, schema=schema, tenant="acme")
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        registry.get("web")
