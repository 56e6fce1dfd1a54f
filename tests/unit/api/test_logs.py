"""OBS-5: JSON logs, bound ids, reserved fields, early buffering, redaction."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from datanexus.api import logs
from datanexus.api.tracing import child_of, correlation_id, current_span


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger("datanexus")
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate
    structlog.contextvars.clear_contextvars()


def _records(sink: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_records_before_setup_are_buffered_then_flushed_in_order(restore_logging: None) -> None:
    logs.begin_buffering()
    log = logging.getLogger("datanexus.test.early")
    log.info("first")
    log.warning("second")
    sink = io.StringIO()
    logs.configure_logging(stream=sink)
    log.info("third")
    assert [r["event"] for r in _records(sink)] == ["first", "second", "third"]


def test_bound_ids_and_reserved_fields_are_protected(restore_logging: None) -> None:
    sink = io.StringIO()
    logs.configure_logging(stream=sink)
    span = child_of(None)
    c_token, s_token = correlation_id.set("corr-1"), current_span.set(span)
    structlog.contextvars.bind_contextvars(tenant="acme")
    try:
        logging.getLogger("datanexus.test").info(
            "hello", extra={"tenant": "evil", "request_id": "forged", "rows": 3}
        )
    finally:
        correlation_id.reset(c_token)
        current_span.reset(s_token)
    (record,) = _records(sink)
    assert record["tenant"] == "acme"
    assert record["request_id"] == "corr-1"
    assert record["trace_id"] == span.trace_id
    assert record["span_id"] == span.span_id
    assert record["field_tenant"] == "evil"
    assert record["field_request_id"] == "forged"
    assert record["rows"] == 3
    assert record["level"] == "info"


def test_secrets_are_redacted(restore_logging: None) -> None:
    sink = io.StringIO()
    logs.configure_logging(stream=sink)
    key = "dnx_" + "ab" * 32
    logging.getLogger("datanexus.test").warning(
        "connect postgresql://u:hunter2@db/x with %s and Bearer abc.def password=pw1",
        key,
        extra={"api_key": "k1", "authorization": "Basic zzz"},
    )
    text = sink.getvalue()
    for secret in ("hunter2", key, "abc.def", "pw1", "k1", "zzz"):
        assert secret not in text, secret
    assert "u:***@db" in text


def test_redact_walks_containers() -> None:
    value = {"a": ["dnx_" + "0" * 64, {"password": "x", "ok": "y"}]}
    assert logs.redact(value) == {"a": ["dnx_[REDACTED]", {"password": "[REDACTED]", "ok": "y"}]}
