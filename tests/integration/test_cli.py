"""The ``datanexus`` command: spec checks, and the demo end to end on embedded servers in a
fresh data directory (what ``make demo`` runs), leaving no server process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
