"""keyed_canonical_json: one encoding giving the same key and body as the plain path."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.connectors.idempotency import (
    canonical_json,
    idempotency_key,
    keyed_canonical_json,
)
from datanexus.errors import InvalidArgument

PLACEHOLDER = "sha256:" + "0" * 64

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.just(PLACEHOLDER),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["id", "a", "z", "ids", "i"]), inner, max_size=3),
    ),
    max_leaves=8,
)
events = st.dictionaries(
    st.one_of(st.sampled_from(["id", "a", "hh", "ia", "idx", "ts", "z", "é"]), st.text(max_size=4)),
    values,
    max_size=6,
)


def _reference(event: dict[str, Any]) -> tuple[str, bytes]:
    key = idempotency_key(event)
    return key, canonical_json({**event, "id": key})


@given(events)
def test_keyed_canonical_json_matches_the_two_step_reference(event: dict[str, Any]) -> None:
    if not (
        (isinstance(event.get("id"), str) and event["id"])
        or (isinstance(event.get("id"), int) and not isinstance(event.get("id"), bool))
    ):
        # Without a usable id, the content hash is of the event without it.
        event.pop("id", None)
    assert keyed_canonical_json(event) == _reference(event)


def test_keyed_canonical_json_edge_shapes() -> None:
    for event in ({}, {"a": 1}, {"z": 1}, {"a": {"id": PLACEHOLDER}, "z": [PLACEHOLDER]}):
        assert keyed_canonical_json(event) == _reference(event)
    assert keyed_canonical_json({"id": 5, "v": 1}) == ("5", b'{"id":"5","v":1}')


def test_keyed_canonical_json_refuses_nan() -> None:
    with pytest.raises(InvalidArgument, match="canonical JSON"):
        keyed_canonical_json({"v": math.nan})
    with pytest.raises(InvalidArgument, match="canonical JSON"):
        keyed_canonical_json({"id": "x", "v": math.inf})
