"""What connector-task tracking (CONN-8) costs a pipeline flow, on the local servers.

1. Per batch, in isolation: the source wrapper's ``next_batch`` over a partition that
   returns one ready batch, without and with a tracked task (the state cached between
   database checks, as in a flow; the checks and polls that fall due are included).
2. End to end: the web example pipeline over a Redis stream of ``--events`` events,
   ``stop_at_end``, with ``track_tasks`` off and on (alternating, best of ``--rounds``).

Usage: ``.venv/bin/python scripts/bench_task_tracking.py [--events 200000] [--rounds 3]``
with ``DATANEXUS_DATABASE_URL`` / ``DATANEXUS_REDIS_URL`` set (defaults: the local ones).
Prints one line per measurement; creates and drops its own schemas and stream.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import psycopg
import redis
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.decode import MessageBatch
from datanexus.connectors.publishers import RedisStreamPublisher
from datanexus.connectors.registry import redis_stream_key
from datanexus.demo import model_for
from datanexus.pipeline import SourceSpec, load_spec
from datanexus.runner import prepare, run_flow
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow
from datanexus.stream.sources import PartitionedSource
from datanexus.stream.task_tracking import TaskTracking

ROOT = Path(__file__).resolve().parents[1]
DB = (
    os.environ.get("DATANEXUS_DATABASE_URL")
    or "postgresql://datanexus:datanexus@127.0.0.1:5432/datanexus"
)
REDIS = os.environ.get("DATANEXUS_REDIS_URL") or "redis://127.0.0.1:6379/0"


class _Ready(StatefulSourcePartition[MessageBatch, int]):
    def __init__(self) -> None:
        self._batch = [MessageBatch("bench", "p0", ["1"], [b"{}"], 1)]

    def next_batch(self) -> Iterable[MessageBatch]:
        return self._batch

    def snapshot(self) -> int:
        return 0


class _Source(FixedPartitionedSource[MessageBatch, int]):
    def list_parts(self) -> list[str]:
        return ["p0"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Ready:
        return _Ready()


def per_batch(schema: str, calls: int) -> None:
    tracking = TaskTracking(DB, schema, "bench", "pipeline_bench")
    sources: tuple[tuple[str, PartitionedSource[MessageBatch, int]], ...] = (
        ("untracked", PartitionedSource(_Source())),
        ("tracked", PartitionedSource(_Source(), tracking)),
    )
    for label, source in sources:
        part = source.build_part("in", "p0", None)
        try:
            start = time.perf_counter()
            for _ in range(calls):
                part.next_batch()
            took = time.perf_counter() - start
        finally:
            part.close()
        print(f"wrapper next_batch {label:>9}: {took / calls * 1e9:8.0f} ns/batch over {calls}"
              f" batches ({took:.2f} s, database checks included)")  # fmt: skip


def end_to_end(events: int, rounds: int) -> None:
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    name = "web"
    key = redis_stream_key(tenant, name)
    model = model_for("web", events, seed=3)
    publisher = RedisStreamPublisher(REDIS, key)
    for block in range(model.blocks):
        publisher.publish([dict(e) for e in model.block(block)])
    publisher.close()
    source = SourceSpec("redis_stream", {"streams": [name], "batch_size": 1000})
    spec = replace(load_spec(ROOT / "pipelines" / "web.toml"), tenant=tenant, source=source)
    batches = -(-events // 1000)
    best: dict[bool, float] = {}
    try:
        for _ in range(rounds):
            for track in (False, True):
                schema = f"dn_bench_{uuid.uuid4().hex[:10]}"
                prepare(DB, schema, spec)
                flow = build_pipeline_flow(spec, FlowTargets(DB, REDIS, None, schema),
                                           stop_at_end=True, track_tasks=track)  # fmt: skip
                start = time.perf_counter()
                run_flow(flow)
                took = time.perf_counter() - start
                best[track] = min(best.get(track, took), took)
                with psycopg.connect(DB, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        client = redis.Redis.from_url(REDIS)
        client.delete(key)
        for live in client.scan_iter(f"*:{tenant}:*"):
            client.delete(live)
        client.close()
    for track, took in best.items():
        label = "tracked" if track else "untracked"
        print(f"web pipeline {label:>9}: {took:6.2f} s for {events} events, "
              f"{took / batches * 1e3:6.2f} ms/batch of 1000 (best of {rounds})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2_000_000)
    args = parser.parse_args()
    schema = f"dn_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(DB, autocommit=True) as conn:
        from datanexus.store.migrations import migrate

        migrate(conn, schema)
        try:
            per_batch(schema, args.calls)
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    end_to_end(args.events, args.rounds)


if __name__ == "__main__":
    main()
