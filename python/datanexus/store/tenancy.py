"""Tenant scoping for sessions that act for one tenant (the query engine, the API).

Every tenant table has row-level security forced on (STORE-15, migration 0002): when
the setting ``datanexus.tenant`` is set, a session sees and writes only that tenant's
rows; unset or empty (the platform's writers, compaction, maintenance) it sees all.
This is a backstop behind the explicit ``tenant_id = %s`` filters, not a replacement.
Superusers, table owners and roles with BYPASSRLS are not subject to it, so
:func:`tenant_scope` also switches the transaction to the runtime role
``datanexus_runtime`` (migration 0007: rows only, no DDL, no RLS bypass) when the
session may, and sets a statement timeout: a scoped session cannot change the schema,
run unbounded, or see another tenant's rows even if a filter were forgotten.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument, InvalidType

__all__ = ["RUNTIME_ROLE", "TENANT_SETTING", "current_tenant", "tenant_scope"]

TENANT_SETTING = "datanexus.tenant"
RUNTIME_ROLE = "datanexus_runtime"
DEFAULT_TIMEOUT_MS = 30_000

# Whether a connection may SET ROLE to the runtime role, asked once per connection.
_may_switch: weakref.WeakKeyDictionary[psycopg.Connection[Any], bool] = weakref.WeakKeyDictionary()


def _can_switch(conn: psycopg.Connection[Any]) -> bool:
    known = _may_switch.get(conn)
    if known is None:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)"
            " AND pg_has_role(current_user, %s, 'MEMBER')",
            (RUNTIME_ROLE, RUNTIME_ROLE),
        ).fetchone()
        known = _may_switch[conn] = bool(row and row[0])
    return known


def _check_tenant(tenant: object) -> str:
    if not isinstance(tenant, str):
        raise InvalidType(f"tenant must be a str, got {type(tenant).__name__}")
    if not tenant or "\x00" in tenant:
        raise InvalidArgument(
            f"tenant must be a non-empty string without NUL characters, got {tenant!r}"
        )
    return tenant


@contextmanager
def tenant_scope(
    conn: psycopg.Connection[Any], tenant: str, *, timeout_ms: int | None = DEFAULT_TIMEOUT_MS
) -> Iterator[psycopg.Connection[Any]]:
    """Run the block in a transaction scoped to ``tenant``: ``set_config(..., true)``
    makes the setting local to the transaction, so it ends with it (commit on normal
    exit, rollback on an exception) and can never leak to the next user of a pooled
    connection. Nested inside an open transaction it becomes a savepoint and the setting
    lasts until the outer transaction ends. An empty tenant would mean "all tenants" to
    the policy and is refused with :class:`InvalidArgument`. The role switch and the
    ``statement_timeout`` (``timeout_ms``; None keeps the session's) are local to the
    transaction too."""
    _check_tenant(tenant)
    switch = _can_switch(conn)
    with conn.transaction():
        conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, tenant))
        if timeout_ms is not None:
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
        if switch:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(RUNTIME_ROLE)))
        yield conn


def current_tenant(conn: psycopg.Connection[Any]) -> str | None:
    """The tenant the session is scoped to, or None when unscoped."""
    found = conn.execute("SELECT current_setting(%s, true)", (TENANT_SETTING,)).fetchone()
    value = found[0] if found else None
    return str(value) if value else None
