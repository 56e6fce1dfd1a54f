"""The PostgreSQL sink: rollups, raw events, dead letters and progress, one transaction
per Bytewax batch, retried while the server is down.

Items may be :class:`RollupRow`, :class:`RawEvent`, :class:`DeadLetter`,
:class:`~datanexus.connectors.decode.Decoded` (its dead letters and progress) or
:class:`StoreBatch`. Each ``write_batch`` call stores all its items and their progress
rows together (:func:`datanexus.store.batch.write_batch`); for rollups the progress row
(``flow``, ``<step_id>.<worker>``) is the end of the newest window written.

Exactly-once effect with Bytewax recovery: after a crash Bytewax replays the items after
the last snapshot; every table has an idempotent key (rollups keep the highest revision,
raw events and dead letters ignore duplicates), so the replay changes nothing. A crash
inside a write rolls the whole batch back. ``close`` may not run: nothing is buffered
across calls, so nothing is lost when it does not.

When PostgreSQL is unreachable the write is retried with jittered backoff behind a
circuit breaker (:mod:`datanexus.retry`): the flow waits, it neither drops nor crashes.
Errors that waiting cannot fix (a constraint violation: a bug upstream) propagate and stop
the flow, which then resumes from its last snapshot once fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from datanexus.connectors.decode import Decoded
from datanexus.retry import Backoff, CircuitBreaker, Retrier
from datanexus.store.batch import StoreBatch, Written, write_batch
from datanexus.store.dead_letters import DeadLetter
from datanexus.store.migrations import check_schema_name, migrate
from datanexus.store.progress import Progress
from datanexus.store.raw_events import RawEvent
from datanexus.store.rollups import RollupRow

__all__ = ["PostgresSink", "Storable", "Writer"]

log = logging.getLogger(__name__)

Storable = RollupRow | RawEvent | DeadLetter | Decoded | StoreBatch

_TRANSIENT: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
CONNECT_TIMEOUT = 5


class Writer:
    """One connection to PostgreSQL, opened lazily and reopened after a failure, and
    :func:`write_batch` behind a :class:`Retrier`. Not thread-safe (one per partition)."""

    def __init__(
        self,
        url: str,
        schema: str,
        *,
        name: str = "postgres",
        retrier: Retrier | None = None,
        statement_timeout_ms: int = 60_000,
    ) -> None:
        self._url = url
        self._schema = check_schema_name(schema)
        self._options = f"-c statement_timeout={statement_timeout_ms}"
        self._conn: psycopg.Connection[Any] | None = None
        self.retrier = retrier or Retrier(
            CircuitBreaker(name), _TRANSIENT, backoff=Backoff(base=0.2, cap=5.0)
        )
        self.retrier.on_failure = self._drop

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, options=self._options
            )
        return self._conn

    def _drop(self, error: BaseException) -> None:
        if self._conn is not None:
            log.warning("dropping the PostgreSQL connection after %s", type(error).__name__)
            self._conn.close()
            self._conn = None

    def run(self, fn: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        """``fn(connection)`` with retries; its result."""
        return self.retrier.call(lambda: fn(self._connect()))

    def write(self, batch: StoreBatch) -> Written:
        written: Written = self.run(lambda conn: write_batch(conn, self._schema, batch))
        return written

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def collect(items: list[Storable], flow: str, rollup_partition: str) -> StoreBatch:
    """Sort ``items`` into one :class:`StoreBatch`; rollups add their progress row."""
    batch = StoreBatch()
    window_end: int | None = None
    for item in items:
        if isinstance(item, RollupRow):
            batch.rollups.append(item)
            end = item.window_start_ms + item.granularity_ms
            window_end = end if window_end is None else max(window_end, end)
        elif isinstance(item, RawEvent):
            batch.raw_events.append(item)
        elif isinstance(item, DeadLetter):
            batch.dead_letters.append(item)
        elif isinstance(item, Decoded):
            batch.dead_letters.extend(item.dead_letters)
            if item.progress is not None:
                batch.progress.append(item.progress)
        elif isinstance(item, StoreBatch):
            batch.rollups.extend(item.rollups)
            batch.raw_events.extend(item.raw_events)
            batch.dead_letters.extend(item.dead_letters)
            batch.progress.extend(item.progress)
        else:
            raise TypeError(f"PostgresSink cannot store a {type(item).__name__}")
    if window_end is not None and window_end >= 0:
        batch.progress.append(Progress(flow, rollup_partition, window_end))
    return batch


class _Partition(StatelessSinkPartition[Storable]):
    def __init__(self, writer: Writer, flow: str, partition: str) -> None:
        self._writer = writer
        self._flow = flow
        self._partition = partition

    def write_batch(self, items: list[Storable]) -> None:
        batch = collect(items, self._flow, self._partition)
        written = self._writer.write(batch)
        log.debug("stored %s for %s", written, self._partition)

    def close(self) -> None:
        self._writer.close()


class PostgresSink(DynamicSink[Storable]):
    """Writes :data:`Storable` items to ``schema`` at ``url``; ``flow`` names the progress
    rows. The schema is migrated once at build time (``migrate=False`` to skip)."""

    def __init__(
        self,
        url: str,
        *,
        flow: str,
        schema: str = "public",
        migrate: bool = True,
        retrier_factory: Callable[[], Retrier] | None = None,
    ) -> None:
        self._url = url
        self._flow = flow
        self._schema = check_schema_name(schema)
        self._migrate = migrate
        self._retrier_factory = retrier_factory

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        retrier = self._retrier_factory() if self._retrier_factory else None
        writer = Writer(self._url, self._schema, name=f"postgres:{step_id}", retrier=retrier)
        if self._migrate:
            writer.run(lambda conn: migrate(conn, self._schema))
        return _Partition(writer, self._flow, f"{step_id}.{worker_index}")
