"""Tenants and the audit log (API-9, API-11).

Creating, suspending, resuming, deleting tenants and setting their quotas needs
``platform:admin:*``; a caller without it gets 404 for any other tenant and 403 for its
own. Every change is written to the audit log of the tenant it concerns, naming the
acting tenant and key (cross-tenant actions are audited).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Query, Request
from psycopg.rows import dict_row
from pydantic import Field

from datanexus.api.auth import Caller, api_state, require
from datanexus.api.errors import ApiError, not_found
from datanexus.api.keys import (
    TENANT_PATTERN,
    Principal,
    audit_by,
    create_tenant_with_admin_key,
)
from datanexus.api.models import StrictModel
from datanexus.api.roles import allows
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.api.scopes import has_scope
from datanexus.errors import InvalidArgument, PermissionDenied

router = APIRouter(prefix="/v1", tags=["admin"], responses=AUTH_ERRORS)

Name = Annotated[str, Path(pattern=TENANT_PATTERN.pattern)]
GRACE = timedelta(days=30)


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


class AuditEntry(StrictModel):
    id: int
    actor_tenant: str
    actor_key: str | None
    action: str
    target: str
    details: dict[str, Any]
    at: datetime


def _tenant_row(conn: psycopg.Connection[Any], tenant: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT tenant_id, name, status, created_at, suspended_at, delete_after,"
            " quota_events_per_s, quota_bytes, quota_queries_per_min"
            " FROM tenants WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()


def _platform_target(principal: Principal, tenant: str) -> None:
    if has_scope(principal.scopes, "platform:admin:*"):
        if not allows(principal.role, "platform:admin:*"):
            raise PermissionDenied(f"role {principal.role!r} may not administer tenants")
        return
    if tenant != principal.tenant:
        raise not_found("tenant", tenant)
    raise PermissionDenied("this API key lacks scope 'platform:admin:*'")


# ---------------------------------------------------------------- tenants


@router.get("/tenant", response_model=TenantInfo)
async def own_tenant(request: Request, principal: Caller) -> Any:
    require(principal, "tenant:read:*")
    row = await api_state(request).db(lambda c: _tenant_row(c, principal.tenant))
    if row is None:
        raise not_found("tenant", principal.tenant)
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
        audit_by(
            conn,
            schema,
            principal,
            "tenant.create",
            body.tenant_id,
            tenant=body.tenant_id,
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
        audit_by(
            conn,
            schema,
            principal,
            f"tenant.{action}",
            tenant,
            tenant=tenant,
        )
        return _tenant_row(conn, tenant)

    row = await state.db(run)
    if row is None:
        raise not_found("tenant", tenant)
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
        audit_by(
            conn,
            schema,
            principal,
            "tenant.quotas",
            tenant_id,
            tenant=tenant_id,
            details=values,
        )
        return _tenant_row(conn, tenant_id)

    row = await state.db(run)
    if row is None:
        raise not_found("tenant", tenant_id)
    return TenantInfo(**row)


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
