"""CONN-8 in running pipeline flows, on the real servers: each Redis stream partition is
a connector task that is RUNNING and healthy while the flow reads it, stops the flow
when an operator stops it, reads nothing while paused (and everything exactly once after
the resume), becomes STOPPED at the end of input, FAILED with the error when the flow
fails, and RESTARTING → RUNNING when a new run follows a crash or a failure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from typer.testing import CliRunner

from datanexus.cli import app
from datanexus.connectors.publishers import RedisStreamPublisher
from datanexus.connectors.registry import redis_stream_key, task_id
from datanexus.connectors.tasks import TaskState, TaskStore
from datanexus.pipeline import PipelineSpec, parse_spec
from datanexus.runner import prepare, run_flow
from datanexus.store.progress import read_progress, redis_id_position
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow
from datanexus.stream.task_tracking import process_identity

FLOW = "pipeline_tasks"
BASE_MS = 1_714_564_800_000  # 2024-05-01T12:00Z
WAIT = 30.0  # seconds: a bound on every wait, far above the expected second or two


def spec_text(tenant: str, streams: list[str], errors: str = "all") -> str:
    names = ", ".join(f'"{s}"' for s in streams)
    return f"""
[pipeline]
name = "tasks"
tenant = "{tenant}"

[source]
kind = "redis_stream"
streams = [{names}]
batch_size = 50
errors = "{errors}"

[[aggregations]]
name = "per_minute"
window = {{ kind = "tumbling", size = "1m" }}
group_by = ["k"]
measures = {{ n = "count", total = "sum(v)" }}
time_field = "ts"
allowed_lateness = "1h"
sinks = ["postgres"]
"""


def make_spec(tenant: str, streams: list[str], errors: str = "all") -> PipelineSpec:
    return parse_spec(spec_text(tenant, streams, errors), source_name="tasks.toml")


def events(stream: str, start: int, n: int) -> list[dict[str, Any]]:
    """Events in time order (one per second), ids unique per stream."""
    return [{"id": f"{stream}-{i}", "ts": BASE_MS + i * 1000, "k": stream, "v": i}
            for i in range(start, start + n)]  # fmt: skip


class Env:
    """One test's tenant, streams and schema, and helpers to watch its flow."""

    def __init__(self, pg: psycopg.Connection[Any], schema: str, redis_url: str,
                 streams: list[str]) -> None:  # fmt: skip
        self.pg = pg
        self.schema = schema
        self.redis_url = redis_url
        self.tenant = f"tk{uuid.uuid4().hex[:10]}"
        self.streams = streams
        self.keys = {s: redis_stream_key(self.tenant, s) for s in streams}
        self.tasks = {s: task_id("redis_stream", k) for s, k in self.keys.items()}
        self.store = TaskStore(pg, schema, self.tenant)
        self.published = dict.fromkeys(streams, 0)
        self.last_entry: dict[str, str] = {}

    def publish(self, stream: str, n: int) -> None:
        publisher = RedisStreamPublisher(self.redis_url, self.keys[stream])
        try:
            publisher.publish(events(stream, self.published[stream], n))
            last = publisher.last_ids[-1]
        finally:
            publisher.close()
        self.published[stream] += n
        self.last_entry[stream] = last.decode() if isinstance(last, bytes) else str(last)

    def progress(self, stream: str) -> int | None:
        return read_progress(self.pg, self.schema, FLOW).get(self.tasks[stream])

    def read_all(self, stream: str) -> bool:
        """The flow durably wrote its progress up to the last published entry."""
        return self.progress(stream) == redis_id_position(self.last_entry[stream])

    def state(self, stream: str) -> TaskState:
        return self.store.get(FLOW, self.tasks[stream]).state

    def counted(self) -> int:
        row = self.pg.execute(
            f'SELECT coalesce(sum(count), 0) FROM "{self.schema}".rollups'
            " WHERE pipeline = 'tasks' AND metric = '*' AND granularity_ms = 60000"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def cli(self, database_url: str, *args: str) -> Any:
        env = {
            "DATANEXUS_DATABASE_URL": database_url,
            "DATANEXUS_REDIS_URL": self.redis_url,
            "DATANEXUS_SCHEMA": self.schema,
            "DATANEXUS_TENANT": self.tenant,
            "COLUMNS": "300",
        }
        return CliRunner().invoke(app, list(args), env=env)

    def cleanup(self) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.delete(*self.keys.values())
        finally:
            client.close()


@pytest.fixture
def env_factory(
    pg: psycopg.Connection[Any], schema: str, redis_url: str
) -> Iterator[Callable[[list[str]], Env]]:
    made: list[Env] = []

    def make(streams: list[str]) -> Env:
        made.append(Env(pg, schema, redis_url, streams))
        return made[-1]

    yield make
    for env in made:
        env.cleanup()


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


class FlowThread:
    """A pipeline flow running in a thread of this process, its outcome kept."""

    def __init__(self, flow: Any, workers: int = 1, recovery_dir: Path | None = None) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(flow, workers, recovery_dir), daemon=True
        )
        self._thread.start()

    def _run(self, flow: Any, workers: int, recovery_dir: Path | None) -> None:
        try:
            run_flow(flow, workers=workers, recovery_dir=recovery_dir)
        except BaseException as error:  # reported by the test
            self.error = error

    def join(self, timeout: float = WAIT) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def stop_all(env: Env, flow: FlowThread) -> None:
    """Stop every task (ends the flow), for the tests' finally blocks."""
    for task in env.store.list_tasks(FLOW):
        if task.state is not TaskState.STOPPED:
            env.store.transition(FLOW, task.task, TaskState.STOPPED)
    flow.join()


