"""Tenant scoping for sessions that act for one tenant (the query engine, the API).

Every tenant table has row-level security forced on (STORE-15, migration 0002): when
the setting ``datanexus.tenant`` is set, a session sees and writes only that tenant's
rows; unset or empty (the platform's writers, compaction, maintenance) it sees all.
This is a backstop behind the explicit ``tenant_id = %s`` filters, not a replacement:
superusers and roles with BYPASSRLS ignore it, so the runtime role must be neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from datanexus.errors import InvalidArgument, InvalidType

__all__ = ["TENANT_SETTING", "current_tenant", "tenant_scope"]

TENANT_SETTING = "datanexus.tenant"


def _check_tenant(tenant: object) -> str:
    if not isinstance(tenant, str):
        raise InvalidType(f"tenant must be a str, got {type(tenant).__name__}")
    if not tenant or "\x00" in tenant:
        raise InvalidArgument(
            f"tenant must be a non-empty string without NUL characters, got {tenant!r}"
        )
    return tenant


@contextmanager
def tenant_scope(conn: psycopg.Connection[Any], tenant: str) -> Iterator[psycopg.Connection[Any]]:
    """Run the block in a transaction scoped to ``tenant``: ``set_config(..., true)``
    makes the setting local to the transaction, so it ends with it (commit on normal
    exit, rollback on an exception) and can never leak to the next user of a pooled
    connection. Nested inside an open transaction it becomes a savepoint and the setting
    lasts until the outer transaction ends. An empty tenant would mean "all tenants" to
    the policy and is refused with :class:`InvalidArgument`."""
    _check_tenant(tenant)
    with conn.transaction():
        conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, tenant))
        yield conn


def current_tenant(conn: psycopg.Connection[Any]) -> str | None:
    """The tenant the session is scoped to, or None when unscoped."""
    found = conn.execute("SELECT current_setting(%s, true)", (TENANT_SETTING,)).fetchone()
    value = found[0] if found else None
    return str(value) if value else None
