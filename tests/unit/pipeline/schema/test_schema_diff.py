"""Field diffs between schema versions (PIPE-7)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from schema_reference import schemas

from datanexus.pipeline.schema import ChangeKind, diff
from datanexus.pipeline.schema.diff import fields

OLD = {
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "default": "new"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "price": {"type": "integer"}},
            },
        },
        "legacy": {"type": "string"},
    },
}

NEW = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "status": {"type": "string", "default": "open", "maxLength": 10},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]+$"},
                    "price": {"type": "number"},
                    "qty": {"type": "integer"},
                },
                "required": ["qty"],
            },
        },
        "email": {"type": "string", "format": "email"},
    },
}


def test_PIPE_7_diff_lists_added_removed_and_modified_fields_with_their_kinds() -> None:
    d = diff(OLD, NEW)
    assert d.added == ("email", "items[].qty")
    assert d.removed == ("legacy",)
    changes = {(c.path, c.kind, c.keyword, _freeze(c.old), _freeze(c.new)) for c in d.modified}
    assert changes == {
        ("id", ChangeKind.TYPE, None, ("integer",), ("integer", "null")),
        ("id", ChangeKind.REQUIRED, None, True, False),
        ("status", ChangeKind.CONSTRAINT, "maxLength", None, 10),
        ("status", ChangeKind.DEFAULT, None, "new", "open"),
        ("items[].sku", ChangeKind.CONSTRAINT, "pattern", None, "^[A-Z]+$"),
        ("items[].price", ChangeKind.TYPE, None, ("integer",), ("number",)),
    }
    assert d.kinds("status") == {ChangeKind.CONSTRAINT, ChangeKind.DEFAULT}
    assert bool(d)


def test_PIPE_7_a_new_required_field_in_a_union_branch_and_through_refs() -> None:
    old = {
        "$defs": {"addr": {"type": "object", "properties": {"zip": {"type": "string"}}}},
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/addr"}},
    }
    new = {
        "$defs": {
            "addr": {
                "type": "object",
                "properties": {"zip": {"type": "string"}, "country": {"type": "string"}},
                "required": ["zip"],
            }
        },
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/addr"}},
    }
    d = diff(old, new)
    assert d.added == ("home.country",)
    assert [(c.path, c.kind) for c in d.modified] == [("home.zip", ChangeKind.REQUIRED)]


def test_PIPE_7_fields_read_through_recursive_refs_terminate() -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    }
    assert set(fields(tree)) == {"$", "kids", "kids[]"}


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@settings(max_examples=300, deadline=None)
@given(schemas)
def test_PIPE_7_diff_of_a_schema_with_itself_is_empty(schema: dict[str, Any]) -> None:
    d = diff(schema, schema)
    assert not d
    assert d.added == d.removed == d.modified == ()


@settings(max_examples=200, deadline=None)
@given(schemas, schemas)
def test_PIPE_7_diff_is_antisymmetric_in_added_and_removed(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    forward, backward = diff(a, b), diff(b, a)
    assert forward.added == backward.removed
    assert forward.removed == backward.added
    assert {(c.path, c.kind, c.keyword) for c in forward.modified} == {
        (c.path, c.kind, c.keyword) for c in backward.modified
    }