def start(env: Env, database_url: str, workers: int = 1, *, stop_at_end: bool = False,
          recovery_dir: Path | None = None) -> FlowThread:  # fmt: skip
    spec = make_spec(env.tenant, env.streams)
    prepare(database_url, env.schema, spec)
    targets = FlowTargets(database_url, env.redis_url, None, env.schema)
    flow = build_pipeline_flow(spec, targets, stop_at_end=stop_at_end)
    return FlowThread(flow, workers, recovery_dir)


def log_state_changes(pg: psycopg.Connection[Any], schema: str) -> Callable[[str], list[str]]:
    """A trigger recording every state change of the task table, in order; returns a
    function giving one task's states (the first is the state it left)."""
    s = f'"{schema}"'
    pg.execute(f"CREATE TABLE {s}.task_log (seq bigserial, task text, old text, new text)")
    pg.execute(
        f"CREATE FUNCTION {s}.log_task() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
        f" SET search_path = {s} AS $$ BEGIN INSERT INTO task_log (task, old, new)"
        " VALUES (NEW.task, OLD.state, NEW.state); RETURN NEW; END $$"
    )
    pg.execute(
        f"CREATE TRIGGER log_task AFTER UPDATE ON {s}.connector_tasks FOR EACH ROW"
        f" WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION {s}.log_task()"
    )

    def states(task: str) -> list[str]:
        rows = pg.execute(
            f"SELECT old, new FROM {s}.task_log WHERE task = %s ORDER BY seq", (task,)
        ).fetchall()
        return [rows[0][0], *(new for _, new in rows)] if rows else []

    return states


def test_conn8_running_flow_is_healthy_and_an_operator_stop_ends_it(
    env_factory: Callable[[list[str]], Env], database_url: str
) -> None:
    env = env_factory(["a"])
    env.publish("a", 200)
    flow = start(env, database_url)
    try:
        wait_until(lambda: env.read_all("a"), "the flow read the stream")
        task = env.store.get(FLOW, env.tasks["a"])
        assert task.state is TaskState.RUNNING
        assert task.worker == f"{process_identity()}w0"
        assert env.store.health(FLOW, env.tasks["a"])
        shown = env.cli(database_url, "status")
        assert shown.exit_code == 0, shown.output
        row = next(line for line in shown.output.splitlines() if env.tasks["a"] in line)
        assert "RUNNING" in row
        assert " healthy" in row
        env.publish("a", 150)  # read by the running flow
        wait_until(lambda: env.read_all("a"), "the flow read the new entries")
        first_poll = env.store.get(FLOW, env.tasks["a"]).last_poll
        assert first_poll is not None
        # Polls keep coming while it runs (one at most every 5 s, never per batch).
        wait_until(lambda: env.store.get(FLOW, env.tasks["a"]).last_poll != first_poll,
                   "a later poll", timeout=10)  # fmt: skip
        stopped = env.cli(database_url, "task", "stop", FLOW, env.tasks["a"])
        assert stopped.exit_code == 0, stopped.output
        assert flow.join(), "the flow did not end after its only task was stopped"
        assert flow.error is None
    finally:
        stop_all(env, flow)
    assert env.state("a") is TaskState.STOPPED
    assert not env.store.health(FLOW, env.tasks["a"])
    assert env.counted() == 350  # everything published, exactly once
    shown = env.cli(database_url, "status")
    row = next(line for line in shown.output.splitlines() if env.tasks["a"] in line)
    assert "STOPPED" in row
    assert "unhealthy" in row


