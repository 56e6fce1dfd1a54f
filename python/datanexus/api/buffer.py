"""The ingestion buffer of the HTTP API (STREAM-20, STREAM-21).

Accepted events wait here until a flush publishes them. A flush starts when
``batch_events`` (1000) events are buffered or ``flush_interval_s`` (5 s) after the oldest
buffered event arrived, whichever comes first, and takes at most ``batch_events``
events, oldest first. At most ``max_concurrent_flushes`` (3) flushes are in flight (a
semaphore); while all slots are busy, events keep accumulating and the next flush cuts
the freshest batch once a slot frees. A flush publishes one part per stream; a part
that fails is retried with jittered backoff (forever: nothing accepted is dropped) under
the same batch id, so a retry after a lost reply neither duplicates entries nor
consumes new sequence numbers (see
:meth:`~datanexus.connectors.publishers.RedisStreamPublisher.publish_entries`).
Concurrent flushes may land out of acceptance order; the sequence numbers follow the
stream's entry order.

Backpressure: :attr:`IngestBuffer.pending` counts events accepted and not yet published
(buffered or in flight). When it is ≥ ``max_events`` (5000) the buffer pauses: every
:meth:`IngestBuffer.add` raises :class:`~datanexus.errors.IngestionPaused` until it falls
below ``max_events / 2``. The check is made on the level before a batch is added, so one
accepted batch may lift the level past ``max_events`` (by at most one request body); a
batch larger than ``max_events`` is still accepted into an open buffer.
:meth:`IngestBuffer.resume` never opens the gate while the level is ≥ ``max_events``.
:meth:`IngestBuffer.drain` flushes everything without waiting for the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from datanexus.connectors.publishers import StreamEntry
from datanexus.errors import IngestionPaused, InvalidArgument
from datanexus.retry import Backoff

__all__ = ["BufferLimits", "Hysteresis", "IngestBuffer", "PublishPart"]

log = logging.getLogger(__name__)

PublishPart = Callable[[str, Sequence[StreamEntry], str], Awaitable[object]]
"""``publish(stream, entries, batch_id)``: store every entry or raise. Called again with
the same ``batch_id`` after a failure, it must not store the entries twice."""


@dataclass(frozen=True)
class BufferLimits:
    """STREAM-20 defaults: batches of 1000, a flush at the latest 5 s after the oldest
    buffered event, pause at 5000 pending events, ≤ 3 flushes in flight."""

    batch_events: int = 1000
    flush_interval_s: float = 5.0
    max_events: int = 5000
    max_concurrent_flushes: int = 3

    def __post_init__(self) -> None:
        for name in ("batch_events", "max_events", "max_concurrent_flushes"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"buffer {name} must be >= 1, got {getattr(self, name)}")
        if not self.flush_interval_s > 0:
            raise InvalidArgument(
                f"buffer flush_interval_s must be > 0, got {self.flush_interval_s}"
            )


@dataclass
class Hysteresis:
    """Pauses at ≥ ``high``, resumes below ``high`` / 2 (STREAM-21)."""

    high: int
    paused: bool = False

    def update(self, level: int) -> bool:
        """The new state for ``level``: True while paused."""
        if self.paused and level < self.high / 2:
            self.paused = False
        elif level >= self.high:
            self.paused = True
        return self.paused

    def resume(self, level: int) -> bool:
        """An operator's resume: opens the gate unless ``level`` is ≥ ``high``; returns
        whether it is open now."""
        if level < self.high:
            self.paused = False
        return not self.paused


@dataclass
class _Chunk:
    stream: str
    entries: list[StreamEntry]
    since: float


@dataclass
class _Part:
    stream: str
    entries: list[StreamEntry]
    batch_id: str


class IngestBuffer:
    """See the module. ``publish`` stores one part; ``on_published(n)`` is told of every
    part stored. Use from one event loop; :meth:`start` before adding."""

    def __init__(
        self,
        limits: BufferLimits,
        publish: PublishPart,
        *,
        retry_after_s: int = 1,
        on_published: Callable[[int], None] | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.limits = limits
        self.pending = 0
        self._publish = publish
        self._retry_after_s = retry_after_s
        self._on_published = on_published
        self._backoff = backoff or Backoff(base=0.1, cap=5.0)
        self._rng = rng or random.Random()
        self._gate = Hysteresis(limits.max_events)
        self._chunks: deque[_Chunk] = deque()
        self._buffered = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._slots = asyncio.Semaphore(limits.max_concurrent_flushes)
        self._flushes: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._draining = False

    @property
    def buffered(self) -> int:
        """Events waiting for a flush (not yet in flight)."""
        return self._buffered

    @property
    def in_flight(self) -> int:
        """Flushes running now (≤ ``max_concurrent_flushes``)."""
        return len(self._flushes)

    @property
    def paused(self) -> bool:
        return self._gate.update(self.pending)

    def start(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    def check(self) -> None:
        """Raise :class:`IngestionPaused` while the gate is closed."""
        if self._gate.update(self.pending):
            raise IngestionPaused(
                f"ingestion buffer holds {self.pending} events (pauses at "
                f"{self.limits.max_events}, resumes below {self.limits.max_events / 2:g});"
                " retry later",
                self._retry_after_s,
            )

    def resume(self) -> bool:
        """Open the gate by hand unless ≥ ``max_events`` are pending; True if open."""
        return self._gate.resume(self.pending)

    def add(self, stream: str, entries: list[StreamEntry]) -> None:
        """Accept ``entries`` for ``stream`` (raises :class:`IngestionPaused` while
        paused; then nothing is accepted). Accepted entries are published eventually."""
        self.check()
        if not entries:
            return
        loop = asyncio.get_running_loop()
        self._chunks.append(_Chunk(stream, entries, loop.time()))
        self._buffered += len(entries)
        self.pending += len(entries)
        self._empty.clear()
        self._gate.update(self.pending)
        self._wake.set()

    def _due(self) -> float | None:
        """Seconds until the next flush is due (0: now), None when nothing is buffered."""
        if self._buffered == 0:
            return None
        if self._buffered >= self.limits.batch_events or self._draining:
            return 0.0
        oldest = self._chunks[0].since
        return max(0.0, oldest + self.limits.flush_interval_s - asyncio.get_running_loop().time())

    async def _dispatch(self) -> None:
        while True:
            due = self._due()
            if due != 0.0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due)
                continue
            await self._slots.acquire()
            # Cut after the slot is ours: a flush that waited takes the freshest batch.
            parts, count = self._cut()
            if count == 0:
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._flush(parts))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    def _cut(self) -> tuple[list[_Part], int]:
        """Up to ``batch_events`` of the oldest buffered events, one part per stream."""
        room = self.limits.batch_events
        by_stream: dict[str, list[StreamEntry]] = {}
        while self._chunks and room > 0:
            chunk = self._chunks[0]
            if len(chunk.entries) <= room:
                self._chunks.popleft()
                taken = chunk.entries
            else:
                taken, chunk.entries = chunk.entries[:room], chunk.entries[room:]
            by_stream.setdefault(chunk.stream, []).extend(taken)
            room -= len(taken)
        count = self.limits.batch_events - room
        self._buffered -= count
        parts = [_Part(s, e, uuid.uuid4().hex) for s, e in by_stream.items()]
        return parts, count

    async def _flush(self, parts: list[_Part]) -> None:
        try:
            for part in parts:
                await self._publish_part(part)
                self.pending -= len(part.entries)
                if self._on_published is not None:
                    self._on_published(len(part.entries))
            if self.pending == 0:
                self._empty.set()
        finally:
            self._slots.release()

    async def _publish_part(self, part: _Part) -> None:
        attempt = 0
        while True:
            try:
                await self._publish(part.stream, part.entries, part.batch_id)
                return
            except Exception as error:
                # Any failure is retried, never dropped: a lasting one fills the buffer,
                # which pauses ingestion (503) and logs here.
                attempt += 1
                log.warning(
                    "publishing %d events to %s failed (attempt %d): %s",
                    len(part.entries),
                    part.stream,
                    attempt,
                    error,
                )
                await asyncio.sleep(self._backoff.pause(attempt, self._rng))

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Publish everything buffered now (not waiting for the timer) and wait until
        nothing is pending, at most ``timeout_s``; then stop. True when empty; otherwise
        what is left is logged as an error with its count."""
        self._draining = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except TimeoutError:
            log.error("shutdown with %d events not yet published", self.pending)
        finally:
            self._draining = False
        await self.stop()
        return self.pending == 0

    async def stop(self) -> None:
        """Cancel the dispatcher and the flushes in flight (their events stay pending)."""
        tasks = [t for t in (self._dispatcher, *self._flushes) if t is not None]
        self._dispatcher = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
