"""Carrying events between schema versions (PIPE-8)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.errors import EventMigrationError, InvalidArgument
from datanexus.pipeline.schema import Migrator, Operation, OpKind, SchemaMigration

V1_V2 = SchemaMigration(
    1, 2, (Operation.rename("name", "full_name"), Operation.add("tier", "free"))
)
V2_V3 = SchemaMigration(
    2,
    3,
    (
        Operation.cast("age", "string", from_type="integer", optional=True),
        Operation.add("profile", {}),
        Operation.rename("tier", "profile.tier"),
    ),
)
V3_V4 = SchemaMigration(3, 4, (Operation.remove("age"), Operation.set_default("score", 0)))


def test_PIPE_8_rename_then_add_the_exact_example() -> None:
    event = {"name": "Ada"}
    assert Migrator([V1_V2]).migrate(event, 1, 2) == {"full_name": "Ada", "tier": "free"}
    assert event == {"name": "Ada"}  # the input is never modified


def test_PIPE_8_from_equals_to_returns_the_event_unchanged() -> None:
    event = {"anything": [1, {"x": None}]}
    assert Migrator([V1_V2]).migrate(event, 2, 2) is event
    assert Migrator([]).migrate(event, 7, 7) == {"anything": [1, {"x": None}]}


def test_PIPE_8_chains_v1_to_v3_and_back_when_reversible() -> None:
    migrator = Migrator([V1_V2, V2_V3])
    v3 = migrator.migrate({"name": "Ada", "age": 36}, 1, 3)
    assert v3 == {"full_name": "Ada", "age": "36", "profile": {"tier": "free"}}
    assert migrator.migrate(v3, 3, 1) == {"name": "Ada", "age": 36}
    assert migrator.compose(1, 3).apply({"name": "Ada", "age": 36}) == v3


def test_PIPE_8_an_irreversible_step_cannot_be_run_backwards() -> None:
    assert not V3_V4.reversible
    assert V1_V2.reversible
    assert V2_V3.reversible
    migrator = Migrator([V1_V2, V2_V3, V3_V4])
    v4 = migrator.migrate({"name": "Ada", "age": 1}, 1, 4)
    assert v4 == {"full_name": "Ada", "profile": {"tier": "free"}, "score": 0}
    with pytest.raises(EventMigrationError, match=r"v3 → v4 cannot run backwards: REMOVE age"):
        migrator.migrate(v4, 4, 2)
    restorable = SchemaMigration(3, 4, (Operation.remove("age", restore=None),))
    assert Migrator([restorable]).migrate({"x": 1}, 4, 3) == {"x": 1, "age": None}


def test_PIPE_8_a_missing_needed_path_is_a_typed_error_naming_step_and_path() -> None:
    migrator = Migrator([V1_V2, V2_V3])
    with pytest.raises(
        EventMigrationError, match=r"v1 → v2: RENAME name → full_name: the event has no 'name'"
    ):
        migrator.migrate({"nom": "Ada"}, 1, 3)
    nested = SchemaMigration(1, 2, (Operation.add("user.address.city", "?"),))
    with pytest.raises(
        EventMigrationError, match=r"'user.address' is missing, an object is needed"
    ):
        Migrator([nested]).migrate({"user": {}}, 1, 2)
    with pytest.raises(EventMigrationError, match=r"'user' is a str"):
        Migrator([nested]).migrate({"user": "bob"}, 1, 2)
    clash = SchemaMigration(1, 2, (Operation.rename("a", "b"),))
    with pytest.raises(EventMigrationError, match="refusing to overwrite"):
        Migrator([clash]).migrate({"a": 1, "b": 2}, 1, 2)
    with pytest.raises(EventMigrationError, match=r"no migration leads from v1 to v9"):
        migrator.migrate({"name": "x"}, 1, 9)


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        (7, "string", "7"),
        (1.5, "string", "1.5"),
        (True, "string", "true"),
        ("9.6", "integer", 10),
        ("-2.5", "integer", -3),
        (2.5, "integer", 3),
        ("12345678901234567890", "number", 12345678901234567890),
        ("1.25", "number", 1.25),
        ("false", "boolean", False),
        ("", "boolean", False),
        ("1", "boolean", True),
        (0, "boolean", False),
        (None, "integer", None),
    ],
)
def test_PIPE_8_cast_type(value: Any, to: str, expected: Any) -> None:
    step = SchemaMigration(1, 2, (Operation.cast("v", to),))
    out = Migrator([step]).migrate({"v": value}, 1, 2)["v"]
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "to"),
    [("abc", "integer"), ("yes", "boolean"), (2, "boolean"), ([1], "string"), ("nan", "number")],
)
def test_PIPE_8_a_failed_cast_is_a_typed_error(value: Any, to: str) -> None:
    step = SchemaMigration(1, 2, (Operation.cast("v", to),))
    with pytest.raises(EventMigrationError, match=f"cannot cast .* to {to}"):
        Migrator([step]).migrate({"v": value}, 1, 2)


def test_PIPE_8_operations_are_checked_when_built() -> None:
    with pytest.raises(InvalidArgument, match="type must be one of"):
        Operation.cast("a", "date")
    with pytest.raises(InvalidArgument, match="empty segment"):
        Operation.add("a..b", 1)
    with pytest.raises(InvalidArgument, match="to itself"):
        Operation.rename("a", "a")
    with pytest.raises(InvalidArgument, match="two versions"):
        SchemaMigration(2, 2, ())
    with pytest.raises(InvalidArgument, match="two migrations from v1 to v2"):
        Migrator([V1_V2, V1_V2])
    assert [op.kind for op in V3_V4.operations] == [OpKind.REMOVE, OpKind.SET_DEFAULT]
    assert not Operation.cast("a", "integer", from_type="number").reversible
    assert not Operation.cast("a", "integer", from_type="string").reversible
    assert Operation.cast("a", "string", from_type="integer").reversible


# ------------------------------------------------------------------- laws (hypothesis)

KEYS = ["a", "b", "c", "d"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.text(max_size=4))
events = st.dictionaries(st.sampled_from(KEYS), leaves, max_size=4)


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    kind = draw(st.sampled_from(list(OpKind)))
    path = draw(st.sampled_from(KEYS))
    if kind is OpKind.ADD:
        return Operation.add(path, draw(leaves))
    if kind is OpKind.REMOVE:
        return Operation.remove(path)
    if kind is OpKind.RENAME:
        target = draw(st.sampled_from([k for k in KEYS if k != path] + ["e", "f"]))
        return Operation.rename(path, target, optional=True)
    if kind is OpKind.CAST_TYPE:
        return Operation.cast(path, "string", optional=True)
    return Operation.set_default(path, draw(leaves))


def _run(migrator: Migrator, event: dict[str, Any], a: int, b: int) -> Any:
    try:
        return migrator.migrate(event, a, b)
    except EventMigrationError as error:
        return ("error", str(error).split(": ", 1)[1])


@settings(max_examples=300, deadline=None)
@given(events, st.lists(operations(), max_size=3), st.lists(operations(), max_size=3))
def test_PIPE_8_v1_v2_v3_equals_the_composed_migration(
    event: dict[str, Any], first: list[Operation], second: list[Operation]
) -> None:
    migrator = Migrator([SchemaMigration(1, 2, tuple(first)), SchemaMigration(2, 3, tuple(second))])
    before = copy.deepcopy(event)
    chained = _run(migrator, event, 1, 3)
    stepwise = _run(migrator, event, 1, 2)
    if not (isinstance(stepwise, tuple) and stepwise[0] == "error"):
        stepwise = _run(migrator, stepwise, 2, 3)
    try:
        composed: Any = migrator.compose(1, 3).apply(event)
    except EventMigrationError as error:
        composed = ("error", str(error).split(": ", 1)[1])
    assert chained == stepwise == composed
    assert event == before


reversible_ops = st.one_of(
    st.builds(Operation.add, st.sampled_from(["x", "y"]), leaves),
    st.builds(
        lambda p, q: Operation.rename(p, q, optional=True),
        st.sampled_from(KEYS),
        st.sampled_from(["x", "y"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(events, reversible_ops)
def test_PIPE_8_a_reversible_migration_run_there_and_back_is_the_identity(
    event: dict[str, Any], op: Operation
) -> None:
    migrator = Migrator([SchemaMigration(1, 2, (op,))])
    # events of v1 do not carry the fields v2 introduces (x, y)
    assert migrator.migrate(migrator.migrate(event, 1, 2), 2, 1) == event
