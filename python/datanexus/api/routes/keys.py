"""Teams and API keys of the caller's tenant (API-5, API-6, API-9).

Every statement filters on the caller's tenant, so another tenant's key or team id
answers 404 exactly like a missing one; ids of the caller's own tenant without the scope
answer 403. A key can only grant scopes it holds itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Request, Response
from psycopg.rows import dict_row
from pydantic import Field

from datanexus.api.auth import Caller, api_state, require
from datanexus.api.errors import ApiError, not_found
from datanexus.api.keys import (
    TENANT_PATTERN,
    Principal,
    audit_by,
    create_key,
)
from datanexus.api.models import StrictModel
from datanexus.api.roles import Role, rank
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.api.scopes import check_scope, has_scope
from datanexus.errors import InvalidArgument, PermissionDenied

router = APIRouter(prefix="/v1", tags=["keys"], responses=AUTH_ERRORS)

KeyId = Annotated[str, Path(pattern=r"^key_[0-9a-f]{16}$")]


class TeamCreate(StrictModel):
    team_id: str = Field(pattern=TENANT_PATTERN.pattern)
    name: str = Field(default="", max_length=200)
    role: Role | None = Field(default=None, description="caps the role of the team's keys")


class TeamInfo(StrictModel):
    team_id: str
    name: str
    created_at: datetime
    role: Role | None = None


class KeyCreate(StrictModel):
    name: str = Field(default="", max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64)
    team_id: str | None = Field(default=None, pattern=TENANT_PATTERN.pattern)
    expires_at: datetime | None = None
    role: Role | None = Field(
        default=None, description="viewer, editor or admin: limits the verbs (API-8)"
    )


class KeyRotate(StrictModel):
    grace_seconds: int = Field(default=86_400, ge=0, le=30 * 86_400)


class KeyInfo(StrictModel):
    key_id: str
    name: str
    display_prefix: str
    scopes: list[str]
    team_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_to: str | None
    role: Role | None = None


class KeyCreated(StrictModel):
    info: KeyInfo
    key: str = Field(description="the secret: shown only in this response, stored hashed")


_KEY_COLUMNS = (
    "key_id, name, display_prefix, scopes, team_id, created_at, last_used_at, expires_at,"
    " revoked_at, rotated_to, role"
)


def _key_row(conn: psycopg.Connection[Any], tenant: str, key_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = %s AND key_id = %s",
            (tenant, key_id),
        ).fetchone()


def _check_grantable(principal: Principal, scopes: list[str], role: str | None = None) -> None:
    # No escalation through new keys: at most the caller's role (None ranks as admin).
    if rank(role) > rank(principal.role):
        raise PermissionDenied(
            f"cannot create a key of role {role or 'unlimited'!r}: the calling key's role is"
            f" {principal.role!r}"
        )
    for i, scope in enumerate(scopes):
        try:
            check_scope(scope, where=f"scopes[{i}]")
        except InvalidArgument as error:
            raise ApiError(
                422, "VALIDATION_FAILED", str(error), {"field": f"scopes[{i}]"}
            ) from None
        # A key can hand out only what it holds itself: no escalation through new keys.
        if not has_scope(principal.scopes, scope):
            raise PermissionDenied(f"cannot grant scope {scope!r}: the calling key lacks it")


# ---------------------------------------------------------------- teams


@router.get("/teams", response_model=list[TeamInfo])
async def list_teams(request: Request, principal: Caller) -> Any:
    require(principal, "teams:read:*")

    def run(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT team_id, name, created_at, role FROM teams WHERE tenant_id = %s"
                " ORDER BY team_id",
                (principal.tenant,),
            ).fetchall()

    return [TeamInfo(**r) for r in await api_state(request).db(run)]


@router.post("/teams", response_model=TeamInfo, status_code=201)
async def create_team(body: TeamCreate, request: Request, principal: Caller) -> Any:
    require(principal, "teams:write:*", write=True)
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "INSERT INTO teams (tenant_id, team_id, name, role) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING team_id, name, created_at, role",
                (principal.tenant, body.team_id, body.name or body.team_id, body.role),
            ).fetchone()
        if row is not None:
            audit_by(
                conn,
                schema,
                principal,
                "team.create",
                body.team_id,
            )
        return row

    row = await state.db(run)
    if row is None:
        raise ApiError(409, "CONFLICT", f"team {body.team_id!r} already exists")
    return TeamInfo(**row)


# ---------------------------------------------------------------- keys


@router.get("/keys", response_model=list[KeyInfo])
async def list_keys(request: Request, principal: Caller) -> Any:
    require(principal, "keys:read:*")

    def run(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = %s"
                " ORDER BY created_at, key_id",
                (principal.tenant,),
            ).fetchall()

    return [KeyInfo(**r) for r in await api_state(request).db(run)]


@router.get("/keys/{key_id}", response_model=KeyInfo)
async def get_key(key_id: KeyId, request: Request, principal: Caller) -> Any:
    row = await api_state(request).db(lambda c: _key_row(c, principal.tenant, key_id))
    if row is None:
        raise not_found("key", key_id)
    require(principal, "keys:read:*")
    return KeyInfo(**row)


@router.post("/keys", response_model=KeyCreated, status_code=201)
async def create_api_key(body: KeyCreate, request: Request, principal: Caller) -> Any:
    require(principal, "keys:write:*", write=True)
    _check_grantable(principal, body.scopes, body.role)
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise ApiError(
            422, "VALIDATION_FAILED", "expires_at needs a UTC offset", {"field": "expires_at"}
        )
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> tuple[str, dict[str, Any] | None]:
        if (
            body.team_id is not None
            and conn.execute(
                "SELECT 1 FROM teams WHERE tenant_id = %s AND team_id = %s",
                (principal.tenant, body.team_id),
            ).fetchone()
            is None
        ):
            raise not_found("team", body.team_id)
        key_id, key = create_key(
            conn,
            schema,
            principal.tenant,
            body.scopes,
            name=body.name,
            team=body.team_id,
            expires_at=body.expires_at,
            role=body.role,
        )
        audit_by(
            conn,
            schema,
            principal,
            "key.create",
            key_id,
            details={"scopes": body.scopes, "role": body.role},
        )
        return key, _key_row(conn, principal.tenant, key_id)

    key, row = await state.db(run)
    assert row is not None
    return KeyCreated(info=KeyInfo(**row), key=key)


@router.post("/keys/{key_id}/rotate", response_model=KeyCreated, status_code=201)
async def rotate_key(
    key_id: KeyId, request: Request, principal: Caller, body: KeyRotate | None = None
) -> Any:
    """A new key with the same scopes, team and expiry; the old one keeps working until
    ``grace_seconds`` from now (or its own earlier expiry), then answers 401."""
    grace = (body or KeyRotate()).grace_seconds
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> tuple[str, dict[str, Any] | None]:
        old = _key_row(conn, principal.tenant, key_id)
        if old is None or old["revoked_at"] is not None:
            raise not_found("key", key_id)
        require(principal, "keys:write:*", write=True)
        new_id, key = create_key(
            conn,
            schema,
            principal.tenant,
            old["scopes"],
            name=old["name"],
            team=old["team_id"],
            expires_at=old["expires_at"],
            role=old["role"],
        )
        until = datetime.now(UTC) + timedelta(seconds=grace)
        conn.execute(
            "UPDATE api_keys SET rotated_to = %s,"
            " expires_at = LEAST(COALESCE(expires_at, %s), %s)"
            " WHERE tenant_id = %s AND key_id = %s",
            (new_id, until, until, principal.tenant, key_id),
        )
        audit_by(
            conn,
            schema,
            principal,
            "key.rotate",
            key_id,
            details={"new_key_id": new_id, "grace_seconds": grace},
        )
        return key, _key_row(conn, principal.tenant, new_id)

    key, row = await state.db(run)
    assert row is not None
    return KeyCreated(info=KeyInfo(**row), key=key)


@router.delete("/keys/{key_id}", status_code=204, response_class=Response)
async def revoke_key(key_id: KeyId, request: Request, principal: Caller) -> Response:
    """Revoked at once: the key answers 401 from now on."""
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> None:
        if _key_row(conn, principal.tenant, key_id) is None:
            raise not_found("key", key_id)
        require(principal, "keys:write:*", write=True)
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())"
            " WHERE tenant_id = %s AND key_id = %s",
            (principal.tenant, key_id),
        )
        audit_by(
            conn,
            schema,
            principal,
            "key.revoke",
            key_id,
        )

    await state.db(run)
    return Response(status_code=204)
