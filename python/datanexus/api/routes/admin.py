"""Tenants, teams, API keys and the audit log (API-5, 6, 9, 11).

Every statement filters on the caller's tenant, so another tenant's key or team id
answers 404 exactly like a missing one; ids of the caller's own tenant without the scope
answer 403. Creating, suspending, resuming and deleting tenants needs
``platform:admin:*``; a caller without it gets 404 for any other tenant and 403 for its
own. Every change is written to the audit log of the tenant it concerns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Query, Request, Response
from psycopg.rows import dict_row
from pydantic import Field

from datanexus.api.auth import Caller, api_state, require
from datanexus.api.errors import ApiError
from datanexus.api.keys import (
    TENANT_PATTERN,
    Principal,
    audit,
    create_key,
    create_tenant_with_admin_key,
)
from datanexus.api.models import StrictModel
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.api.scopes import check_scope, has_scope
from datanexus.errors import InvalidArgument, PermissionDenied

router = APIRouter(prefix="/v1", tags=["admin"], responses=AUTH_ERRORS)

Name = Annotated[str, Path(pattern=TENANT_PATTERN.pattern)]
KeyId = Annotated[str, Path(pattern=r"^key_[0-9a-f]{16}$")]
GRACE = timedelta(days=30)


def _not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} {ident!r} not found")


# ---------------------------------------------------------------- models


class TenantInfo(StrictModel):
    tenant_id: str
    name: str
    status: str
    created_at: datetime
    suspended_at: datetime | None = None
    delete_after: datetime | None = None
    quota_events_per_s: int | None = None
    quota_bytes: int | None = None
    quota_queries_per_min: int | None = None


class TenantQuotas(StrictModel):
    """Quotas of a tenant; null removes one (the server defaults apply)."""

    quota_events_per_s: int | None = Field(default=None, ge=1, le=10_000_000)
    quota_bytes: int | None = Field(default=None, ge=1)
    quota_queries_per_min: int | None = Field(default=None, ge=1, le=1_000_000)


class TenantCreate(StrictModel):
    tenant_id: str = Field(pattern=TENANT_PATTERN.pattern)
    name: str = Field(default="", max_length=200)


class TenantCreated(StrictModel):
    tenant: TenantInfo
    key: str = Field(description="the tenant's first admin key: shown only in this response")


class TeamCreate(StrictModel):
    team_id: str = Field(pattern=TENANT_PATTERN.pattern)
    name: str = Field(default="", max_length=200)


class TeamInfo(StrictModel):
    team_id: str
    name: str
    created_at: datetime


class KeyCreate(StrictModel):
    name: str = Field(default="", max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64)
    team_id: str | None = Field(default=None, pattern=TENANT_PATTERN.pattern)
    expires_at: datetime | None = None


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


class KeyCreated(StrictModel):
    info: KeyInfo
    key: str = Field(description="the secret: shown only in this response, stored hashed")


class AuditEntry(StrictModel):
    id: int
    actor_tenant: str
    actor_key: str | None
    action: str
    target: str
    details: dict[str, Any]
    at: datetime


# ---------------------------------------------------------------- helpers

_KEY_COLUMNS = (
    "key_id, name, display_prefix, scopes, team_id, created_at, last_used_at, expires_at,"
    " revoked_at, rotated_to"
)


def _key_row(conn: psycopg.Connection[Any], tenant: str, key_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant_id = %s AND key_id = %s",
            (tenant, key_id),
        ).fetchone()


def _tenant_row(conn: psycopg.Connection[Any], tenant: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT tenant_id, name, status, created_at, suspended_at, delete_after,"
            " quota_events_per_s, quota_bytes, quota_queries_per_min"
            " FROM tenants WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()


def _check_grantable(principal: Principal, scopes: list[str]) -> None:
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


def _platform_target(principal: Principal, tenant: str) -> None:
    if has_scope(principal.scopes, "platform:admin:*"):
        return
    if tenant != principal.tenant:
        raise _not_found("tenant", tenant)
    raise PermissionDenied("this API key lacks scope 'platform:admin:*'")


# ---------------------------------------------------------------- tenants


@router.get("/tenant", response_model=TenantInfo)
async def own_tenant(request: Request, principal: Caller) -> Any:
    require(principal, "tenant:read:*")
    row = await api_state(request).db(lambda c: _tenant_row(c, principal.tenant))
    if row is None:
        raise _not_found("tenant", principal.tenant)
    return TenantInfo(**row)


@router.post("/tenants", response_model=TenantCreated, status_code=201)
async def create_tenant(body: TenantCreate, request: Request, principal: Caller) -> Any:
    require(principal, "platform:admin:*", write=True)
    state = api_state(request)
    schema = state.settings.db_schema

    def run(conn: psycopg.Connection[Any]) -> tuple[str, dict[str, Any] | None]:
        try:
            key = create_tenant_with_admin_key(conn, schema, body.tenant_id, name=body.name or None)
        except InvalidArgument:
            raise ApiError(409, "CONFLICT", f"tenant {body.tenant_id!r} already exists") from None
        audit(
            conn,
            schema,
            tenant=body.tenant_id,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action="tenant.create",
            target=body.tenant_id,
        )
        return key, _tenant_row(conn, body.tenant_id)

    key, row = await state.db(run)
    assert row is not None
    return TenantCreated(tenant=TenantInfo(**row), key=key)


async def _set_status(request: Request, principal: Caller, tenant: str, action: str) -> Any:
    _platform_target(principal, tenant)
    require(principal, "platform:admin:*", write=True)
    state = api_state(request)
    schema = state.settings.db_schema
    statements = {
        "suspend": "status = 'suspended', suspended_at = now(), delete_after = NULL",
        "resume": "status = 'active', suspended_at = NULL, delete_after = NULL",
        "delete": "status = 'deleting', delete_after = %s",
    }
    params: tuple[Any, ...] = (tenant,)
    if action == "delete":
        params = (datetime.now(UTC) + GRACE, tenant)

    def run(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        updated = conn.execute(
            f"UPDATE tenants SET {statements[action]} WHERE tenant_id = %s", params
        ).rowcount
        if not updated:
            return None
        audit(
            conn,
            schema,
            tenant=tenant,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action=f"tenant.{action}",
            target=tenant,
        )
        return _tenant_row(conn, tenant)

    row = await state.db(run)
    if row is None:
        raise _not_found("tenant", tenant)
    return TenantInfo(**row)


@router.post("/tenants/{tenant_id}/suspend", response_model=TenantInfo)
async def suspend_tenant(tenant_id: Name, request: Request, principal: Caller) -> Any:
    """Read-only from now on: writes answer 403 TENANT_SUSPENDED."""
    return await _set_status(request, principal, tenant_id, "suspend")


@router.post("/tenants/{tenant_id}/resume", response_model=TenantInfo)
async def resume_tenant(tenant_id: Name, request: Request, principal: Caller) -> Any:
    return await _set_status(request, principal, tenant_id, "resume")


@router.delete("/tenants/{tenant_id}", response_model=TenantInfo)
async def delete_tenant(tenant_id: Name, request: Request, principal: Caller) -> Any:
    """Marks the tenant for deletion after a 30-day grace (read-only meanwhile)."""
    return await _set_status(request, principal, tenant_id, "delete")


@router.post("/tenants/{tenant_id}/quotas", response_model=TenantInfo)
async def set_quotas(
    tenant_id: Name, body: TenantQuotas, request: Request, principal: Caller
) -> Any:
    """Set the tenant's quotas: events/s (GCRA on ingestion, burst of 2 s), queries per
    minute (rolling window on /v1/query), bytes (recorded)."""
    _platform_target(principal, tenant_id)
    require(principal, "platform:admin:*", write=True)
    state = api_state(request)
    schema = state.settings.db_schema
    values = body.model_dump()

    def run(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        updated = conn.execute(
            "UPDATE tenants SET quota_events_per_s = %s, quota_bytes = %s,"
            " quota_queries_per_min = %s WHERE tenant_id = %s",
            (
                values["quota_events_per_s"],
                values["quota_bytes"],
                values["quota_queries_per_min"],
                tenant_id,
            ),
        ).rowcount
        if not updated:
            return None
        audit(
            conn,
            schema,
            tenant=tenant_id,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action="tenant.quotas",
            target=tenant_id,
            details=values,
        )
        return _tenant_row(conn, tenant_id)

    row = await state.db(run)
    if row is None:
        raise _not_found("tenant", tenant_id)
    return TenantInfo(**row)


# ---------------------------------------------------------------- teams


@router.get("/teams", response_model=list[TeamInfo])
async def list_teams(request: Request, principal: Caller) -> Any:
    require(principal, "teams:read:*")

    def run(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT team_id, name, created_at FROM teams WHERE tenant_id = %s ORDER BY team_id",
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
                "INSERT INTO teams (tenant_id, team_id, name) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING RETURNING team_id, name, created_at",
                (principal.tenant, body.team_id, body.name or body.team_id),
            ).fetchone()
        if row is not None:
            audit(
                conn,
                schema,
                tenant=principal.tenant,
                actor_tenant=principal.tenant,
                actor_key=principal.key_id,
                action="team.create",
                target=body.team_id,
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
        raise _not_found("key", key_id)
    require(principal, "keys:read:*")
    return KeyInfo(**row)


@router.post("/keys", response_model=KeyCreated, status_code=201)
async def create_api_key(body: KeyCreate, request: Request, principal: Caller) -> Any:
    require(principal, "keys:write:*", write=True)
    _check_grantable(principal, body.scopes)
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
            raise _not_found("team", body.team_id)
        key_id, key = create_key(
            conn,
            schema,
            principal.tenant,
            body.scopes,
            name=body.name,
            team=body.team_id,
            expires_at=body.expires_at,
        )
        audit(
            conn,
            schema,
            tenant=principal.tenant,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action="key.create",
            target=key_id,
            details={"scopes": body.scopes},
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
            raise _not_found("key", key_id)
        require(principal, "keys:write:*", write=True)
        new_id, key = create_key(
            conn,
            schema,
            principal.tenant,
            old["scopes"],
            name=old["name"],
            team=old["team_id"],
            expires_at=old["expires_at"],
        )
        until = datetime.now(UTC) + timedelta(seconds=grace)
        conn.execute(
            "UPDATE api_keys SET rotated_to = %s,"
            " expires_at = LEAST(COALESCE(expires_at, %s), %s)"
            " WHERE tenant_id = %s AND key_id = %s",
            (new_id, until, until, principal.tenant, key_id),
        )
        audit(
            conn,
            schema,
            tenant=principal.tenant,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action="key.rotate",
            target=key_id,
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
            raise _not_found("key", key_id)
        require(principal, "keys:write:*", write=True)
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())"
            " WHERE tenant_id = %s AND key_id = %s",
            (principal.tenant, key_id),
        )
        audit(
            conn,
            schema,
            tenant=principal.tenant,
            actor_tenant=principal.tenant,
            actor_key=principal.key_id,
            action="key.revoke",
            target=key_id,
        )

    await state.db(run)
    return Response(status_code=204)


# ---------------------------------------------------------------- audit


@router.get("/audit", response_model=list[AuditEntry])
async def audit_log(
    request: Request,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """The newest entries about the caller's tenant, newest first."""
    require(principal, "audit:read:*")

    def run(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT id, actor_tenant, actor_key, action, target, details, at"
                " FROM audit_log WHERE tenant_id = %s ORDER BY at DESC, id DESC LIMIT %s",
                (principal.tenant, limit),
            ).fetchall()

    return [AuditEntry(**r) for r in await api_state(request).db(run)]
