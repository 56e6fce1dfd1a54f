"""Keyset cursors (QUERY-9): opaque, HMAC-SHA256-signed, bound to tenant and query.

A cursor carries the sort key of the last row of a page and the ``now`` the first page
resolved (so ``now()`` means the same instant on every page). Its signature covers the
payload, the tenant and the normalised query: a cursor edited, forged, or replayed for
another tenant or another query is refused with :class:`QueryError` (400). Cursors are
not encrypted: the sort key of a row the caller already received is no secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from datanexus.errors import QueryError

__all__ = ["decode_cursor", "encode_cursor", "query_secret"]

_VERSION = 1
_MAX_CURSOR_CHARS = 8_192
# Without DATANEXUS_QUERY_SECRET a process signs with a random key: its cursors are
# valid only while it runs (and only on it). Deployments with several API processes
# set the variable.
_PROCESS_SECRET = secrets.token_bytes(32)


def query_secret(explicit: bytes | str | None = None) -> bytes:
    """The signing key: ``explicit``, else ``DATANEXUS_QUERY_SECRET``, else a random key
    of this process."""
    if explicit is None:
        explicit = os.environ.get("DATANEXUS_QUERY_SECRET") or None
    if explicit is None:
        return _PROCESS_SECRET
    return explicit.encode() if isinstance(explicit, str) else bytes(explicit)


def _mac(secret: bytes, tenant: str, normalized: str, payload: bytes) -> bytes:
    message = b"\x00".join((tenant.encode(), normalized.encode(), payload))
    return hmac.new(secret, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(secret: bytes, tenant: str, normalized: str, now_ms: int, key: list[Any]) -> str:
    payload = json.dumps(
        {"v": _VERSION, "n": now_ms, "k": key}, separators=(",", ":"), allow_nan=False
    ).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, tenant, normalized, payload))}"


def decode_cursor(secret: bytes, tenant: str, normalized: str, token: str) -> tuple[int, list[Any]]:
    """(now ms, sort key) of a cursor made by :func:`encode_cursor` for this tenant and
    query; :class:`QueryError` for anything else."""
    invalid = QueryError(
        "invalid cursor: it was altered, or it belongs to another query or tenant; "
        "start again without a cursor"
    )
    if not isinstance(token, str) or len(token) > _MAX_CURSOR_CHARS or token.count(".") != 1:
        raise invalid
    body, mac = token.split(".")
    try:
        payload = _unb64(body)
        signature = _unb64(mac)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(signature, _mac(secret, tenant, normalized, payload)):
        raise invalid
    try:
        data = json.loads(payload)
    except ValueError:
        raise invalid from None
    if (
        not isinstance(data, dict)
        or data.get("v") != _VERSION
        or not isinstance(data.get("n"), int)
        or not isinstance(data.get("k"), list)
    ):
        raise invalid
    return data["n"], data["k"]
