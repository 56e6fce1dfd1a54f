"""SIGKILL the product flow at 5 random points and restart it each time: the rollups
equal, row for row and byte for byte (t-digest and HyperLogLog images included), those of
an uninterrupted run; every malformed message is dead-lettered exactly once with its
stage and reason (issue 5, STREAM-18, CONN-5).

The flow is the pipeline flow of ``pipelines/web.toml`` (decode, schema, transforms,
two native window aggregations, PostgreSQL rollups, Redis live results) reading a
RabbitMQ stream or a Redis stream, with Bytewax recovery (see ``chaos_flow``). The
uninterrupted reference runs on one worker; the RabbitMQ chaos run on two, so the
comparison also covers "1 or N workers → identical results". Kill points are progress
targets (the decode step's committed stream position) drawn from a seeded RNG so each
kill lands mid-stream; the positions really reached, the totals and the timings are
printed. Messages per run: see ``EVENTS``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import chaos_flow
import harness
import psycopg
import pytest

from datanexus.runner import prepare

EVENTS = int(os.environ.get("DATANEXUS_CHAOS_EVENTS", "100000"))
"""Messages per run. The issue's 200 000 pass too (DATANEXUS_CHAOS_EVENTS=200000) but take
~200 s for these two tests on this 2-core machine under load (Redis 90 s, RabbitMQ on two
workers 109 s), ~320 s for the whole chaos suite with the restart tests (118 s); with
100 000 these two take ~155 s and the whole suite 275 s (measured under load)."""
KILLS = 5


@pytest.mark.parametrize(("kind", "workers"), [("rabbit", 2), ("redis", 1)])
def test_sigkill_at_five_points_gives_the_uninterrupted_rollups(
    kind: str,
    workers: int,
    database_url: str,
    amqp_url: str,
    redis_url: str,
    pg: psycopg.Connection[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = {"rabbit": 5, "redis": 6}[kind]
    began = time.monotonic()
    stream = harness.make_stream(kind, amqp_url if kind == "rabbit" else redis_url, EVENTS, seed)
    published = time.monotonic()
    reference, chaos = harness.new_schema(), harness.new_schema()
    env = {"DATANEXUS_DATABASE_URL": database_url, "DATANEXUS_AMQP_URL": amqp_url,
           "DATANEXUS_REDIS_URL": redis_url}  # fmt: skip
    spec = chaos_flow.chaos_spec(kind, stream.name, stream.tenant, len(stream.positions) - 1)
    try:
        for name in (reference, chaos):
            prepare(database_url, name, spec)
        harness.finish(harness.start_flow(stream, reference, None, 1, env))
        expected = harness.rollups(pg, reference)
        assert len(expected) > 1000, "many windows, regions and metrics"
        referenced = time.monotonic()

        rng = random.Random(seed)
        indexes = sorted(rng.sample(range(EVENTS // 10, EVENTS * 9 // 10), KILLS))
        kills: list[tuple[int, int]] = []
        recovery = tmp_path / "recovery"
        for i in indexes:
            target = stream.positions[i]
            proc = harness.start_flow(stream, chaos, recovery, workers, env)
            reached = harness.wait_for(
                proc, lambda t=target: harness.decode_progress(pg, chaos, stream) >= t
            )
            if reached:
                harness.kill(proc)
                kills.append((target, harness.decode_progress(pg, chaos, stream)))
            else:
                harness.finish(proc)  # it ended first: that must be a clean end
        harness.finish(harness.start_flow(stream, chaos, recovery, workers, env))
        ended = time.monotonic()

        got = harness.rollups(pg, chaos)
        assert len(kills) == KILLS, f"every kill must land mid-run, got {kills}"
        assert len(got) == len(expected)
        differing = [(g, e) for g, e in zip(got, expected, strict=True) if g != e]
        assert not differing, f"{len(differing)} rows differ, first: {differing[0]}"
        digests = sum(row[-2] is not None for row in got)
        hlls = sum(row[-1] is not None for row in got)
        assert digests > 100, "digest images are compared too"
        assert hlls > 100, "HLL images are compared too"
        count, letters = harness.check_totals(pg, chaos, stream)
        assert harness.dead_letters(pg, chaos) == harness.dead_letters(pg, reference)
        with capsys.disabled():
            print(
                f"\n[chaos {kind}, product web flow, reference 1 worker, chaos {workers}"
                f" workers] {EVENTS} messages; SIGKILL after committed message indexes "
                f"{[stream.index(k[1]) for k in kills]} (targets {indexes}); {len(got)} rollup"
                f" rows equal ({digests} digest and {hlls} HLL images byte for byte) to the"
                f" uninterrupted run; {count} "
                f"events counted, {letters} dead letters, each once; publish "
                f"{published - began:.1f} s, reference run {referenced - published:.1f} s, "
                f"6 chaos runs {ended - referenced:.1f} s"
            )
    finally:
        harness.drop_stream(stream, redis_url)
        for name in (reference, chaos):
            pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
