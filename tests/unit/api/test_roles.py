"""The role table of API-8 against a plain reference."""

from __future__ import annotations

import itertools

import pytest

from datanexus.api.roles import ROLES, allows, at_most, effective_role, rank
from datanexus.api.scopes import RESOURCES, VERBS
from datanexus.errors import InvalidArgument


def _reference(role: str | None, resource: str, verb: str) -> bool:
    if role in (None, "admin"):
        return True
    if verb == "read":
        return True
    return role == "editor" and verb == "write" and resource in ("streams", "query")


@pytest.mark.parametrize("role", [*ROLES, None])
def test_allows_matches_the_reference(role: str | None) -> None:
    for resource, verb in itertools.product([*RESOURCES, "*"], [*VERBS, "*"]):
        scope = f"{resource}:{verb}:x"
        assert allows(role, scope) == _reference(role, resource, verb), scope


def test_ranks_and_caps() -> None:
    assert [rank(r) for r in (*ROLES, None)] == [1, 2, 3, 3]
    assert at_most("admin", "viewer") == "viewer"
    assert at_most("viewer", "admin") == "viewer"
    assert at_most(None, "editor") == "editor"
    assert effective_role("editor", None) == "editor"
    with pytest.raises(InvalidArgument, match="not one of"):
        rank("root")
