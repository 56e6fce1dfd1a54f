"""Cookie sessions for browsers (API-8).

``POST /v1/sessions`` with an API key opens a session: the answer sets the cookie
``dnx_session`` (``HttpOnly; Secure; SameSite=Lax; Path=/``: scripts cannot read it, it
travels over HTTPS only and not on cross-site subrequests) and carries a CSRF token in
its body. Requests may then authenticate with the cookie alone; every write (any method
but GET, HEAD, OPTIONS) must also send the token in ``X-CSRF-Token`` (the synchronizer
token pattern: a cross-site form can make the browser send the cookie, never the
header), else 403 ``CSRF_FAILED``. The session acts with its key's tenant, scopes and
role, and ends at its expiry (default 8 h, never after the key's), with its key
(revoked, expired) or with ``DELETE /v1/sessions``. Both secrets are stored as SHA-256
only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from starlette.requests import Request

from datanexus.api.errors import ApiError
from datanexus.api.keys import Principal
from datanexus.api.state import ApiState
from datanexus.errors import NotAuthenticated
from datanexus.store.migrations import check_schema_name

__all__ = [
    "CSRF_HEADER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "create_session",
    "principal_for_session",
    "revoke_session",
    "session_cookie",
]

SESSION_COOKIE = "dnx_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(check_schema_name(schema), table)


def create_session(
    conn: psycopg.Connection[Any], schema: str, principal: Principal, ttl_s: int
) -> tuple[str, str, datetime]:
    """(session id, CSRF token, expiry) of a new session of ``principal``'s key; the
    expiry is ``ttl_s`` from now or the key's own, whichever comes first."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    wanted = datetime.now(UTC) + timedelta(seconds=ttl_s)
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {sessions} (session_hash, tenant_id, key_id, csrf_hash, expires_at)"
            " SELECT %s, k.tenant_id, k.key_id, %s, LEAST(COALESCE(k.expires_at, %s), %s)"
            " FROM {keys} k WHERE k.tenant_id = %s AND k.key_id = %s RETURNING expires_at"
        ).format(sessions=_t(schema, "api_sessions"), keys=_t(schema, "api_keys")),
        (_hash(session_id), _hash(csrf), wanted, wanted, principal.tenant, principal.key_id),
    ).fetchone()
    if row is None:
        raise NotAuthenticated("sessions are opened with an API key")
    expires: datetime = row[0]
    return session_id, csrf, expires


def lookup_session(
    conn: psycopg.Connection[Any], schema: str, session_id: str
) -> tuple[Principal, bytes] | None:
    """(principal, CSRF hash) of a live session of a live key, else None."""
    row = conn.execute(
        sql.SQL(
            "SELECT k.tenant_id, k.key_id, k.team_id, k.scopes, t.status,"
            " t.quota_events_per_s, t.quota_queries_per_min, k.role, tm.role, s.csrf_hash"
            " FROM {sessions} s JOIN {keys} k ON k.key_id = s.key_id"
            " JOIN {tenants} t ON t.tenant_id = k.tenant_id"
            " LEFT JOIN {teams} tm ON tm.tenant_id = k.tenant_id AND tm.team_id = k.team_id"
            " WHERE s.session_hash = %s AND s.revoked_at IS NULL AND s.expires_at > now()"
            " AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())"
        ).format(
            sessions=_t(schema, "api_sessions"),
            keys=_t(schema, "api_keys"),
            tenants=_t(schema, "tenants"),
            teams=_t(schema, "teams"),
        ),
        (_hash(session_id),),
    ).fetchone()
    if row is None:
        return None
    principal = Principal.from_row(row, session=True)
    return principal, bytes(row[9])


async def principal_for_session(state: ApiState, request: Request, session_id: str) -> Principal:
    """The principal of the session cookie; 401 when it is unknown or dead, 403
    ``CSRF_FAILED`` on a write without the session's CSRF token."""
    schema = state.settings.db_schema
    found = await state.db(lambda conn: lookup_session(conn, schema, session_id))
    if found is None:
        raise NotAuthenticated("invalid or expired session")
    principal, csrf_hash = found
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not given or not hmac.compare_digest(_hash(given), csrf_hash):
            raise ApiError(
                403,
                "CSRF_FAILED",
                f"writes with a session cookie need its CSRF token in {CSRF_HEADER}",
            )
    return principal


def revoke_session(
    conn: psycopg.Connection[Any], schema: str, tenant: str, session_id: str
) -> bool:
    """End the session (of ``tenant`` only); True if it was live."""
    row = conn.execute(
        sql.SQL(
            "UPDATE {} SET revoked_at = now() WHERE session_hash = %s AND tenant_id = %s"
            " AND revoked_at IS NULL RETURNING 1"
        ).format(_t(schema, "api_sessions")),
        (_hash(session_id), tenant),
    ).fetchone()
    return row is not None


def session_cookie(session_id: str, max_age_s: int) -> str:
    """The ``Set-Cookie`` value; ``max_age_s = 0`` clears it."""
    return (
        f"{SESSION_COOKIE}={session_id}; Max-Age={max_age_s}; Path=/; HttpOnly; Secure;"
        " SameSite=Lax"
    )
