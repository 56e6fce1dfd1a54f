"""The ``datanexus`` command: spec checks, and the demo end to end on embedded servers in a
fresh data directory (what ``make demo`` runs), leaving no server process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from typer.testing import CliRunner

from datanexus.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_check_accepts_the_examples() -> None:
    specs = sorted(str(p) for p in (ROOT / "pipelines").glob("*.toml"))
    result = CliRunner().invoke(app, ["pipeline", "check", *specs])
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 3


def test_pipeline_check_names_file_and_key_path(tmp_path: Path) -> None:
    text = (ROOT / "pipelines" / "web.toml").read_text().replace('size = "1m"', 'size = "1 minute"')
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "web.json").write_text(
        (ROOT / "pipelines/schemas/web.json").read_text()
    )
    bad = tmp_path / "web.toml"
    bad.write_text(text)
    result = CliRunner().invoke(app, ["pipeline", "check", str(bad)])
    assert result.exit_code == 2
    assert "web.toml" in result.output
    assert "aggregations[0].window.size" in result.output


def test_pipeline_preview_shows_every_step(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"ts": "2025-03-03T10:00:00", "id": "a", "tenant": "demo",'
                       ' "device": "berlin-01", "site": "berlin",'
                       ' "reading": {"temperature": 21.5, "humidity": 40, "battery": 90.0}}\n'
                       '{"id": "b"}\n')  # fmt: skip
    result = CliRunner().invoke(
        app, ["pipeline", "preview", str(ROOT / "pipelines" / "iot.toml"), "--samples",
              str(samples)], env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1. schema (schema)" in result.output
    assert "2025-03-03T09:00:00.000Z" in result.output  # Berlin local time → UTC
    assert "error" in result.output  # the second sample fails the schema


def test_demo_on_embedded_servers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATANEXUS_")}
    env |= {
        "DATANEXUS_DATA_DIR": str(tmp_path / "data"),
        "DATANEXUS_PIPELINES_DIR": str(ROOT / "pipelines"),
        "COLUMNS": "120",
    }
    done = subprocess.run(
        [sys.executable, "-m", "datanexus.cli", "demo", "--events", "6000"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "embedded PostgreSQL and Redis" in out
    for title in ("Web requests per hour", "eu-west-1 per minute", "Payments per currency",
                  "IoT readings per site"):  # fmt: skip
        assert title in out
    assert "24 rows from 1 h rollups" in out
    assert "Done in" in out
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").is_file()
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


def _configured(database_url: str, redis_url: str, schema: str) -> dict[str, str]:
    return {
        "DATANEXUS_DATABASE_URL": database_url,
        "DATANEXUS_REDIS_URL": redis_url,
        "DATANEXUS_SCHEMA": schema,
        "DATANEXUS_TENANT": "acme",
    }


def _stored(pg: Any, schema: str) -> None:
    from datanexus.sketches import TDigest
    from datanexus.store.catalog import register_pipeline
    from datanexus.store.dead_letters import DeadLetter, write_dead_letters
    from datanexus.store.rollups import RollupRow, write_rollups

    register_pipeline(pg, schema, tenant="acme", name="web", spec="x", dims=["region"],
                      metrics={"*": ["count"], "latency_ms": ["sum", "digest"]},
                      granularities=[60_000])  # fmt: skip
    rows = []
    for minute in range(3):
        digest = TDigest(100)
        digest.add_many(np.arange(10, dtype=np.float64) + minute)
        start = 1_740_960_000_000 + minute * 60_000
        series = '{"region":"eu-west-1"}'
        rows.append(RollupRow("acme", "web", series, 60_000, start, 0, 10, 0.0, metric="*"))
        rows.append(RollupRow("acme", "web", series, 60_000, start, 0, 10,
                              float(45 + 10 * minute), float(minute), float(9 + minute),
                              digest=digest.to_bytes(), metric="latency_ms"))  # fmt: skip
    write_rollups(pg, schema, rows)
    write_dead_letters(pg, schema, [DeadLetter("pipeline:web", "schema", "e1", "schema",
                                               "invalid", "bad", b"{}", "acme")])  # fmt: skip


def test_query_and_status_commands(pg: Any, schema: str, database_url: str, redis_url: str) -> None:
    _stored(pg, schema)
    env = _configured(database_url, redis_url, schema)
    text = ("SELECT time, count(), sum(latency_ms), max(latency_ms) FROM web"
            " GROUP BY time(1m) ORDER BY time")  # fmt: skip
    result = CliRunner().invoke(app, ["query", text, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert [r[1:] for r in answer["rows"]] == [[10, 45.0, 9.0], [10, 55.0, 10.0], [10, 65.0, 11.0]]
    assert answer["granularity_ms"] == 60_000
    bad = CliRunner().invoke(app, ["query", "SELECT count() FROM web; DROP TABLE x"], env=env)
    assert bad.exit_code == 2
    assert "error" in bad.output
    status = CliRunner().invoke(app, ["status"], env={**env, "COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    assert "web" in status.output
    assert "invalid: 1" in status.output
