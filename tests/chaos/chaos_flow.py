"""The flow the chaos tests kill: a stream → decode → one-minute windows per region →
PostgreSQL, with Bytewax recovery. Run as a script (a subprocess the test SIGKILLs):

    python tests/chaos/chaos_flow.py rabbit|redis NAME STOP_AFTER SCHEMA RECOVERY_DIR

Two windowings (``DATANEXUS_CHAOS_WINDOW``): ``engine``, the native
:class:`~datanexus.stream.WindowEngine` (issue 4), and ``standin``, a small Python one
whose output is a pure function of the per-region event order and that also stores
HyperLogLog images (their bytes do not depend on batch boundaries), which the engine's
results do not expose. Windows close when the region's watermark (max ts − 5 s) passes their
end, or at the end of the input; an event for a window already emitted is dead-lettered
as ``late`` (the test data never is: its jitter is 2 s).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.recovery import RecoveryConfig
from bytewax.testing import run_main

from datanexus import HyperLogLog
from datanexus.connectors.decode import Decoded, MessageBatch, decode_batch
from datanexus.connectors.postgres import PostgresSink
from datanexus.connectors.rabbitmq_stream import RabbitStreamSource
from datanexus.connectors.redis_streams import RedisStreamSource
from datanexus.retry import Backoff, CircuitBreaker, Retrier
from datanexus.store.dead_letters import DeadLetter
from datanexus.store.rollups import RollupRow
from datanexus.stream import WindowEngine, WindowResult

WINDOW_MS = 60_000
OUT_OF_ORDER_MS = 5_000
TENANT, PIPELINE = "chaos", "web"
EPOCH = timedelta(milliseconds=200)

Acc = list[Any]  # [count, latency sum, min, max, sum of squares, HyperLogLog]


def _all_events(decoded: Decoded) -> tuple[str, list[dict[str, Any]]]:
    return ("all", decoded.events)


def by_region(decoded: Decoded) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in decoded.events:
        groups[str(event.get("region", "?"))].append(event)
    return list(groups.items())


class MinuteWindows(op.StatefulBatchLogic[list[dict[str, Any]], Any, Any]):
    # Bytewax builds the logic from the resume state alone, without the key: the region
    # is taken from the first event and kept in the state.
    def __init__(self, state: Any) -> None:
        self.region, self.max_ts, self.open, self.emitted = state or ("", None, {}, set())

    def _row(self, start: int, acc: Acc) -> RollupRow:
        n, total, lo, hi, squares, hll = acc
        return RollupRow(
            TENANT, PIPELINE, f"region={self.region}", WINDOW_MS, start, 0, n, float(total),
            float(lo), float(hi), total / n, float(squares - total * total / n), None,
            hll.to_bytes(),
        )  # fmt: skip

    def on_batch(self, values: list[list[dict[str, Any]]]) -> tuple[list[Any], bool]:
        out: list[Any] = []
        for events in values:
            for e in events:
                self.region = self.region or str(e.get("region", "?"))
                ts, latency = e["ts"], e["latency_ms"]
                start = ts - ts % WINDOW_MS
                if start in self.emitted:
                    out.append(
                        DeadLetter("window", self.region, str(e["id"]), "window", "late",
                                   f"window {start} already emitted", repr(e).encode(), TENANT)
                    )  # fmt: skip
                    continue
                acc = self.open.get(start)
                if acc is None:
                    acc = self.open[start] = [0, 0, latency, latency, 0, HyperLogLog(12)]
                acc[0] += 1
                acc[1] += latency
                acc[2] = min(acc[2], latency)
                acc[3] = max(acc[3], latency)
                acc[4] += latency * latency
                acc[5].add(e["user_id"])
                self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)
        watermark = self.max_ts - OUT_OF_ORDER_MS if self.max_ts is not None else None
        for start in sorted(self.open):
            if watermark is None or start + WINDOW_MS > watermark:
                break
            out.append(self._row(start, self.open.pop(start)))
            self.emitted.add(start)
        return out, False

    def on_eof(self) -> tuple[list[Any], bool]:
        rows = [self._row(start, self.open.pop(start)) for start in sorted(self.open)]
        self.emitted.update(r.window_start_ms for r in rows)
        return rows, False

    def snapshot(self) -> Any:
        return (self.region, self.max_ts, self.open, self.emitted)


class EngineWindows(op.StatefulBatchLogic[list[dict[str, Any]], Any, Any]):
    """The same windows by the native :class:`WindowEngine` (issue 4), one engine for all
    regions (it groups by itself); its snapshot is the engine's versioned image. The
    engine exposes values, not sketch images, so its rows carry no digest or HLL."""

    def __init__(self, state: WindowEngine | None) -> None:
        self.engine = state or WindowEngine(
            "tumbling",
            size=WINDOW_MS,
            measures={
                "count": "count",
                "sum": "sum(latency_ms)",
                "min": "min(latency_ms)",
                "max": "max(latency_ms)",
                "mean": "mean(latency_ms)",
                "stddev": "stddev(latency_ms)",
            },
            group_by=["region"],
            max_out_of_orderness=OUT_OF_ORDER_MS,
        )

    @staticmethod
    def _row(result: WindowResult) -> RollupRow:
        v = result.values
        n = int(v["count"] or 0)
        stddev = float(v["stddev"] or 0.0)
        return RollupRow(
            TENANT, PIPELINE, f"region={result.key[0]}", WINDOW_MS, result.start_ms,
            result.revision, n, float(v["sum"] or 0), _float(v["min"]), _float(v["max"]),
            _float(v["mean"]), stddev * stddev * (n - 1) if n > 1 else 0.0,
        )  # fmt: skip

    def on_batch(self, values: list[list[dict[str, Any]]]) -> tuple[list[Any], bool]:
        out: list[Any] = []
        for events in values:
            results, late, errors = self.engine.process(events)
            out += [self._row(r) for r in results]
            out += [_letter(e, "late", "beyond the allowed lateness") for e in late]
            out += [_letter(e, "unwindowable", reason) for e, reason in errors]
        return out, False

    def on_eof(self) -> tuple[list[Any], bool]:
        return [self._row(r) for r in self.engine.flush()], False

    def snapshot(self) -> Any:
        return self.engine


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _letter(event: Any, reason: str, error: str) -> DeadLetter:
    return DeadLetter(
        "window", "all", str(event.get("id")), "window", reason, error, repr(event).encode(), TENANT
    )


def _pg_retrier() -> Retrier:
    # A 1 s circuit reset instead of the default 30 s keeps the restart tests short.
    return Retrier(
        CircuitBreaker("chaos-pg", reset_timeout=1.0),
        (psycopg.OperationalError, psycopg.InterfaceError),
        backoff=Backoff(base=0.1, cap=1.0),
    )


def _throttle(delay: float, batch: MessageBatch) -> MessageBatch:
    time.sleep(delay)
    return batch


def build(
    source: Source[MessageBatch],
    database_url: str,
    schema: str,
    delay: float = 0.0,
    window: str = "standin",
) -> Dataflow:
    """``delay`` (seconds per batch) stretches a run so a server restart lands mid-run;
    ``window`` is ``"standin"`` (per region, HLL bytes) or ``"engine"`` (native)."""
    flow = Dataflow("chaos")
    batches = op.input("in", flow, source)
    if delay:
        batches = op.map("throttle", batches, functools.partial(_throttle, delay))
    decoded = op.map("decode", batches, functools.partial(decode_batch, flow="chaos.decode"))
    # Dead letters and the decode progress row.
    op.output(
        "dead_letters",
        decoded,
        PostgresSink(database_url, flow="chaos", schema=schema, retrier_factory=_pg_retrier),
    )
    if window == "engine":
        keyed = op.map("one_engine", decoded, _all_events)
        windows = op.stateful_batch("window", keyed, EngineWindows)
    else:
        keyed = op.flat_map("by_region", decoded, by_region)
        windows = op.stateful_batch("window", keyed, MinuteWindows)
    op.output(
        "rollups",
        op.key_rm("unkey", windows),
        PostgresSink(
            database_url, flow="chaos", schema=schema, migrate=False, retrier_factory=_pg_retrier
        ),
    )
    return flow


def source(kind: str, name: str, stop_after: int, url: str) -> Source[MessageBatch]:
    if kind == "rabbit":
        return RabbitStreamSource(url, [name], batch_size=500, stop_after={name: stop_after})
    return RedisStreamSource(url, [name], batch_size=500, stop_after={name: stop_after})


def main(argv: list[str]) -> None:
    kind, name, stop_after, schema, recovery = argv
    url = os.environ["DATANEXUS_AMQP_URL" if kind == "rabbit" else "DATANEXUS_REDIS_URL"]
    delay = float(os.environ.get("DATANEXUS_CHAOS_DELAY", "0"))
    window = os.environ.get("DATANEXUS_CHAOS_WINDOW", "standin")
    flow = build(
        source(kind, name, int(stop_after), url),
        os.environ["DATANEXUS_DATABASE_URL"],
        schema,
        delay,
        window,
    )
    run_main(flow, epoch_interval=EPOCH, recovery_config=RecoveryConfig(recovery))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    main(sys.argv[1:])
