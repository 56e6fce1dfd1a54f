"""STREAM-20/21: the ingest buffer against the real Redis publisher.

The publish function handed to the buffer is the real
:meth:`RedisStreamPublisher.publish_entries` behind a wrapper that only observes (calls,
sizes, flushes in flight), slows it down, or fails once — Redis itself is never mocked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import redis

from datanexus.api.buffer import BufferLimits, IngestBuffer
from datanexus.connectors.idempotency import keyed_canonical_json
from datanexus.connectors.publishers import RedisStreamPublisher, StreamEntry
from datanexus.errors import IngestionPaused
from datanexus.retry import Backoff

FAST_RETRY = Backoff(base=0.01, cap=0.05)


@pytest.fixture
def stream(prefix: str) -> str:
    """A unique stream; the prefix fixture deletes it, its counter and batch markers."""
    return f"{prefix}:buf"


@dataclass
class Observed:
    """The real publisher behind a wrapper that records what the buffer asks of it."""

    publisher: RedisStreamPublisher
    delay_s: float = 0.0
    fail_after_store: int = 0
    """The next n calls store their entries, then raise as if the reply were lost."""
    fail_before_store: int = 0
    """The next n calls raise before anything reaches Redis."""
    valve: asyncio.Semaphore | None = None
    calls: list[tuple[int, str, float]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, stream: str, entries: Sequence[StreamEntry], batch_id: str) -> None:
        self.calls.append((len(entries), batch_id, time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.valve is not None:
                await self.valve.acquire()
            await asyncio.sleep(self.delay_s)
            if self.fail_before_store:
                self.fail_before_store -= 1
                raise redis.ConnectionError("connection reset before the script ran")
            await asyncio.to_thread(self.publisher.publish_entries, entries, batch_id=batch_id)
            if self.fail_after_store:
                self.fail_after_store -= 1
                raise redis.TimeoutError("reply lost after the script ran")
        finally:
            self.in_flight -= 1


def entries_of(producer: int, count: int) -> list[StreamEntry]:
    out = []
    for i in range(count):
        key, body = keyed_canonical_json({"id": f"p{producer}-e{i}", "ts": i, "p": producer})
        out.append(StreamEntry(key, body, {"traceparent": f"tp-{producer}"}))
    return out


async def produce(buffer: IngestBuffer, stream: str, producers: int, each: int) -> set[str]:
    """``producers`` tasks adding ``each`` events one by one, interleaved."""

    async def one(p: int) -> None:
        for entry in entries_of(p, each):
            buffer.add(stream, [entry])
            await asyncio.sleep(0)

    await asyncio.gather(*(one(p) for p in range(producers)))
    return {e.key for p in range(producers) for e in entries_of(p, each)}


def stored(redis_url: str, stream: str) -> list[tuple[str, int, str]]:
    """(key, seq, traceparent) of every entry, in stream order."""
    client = redis.Redis.from_url(redis_url)
    try:
        out = []
        for _, f in client.xrange(stream):
            assert json.loads(f[b"data"])["id"] == f[b"key"].decode()
            out.append((f[b"key"].decode(), int(f[b"seq"]), f[b"traceparent"].decode()))
        return out
    finally:
        client.close()


def assert_once_and_gap_free(entries: list[tuple[str, int, str]], keys: set[str]) -> None:
    got = [k for k, _, _ in entries]
    assert len(got) == len(keys), "every event exactly once"
    assert set(got) == keys
    # Numbers follow the stream's entry order: unique, gap-free, from 1.
    assert [s for _, s, _ in entries] == list(range(1, len(keys) + 1))
    for key, _, traceparent in entries:
        assert traceparent == f"tp-{key.split('-')[0][1:]}"


async def _run(
    redis_url: str, stream: str, limits: BufferLimits, observed_kwargs: dict[str, object]
) -> tuple[Observed, IngestBuffer, set[str], float]:
    publisher = RedisStreamPublisher(redis_url, stream)
    observed = Observed(publisher, **observed_kwargs)  # type: ignore[arg-type]
    buffer = IngestBuffer(limits, observed, backoff=FAST_RETRY)
    buffer.start()
    started = time.monotonic()
    keys = await produce(buffer, stream, 8, 25)
    deadline = time.monotonic() + 20
    while buffer.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert buffer.pending == 0
    await buffer.stop()
    publisher.close()
    return observed, buffer, keys, started


def test_stream20_defaults_one_flush_5s_after_the_oldest_event(redis_url: str, stream: str) -> None:
    limits = BufferLimits()
    assert (limits.batch_events, limits.flush_interval_s) == (1000, 5.0)
    assert (limits.max_events, limits.max_concurrent_flushes) == (5000, 3)
    observed, _, keys, started = asyncio.run(_run(redis_url, stream, limits, {}))
    # 200 < 1000: nothing is published before the timer, then all in one flush.
    assert [n for n, _, _ in observed.calls] == [200]
    assert 4.9 <= observed.calls[0][2] - started < 6.5
    assert_once_and_gap_free(stored(redis_url, stream), keys)


def test_stream20_concurrent_flushes_are_at_most_three(redis_url: str, stream: str) -> None:
    limits = BufferLimits(batch_events=10, flush_interval_s=0.05, max_events=5000)
    observed, _, keys, _ = asyncio.run(_run(redis_url, stream, limits, {"delay_s": 0.15}))
    assert sum(n for n, _, _ in observed.calls) == 200
    assert all(n <= 10 for n, _, _ in observed.calls)
    # 20 slow flushes with work always waiting: the limit is reached, never passed.
    assert observed.max_in_flight == 3
    assert_once_and_gap_free(stored(redis_url, stream), keys)


def test_stream20_a_failed_publish_is_retried_without_duplicates_or_gaps(
    redis_url: str, stream: str
) -> None:
    limits = BufferLimits(batch_events=10, flush_interval_s=0.05)
    observed, _, keys, _ = asyncio.run(
        _run(
            redis_url,
            stream,
            limits,
            {"delay_s": 0.02, "fail_after_store": 2, "fail_before_store": 1},
        )
    )
    ids = [b for _, b, _ in observed.calls]
    assert len(ids) - len(set(ids)) == 3, "three retries, each under the batch's own id"
    assert_once_and_gap_free(stored(redis_url, stream), keys)


def test_stream20_count_trigger_flushes_full_batches_before_the_timer(
    redis_url: str, stream: str
) -> None:
    async def scenario() -> tuple[list[int], int, list[int]]:
        publisher = RedisStreamPublisher(redis_url, stream)
        observed = Observed(publisher)
        buffer = IngestBuffer(BufferLimits(flush_interval_s=60.0), observed)
        buffer.start()
        buffer.add(stream, entries_of(0, 2500))
        for _ in range(500):
            if buffer.pending <= 500:
                break
            await asyncio.sleep(0.01)
        before = [n for n, _, _ in observed.calls]
        left = buffer.buffered
        assert await buffer.drain(10.0)
        publisher.close()
        return before, left, [n for n, _, _ in observed.calls]

    before, left, after = asyncio.run(scenario())
    assert before == [1000, 1000]
    assert left == 500
    assert after == [1000, 1000, 500]
    assert [s for _, s, _ in stored(redis_url, stream)] == list(range(1, 2501))


def test_stream21_pause_at_threshold_resume_below_half_drain_empties(
    redis_url: str, stream: str
) -> None:
    async def scenario() -> None:
        publisher = RedisStreamPublisher(redis_url, stream)
        valve = asyncio.Semaphore(0)
        observed = Observed(publisher, valve=valve)
        limits = BufferLimits(batch_events=10, flush_interval_s=0.01, max_events=50)
        buffer = IngestBuffer(limits, observed, retry_after_s=7)
        buffer.start()
        accepted = 0
        for i in range(5):
            buffer.add(stream, entries_of(i, 10))
            accepted += 10
        assert buffer.pending == 50
        with pytest.raises(IngestionPaused) as paused:
            buffer.add(stream, entries_of(9, 1))
        assert paused.value.retry_after == 7
        assert not buffer.resume(), "no manual resume at >= the threshold"

        async def publish(n: int) -> None:
            for _ in range(n):
                valve.release()
            target = buffer.pending - 10 * n
            while buffer.pending > target:
                await asyncio.sleep(0.005)

        await publish(1)  # 40 pending: below the threshold, not below half
        assert buffer.paused
        with pytest.raises(IngestionPaused):
            buffer.add(stream, entries_of(9, 1))
        await publish(2)  # 20 < 25: open again
        buffer.add(stream, entries_of(10, 5))
        accepted += 5
        # A manual resume below the threshold opens a paused gate.
        buffer.add(stream, entries_of(11, 30))
        accepted += 30
        assert buffer.pending == 55
        assert buffer.paused
        await publish(1)
        assert buffer.pending == 45
        assert buffer.resume()
        buffer.add(stream, entries_of(12, 1))
        accepted += 1
        for _ in range(100):
            valve.release()
        assert await buffer.drain(10.0)
        assert buffer.pending == 0
        assert buffer.buffered == 0
        publisher.close()
        assert len(stored(redis_url, stream)) == accepted

    asyncio.run(scenario())
