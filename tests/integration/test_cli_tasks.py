"""``datanexus status`` lists connector tasks, ``datanexus task …`` changes them (CONN-8),
on the real PostgreSQL in a fresh schema."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from datanexus.cli import app
from datanexus.connectors.tasks import TaskState, TaskStore
from datanexus.store.progress import Progress, read_progress, record_progress

FLOW = "pipeline_orders"


def _env(database_url: str, redis_url: str, schema: str) -> dict[str, str]:
    return {
        "DATANEXUS_DATABASE_URL": database_url,
        "DATANEXUS_REDIS_URL": redis_url,
        "DATANEXUS_SCHEMA": schema,
        "DATANEXUS_TENANT": "acme",
        "COLUMNS": "250",
    }


def test_conn8_status_lists_tasks_with_state_and_health(
    pg: Any, schema: str, database_url: str, redis_url: str
) -> None:
    env = _env(database_url, redis_url, schema)
    plain = CliRunner().invoke(app, ["status"], env=env)
    assert plain.exit_code == 0, plain.output
    assert "connector tasks" not in plain.output  # none yet: no table
    store = TaskStore(pg, schema, "acme")
    store.create(FLOW, ["p0", "p1"])
    store.assign(["w1"])
    store.poll(FLOW, "p0", "w1")
    store.pause(FLOW, "p1")
    result = CliRunner().invoke(app, ["status"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[2].strip(): line for line in result.output.splitlines()
             if line.count("│") > 6 and FLOW in line}  # fmt: skip
    assert set(lines) == {"p0", "p1"}
    assert "RUNNING" in lines["p0"]
    assert " healthy" in lines["p0"]
    assert "PAUSED" in lines["p1"]
    assert "unhealthy" in lines["p1"]


def test_conn8_task_commands(pg: Any, schema: str, database_url: str, redis_url: str) -> None:
    env = _env(database_url, redis_url, schema)
    store = TaskStore(pg, schema, "acme")
    store.create(FLOW, ["p0"])
    store.assign(["w1"])
    with pg.transaction(), pg.cursor() as cur:
        record_progress(cur, schema, Progress(FLOW, "p0", 900))
    runner = CliRunner()

    refused = runner.invoke(app, ["task", "reset-offsets", FLOW, "p0"], env=env)
    assert refused.exit_code == 2
    assert "RUNNING: offsets change only while STOPPED" in refused.output
    assert read_progress(pg, schema, FLOW) == {"p0": 900}

    assert runner.invoke(app, ["task", "pause", FLOW, "p0"], env=env).exit_code == 0
    assert store.get(FLOW, "p0").state is TaskState.PAUSED
    stopped = runner.invoke(app, ["task", "stop", FLOW, "p0"], env=env)
    assert stopped.exit_code == 0
    assert "STOPPED" in stopped.output
    altered = runner.invoke(app, ["task", "reset-offsets", FLOW, "p0", "--to", "42"], env=env)
    assert altered.exit_code == 0, altered.output
    assert read_progress(pg, schema, FLOW) == {"p0": 42}
    reset = runner.invoke(app, ["task", "reset-offsets", FLOW, "p0"], env=env)
    assert reset.exit_code == 0, reset.output
    assert read_progress(pg, schema, FLOW) == {}
    resumed = runner.invoke(app, ["task", "resume", FLOW, "p0"], env=env)
    assert resumed.exit_code == 0
    assert "RUNNING" in resumed.output

    missing = runner.invoke(app, ["task", "stop", FLOW, "nope"], env=env)
    assert missing.exit_code == 2
    assert "no task 'nope'" in missing.output
