"""Query speed: a 24-hour p99 by region over minute rollups (1440 digests per region, 6
regions) through run_query, beside the direct SQL that fetches the same rollup rows
(the ceiling: no engine can answer faster than it reads its rows)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from datanexus.query import PlanCache, run_query
from datanexus.sketches import TDigest
from datanexus.store.migrations import migrate
from datanexus.store.rollups import RollupRow, write_rollups

T0 = 1_714_521_600_000
MINUTE = 60_000
REGIONS = ["eu", "us", "ap", "sa", "af", "oc"]
TEXT = (
    "SELECT region, p99(latency_ms), count() FROM web"
    " WHERE time >= '2024-05-01T00:00:00Z' AND time < '2024-05-02T00:00:00Z'"
    " GROUP BY region ORDER BY region"
)


def _integration_fixtures() -> Any:
    path = Path(__file__).parents[1] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_dn_integration_fixtures_bench", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


database_url = _integration_fixtures().database_url


@pytest.fixture(scope="module")
def loaded(database_url: str) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    conn = psycopg.connect(database_url, autocommit=True)
    schema = f"dn_bench_{uuid.uuid4().hex[:12]}"
    migrate(conn, schema)
    conn.execute(
        f'INSERT INTO "{schema}".pipelines (tenant_id, name, spec, dims, metrics)'
        " VALUES ('bench', 'web', '#', %s, %s::jsonb)",
        (["region"], json.dumps({"latency_ms": ["digest"]})),
    )
    rng = np.random.default_rng(5)
    rows = []
    for region in REGIONS:
        series = json.dumps({"region": region}, separators=(",", ":"))
        for m in range(1440):
            values = rng.lognormal(3.0, 1.0, 200)
            digest = TDigest(100)
            digest.add_many(values)
            start = T0 + m * MINUTE
            rows.append(RollupRow("bench", "web", series, MINUTE, start, 1, 200, 0.0))
            rows.append(
                RollupRow(
                    "bench",
                    "web",
                    series,
                    MINUTE,
                    start,
                    1,
                    200,
                    float(values.sum()),
                    float(values.min()),
                    float(values.max()),
                    None,
                    None,
                    digest.to_bytes(),
                    metric="latency_ms",
                )
            )
    write_rollups(conn, schema, rows)
    conn.execute(f'ANALYZE "{schema}".rollups')
    yield conn, schema
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


@pytest.mark.benchmark(group="query p99 24h by region")
def test_query_bench_run_query(benchmark: Any, loaded: tuple[psycopg.Connection[Any], str]) -> None:
    conn, schema = loaded
    plans = PlanCache()
    result = benchmark(lambda: run_query(conn, "bench", TEXT, schema=schema, plans=plans))
    assert [r[0] for r in result.rows] == sorted(REGIONS)
    assert all(r[2] == 1440 * 200 for r in result.rows)
    benchmark.extra_info.update(items=len(REGIONS) * 1440, role="ours")
    benchmark.extra_info["report"] = [
        f"run_query: {len(REGIONS)} regions x 1440 minute digests merged per call"
    ]


@pytest.mark.benchmark(group="query p99 24h by region")
def test_query_bench_direct_sql_fetch(
    benchmark: Any, loaded: tuple[psycopg.Connection[Any], str]
) -> None:
    conn, schema = loaded
    start = datetime(2024, 5, 1, tzinfo=UTC)
    statement = (
        f"SELECT window_start, series, metric, count, sum, min, max, mean, m2, digest, NULL"
        f' FROM "{schema}".rollups WHERE tenant_id = %s AND pipeline = %s'
        " AND granularity_ms = %s AND metric = ANY(%s) AND window_start >= %s AND window_start < %s"
    )

    def fetch() -> int:
        rows = conn.execute(
            statement,
            ("bench", "web", MINUTE, ["*", "latency_ms"], start, start + timedelta(days=1)),
        ).fetchall()
        return len(rows)

    assert benchmark(fetch) == 2 * len(REGIONS) * 1440
    benchmark.extra_info.update(items=len(REGIONS) * 1440, role="anchor", label="direct SQL fetch")


@pytest.mark.benchmark(group="query p99 24h by region")
def test_query_bench_direct_sql_fetch_binary(
    benchmark: Any, loaded: tuple[psycopg.Connection[Any], str]
) -> None:
    """The same fetch in binary format (what run_query uses): the tighter ceiling."""
    conn, schema = loaded
    start = datetime(2024, 5, 1, tzinfo=UTC)
    statement = (
        f"SELECT window_start, series, metric, count, sum, min, max, mean, m2, digest, NULL"
        f' FROM "{schema}".rollups WHERE tenant_id = %s AND pipeline = %s'
        " AND granularity_ms = %s AND metric = ANY(%s) AND window_start >= %s AND window_start < %s"
    )

    def fetch() -> int:
        with conn.cursor(binary=True) as cur:
            cur.execute(
                statement,
                ("bench", "web", MINUTE, ["*", "latency_ms"], start, start + timedelta(days=1)),
            )
            return len(cur.fetchall())

    assert benchmark(fetch) == 2 * len(REGIONS) * 1440
    benchmark.extra_info.update(
        items=len(REGIONS) * 1440, role="anchor", label="direct SQL fetch (binary)"
    )
