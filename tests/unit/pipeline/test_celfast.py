"""The CEL closure fast path agrees with cel-python on every expression and event
(cel-python is the reference: the fast path may only hand cases back, never differ)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus.errors import TransformError
from datanexus.pipeline.expressions import Expression

FIELDS = ["x", "y", "s", "t", "b", "n", "l", "m", "missing"]
INT64 = 2**63 - 1

ints = st.integers(-10, 10) | st.sampled_from([0, 1, INT64, -INT64 - 1, 2**64, 2**62])
floats = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.sampled_from(
    [0.0, -0.0, 1.5, 1e308]
)
strings = st.sampled_from(["", "a", "ab", "b", "A"])
scalars = ints | floats | strings | st.booleans() | st.none()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["k", "j"]), inner, max_size=2)
    ),
    max_leaves=6,
)

int_lits = st.sampled_from(["0", "1", "2", "500", "9223372036854775807", "9223372036854775808"])
float_lits = st.sampled_from(["0.0", "1.5", "1000.0", "1e3", "2.5e-3"])
str_lits = st.sampled_from(["'a'", '"ab"', "''", "'x\\ty'", "r'a'"])
atoms = (
    int_lits
    | float_lits
    | str_lits
    | st.sampled_from(["true", "false", "null"])
    | st.sampled_from(FIELDS)
    | st.sampled_from(
        [
            "m.k",
            "m['j']",
            "l[0]",
            "l[1]",
            "size(s)",
            "size(l)",
            "s.startsWith('a')",
            "s.contains(t)",
            "type(x) == int",
        ]
    )
)
BINOPS = ["+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&&", "||", "in"]


def exprs():
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(BINOPS), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(st.sampled_from(["!", "-"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        ),
        max_leaves=6,
    )


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def outcome(expr, event):
    try:
        return ("ok", expr.evaluate(event))
    except TransformError as exc:
        return ("error", exc.reason)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(exprs(), st.fixed_dictionaries({f: values for f in FIELDS if f != "missing"}))
def test_fast_path_matches_cel_python(text, event):
    fast = Expression(text, where="t")
    slow = Expression(text, where="t", fast=False)
    a, b = outcome(fast, event), outcome(slow, event)
    assert a[0] == b[0], (text, event, a, b)
    if a[0] == "ok":
        assert same(a[1], b[1]), (text, event, a, b)
    else:
        assert a[1] == b[1]


@pytest.mark.parametrize(
    "text",
    [
        "status >= 500 ? 1 : 0",
        "is_error == 1",
        "latency_ms > 1000.0",
        "true",
        "-(a) % 3 + b * 2",
        "!(x == 1) && s.startsWith('a')",
        "size(l) > 0 || m.k == 'v'",
        "'a' in l",
    ],
)
def test_common_expressions_take_the_fast_path(text):
    event = {
        "status": 503,
        "is_error": 1,
        "latency_ms": 1500.0,
        "a": -7,
        "b": 2,
        "x": 2,
        "s": "ab",
        "l": ["a"],
        "m": {"k": "v"},
    }
    expr = Expression(text, where="t")
    assert expr._fast is not None
    value = expr._fast(event)  # no Fallback raised: the fast path answered
    assert same(value, Expression(text, where="t", fast=False).evaluate(event))


@pytest.mark.parametrize(
    "text", ["l.map(v, v + 1)", "has(event.x)", "type(x) == int", "int(s)", "r'a'", "1u", "event.x"]
)
def test_other_expressions_stay_on_cel_python(text):
    assert Expression(text, where="t")._fast is None


def test_fast_path_results_never_alias_the_event():
    event = {"l": [1, 2], "m": {"k": [3]}}
    value = Expression("m.k", where="t").evaluate(event)
    value.append(4)
    assert event == {"l": [1, 2], "m": {"k": [3]}}
