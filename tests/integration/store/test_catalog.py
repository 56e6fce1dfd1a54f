"""The pipeline catalog: versions rise with spec changes only (STORE-12)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from datanexus.store.catalog import (
    VersionConflict,
    get_pipeline,
    list_pipelines,
    register_pipeline,
    update_pipeline,
)


def register(pg: psycopg.Connection[Any], schema: str, spec: str, tenant: str = "acme") -> Any:
    return register_pipeline(
        pg,
        schema,
        tenant=tenant,
        name="web",
        spec=spec,
        dims=["region"],
        metrics={"latency_ms": {"digest", "sum"}, "user_id": ["hll"]},
        granularities=[60_000, 3_600_000, 60_000],
    )


def test_register_then_reregister_same_text_keeps_version(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    first = register(pg, schema, "a = 1")
    assert first.version == 1
    assert first.dims == ("region",)
    assert first.metrics == {"latency_ms": ("digest", "sum"), "user_id": ("hll",)}
    assert first.granularities == (60_000, 3_600_000)
    assert register(pg, schema, "a = 1").version == 1
    assert register(pg, schema, "a = 2").version == 2
    assert get_pipeline(pg, schema, "acme", "web") == register(pg, schema, "a = 2")


def test_tenants_do_not_see_each_other(pg: psycopg.Connection[Any], schema: str) -> None:
    register(pg, schema, "x", tenant="acme")
    register(pg, schema, "y", tenant="globex")
    assert [e.spec for e in list_pipelines(pg, schema, "acme")] == ["x"]
    assert get_pipeline(pg, schema, "initech", "web") is None


def test_store12_stale_update_conflicts(pg: psycopg.Connection[Any], schema: str) -> None:
    register(pg, schema, "v1")
    updated = update_pipeline(pg, schema, tenant="acme", name="web", spec="v2", version=1)
    assert updated.version == 2
    with pytest.raises(VersionConflict, match="Optimistic lock conflict"):
        update_pipeline(pg, schema, tenant="acme", name="web", spec="v3", version=1)
    assert get_pipeline(pg, schema, "acme", "web").spec == "v2"  # type: ignore[union-attr]
