"""CEL evaluation (the Rust interpreter) against cel-python, and the PIPE-16 equality rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus.errors import ConfigError, TransformError
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


def outcome(run, event):
    try:
        return ("ok", run(event))
    except TransformError as exc:
        return ("error", exc.reason)


_EQUALITY = ("==", "!=", " in ")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(exprs(), st.fixed_dictionaries({f: values for f in FIELDS if f != "missing"}))
def test_rust_interpreter_agrees_with_cel_python(text, event):
    """Evaluation (the Rust interpreter) against cel-python (the load-time checker) as
    the reference: no error other than TransformError, and equal values wherever
    cel-python has one, except for equality across types, where cel-python says
    ``true == 1`` and refuses ``1 == 1.0`` and PIPE-16 asks for the opposite."""
    try:
        expr = Expression(text, where="t")
    except ConfigError:
        return  # refused at load (e.g. an int literal past int64): never evaluated
    fast, slow = outcome(expr.evaluate, event), outcome(expr.check_types, event)
    if fast[0] == slow[0] == "ok" and not any(op in text for op in _EQUALITY):
        assert same(fast[1], slow[1]), (text, event, fast, slow)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("false == 0", False),
        ("true == 1", False),
        ("1 == 1.0", True),
        ("x == 1.0", True),
        ("status >= 500 ? 1 : 0", 1),
        ("latency_ms > 1000.0", True),
        ("'a' in l", True),
        ("size(l) > 0 || m.k == 'v'", True),
        ("l.map(v, v + 'x')", ["ax"]),
        ("has(event.m)", True),
    ],
)
def test_pipe16_type_strict_equality(text, expected):
    event = {"x": 1, "status": 503, "latency_ms": 1500.0, "l": ["a"], "m": {"k": "v"}}
    assert same(Expression(text, where="t").evaluate(event), expected)


@pytest.mark.parametrize("text", ["'5' > 3", "s + 1", "size(x)"])
def test_pipe16_no_coercion_is_an_error(text):
    with pytest.raises(TransformError):
        Expression(text, where="t").evaluate({"s": "a", "x": 7})


def test_results_never_alias_the_event():
    event = {"l": [1, 2], "m": {"k": [3]}}
    value = Expression("m.k", where="t").evaluate(event)
    value.append(4)
    assert event == {"l": [1, 2], "m": {"k": [3]}}
