"""API-6: scope grammar and coverage laws."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.api.scopes import RESOURCES, VERBS, check_scope, covers, has_scope
from datanexus.errors import InvalidArgument

names = st.sampled_from(["orders", "web", "a-b", "x_1"])
scopes = st.builds(
    lambda r, v, t: f"{r}:{v}:{t}",
    st.sampled_from([*RESOURCES, "*"]),
    st.sampled_from([*VERBS, "*"]),
    st.one_of(names, st.just("*")),
)


@given(scopes)
def test_a_scope_covers_itself(scope: str) -> None:
    assert covers(check_scope(scope), scope)


@given(scopes, scopes)
def test_covers_is_partwise_wildcard_match(held: str, needed: str) -> None:
    h, n = held.split(":"), needed.split(":")
    expected = all(a in ("*", b) for a, b in zip(h, n, strict=True))
    if n[0] == "platform" and h[0] != "platform":
        expected = False
    assert covers(held, needed) is expected


def test_examples() -> None:
    assert has_scope(["streams:write:orders"], "streams:write:orders")
    assert not has_scope(["streams:write:orders"], "streams:write:web")
    assert not has_scope(["streams:read:*"], "streams:write:orders")
    assert has_scope(["query:read:*"], "query:read:web")
    # A tenant's admin key never reaches platform administration.
    assert not has_scope(["*:*:*"], "platform:admin:*")
    assert has_scope(["platform:admin:*"], "platform:admin:*")


@pytest.mark.parametrize(
    "bad",
    [
        "streams:write",
        "streams:write:orders:x",
        "bogus:read:*",
        "streams:eat:*",
        "streams:read:Orders",
        "streams:read:",
        "",
    ],
)
def test_malformed_scopes_are_refused_with_what_is_allowed(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="scope"):
        check_scope(bad)
