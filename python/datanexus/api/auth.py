"""Authentication, tenancy and quotas, as FastAPI dependencies (API-2, 5, 6, 9, 11, 12).

The credential is an API key in ``Authorization: Bearer dnx_…`` or ``X-API-Key``, or,
when enabled, a JSON Web Token in ``Authorization: Bearer`` (:mod:`datanexus.api.tokens`). The
tenant of a request is the tenant of its key, never anything in the path, query or body
(API-9). A browser may instead send the ``dnx_session`` cookie of ``POST /v1/sessions``
(with ``X-CSRF-Token`` on writes, API-8). Order: credential (401) → request quota of the
tenant (429) → scope (403) → role (403) → suspended tenant on writes (403
``TENANT_SUSPENDED``).
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from datanexus.api.keys import Principal, authenticate, tenant_status
from datanexus.api.roles import allows
from datanexus.api.scopes import has_scope
from datanexus.api.sessions import SESSION_COOKIE, principal_for_session
from datanexus.api.state import ApiState
from datanexus.api.tokens import looks_like_jwt, verify_token
from datanexus.errors import (
    NotAuthenticated,
    PermissionDenied,
    RateLimited,
    ServiceUnavailable,
    TenantSuspended,
)

__all__ = ["Caller", "api_state", "credential_from", "principal_for_key", "require"]


def api_state(conn: HTTPConnection) -> ApiState:
    state: ApiState = conn.app.state.api
    return state


def credential_from(conn: HTTPConnection) -> str | None:
    auth = conn.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return conn.headers.get("x-api-key")


async def principal_for_key(state: ApiState, key: str | None) -> Principal:
    """The principal of ``key`` or :class:`NotAuthenticated` (one message for every
    reason, so a caller cannot tell a revoked key from an unknown one)."""
    if not key:
        raise NotAuthenticated("credentials required: Authorization: Bearer <API key>")
    schema = state.settings.db_schema
    if state.settings.jwt_enabled and looks_like_jwt(key):
        claims = verify_token(key, state.settings)
        found = await state.db(lambda conn: tenant_status(conn, schema, claims.tenant))
        if found is None:
            raise NotAuthenticated("invalid token: unknown tenant")
        return Principal(claims.tenant, f"jwt:{claims.subject}", None, claims.scopes, *found)
    principal = await state.db(lambda conn: authenticate(conn, schema, key))
    if principal is None:
        raise NotAuthenticated("invalid, revoked or expired API key")
    return principal


async def _authenticated(request: Request) -> Principal:
    state = api_state(request)
    credential = credential_from(request)
    session_id = request.cookies.get(SESSION_COOKIE)
    if credential is None and session_id:
        principal = await principal_for_session(state, request, session_id)
    else:
        principal = await principal_for_key(state, credential)
    structlog.contextvars.bind_contextvars(tenant=principal.tenant)
    request.scope.setdefault("state", {})["principal"] = principal
    await _request_quota(state, request, principal)
    return principal


async def _request_quota(state: ApiState, request: Request, principal: Principal) -> None:
    limiter = state.limiter
    if limiter is None:
        return
    try:
        decision = await limiter.hit(principal.tenant)
    except ServiceUnavailable:
        if state.settings.rate_limit_fail_closed:
            raise
        state.metrics.rate_limit_fail_open.inc()
        return
    request.scope.setdefault("state", {})["ratelimit"] = decision
    if not decision.allowed:
        state.metrics.rate_limited.labels(stage="requests").inc()
        raise RateLimited(
            f"{limiter.limit} requests per {limiter.window_s} s exceeded for this tenant",
            decision.retry_after_s,
        )


Caller = Annotated[Principal, Depends(_authenticated)]


def require(principal: Principal, scope: str, *, write: bool = False) -> None:
    """403 unless ``principal`` holds ``scope``; with ``write``, also 403
    ``TENANT_SUSPENDED`` when its tenant is not active (API-11)."""
    if not has_scope(principal.scopes, scope):
        raise PermissionDenied(f"this API key lacks scope {scope!r}")
    if not allows(principal.role, scope):
        raise PermissionDenied(f"role {principal.role!r} may not use scope {scope!r} (API-8)")
    if write and principal.tenant_status != "active":
        raise TenantSuspended(
            f"tenant {principal.tenant!r} is {principal.tenant_status}: read-only"
        )
