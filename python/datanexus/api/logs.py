"""Structured JSON logs for the API server (OBS-5).

Every record of the ``datanexus`` logger tree is rendered by structlog as one JSON object
with the request's bound ids (``tenant``, ``request_id`` = correlation id, ``trace_id``,
``span_id``) from context variables. Reserved fields belong to the framework: a caller's
``extra={"tenant": ...}`` is kept as ``field_tenant``, never overwriting the real one.
Secrets are redacted by :func:`datanexus.redaction.redact` (the rules the dead letters
use too): values under keys named like secrets, and API keys, bearer tokens, URL
passwords and ``password=``-style assignments in any string. Records logged before
:func:`configure_logging` are held by :func:`begin_buffering` (bounded) and flushed, in
order, once it runs.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from datanexus.api.tracing import correlation_id, current_span
from datanexus.redaction import redact

__all__ = ["RESERVED", "begin_buffering", "configure_logging", "redact"]

RESERVED = frozenset(
    {"event", "level", "logger", "timestamp", "tenant", "request_id", "trace_id", "span_id"}
)
_ROOT = "datanexus"
_buffer: logging.handlers.MemoryHandler | None = None


def _protect_reserved(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    # stdlib records carry caller fields from `extra`; rename any that claims a reserved
    # name before the context ids are added.
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        for name in RESERVED:
            if name in record.__dict__ and name not in ("event",):
                event[f"field_{name}"] = record.__dict__[name]
    for name in list(event):
        if name in RESERVED and name not in ("event", "level", "logger", "timestamp"):
            event[f"field_{name}"] = event.pop(name)
    return event


def _context_ids(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    bound = structlog.contextvars.get_contextvars()
    event["tenant"] = bound.get("tenant")
    event["request_id"] = correlation_id.get()
    span = current_span.get()
    event["trace_id"] = span.trace_id if span else None
    event["span_id"] = span.span_id if span else None
    return event


def _extra_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and key not in RESERVED and not key.startswith("_"):
                event.setdefault(key, value)
    return event


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    return redact(dict(event))  # type: ignore[no-any-return]


_STD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


def begin_buffering(capacity: int = 10_000) -> None:
    """Hold records of the ``datanexus`` tree until :func:`configure_logging` (at most
    ``capacity``; beyond that the oldest are kept and later ones dropped, with a count)."""
    global _buffer
    if _buffer is not None:
        return
    _buffer = logging.handlers.MemoryHandler(capacity, flushLevel=logging.CRITICAL + 1)
    logger = logging.getLogger(_ROOT)
    logger.addHandler(_buffer)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Render the ``datanexus`` tree as JSON lines on ``stream`` (stderr by default) and
    flush what :func:`begin_buffering` held. Idempotent: a second call replaces the
    handler."""
    global _buffer
    pre: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre,
        processors=[
            _protect_reserved,
            _extra_fields,
            _context_ids,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("datanexus-json")
    logger = logging.getLogger(_ROOT)
    for old in list(logger.handlers):
        if old.get_name() == "datanexus-json":
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    if _buffer is not None:
        held = _buffer.buffer
        logger.removeHandler(_buffer)
        for record in held:
            if record.levelno >= level:
                handler.handle(record)
        _buffer.buffer = []
        _buffer = None


def bind(values: MutableMapping[str, Any]) -> None:
    """Bind request-scoped fields (the tenant once known) for every later record."""
    structlog.contextvars.bind_contextvars(**values)
