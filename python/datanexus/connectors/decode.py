"""Message bodies to events: JSON decoding that dead-letters instead of crashing.

Sources emit :class:`MessageBatch` (raw bodies with their positions); :func:`decode_batch`
turns one into events and :class:`DeadLetter` entries, each naming the reason, and the
:class:`Progress` the batch reaches. Nothing is dropped: every body becomes exactly one
event or one dead letter. No Bytewax here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datanexus.connectors.idempotency import canonical_json, idempotency_key
from datanexus.errors import InvalidArgument
from datanexus.store.batch import StoreBatch
from datanexus.store.dead_letters import DeadLetter
from datanexus.store.progress import Progress
from datanexus.store.raw_events import RawEvent

__all__ = [
    "MAX_BODY_BYTES",
    "Decoded",
    "MessageBatch",
    "decode_batch",
    "decode_body",
    "parse_ts",
    "to_store_batch",
]

MAX_BODY_BYTES = 1 << 20
_MAX_TS_MS = (1 << 53) - 1


@dataclass(frozen=True, slots=True)
class MessageBatch:
    """Bodies read from ``partition`` of ``source`` (e.g. ``rabbitmq-stream``, queue name),
    with each body's position as text; ``progress`` is the numeric position of the last
    one (see :class:`Progress`)."""

    source: str
    partition: str
    positions: list[str]
    bodies: list[bytes]
    progress: int

    def __len__(self) -> int:
        return len(self.bodies)


@dataclass(slots=True)
class Decoded:
    """The events and dead letters of one batch, and how far it reached."""

    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    progress: Progress | None = None


class _Reject(Exception):
    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason


def _no_constants(name: str) -> Any:
    raise _Reject("non_finite_number", f"{name} is not a JSON number")


# A lone surrogate can only come from a \uD800-\uDFFF escape (json.loads joins valid
# pairs), so strings need a look only when the text has one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _check_strings(value: Any, text: str) -> None:
    # PostgreSQL text and jsonb cannot hold NUL, and no UTF-8 holds a lone surrogate
    # (valid JSON: "\ud800"); refuse both here so a batch never fails later.
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            _check_string(v, "string", surrogates)
        elif isinstance(v, dict):
            for k, item in v.items():
                _check_string(k, "key", surrogates)
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)


def _check_string(s: str, what: str, surrogates: bool) -> None:
    if "\x00" in s:
        raise _Reject("nul_character", f"a {what} contains U+0000")
    if surrogates and not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:
            raise _Reject("lone_surrogate", f"a {what} contains a lone surrogate") from None


def decode_body(body: bytes) -> dict[str, Any]:
    """One JSON object from ``body``; raises :class:`InvalidArgument` whose message starts
    with the reason code (``invalid_utf8``, ``invalid_json``, ``not_an_object``,
    ``non_finite_number``, ``nul_character``, ``lone_surrogate``, ``too_large``,
    ``too_deep``)."""
    try:
        return _decode(body)
    except _Reject as reject:
        raise InvalidArgument(f"{reject.reason}: {reject}") from None


def _decode(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise _Reject("too_large", f"{len(body)} bytes, at most {MAX_BODY_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Reject("invalid_utf8", str(error)) from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as error:
        raise _Reject("invalid_json", str(error)) from None
    except RecursionError:
        raise _Reject("too_deep", "nesting too deep") from None
    if not isinstance(value, dict):
        raise _Reject("not_an_object", f"a JSON {type(value).__name__}, not an object")
    _check_strings(value, text)
    return value


def parse_ts(value: Any) -> int:
    """Event time as epoch ms from an int (epoch ms) or an RFC 3339 string with a zone;
    :class:`InvalidArgument` otherwise (floats, booleans, naive times, out of range)."""
    if isinstance(value, bool):
        raise InvalidArgument("ts must be epoch ms or RFC 3339, got a boolean")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidArgument(f"ts is not RFC 3339: {value[:64]!r}") from None
        if when.utcoffset() is None:
            raise InvalidArgument(f"ts has no time zone: {value[:64]!r}")
        stamp = when.timestamp() * 1000
        if not math.isfinite(stamp):
            raise InvalidArgument(f"ts out of range: {value[:64]!r}")
        ms = round(stamp)
    else:
        raise InvalidArgument(f"ts must be epoch ms or RFC 3339, got {type(value).__name__}")
    if not -_MAX_TS_MS <= ms <= _MAX_TS_MS:
        raise InvalidArgument(f"ts out of range: {ms}")
    return ms


def decode_batch(
    batch: MessageBatch, *, flow: str, tenant: str | None = None, require_ts: bool = True
) -> Decoded:
    """Each body to an event or a dead letter (stage ``decode``), in order. With
    ``require_ts`` an event's ``ts`` must parse (:func:`parse_ts`; reason ``invalid_ts``)
    and is replaced by epoch ms. Progress: (``flow``, ``source/partition``, last)."""
    out = Decoded(progress=Progress(flow, f"{batch.source}/{batch.partition}", batch.progress))
    for position, body in zip(batch.positions, batch.bodies, strict=True):
        try:
            event = _decode(body)
            if require_ts:
                try:
                    event["ts"] = parse_ts(event.get("ts"))
                except InvalidArgument as error:
                    raise _Reject("invalid_ts", str(error)) from None
        except _Reject as reject:
            out.dead_letters.append(
                DeadLetter(
                    source=batch.source,
                    partition=batch.partition,
                    position=position,
                    stage="decode",
                    reason=reject.reason,
                    error=str(reject),
                    payload=body,
                    tenant=tenant,
                )
            )
            continue
        out.events.append(event)
    return out


def to_store_batch(decoded: Decoded, *, tenant: str, stream: str) -> StoreBatch:
    """The raw events of ``decoded`` (keyed by :func:`idempotency_key`; an event's own
    ``tenant``/``stream`` strings win over the defaults), its dead letters and its
    progress, for :class:`~datanexus.connectors.postgres.PostgresSink`. Events need an
    epoch-ms ``ts`` (decode with ``require_ts=True``)."""
    raw = []
    for event in decoded.events:
        own_tenant, own_stream = event.get("tenant"), event.get("stream")
        raw.append(
            RawEvent(
                tenant=own_tenant if isinstance(own_tenant, str) and own_tenant else tenant,
                stream=own_stream if isinstance(own_stream, str) and own_stream else stream,
                id=idempotency_key(event),
                ts_ms=int(event["ts"]),
                payload=canonical_json(event).decode(),
            )
        )
    progress = [decoded.progress] if decoded.progress is not None else []
    return StoreBatch(raw_events=raw, dead_letters=list(decoded.dead_letters), progress=progress)
