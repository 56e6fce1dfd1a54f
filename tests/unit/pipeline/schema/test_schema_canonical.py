"""Canonical text and fingerprints (PIPE-2: an identical canonical schema is the same)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_reference import schemas

from datanexus.errors import InvalidSchema, InvalidType
from datanexus.pipeline.schema import canonical_text, fingerprint


def test_PIPE_2_key_order_required_order_type_order_and_1_0_do_not_matter() -> None:
    a = {
        "type": "object",
        "required": ["b", "a"],
        "properties": {"a": {"type": ["null", "string"]}, "b": {"minimum": 1.0}},
    }
    b = {
        "properties": {"b": {"minimum": 1}, "a": {"type": ["string", "null", "string"]}},
        "required": ["a", "b", "a"],
        "type": "object",
    }
    assert canonical_text(a) == canonical_text(b)
    assert fingerprint(a) == fingerprint(b)
    assert canonical_text(a) == (
        '{"properties":{"a":{"type":["null","string"]},"b":{"minimum":1}},'
        '"required":["a","b"],"type":"object"}'
    )
    # a property *named* required or type is data, not a keyword
    c = {"properties": {"required": {"enum": ["y", "x"]}, "type": {"const": ["b", "a"]}}}
    assert '"enum":["y","x"]' in canonical_text(c)
    assert '"const":["b","a"]' in canonical_text(c)


def test_PIPE_2_meaningful_differences_change_the_fingerprint() -> None:
    base = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert fingerprint(base) != fingerprint({**base, "required": ["a"]})
    assert fingerprint({"enum": [1, 2]}) != fingerprint({"enum": [2, 1]})  # order is data
    assert fingerprint({"const": True}) != fingerprint({"const": 1})
    assert fingerprint({"title": "é"}) != fingerprint({"title": "e"})
    assert '"é"' in canonical_text({"title": "é"})


def test_PIPE_2_non_json_schemas_are_typed_errors() -> None:
    with pytest.raises(InvalidType):
        canonical_text([1])
    with pytest.raises(InvalidSchema, match="non-string key 1 at /properties"):
        canonical_text({"properties": {1: {}}})
    with pytest.raises(InvalidSchema, match="JSON has no NaN"):
        canonical_text({"maximum": math.nan})
    with pytest.raises(InvalidSchema, match="a set at /enum"):
        canonical_text({"enum": {1}})


def _shuffle(data: st.DataObject, value: Any) -> Any:
    if isinstance(value, dict):
        keys = data.draw(st.permutations(list(value)))
        return {k: _shuffle(data, value[k]) for k in keys}
    if isinstance(value, list):
        return [_shuffle(data, v) for v in value]
    return value


@settings(max_examples=200, deadline=None)
@given(st.data(), schemas)
def test_PIPE_2_the_fingerprint_ignores_key_order(
    data: st.DataObject, schema: dict[str, Any]
) -> None:
    assert fingerprint(_shuffle(data, schema)) == fingerprint(schema)
