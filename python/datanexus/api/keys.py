"""API keys: ``dnx_`` + 64 lowercase hex (32 random bytes), shown once, stored as SHA-256
with a display prefix (API-5); tenants, teams and the audit log in the database.

All functions take a psycopg connection and the schema; they run their statements in
the caller's transaction (or autocommit). Every statement about a key or team filters on
the tenant given, which the API takes from the credential only (API-9).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from datanexus.api.roles import effective_role, rank
from datanexus.api.scopes import check_scope
from datanexus.errors import InvalidArgument
from datanexus.store.migrations import check_schema_name

__all__ = [
    "KEY_PATTERN",
    "Principal",
    "audit",
    "authenticate",
    "create_key",
    "create_tenant_with_admin_key",
    "generate_key",
    "hash_key",
    "tenant_status",
]

KEY_PATTERN = re.compile(r"^dnx_[0-9a-f]{64}$")
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ADMIN_SCOPES = ("*:*:*",)
PLATFORM_SCOPES = ("*:*:*", "platform:admin:*")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant comes from the credential and nothing else."""

    tenant: str
    key_id: str
    team: str | None
    scopes: tuple[str, ...]
    tenant_status: str
    quota_events_per_s: int | None = None
    quota_queries_per_min: int | None = None
    role: str | None = None
    """viewer, editor, admin or None (scopes only): see :mod:`datanexus.api.roles`;
    already capped by the key's team."""
    session: bool = False
    """True when the credential is a cookie session (:mod:`datanexus.api.sessions`)."""

    @classmethod
    def from_row(cls, row: Sequence[Any], *, session: bool = False) -> Principal:
        """From the columns tenant_id, key_id, team_id, scopes, tenant status, the two
        quotas, the key's role and its team's role (in that order), as the key and
        session lookups select them."""
        role = effective_role(row[7], row[8])
        return cls(
            row[0], row[1], row[2], tuple(row[3]), row[4], row[5], row[6], role, session=session
        )


def generate_key() -> str:
    """A fresh key: ``dnx_`` + 64 lowercase hex from 32 bytes of ``secrets``."""
    return "dnx_" + secrets.token_bytes(32).hex()


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def _t(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(check_schema_name(schema), table)


def audit(
    conn: psycopg.Connection[Any],
    schema: str,
    *,
    tenant: str,
    actor_tenant: str,
    actor_key: str | None,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Record ``action`` on ``target`` in ``tenant``'s audit log. A cross-tenant action
    (a platform administrator acting on another tenant, API-8) is recorded in both
    tenants' logs: the target's, and the actor's with ``cross_tenant`` in details."""
    statement = sql.SQL(
        "INSERT INTO {} (tenant_id, actor_tenant, actor_key, action, target, details)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
    ).format(_t(schema, "audit_log"))
    conn.execute(statement, (tenant, actor_tenant, actor_key, action, target, Jsonb(details or {})))
    if actor_tenant != tenant:
        mirrored = {**(details or {}), "cross_tenant": True, "target_tenant": tenant}
        conn.execute(
            statement, (actor_tenant, actor_tenant, actor_key, action, target, Jsonb(mirrored))
        )


def audit_by(
    conn: psycopg.Connection[Any],
    schema: str,
    principal: Principal,
    action: str,
    target: str,
    *,
    tenant: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """:func:`audit` of an action by ``principal`` (its tenant and key) in ``tenant``
    (default: the principal's own)."""
    audit(
        conn,
        schema,
        tenant=principal.tenant if tenant is None else tenant,
        actor_tenant=principal.tenant,
        actor_key=principal.key_id,
        action=action,
        target=target,
        details=details,
    )


def create_key(
    conn: psycopg.Connection[Any],
    schema: str,
    tenant: str,
    scopes: Sequence[str],
    *,
    name: str = "",
    team: str | None = None,
    expires_at: datetime | None = None,
    role: str | None = None,
) -> tuple[str, str]:
    """Store a new key of ``tenant``; returns (key_id, key). The key is not kept.
    ``role`` (viewer, editor, admin or None) limits the verbs of its scopes (API-8)."""
    for i, scope in enumerate(scopes):
        check_scope(scope, where=f"scopes[{i}]")
    rank(role)
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidArgument("expires_at must be an aware datetime")
    key = generate_key()
    key_id = "key_" + secrets.token_hex(8)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (key_id, tenant_id, team_id, name, key_hash, display_prefix,"
            " scopes, expires_at, role) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(_t(schema, "api_keys")),
        (key_id, tenant, team, name, hash_key(key), key[:12], list(scopes), expires_at, role),
    )
    return key_id, key


def create_tenant_with_admin_key(
    conn: psycopg.Connection[Any],
    schema: str,
    tenant: str,
    *,
    name: str | None = None,
    platform_admin: bool = False,
) -> str:
    """Create ``tenant`` (an existing one is refused) with one key holding every scope of
    its own tenant (``*:*:*``; plus ``platform:admin:*`` when ``platform_admin``, which
    lets it create and suspend other tenants). Returns the key: it is shown only now."""
    if not TENANT_PATTERN.match(tenant):
        raise InvalidArgument(f"tenant must match {TENANT_PATTERN.pattern}, got {tenant!r}")
    with conn.transaction():
        try:
            conn.execute(
                sql.SQL("INSERT INTO {} (tenant_id, name) VALUES (%s, %s)").format(
                    _t(schema, "tenants")
                ),
                (tenant, name or tenant),
            )
        except psycopg.errors.UniqueViolation:
            raise InvalidArgument(f"tenant {tenant!r} already exists") from None
        key_id, key = create_key(
            conn,
            schema,
            tenant,
            PLATFORM_SCOPES if platform_admin else ADMIN_SCOPES,
            name="bootstrap admin",
        )
        audit(
            conn,
            schema,
            tenant=tenant,
            actor_tenant=tenant,
            actor_key=None,
            action="tenant.create",
            target=tenant,
            details={"key_id": key_id},
        )
    return key


def authenticate(conn: psycopg.Connection[Any], schema: str, key: str) -> Principal | None:
    """The principal of ``key``, or None when it is malformed, unknown, revoked or
    expired. Marks the key used (one statement, one round trip)."""
    if not KEY_PATTERN.match(key):
        return None
    row = conn.execute(
        sql.SQL(
            "UPDATE {keys} k SET last_used_at = now() FROM {tenants} t"
            " WHERE k.key_hash = %s AND t.tenant_id = k.tenant_id"
            " AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())"
            " RETURNING k.tenant_id, k.key_id, k.team_id, k.scopes, t.status,"
            " t.quota_events_per_s, t.quota_queries_per_min, k.role,"
            " (SELECT tm.role FROM {teams} tm"
            "  WHERE tm.tenant_id = k.tenant_id AND tm.team_id = k.team_id)"
        ).format(
            keys=_t(schema, "api_keys"),
            tenants=_t(schema, "tenants"),
            teams=_t(schema, "teams"),
        ),
        (hash_key(key),),
    ).fetchone()
    if row is None:
        return None
    return Principal.from_row(row)


def tenant_status(
    conn: psycopg.Connection[Any], schema: str, tenant: str
) -> tuple[str, int | None, int | None] | None:
    """(status, events/s quota, queries/min quota) of ``tenant``; None when unknown."""
    row = conn.execute(
        sql.SQL(
            "SELECT status, quota_events_per_s, quota_queries_per_min FROM {} WHERE tenant_id = %s"
        ).format(_t(schema, "tenants")),
        (tenant,),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1], row[2])