def test_conn8_a_paused_partition_reads_nothing_until_resumed_and_loses_nothing(
    env_factory: Callable[[list[str]], Env], database_url: str
) -> None:
    env = env_factory(["a", "b"])
    env.publish("a", 100)
    env.publish("b", 100)
    flow = start(env, database_url, workers=2)
    try:
        wait_until(lambda: env.read_all("a") and env.read_all("b"), "both streams read")
        workers = {env.store.get(FLOW, t).worker for t in env.tasks.values()}
        assert workers == {f"{process_identity()}w0", f"{process_identity()}w1"}
        paused = env.cli(database_url, "task", "pause", FLOW, env.tasks["b"])
        assert paused.exit_code == 0, paused.output
        time.sleep(2.5)  # > the 1 s between state checks, and an epoch for in-flight rows
        before = env.progress("b")
        env.publish("b", 120)
        env.publish("a", 120)
        wait_until(lambda: env.read_all("a"), "the running partition read its new entries")
        time.sleep(2.5)  # two more state checks and an epoch: b had every chance to read
        assert env.progress("b") == before  # nothing of b was read while paused
        assert env.state("b") is TaskState.PAUSED
        assert not env.store.health(FLOW, env.tasks["b"])
        assert env.store.health(FLOW, env.tasks["a"])
        resumed = env.cli(database_url, "task", "resume", FLOW, env.tasks["b"])
        assert resumed.exit_code == 0, resumed.output
        assert "RUNNING" in resumed.output
        wait_until(lambda: env.read_all("b"), "the resumed partition read what was held")
        assert env.state("b") is TaskState.RUNNING
        for task in env.tasks.values():
            env.store.stop(FLOW, task)
        assert flow.join(), "the flow did not end after its tasks were stopped"
        assert flow.error is None
    finally:
        stop_all(env, flow)
    assert env.counted() == 440  # 220 per stream, each exactly once
    assert {env.state(s) for s in env.streams} == {TaskState.STOPPED}


def test_conn8_end_of_input_stops_the_tasks(
    env_factory: Callable[[list[str]], Env], database_url: str
) -> None:
    env = env_factory(["a", "b", "c"])
    for stream in env.streams:
        env.publish(stream, 60)
    flow = start(env, database_url, workers=2, stop_at_end=True)
    assert flow.join()
    assert flow.error is None
    tasks = env.store.list_tasks(FLOW)
    assert sorted(t.task for t in tasks) == sorted(env.tasks.values())
    assert {t.state for t in tasks} == {TaskState.STOPPED}
    assert {t.error for t in tasks} == {None}
    assert env.counted() == 180


