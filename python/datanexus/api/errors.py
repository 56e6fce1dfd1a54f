"""The one mapping from errors to HTTP responses, and the error envelope (API-1).

Every error response of the API is ``{"error": {"code", "message", "details",
"timestamp"}}``: a stable upper-case code, a message for humans, structured details and
the time in RFC 3339 UTC. Tracebacks, SQL and server messages never appear: an error
that is not ours (a bug, a driver error) becomes 500 ``INTERNAL`` whose details carry only
the correlation id, and the full error goes to the log under that id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from datanexus import errors as dn

__all__ = ["ApiError", "Mapped", "envelope", "map_error", "not_found"]


class ApiError(dn.DataNexusError):
    """An error with its HTTP status and code, raised by the routes for conditions that
    have no class of their own (a body too large, a wrong content type, an unknown id)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Mapped:
    status: int
    code: str
    message: str
    details: dict[str, Any]
    headers: dict[str, str]


# Most specific first; matched by class name along the error's MRO so that the classes
# other modules add to datanexus.errors (QueryError, QueryTimeout, NotFound, StorageError)
# map here without this module importing them before they exist.
_BY_NAME: dict[str, tuple[int, str]] = {
    "NotAuthenticated": (401, "UNAUTHENTICATED"),
    "TenantSuspended": (403, "TENANT_SUSPENDED"),
    "PermissionDenied": (403, "FORBIDDEN"),
    "NotFound": (404, "NOT_FOUND"),
    "RateLimited": (429, "RATE_LIMIT_EXCEEDED"),
    "IngestionPaused": (503, "INGESTION_PAUSED"),
    "QueryTimeout": (504, "QUERY_TIMEOUT"),
    "QueryError": (400, "QUERY_INVALID"),
    "StorageError": (503, "STORAGE_ERROR"),
    "CircuitOpen": (503, "SERVICE_UNAVAILABLE"),
    "ServiceUnavailable": (503, "SERVICE_UNAVAILABLE"),
    "PathNotAllowed": (400, "INVALID_ARGUMENT"),
    "SerializationError": (400, "INVALID_ARGUMENT"),
    "IncompatibleSketches": (400, "INVALID_ARGUMENT"),
    "InvalidType": (400, "INVALID_ARGUMENT"),
    "InvalidArgument": (400, "INVALID_ARGUMENT"),
}

# Server-side conditions whose messages may name hosts or SQL: the client gets the code.
_OPAQUE = {"STORAGE_ERROR", "SERVICE_UNAVAILABLE"}


def map_error(error: BaseException, correlation_id: str) -> Mapped:
    """The response for ``error``: :class:`ApiError` as raised; our typed errors by the
    table above; anything else 500 ``INTERNAL`` (no message of the error leaks)."""
    if isinstance(error, ApiError):
        return Mapped(error.status, error.code, error.message, error.details, error.headers)
    if isinstance(error, dn.DataNexusError):
        for cls in type(error).__mro__:
            hit = _BY_NAME.get(cls.__name__)
            if hit is None:
                continue
            status, code = hit
            headers: dict[str, str] = {}
            retry_after = getattr(error, "retry_after", None)
            if isinstance(retry_after, int):
                headers["Retry-After"] = str(retry_after)
            if code in _OPAQUE:
                return Mapped(
                    status,
                    code,
                    "a server the API needs is unavailable; retry later",
                    {"correlation_id": correlation_id},
                    headers,
                )
            details: dict[str, Any] = {}
            for attr in ("position", "line", "col"):
                value = getattr(error, attr, None)
                if isinstance(value, int):
                    details[attr] = value
            return Mapped(status, code, str(error), details, headers)
    if isinstance(error, psycopg.DataError):
        # A request value PostgreSQL cannot hold (a NUL in a path parameter, a number
        # out of range): the caller's input, not our bug. Its message is not echoed.
        return Mapped(
            400,
            "INVALID_ARGUMENT",
            "a value in the request cannot be stored or compared (a NUL character, or a "
            "number out of range)",
            {"correlation_id": correlation_id},
            {},
        )
    return Mapped(
        500,
        "INTERNAL",
        "internal error; quote the correlation id when reporting it",
        {"correlation_id": correlation_id},
        {},
    )


def envelope(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The error body every error response has."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": dict(details or {}),
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    }


def not_found(what: str, ident: str) -> ApiError:
    """404 for ``ident``: the same whether it is missing or another tenant's (API-9)."""
    return ApiError(404, "NOT_FOUND", f"{what} {ident!r} not found")
