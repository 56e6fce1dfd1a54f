"""Browser sessions (API-8): open one with an API key, close it with its cookie."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from datanexus.api.auth import Caller, api_state
from datanexus.api.keys import audit_by
from datanexus.api.models import StrictModel
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.api.sessions import (
    SESSION_COOKIE,
    create_session,
    revoke_session,
    session_cookie,
)
from datanexus.errors import PermissionDenied

router = APIRouter(prefix="/v1", tags=["sessions"], responses=AUTH_ERRORS)


class SessionCreate(StrictModel):
    ttl_seconds: int = Field(default=8 * 3600, ge=60, le=86_400)


class SessionOpened(StrictModel):
    tenant: str
    csrf_token: str = Field(description="send it in X-CSRF-Token on every write")
    expires_at: datetime


@router.post("/sessions", response_model=SessionOpened, status_code=201)
async def open_session(
    request: Request, principal: Caller, body: SessionCreate | None = None
) -> Any:
    """Sets the ``dnx_session`` cookie (HttpOnly, Secure, SameSite=Lax) acting as the
    API key of the request; the body carries the CSRF token for writes."""
    if principal.session:
        raise PermissionDenied("a session is opened with an API key, not with a session")
    ttl = (body or SessionCreate()).ttl_seconds
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> tuple[str, str, datetime]:
        opened = create_session(conn, schema, principal, ttl)
        audit_by(
            conn,
            schema,
            principal,
            "session.open",
            principal.key_id,
        )
        return opened

    session_id, csrf, expires = await state.db(run)
    answer = SessionOpened(tenant=principal.tenant, csrf_token=csrf, expires_at=expires)
    response = JSONResponse(answer.model_dump(mode="json"), status_code=201)
    response.headers["set-cookie"] = session_cookie(session_id, ttl)
    response.headers["cache-control"] = "no-store"
    return response


@router.delete("/sessions", status_code=204, response_class=Response)
async def close_session(request: Request, principal: Caller) -> Response:
    """Ends the session of the cookie (a write: it needs the CSRF token) and clears the
    cookie; with an API key and no cookie there is nothing to end."""
    session_id = request.cookies.get(SESSION_COOKIE)
    state = api_state(request)
    schema = state.settings.db_schema
    if session_id:

        def run(conn: psycopg.Connection[Any]) -> None:
            if revoke_session(conn, schema, principal.tenant, session_id):
                audit_by(
                    conn,
                    schema,
                    principal,
                    "session.close",
                    principal.key_id,
                )

        await state.db(run)
    response = Response(status_code=204)
    response.headers["set-cookie"] = session_cookie("", 0)
    return response
