"""Response models (they make the OpenAPI document precise enough to fuzz against) and
the error responses every authenticated route documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

__all__ = ["AUTH_ERRORS", "ErrorBody", "ErrorEnvelope"]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    timestamp: datetime


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": "error envelope"} for s in statuses}


AUTH_ERRORS = _errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503, 504)
OPEN_ERRORS = _errors(500, 503)
