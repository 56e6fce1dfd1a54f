"""Event ingestion (API-3, STREAM-21): body decoding, per-row checks, the buffer and the
publisher.

A batch is a JSON array of objects or NDJSON (one object per line), optionally gzip;
more than ``max_body_bytes`` (before or after decompression) → 413. Each row must be an
object; its ``ts`` (RFC 3339 with an offset, or epoch ms) must parse, and a missing one
is set to the receive time; ``tenant`` is the credential's (a row naming another tenant
is refused) and ``stream`` the path's; ``id`` is the row's own or the hash of its
canonical JSON (:func:`~datanexus.connectors.idempotency.idempotency_key`). Refused
rows get a per-row error and are not published; the others are.

Accepted rows go to the Redis stream ``<stream_prefix>:<tenant>:<stream>`` through
:class:`~datanexus.connectors.publishers.RedisStreamPublisher`. Without ``wait`` they are
buffered (202) in :class:`~datanexus.api.buffer.IngestBuffer` (STREAM-20: batches of
``buffer_batch_events``, flushed at the latest ``buffer_flush_interval_s`` after the
oldest, ≤ ``buffer_max_concurrent_flushes`` in flight, retried until stored);
``wait=true`` publishes before answering (200) and a failure answers 503 (the client
retries; the ids make the retry idempotent for consumers). Backpressure: when
``buffer_max_events`` events are pending ingestion pauses (503 ``INGESTION_PAUSED`` +
``Retry-After``) and resumes only below half of it; a stream longer than
``stream_max_length`` (the flow is behind) pauses that stream the same way.
:meth:`Ingestor.drain` publishes everything buffered (called at shutdown).
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from anyio import to_thread
from redis import Redis as SyncRedis

from datanexus.api.buffer import BufferLimits, Hysteresis, IngestBuffer
from datanexus.api.errors import ApiError
from datanexus.api.metrics import ApiMetrics
from datanexus.api.settings import ApiSettings
from datanexus.api.tracing import current_span
from datanexus.connectors.idempotency import keyed_canonical_json
from datanexus.connectors.publishers import RedisStreamPublisher, StreamEntry
from datanexus.errors import IngestionPaused, InvalidArgument, ServiceUnavailable

__all__ = [
    "Ingestor",
    "RowResult",
    "check_rows",
    "check_rows_encoded",
    "decode_body",
    "stream_key",
]

log = logging.getLogger(__name__)

STREAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def stream_key(prefix: str, tenant: str, stream: str) -> str:
    """The Redis stream of (tenant, stream): ``<prefix>:<tenant>:<stream>``."""
    return f"{prefix}:{tenant}:{stream}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def decode_body(body: bytes, content_type: str, content_encoding: str, limit: int) -> list[Any]:
    """The rows of a batch; :class:`ApiError` 413/415/400 for an oversized, untyped or
    unparseable body."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as error:
            raise ApiError(400, "INVALID_BODY", f"body is not valid gzip: {error}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"decompressed body exceeds {limit} bytes")
    elif encoding not in ("", "identity"):
        raise ApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", f"content encoding {encoding!r}: use gzip or none"
        )
    ctype = content_type.split(";")[0].strip().lower()
    try:
        if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
            rows = []
            for number, line in enumerate(body.split(b"\n"), 1):
                if line.strip():
                    try:
                        rows.append(_loads(line))
                    except ValueError as error:
                        raise ApiError(
                            400,
                            "INVALID_BODY",
                            f"NDJSON line {number}: {error}",
                            {"line": number},
                        ) from None
            return rows
        data = _loads(body)
    except UnicodeDecodeError:
        raise ApiError(400, "INVALID_BODY", "body is not UTF-8") from None
    except ValueError as error:
        raise ApiError(400, "INVALID_BODY", f"body is not JSON: {error}") from None
    if not isinstance(data, list):
        raise ApiError(400, "INVALID_BODY", "body must be a JSON array of events (or NDJSON)")
    return data


@dataclass
class RowResult:
    index: int
    id: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error is None:
            return {"index": self.index, "status": "accepted", "id": self.id}
        return {"index": self.index, "status": "rejected", "error": self.error}


def _check_ts(value: Any) -> str | None:
    if isinstance(value, bool):
        return "ts must be an RFC 3339 string or epoch milliseconds, got a boolean"
    if isinstance(value, int):
        return None if 0 <= value <= _MAX_EPOCH_MS else f"ts {value} ms is out of range"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return f"ts {value[:64]!r} is not RFC 3339"
        return None if parsed.tzinfo is not None else f"ts {value[:64]!r} has no UTC offset"
    return f"ts must be an RFC 3339 string or epoch milliseconds, got {type(value).__name__}"


def check_rows(
    rows: list[Any], tenant: str, stream: str, now: datetime
) -> tuple[list[dict[str, Any]], list[RowResult]]:
    """The events to publish (tenant, stream, id and ts filled in) and a result per row."""
    events, _, results = check_rows_encoded(rows, tenant, stream, now)
    return events, results


