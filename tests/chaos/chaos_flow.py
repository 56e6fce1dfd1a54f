"""The flow the chaos tests kill: the product's pipeline flow
(:func:`datanexus.stream.pipeline_flow.build_pipeline_flow`) over ``pipelines/web.toml``,
with its source replaced by the test's RabbitMQ stream or Redis stream, run by
:func:`datanexus.runner.run_flow` with Bytewax recovery. Run as a script (a subprocess the
test SIGKILLs):

    python tests/chaos/chaos_flow.py rabbit|redis NAME TENANT SCHEMA RECOVERY_DIR WORKERS LAST

``DATANEXUS_CHAOS_DELAY`` (seconds per input batch, default 0) stretches a run so that a
server restart lands mid-run; ``DATANEXUS_CHAOS_CIRCUIT_RESET`` (seconds; default: the
sinks' own 30 s) shortens the sinks' circuit-breaker reset so the restart tests stay short.
``RECOVERY_DIR`` ``-`` runs without recovery (the uninterrupted reference run). The run
ends at the end of the stream: a Redis stream's end as it was when the flow started
(``stop_at_end``), a RabbitMQ stream's at offset ``LAST`` (AMQP 0.9.1 does not tell a
stream's last offset).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import redis

from datanexus.pipeline import PipelineSpec, SourceSpec, load_spec
from datanexus.retry import Backoff, CircuitBreaker, Retrier
from datanexus.runner import run_flow
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

WEB = Path(__file__).resolve().parents[2] / "pipelines" / "web.toml"
FLOW = "pipeline_web"
"""The flow name of the web spec: the decode step's progress rows carry it."""


def chaos_spec(kind: str, name: str, tenant: str, last: int) -> PipelineSpec:
    """The web spec reading the test's stream (``name``: a RabbitMQ stream queue, or the
    Redis stream ``dn:<tenant>:<name>``) for ``tenant``."""
    spec = load_spec(WEB)
    if kind == "rabbit":
        options = {"queues": [name], "batch_size": 1000, "stop_after": {name: last}}
        source = SourceSpec("rabbitmq_stream", options)
    else:
        source = SourceSpec("redis_stream", {"streams": [name], "batch_size": 1000})
    return replace(spec, tenant=tenant, source=source)


def _retrier(name: str, errors: tuple[type[BaseException], ...], reset: float) -> Retrier:
    return Retrier(
        CircuitBreaker(name, reset_timeout=reset), errors, backoff=Backoff(base=0.1, cap=1.0)
    )


def main(argv: list[str]) -> None:
    kind, name, tenant, schema, recovery, workers, last = argv
    targets = FlowTargets(
        os.environ["DATANEXUS_DATABASE_URL"],
        os.environ["DATANEXUS_REDIS_URL"],
        os.environ["DATANEXUS_AMQP_URL"],
        schema,
    )
    delay = float(os.environ.get("DATANEXUS_CHAOS_DELAY", "0"))
    reset = os.environ.get("DATANEXUS_CHAOS_CIRCUIT_RESET")
    pg_errors = (psycopg.OperationalError, psycopg.InterfaceError)
    redis_errors = (redis.ConnectionError, redis.TimeoutError)
    flow = build_pipeline_flow(
        chaos_spec(kind, name, tenant, int(last)),
        targets,
        stop_at_end=True,
        on_events=(lambda _n: time.sleep(delay)) if delay else None,
        store_retrier=None if reset is None else lambda: _retrier("pg", pg_errors, float(reset)),
        live_retrier=None
        if reset is None
        else lambda: _retrier("redis", redis_errors, float(reset)),
    )
    run_flow(flow, workers=int(workers), recovery_dir=None if recovery == "-" else Path(recovery))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    main(sys.argv[1:])
