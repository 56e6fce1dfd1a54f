"""W3C trace context (OBS-3) and the request's correlation id (OBS-4).

``traceparent`` is ``00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>``.
A request that brings a valid one continues that trace: our span keeps the trace id,
names the caller's span as its parent and gets a new span id. A missing or malformed
header (wrong lengths, upper-case hex, all-zero ids, version ``ff``) starts a new root.

The correlation id and the span live in context variables set by the request middleware
and reset when the request ends, so they follow the request across awaits and threads
started with ``contextvars.copy_context`` and never leak into the next request.
"""

from __future__ import annotations

import re
import secrets
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = [
    "SpanContext",
    "child_of",
    "correlation_id",
    "current_correlation_id",
    "current_span",
    "parse_traceparent",
    "pick_correlation_id",
]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class SpanContext:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    sampled: bool

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(header: str | None) -> SpanContext | None:
    """The caller's span from a ``traceparent`` header, or None when absent or invalid."""
    if not header:
        return None
    match = _TRACEPARENT.match(header.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    # Version 00 has exactly four fields; later versions may append more (not matched).
    return SpanContext(trace_id, span_id, None, bool(int(flags, 16) & 1))


def child_of(parent: SpanContext | None) -> SpanContext:
    """A new span: the parent's trace id and flags with a fresh span id, or a new root."""
    span_id = secrets.token_hex(8)
    if parent is None:
        return SpanContext(secrets.token_hex(16), span_id, None, True)
    return SpanContext(parent.trace_id, span_id, parent.span_id, parent.sampled)


def pick_correlation_id(header: str | None) -> str:
    """The caller's ``x-correlation-id`` when it is a sane token (≤ 128 of
    ``A-Za-z0-9._:-``), else a new UUID4 hex: header values reach logs verbatim."""
    if header and _CORRELATION.match(header):
        return header
    return uuid.uuid4().hex


correlation_id: ContextVar[str | None] = ContextVar("datanexus_correlation_id", default=None)
current_span: ContextVar[SpanContext | None] = ContextVar("datanexus_span", default=None)


def current_correlation_id() -> str:
    """The request's correlation id, or ``"-"`` outside a request."""
    return correlation_id.get() or "-"
