"""Scopes: ``resource:verb:target`` (``streams:write:orders``, ``query:read:*``) (API-6).

A held scope covers a needed one when each part is equal or the held part is ``*``.
``platform`` scopes (creating and suspending tenants) are never covered by a ``*``
resource: a tenant's own admin key (``*:*:*``) cannot act on other tenants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from datanexus.errors import InvalidArgument

__all__ = ["RESOURCES", "VERBS", "check_scope", "covers", "has_scope"]

RESOURCES = ("streams", "query", "keys", "teams", "audit", "tenant", "platform")
VERBS = ("read", "write", "admin")
_TARGET = re.compile(r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")


def check_scope(scope: str, *, where: str = "scope") -> str:
    """``scope`` if well formed, else :class:`InvalidArgument` naming what is allowed."""
    parts = scope.split(":") if isinstance(scope, str) else []
    if len(parts) != 3:
        raise InvalidArgument(f"{where}: {scope!r} is not resource:verb:target")
    resource, verb, target = parts
    if resource != "*" and resource not in RESOURCES:
        raise InvalidArgument(f"{where}: resource {resource!r} is not one of {RESOURCES} or *")
    if verb != "*" and verb not in VERBS:
        raise InvalidArgument(f"{where}: verb {verb!r} is not one of {VERBS} or *")
    if not _TARGET.match(target):
        raise InvalidArgument(f"{where}: target {target!r} is not a name or *")
    return scope


def covers(held: str, needed: str) -> bool:
    """True if scope ``held`` grants ``needed`` (both well formed)."""
    h, n = held.split(":"), needed.split(":")
    if n[0] == "platform" and h[0] != "platform":
        return False
    return all(a in ("*", b) for a, b in zip(h, n, strict=True))


def has_scope(scopes: Iterable[str], needed: str) -> bool:
    return any(covers(s, needed) for s in scopes)
