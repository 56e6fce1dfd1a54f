"""Filters (PIPE-16) and CEL expressions (PIPE-17)."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import steps_toml
from datanexus.errors import ConfigError, TransformError
from datanexus.pipeline.expressions import Expression
from datanexus.pipeline.steps import compare


def run(make_spec, events, *steps):
    return make_spec(steps_toml(*steps)).compile().process(events, now_ms=10**13)


@pytest.mark.parametrize(
    ("cmp", "left", "right", "expected"),
    [
        ("eq", False, 0, False),
        ("eq", True, 1, False),
        ("neq", False, 0, True),
        ("eq", 1, 1.0, True),
        ("eq", "5", 5, False),
        ("gt", "5", 3, False),
        ("lt", "5", 3, False),
        ("gte", 5, 5.0, True),
        ("lt", "a", "b", True),
        ("gt", True, False, False),
        ("eq", None, None, True),
        ("gt", None, 1, False),
        ("neq", None, 1, True),
    ],
)
def test_pipe16_type_strict_comparisons(cmp, left, right, expected):
    assert compare(cmp, left, right) is expected


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from(["", "a", "5"])
)


def kind(v):
    return {bool: "b", int: "n", float: "n", str: "s", type(None): "z"}[type(v)]


@given(st.sampled_from(["gt", "gte", "lt", "lte", "eq", "neq"]), scalars, scalars)
def test_pipe16_compare_reference(cmp, a, b):
    import operator

    ops = {
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
        "eq": operator.eq,
        "neq": operator.ne,
    }
    if kind(a) != kind(b):
        expected = cmp == "neq"
    elif cmp in ("eq", "neq") or kind(a) in "ns":
        expected = ops[cmp](a, b)
    else:
        expected = False
    assert compare(cmp, a, b) is expected


def test_pipe16_filter_step_filtered_is_not_error(make_spec):
    events = [
        {"ts": 0, "status": 500},
        {"ts": 0, "status": "500"},
        {"ts": 0, "status": 200},
        {"ts": 0, "status": True},
    ]
    out = run(make_spec, events, 'op = "filter"\nfield = "status"\ncmp = "gte"\nvalue = 500')
    assert out.events == [events[0]]
    assert out.filtered == 3
    assert out.dead == []
    assert out.counters["filter_0"] == {
        "in": 4,
        "out": 1,
        "filtered": 3,
        "errors": 0,
        "skipped": 0,
        "unparseable": 0,
    }


def test_pipe16_filter_bool_vs_int(make_spec):
    events = [{"ts": 0, "ok": False}, {"ts": 0, "ok": 0}]
    out = run(make_spec, events, 'op = "filter"\nfield = "ok"\ncmp = "eq"\nvalue = false')
    assert out.events == [events[0]]


def test_pipe17_derive_and_cel_filter(make_spec):
    events = [{"ts": 0, "status": 503, "path": "/api/x"}, {"ts": 0, "status": 200, "path": "/"}]
    out = run(
        make_spec,
        events,
        'op = "derive"\nfield = "is_error"\nexpr = "status >= 500 ? 1 : 0"',
        'op = "filter"\nwhen = "path.startsWith(\'/api\') || is_error == 0"',
    )
    assert [e["is_error"] for e in out.events] == [1, 0]
    out = run(
        make_spec, events, 'op = "filter"\nwhen = "has(event.missing) || event[\'status\'] > 300"'
    )
    assert out.events == [events[0]]


def test_pipe17_cel_is_type_strict_and_errors_are_dead_letters(make_spec):
    events = [{"ts": 0, "status": "503"}]
    out = run(make_spec, events, 'op = "filter"\nwhen = "status >= 500"')
    assert out.dead[0][0] == events[0]
    assert out.dead[0][1] == "filter_0"
    reason = out.dead[0][2].lower()
    assert "no matching overload" in reason or "no such overload" in reason
    out = run(make_spec, [{"ts": 0}], 'op = "derive"\nfield = "x"\nexpr = "nope + 1"')
    assert out.dead[0][1] == "derive_0"
    out = run(make_spec, [{"ts": 0, "a": 1}], 'op = "filter"\nwhen = "a + 1"')
    assert "not a boolean" in out.dead[0][2]


def test_pipe17_values_come_back_as_json():
    expr = Expression("{'a': [1, 2.5, 'x', true, null], 'b': m.k}", where="t")
    assert expr.evaluate({"m": {"k": 7}}) == {"a": [1, 2.5, "x", True, None], "b": 7}
    assert Expression("double(n) / 2.0", where="t").evaluate({"n": 3}) == 1.5


@pytest.mark.parametrize(
    "bad",
    [
        "__import__('os')",
        "exec('x')",
        "a.b(",
        "x.foo(1)",
        "[1].map(a, [2].map(b, [3].map(c, c)))",
        "'" + "x" * 2001 + "'",
    ],
)
def test_pipe17_refused_at_load(bad):
    with pytest.raises(ConfigError, match=r"^t: "):
        Expression(bad, where="t")


def test_pipe17_udf_timeout_reported_and_nothing_left_running():
    # CEL cannot loop, so an evaluation cannot be stopped midway and need not be: the
    # limit is checked on the measured time. A 1 ms budget against a quadratic macro.
    heavy = Expression("l.map(a, l.map(b, a * b).size()).size() > 0", where="t", timeout_ms=1)
    threads = threading.active_count()
    with pytest.raises(TransformError, match=r"^UDF timeout$"):
        heavy.evaluate({"l": list(range(40))})
    assert threading.active_count() == threads


def test_pipe17_udf_timeout_in_pipeline(make_spec):
    step = 'op = "derive"\nfield = "x"\nexpr = "l.map(a, l.map(b, a * b).size()).size()"'
    spec = make_spec(steps_toml(step))
    spec = dataclasses.replace(spec, settings=dataclasses.replace(spec.settings, udf_timeout_ms=1))
    out = spec.compile().process([{"ts": 0, "l": list(range(40))}], now_ms=0)
    assert out.dead[0][1:] == ("derive_0", "UDF timeout")


def test_dec1_missing_field_in_expression_is_skippable(make_spec):
    events = [{"ts": 0, "a": 1}]
    out = run(make_spec, events, 'op = "derive"\nfield = "x"\nexpr = "b + 1"')
    assert out.dead == [(events[0], "derive_0", "missing field 'b' (in 'b + 1')")]
    out = run(make_spec, events, 'op = "derive"\nfield = "x"\nexpr = "b + 1"\non_error = "skip"')
    assert out.events == events
    assert out.counters["derive_0"]["skipped"] == 1
    # CEL's || absorbs the error of a missing operand when the other side decides.
    out = run(make_spec, events, 'op = "derive"\nfield = "x"\nexpr = "b == 1 || a == 1"')
    assert out.events[0]["x"] is True
