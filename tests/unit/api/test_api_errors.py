"""API-1: one mapping from errors to statuses and codes; nothing of a foreign error leaks."""

from __future__ import annotations

import re

import pytest

from datanexus import errors as dn
from datanexus.api.errors import ApiError, envelope, map_error


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (dn.NotAuthenticated("x"), 401, "UNAUTHENTICATED"),
        (dn.PermissionDenied("x"), 403, "FORBIDDEN"),
        (dn.TenantSuspended("x"), 403, "TENANT_SUSPENDED"),
        (dn.NotFound("x"), 404, "NOT_FOUND"),
        (dn.StreamNotFound("x"), 404, "NOT_FOUND"),
        (dn.QueryError("x", position=3, text="abcdef"), 400, "QUERY_INVALID"),
        (dn.QueryTimeout("x"), 504, "QUERY_TIMEOUT"),
        (dn.StorageError("host db-1 said: relation x"), 503, "STORAGE_ERROR"),
        (dn.RateLimited("x", 7), 429, "RATE_LIMIT_EXCEEDED"),
        (dn.IngestionPaused("x", 2), 503, "INGESTION_PAUSED"),
        (dn.InvalidArgument("x"), 400, "INVALID_ARGUMENT"),
        (ApiError(413, "PAYLOAD_TOO_LARGE", "big"), 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_mapping(error: Exception, status: int, code: str) -> None:
    mapped = map_error(error, "cid")
    assert (mapped.status, mapped.code) == (status, code)


def test_retry_after_and_positions_ride_along() -> None:
    assert map_error(dn.RateLimited("x", 7), "c").headers == {"Retry-After": "7"}
    details = map_error(dn.QueryError("bad", position=3, text="ab\ncdef"), "c").details
    assert details == {"position": 3, "line": 2, "col": 1}


def test_foreign_and_server_errors_reveal_only_the_correlation_id() -> None:
    for error in (RuntimeError("SELECT * FROM secrets"), dn.StorageError("db-1:5432 down")):
        mapped = map_error(error, "corr-7")
        assert mapped.details == {"correlation_id": "corr-7"}
        assert "SELECT" not in mapped.message
        assert "db-1" not in mapped.message


def test_envelope_shape() -> None:
    body = envelope("X", "m", {"a": 1})
    assert set(body["error"]) == {"code", "message", "details", "timestamp"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", body["error"]["timestamp"])
