"""Roles (API-8): Viewer, Editor, Admin, each a cap on the verbs a credential's scopes
may use, checked after the scope itself.

- ``viewer``: reads only (``*:read:*``).
- ``editor``: reads, and writes data: ``streams`` (ingestion, pipelines) and ``query``.
- ``admin``: everything its scopes allow, including keys, teams, the tenant and, with a
  ``platform`` scope, other tenants.

A key without a role (``None``) is limited by its scopes alone. A team's role caps the
roles of its keys; a key can only create keys of at most its own role.
"""

from __future__ import annotations

from typing import Literal

from datanexus.errors import InvalidArgument

__all__ = ["ROLES", "Role", "allows", "at_most", "effective_role", "rank"]

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
_DATA = frozenset({"streams", "query"})


def rank(role: str | None) -> int:
    """viewer 1 < editor 2 < admin 3 = no role (unlimited)."""
    if role is None:
        return 3
    try:
        return ROLES.index(role) + 1
    except ValueError:
        raise InvalidArgument(f"role {role!r} is not one of {ROLES}") from None


def allows(role: str | None, scope: str) -> bool:
    """True if ``role`` may use the (well-formed) ``scope`` ``resource:verb:target``."""
    if role is None or role == "admin":
        return True
    resource, verb, _ = scope.split(":")
    if verb == "read":
        return True
    return role == "editor" and verb == "write" and resource in _DATA


def at_most(role: str | None, cap: str | None) -> str | None:
    """The lower of a key's role and its team's cap."""
    return role if rank(role) <= rank(cap) else cap


def effective_role(key_role: str | None, team_role: str | None) -> str | None:
    """The role a key acts with: its own, capped by its team's."""
    return at_most(key_role, team_role)
