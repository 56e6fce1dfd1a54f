"""Compatibility modes and violations (PIPE-4, PIPE-5, PIPE-6)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_reference import instance_of, reference_valid, schemas

from datanexus.errors import CompatibilityError, InvalidArgument, InvalidSchema
from datanexus.pipeline.schema import (
    CompatibilityMode,
    Level,
    Violation,
    ViolationKind,
    check_compatibility,
    ensure_compatible,
)


def obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = required
    return schema


def kinds(found: list[Violation]) -> set[tuple[ViolationKind, str]]:
    return {(v.kind, v.path) for v in found if v.level is Level.ERROR}


INT = {"type": "integer"}
NUM = {"type": "number"}
STR = {"type": "string"}

# ---------------------------------------------------------------------------- PIPE-4


def test_PIPE_4_the_seven_modes_parse_and_backward_is_the_default() -> None:
    assert [m.value for m in CompatibilityMode] == [
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ]
    assert CompatibilityMode.parse("full_transitive") is CompatibilityMode.FULL_TRANSITIVE
    with pytest.raises(InvalidArgument, match="BACKWARD_TRANSITIVE"):
        CompatibilityMode.parse("SIDEWAYS")
    old, new = obj({"id": INT}), obj({"id": INT, "email": STR}, ["email"])
    assert kinds(check_compatibility(new, [old])) == {(ViolationKind.REQUIRED_ADDED, "email")}


def test_PIPE_4_none_checks_nothing_and_a_first_version_is_always_fine() -> None:
    assert check_compatibility(STR, [INT], CompatibilityMode.NONE) == []
    for mode in CompatibilityMode:
        assert check_compatibility(STR, [], mode) == []


@pytest.mark.parametrize(
    ("mode", "breaks"),
    [
        ("BACKWARD", False),
        ("BACKWARD_TRANSITIVE", True),
        ("FORWARD", False),
        ("FORWARD_TRANSITIVE", True),
        ("FULL", False),
        ("FULL_TRANSITIVE", True),
    ],
)
def test_PIPE_4_non_transitive_modes_check_the_latest_version_only(mode: str, breaks: bool) -> None:
    # v1 had `code` as a string, v2 dropped it (optional), v3 brings it back as an
    # integer: fine against v2, a type change against v1.
    v1, v2, v3 = obj({"id": INT, "code": STR}), obj({"id": INT}), obj({"id": INT, "code": INT})
    found = check_compatibility(v3, [v1, v2], mode, versions=[1, 2])
    assert bool(kinds(found)) is breaks
    if breaks:
        assert {(v.kind, v.path, v.version) for v in found} == {
            (ViolationKind.TYPE_CHANGED, "code", 1)
        }


# ---------------------------------------------------------------------------- PIPE-5


def test_PIPE_5_backward_accepts_optional_additions_and_widening() -> None:
    old = obj({"id": INT, "price": INT}, ["id"])
    new = obj({"id": INT, "price": NUM, "note": STR}, ["id"])
    assert check_compatibility(new, [old], "BACKWARD") == []


def test_PIPE_5_backward_refuses_a_new_required_field_and_a_changed_type() -> None:
    old = obj({"id": INT, "price": INT}, ["id"])
    new = obj({"id": STR, "price": INT, "email": STR}, ["id", "email"])
    found = check_compatibility(new, [old], "BACKWARD")
    assert kinds(found) == {
        (ViolationKind.REQUIRED_ADDED, "email"),
        (ViolationKind.TYPE_CHANGED, "id"),
    }
    assert all(v.direction == "BACKWARD" for v in found)


def test_PIPE_5_backward_refuses_narrowing() -> None:
    found = check_compatibility(obj({"p": INT}), [obj({"p": NUM})], "BACKWARD")
    assert kinds(found) == {(ViolationKind.TYPE_CHANGED, "p")}


def test_PIPE_5_forward_accepts_optional_removals_and_narrowing() -> None:
    old = obj({"id": INT, "price": NUM, "note": STR}, ["id"])
    new = obj({"id": INT, "price": INT}, ["id"])
    assert check_compatibility(new, [old], "FORWARD") == []


def test_PIPE_5_forward_refuses_removing_a_required_field_and_widening() -> None:
    old = obj({"id": INT, "sku": STR, "qty": INT}, ["id", "sku", "qty"])
    new = obj({"id": NUM, "qty": INT}, ["id"])
    found = check_compatibility(new, [old], "FORWARD")
    assert kinds(found) == {
        (ViolationKind.FIELD_REMOVED, "sku"),
        (ViolationKind.REQUIRED_REMOVED, "qty"),
        (ViolationKind.TYPE_CHANGED, "id"),
    }
    # the same change read backward is fine: removals and widening
    assert kinds(check_compatibility(new, [old], "BACKWARD")) == set()


def test_PIPE_5_full_needs_both_directions() -> None:
    base = obj({"id": INT}, ["id"])
    optional_added = obj({"id": INT, "note": STR}, ["id"])
    widened = obj({"id": NUM}, ["id"])
    required_added = obj({"id": INT, "sku": STR}, ["id", "sku"])
    assert check_compatibility(optional_added, [base], "FULL") == []
    assert kinds(check_compatibility(widened, [base], "FULL")) == {
        (ViolationKind.TYPE_CHANGED, "id")
    }
    assert kinds(check_compatibility(required_added, [base], "FULL")) == {
        (ViolationKind.REQUIRED_ADDED, "sku")
    }
    # a type change breaks both ways and is listed once
    found = check_compatibility(obj({"id": STR}, ["id"]), [base], "FULL")
    assert [(v.kind, v.path, v.direction) for v in found] == [
        (ViolationKind.TYPE_CHANGED, "id", "BOTH")
    ]


def test_PIPE_5_nullable_enum_and_bounds_follow_the_direction() -> None:
    nullable = obj({"x": {"type": ["string", "null"]}})
    plain = obj({"x": STR})
    assert check_compatibility(nullable, [plain], "BACKWARD") == []
    assert kinds(check_compatibility(plain, [nullable], "BACKWARD")) == {
        (ViolationKind.TYPE_CHANGED, "x")
    }
    three = obj({"c": {"enum": ["r", "g", "b"]}})
    two = obj({"c": {"enum": ["r", "g"]}})
    assert check_compatibility(three, [two], "BACKWARD") == []
    assert kinds(check_compatibility(two, [three], "BACKWARD")) == {
        (ViolationKind.ENUM_CHANGED, "c")
    }
    assert kinds(check_compatibility(three, [two], "FORWARD")) == {
        (ViolationKind.ENUM_CHANGED, "c")
    }
    short = obj({"s": {"type": "string", "maxLength": 5}})
    long = obj({"s": {"type": "string", "maxLength": 10}})
    assert check_compatibility(long, [short], "BACKWARD") == []
    assert kinds(check_compatibility(short, [long], "BACKWARD")) == {
        (ViolationKind.CONSTRAINT_CHANGED, "s")
    }
    inclusive = obj({"n": {"type": "number", "minimum": 0}})
    exclusive = obj({"n": {"type": "number", "exclusiveMinimum": 0}})
    assert check_compatibility(inclusive, [exclusive], "BACKWARD") == []
    assert kinds(check_compatibility(exclusive, [inclusive], "BACKWARD")) == {
        (ViolationKind.CONSTRAINT_CHANGED, "n")
    }


def test_PIPE_5_closed_objects_turn_additions_and_removals_into_errors() -> None:
    closed = obj({"id": INT}, additionalProperties=False)
    wider = obj({"id": INT, "note": STR}, additionalProperties=False)
    assert kinds(check_compatibility(wider, [closed], "FORWARD")) == {
        (ViolationKind.FIELD_ADDED, "note")
    }
    assert kinds(check_compatibility(closed, [wider], "BACKWARD")) == {
        (ViolationKind.FIELD_REMOVED, "note")
    }
    # closing an open object is only a warning: undeclared properties count as not written
    found = check_compatibility(closed, [obj({"id": INT})], "BACKWARD")
    assert [(v.kind, v.path, v.level) for v in found] == [
        (ViolationKind.CONSTRAINT_CHANGED, "*", Level.WARNING)
    ]


# ---------------------------------------------------------------------------- PIPE-6

OLD_ORDER = {
    "$defs": {"money": {"type": "integer"}},
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": INT,
        "items": {
            "type": "array",
            "items": obj({"sku": STR, "price": {"$ref": "#/$defs/money"}}, ["sku"]),
        },
        "customer": obj({"address": obj({"zip": STR, "city": STR})}),
        "payment": {
            "anyOf": [
                obj({"kind": {"const": "card"}, "cvv": INT}, ["kind"]),
                obj({"kind": {"const": "cash"}, "change": {"type": "boolean"}}, ["kind"]),
            ]
        },
        "point": {"type": "array", "prefixItems": [NUM, NUM]},
        "code": {"type": "string", "pattern": "^[A-Z]+$", "default": "X"},
    },
}

NEW_ORDER = {
    "$defs": {"money": {"type": "string"}},
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": INT,
        "items": {
            "type": "array",
            "items": obj(
                {"sku": STR, "price": {"$ref": "#/$defs/money"}, "qty": INT}, ["sku", "qty"]
            ),
        },
        "customer": obj({"address": obj({"zip": INT, "city": STR})}),
        "payment": {
            "anyOf": [
                obj({"kind": {"const": "card"}, "cvv": STR}, ["kind"]),
                obj({"kind": {"const": "cash"}, "change": {"type": "boolean"}}, ["kind"]),
            ]
        },
        "point": {"type": "array", "prefixItems": [NUM, STR]},
        "code": {"type": "string", "pattern": "^[A-Z0-9]+$", "default": "Y"},
    },
}


def test_PIPE_6_every_violation_is_listed_with_its_dotted_path_through_objects_arrays_unions() -> (
    None
):
    found = check_compatibility(NEW_ORDER, [OLD_ORDER], "BACKWARD", versions=[4])
    assert {(v.kind, v.path, v.level) for v in found} == {
        (ViolationKind.TYPE_CHANGED, "items[].price", Level.ERROR),
        (ViolationKind.REQUIRED_ADDED, "items[].qty", Level.ERROR),
        (ViolationKind.TYPE_CHANGED, "customer.address.zip", Level.ERROR),
        (ViolationKind.TYPE_CHANGED, "payment.cvv", Level.ERROR),
        (ViolationKind.TYPE_CHANGED, "point[1]", Level.ERROR),
        (ViolationKind.CONSTRAINT_CHANGED, "code", Level.WARNING),
        (ViolationKind.DEFAULT_CHANGED, "code", Level.WARNING),
    }
    assert all(v.version == 4 for v in found)


def test_PIPE_6_a_breach_raises_compatibility_error_carrying_every_violation() -> None:
    with pytest.raises(CompatibilityError) as caught:
        ensure_compatible(NEW_ORDER, [OLD_ORDER], "BACKWARD", subject="orders")
    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.violations) == 7
    text = str(error)
    assert "subject 'orders'" in text
    assert "5 error(s), 2 warning(s)" in text
    for path in ("items[].price", "items[].qty", "customer.address.zip", "payment.cvv"):
        assert path in text


def test_PIPE_6_warnings_alone_do_not_raise() -> None:
    old = obj({"code": {"type": "string", "pattern": "^a$"}})
    new = obj({"code": {"type": "string", "pattern": "^b$"}})
    warnings = ensure_compatible(new, [old], "FULL")
    assert [(v.kind, v.level) for v in warnings] == [
        (ViolationKind.CONSTRAINT_CHANGED, Level.WARNING)
    ]


def test_PIPE_6_union_branches_not_read_by_any_reader_branch_are_type_changes() -> None:
    old = obj({"v": {"anyOf": [STR, INT]}})
    new = obj({"v": {"anyOf": [STR, {"type": "boolean"}]}})
    found = check_compatibility(new, [old], "BACKWARD")
    assert kinds(found) == {(ViolationKind.TYPE_CHANGED, "v")}
    assert "integer is no longer accepted" in found[0].message


def test_PIPE_6_recursive_references_terminate() -> None:
    tree = {
        "$defs": {
            "node": obj(
                {"name": STR, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
            )
        },
        "$ref": "#/$defs/node",
    }
    changed = {
        "$defs": {
            "node": obj(
                {"name": INT, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}
            )
        },
        "$ref": "#/$defs/node",
    }
    assert check_compatibility(tree, [tree], "FULL_TRANSITIVE") == []
    assert kinds(check_compatibility(changed, [tree], "BACKWARD")) == {
        (ViolationKind.TYPE_CHANGED, "name")
    }


def test_PIPE_6_a_remote_ref_is_refused() -> None:
    with pytest.raises(InvalidSchema, match="not local"):
        check_compatibility({"$ref": "https://example.com/s.json"}, [STR])


# ------------------------------------------------------------------- laws (hypothesis)


@settings(max_examples=300, deadline=None)
@given(schemas, st.sampled_from(list(CompatibilityMode)))
def test_PIPE_4_a_schema_is_compatible_with_itself_in_every_mode(
    schema: dict[str, Any], mode: CompatibilityMode
) -> None:
    assert check_compatibility(schema, [schema, schema], mode) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), schemas, schemas)
def test_PIPE_5_no_backward_error_means_every_old_instance_is_valid_under_the_new_schema(
    data: st.DataObject, old: dict[str, Any], new: dict[str, Any]
) -> None:
    """Soundness against the reference validator: when the checker finds no error, the
    new schema accepts whatever the old one does (and FORWARD the other way round)."""
    backward_ok = not kinds(check_compatibility(new, [old], "BACKWARD"))
    forward_ok = not kinds(check_compatibility(new, [old], "FORWARD"))
    for _ in range(5):
        written = data.draw(instance_of(old))
        if backward_ok and reference_valid(old, written):
            assert reference_valid(new, written), (old, new, written)
        written = data.draw(instance_of(new))
        if forward_ok and reference_valid(new, written):
            assert reference_valid(old, written), (old, new, written)