def test_conn8_a_failing_flow_marks_its_tasks_failed_and_a_new_run_restarts_them(
    env_factory: Callable[[list[str]], Env], database_url: str, pg: psycopg.Connection[Any]
) -> None:
    env = env_factory(["a"])
    env.publish("a", 40)
    client = redis.Redis.from_url(env.redis_url)
    try:
        bad = client.xadd(env.keys["a"], {"data": b"{not json"}).decode()
    finally:
        client.close()
    env.publish("a", 40)
    states = log_state_changes(pg, env.schema)
    targets = FlowTargets(database_url, env.redis_url, None, env.schema)
    strict = make_spec(env.tenant, env.streams, errors="none")
    prepare(database_url, env.schema, strict)
    with pytest.raises(RuntimeError, match=r"pipeline_tasks\.prepare"):
        run_flow(build_pipeline_flow(strict, targets, stop_at_end=True))
    failed = env.store.get(FLOW, env.tasks["a"])
    assert failed.state is TaskState.FAILED
    assert failed.error is not None
    assert failed.error.startswith("RecordRejected: ")
    assert f"offset {bad}" in failed.error
    shown = env.cli(database_url, "status")
    row = next(line for line in shown.output.splitlines() if env.tasks["a"] in line)
    assert "FAILED" in row
    assert "RecordRejected" in row
    first_run = states(env.tasks["a"])
    # STOPPED in between when the partition reached its end before the step failed.
    assert first_run in (["UNASSIGNED", "RUNNING", "FAILED"],
                         ["UNASSIGNED", "RUNNING", "STOPPED", "FAILED"])  # fmt: skip

    tolerant = make_spec(env.tenant, env.streams, errors="all")
    run_flow(build_pipeline_flow(tolerant, targets, stop_at_end=True))
    assert states(env.tasks["a"])[len(first_run) - 1 :] == [
        "FAILED", "RESTARTING", "RUNNING", "STOPPED"
    ]  # fmt: skip
    assert env.store.get(FLOW, env.tasks["a"]).error is None
    assert env.counted() == 80


_CHILD = """
import sys
from pathlib import Path
from datanexus.pipeline import parse_spec
from datanexus.runner import run_flow
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow
database_url, redis_url, schema, recovery, text = sys.argv[1:6]
spec = parse_spec(text, source_name="tasks.toml")
flow = build_pipeline_flow(spec, FlowTargets(database_url, redis_url, None, schema))
run_flow(flow, recovery_dir=Path(recovery))
"""


def test_conn8_a_killed_flow_turns_unhealthy_and_its_next_run_restarts_exactly_once(
    env_factory: Callable[[list[str]], Env],
    database_url: str,
    pg: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    env = env_factory(["a"])
    env.publish("a", 150)
    spec = make_spec(env.tenant, env.streams)
    prepare(database_url, env.schema, spec)
    states = log_state_changes(pg, env.schema)
    recovery = tmp_path / "recovery"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, database_url, env.redis_url, env.schema,
         str(recovery), spec_text(env.tenant, env.streams)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        wait_until(lambda: env.read_all("a"), "the child flow read the stream")
        time.sleep(2.5)  # an epoch: a recovery snapshot after the progress
        alive = env.store.get(FLOW, env.tasks["a"])
        assert alive.state is TaskState.RUNNING
        assert alive.worker == f"{socket.gethostname()}:{child.pid}/w0"
        assert env.store.health(FLOW, env.tasks["a"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(WAIT)
    dead = env.store.get(FLOW, env.tasks["a"])
    assert dead.state is TaskState.RUNNING  # nobody could say otherwise
    assert dead.last_poll is not None
    # Nothing polls any more: 30 s after the kill at the latest it is unhealthy.
    later = TaskStore(pg, env.schema, env.tenant,
                      clock=lambda: datetime.now(UTC) + timedelta(seconds=30.5))  # fmt: skip
    assert not later.health(FLOW, env.tasks["a"])

    env.publish("a", 100)
    flow = start(env, database_url, recovery_dir=recovery)
    try:
        wait_until(lambda: env.read_all("a"), "the restarted flow read the new entries")
        again = env.store.get(FLOW, env.tasks["a"])
        assert again.state is TaskState.RUNNING
        assert again.worker == f"{process_identity()}w0"
        env.store.stop(FLOW, env.tasks["a"])
        assert flow.join()
        assert flow.error is None
    finally:
        stop_all(env, flow)
    assert states(env.tasks["a"]) == ["UNASSIGNED", "RUNNING", "RESTARTING", "RUNNING",
                                      "STOPPED"]  # fmt: skip
    assert env.counted() == 250  # resumed from the snapshot: nothing lost, nothing twice