def check_rows_encoded(
    rows: list[Any], tenant: str, stream: str, now: datetime
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]], list[RowResult]]:
    """:func:`check_rows` plus each accepted event's ``(key, canonical JSON)``, the form
    the publisher sends (encoded once here, where it also validates the event)."""
    events: list[dict[str, Any]] = []
    encoded: list[tuple[str, bytes]] = []
    results: list[RowResult] = []
    now_ms = int(now.timestamp() * 1000)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            results.append(RowResult(index, error=f"row is a {type(row).__name__}, not an object"))
            continue
        if "tenant" in row and row["tenant"] != tenant:
            results.append(RowResult(index, error="tenant differs from the API key's tenant"))
            continue
        if "stream" in row and row["stream"] != stream:
            results.append(RowResult(index, error=f"stream differs from the path's {stream!r}"))
            continue
        if "id" in row and not (
            (isinstance(row["id"], str) and 0 < len(row["id"]) <= 256)
            or (isinstance(row["id"], int) and not isinstance(row["id"], bool))
        ):
            results.append(RowResult(index, error="id must be a non-empty string or an integer"))
            continue
        event = dict(row)
        if "ts" in event:
            problem = _check_ts(event["ts"])
            if problem is not None:
                results.append(RowResult(index, error=problem))
                continue
        else:
            event["ts"] = now_ms
        event["tenant"] = tenant
        event["stream"] = stream
        try:
            # One canonical encoding per event: it validates (no NaN), gives the content
            # hash when there is no id, and is the body the publisher sends.
            key, body = keyed_canonical_json(event)
        except InvalidArgument as error:
            results.append(RowResult(index, error=str(error)))
            continue
        event["id"] = key
        events.append(event)
        encoded.append((key, body))
        results.append(RowResult(index, id=key))
    return events, encoded, results


@dataclass
class Ingestor:
    """The API's ingestion: gates, the buffer (:mod:`datanexus.api.buffer`) and one
    :class:`RedisStreamPublisher` per stream over a shared client."""

    settings: ApiSettings
    metrics: ApiMetrics
    redis: aioredis.Redis
    buffer: IngestBuffer = field(init=False)
    _client: SyncRedis = field(init=False)
    _publishers: OrderedDict[str, RedisStreamPublisher] = field(default_factory=OrderedDict)
    _stream_gates: dict[str, Hysteresis] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self._client = SyncRedis.from_url(s.redis_url, socket_timeout=10, socket_connect_timeout=5)
        limits = BufferLimits(
            batch_events=s.buffer_batch_events,
            flush_interval_s=s.buffer_flush_interval_s,
            max_events=s.buffer_max_events,
            max_concurrent_flushes=s.buffer_max_concurrent_flushes,
        )
        self.buffer = IngestBuffer(
            limits,
            self.publish_part,
            retry_after_s=s.retry_after_s,
            on_published=self.metrics.events.labels(stage="published").inc,
        )

    @property
    def pending(self) -> int:
        """Events accepted and not yet published."""
        return self.buffer.pending

    def start(self) -> None:
        self.buffer.start()

    def _publisher(self, stream: str) -> RedisStreamPublisher:
        publisher = self._publishers.get(stream)
        if publisher is None:
            publisher = RedisStreamPublisher(self._client, stream)
            self._publishers[stream] = publisher
            if len(self._publishers) > 256:
                self._publishers.popitem(last=False)  # the shared client stays open
        else:
            self._publishers.move_to_end(stream)
        return publisher

    async def publish_part(
        self, stream: str, entries: Sequence[StreamEntry], batch_id: str | None
    ) -> None:
        """Store ``entries`` in Redis stream ``stream`` (idempotent per ``batch_id``)."""
        publisher = self._publisher(stream)
        await to_thread.run_sync(lambda: publisher.publish_entries(entries, batch_id=batch_id))

    async def submit(
        self, tenant: str, stream: str, events: list[tuple[str, bytes]], wait: bool
    ) -> None:
        """Buffer (or with ``wait`` publish) ``events`` ((key, body) pairs of
        :func:`check_rows_encoded`); :class:`IngestionPaused` when a
        gate is closed, :class:`ServiceUnavailable` when Redis cannot take them."""
        self.buffer.check()
        key = stream_key(self.settings.stream_prefix, tenant, stream)
        try:
            length = int(await self.redis.xlen(key))
        except (redis.RedisError, OSError) as error:
            raise ServiceUnavailable(f"Redis unavailable for {key}: {error}") from error
        gate = self._stream_gates.setdefault(key, Hysteresis(self.settings.stream_max_length))
        if gate.update(length):
            raise IngestionPaused(
                f"stream {stream!r} holds {length} unprocessed events (limit "
                f"{self.settings.stream_max_length}); retry later",
                self.settings.retry_after_s,
            )
        span = current_span.get()
        # The request's span rides each entry so the flow continues the trace (OBS-3).
        fields = {"traceparent": span.traceparent} if span else None
        entries = [StreamEntry(k, body, fields) for k, body in events]
        if wait:
            # Numbers are taken in Redis by the script that adds the entries: a publish
            # that fails here consumes none (the client retries the request).
            try:
                await self.publish_part(key, entries, None)
            except (redis.RedisError, OSError) as error:
                raise ServiceUnavailable(f"publishing to {key} failed: {error}") from error
            self.metrics.events.labels(stage="published").inc(len(entries))
            return
        self.buffer.add(key, entries)  # checks the gate again: the await above yielded

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Publish everything buffered (or until ``timeout_s``: what is left is logged as
        an error with its count), then stop the buffer and close the Redis client."""
        await self.buffer.drain(timeout_s)
        self._publishers.clear()
        self._client.close()

    @staticmethod
    def retry_after(wait_s: float) -> int:
        return max(1, math.ceil(wait_s)) if math.isfinite(wait_s) else 60


def received_at() -> datetime:
    return datetime.now(UTC)
