"""Casts (PIPE-10): exact, type-strict, rounding half away from zero."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import steps_toml
from datanexus.errors import TransformError
from datanexus.pipeline.casts import to_bool, to_float, to_int, to_string


@pytest.mark.parametrize("value", ["false", "", "0", 0, False, "FALSE", "False"])
def test_pipe10_bool_casts_false(value):
    assert to_bool(value) is False


@pytest.mark.parametrize("value", ["true", "1", 1, True, "TRUE", "True"])
def test_pipe10_bool_casts_true(value):
    assert to_bool(value) is True


@pytest.mark.parametrize("value", ["yes", "no", "2", " true", "t", 2, -1, 0.0, 1.0, [], {}])
def test_pipe10_bool_casts_other_values_fail(value):
    with pytest.raises(TransformError, match="cannot cast"):
        to_bool(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9.6", 10),
        ("-2.5", -3),
        ("2.5", 3),
        ("-9.6", -10),
        ("2.4", 2),
        (2.5, 3),
        (-0.5, -1),
        ("12345678901234567891", 12345678901234567891),
        (2**70, 2**70),
        ("1e3", 1000),
        (True, 1),
    ],
)
def test_pipe10_int_rounds_half_away_from_zero(value, expected):
    result = to_int(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value", ["abc", "NaN", "inf", float("nan"), float("inf"), "", [1], {"a": 1}]
)
def test_pipe10_int_refuses(value):
    with pytest.raises(TransformError):
        to_int(value)


def test_pipe10_string_and_float():
    assert to_string(7) == "7"
    assert to_string(2.5) == "2.5"
    assert to_string(True) == "true"
    assert to_string({"a": [1, 2]}) == '{"a":[1,2]}'
    assert to_float("19.99") == 19.99
    assert to_float(3) == 3.0
    with pytest.raises(TransformError):
        to_float("nan")
    with pytest.raises(TransformError):
        to_float("1e999")
    for cast in (to_bool, to_int, to_float, to_string):
        assert cast(None) is None


def half_away(q: Fraction) -> int:
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    )
)
def test_pipe10_int_from_decimal_strings_matches_reference(dec):
    assert to_int(str(dec)) == half_away(Fraction(dec))


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15))
def test_pipe10_int_from_floats_matches_exact_reference(x):
    assert to_int(x) == half_away(Fraction(x))


@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_pipe10_json_integers_exact(n):
    assert to_int(n) == n
    assert to_int(str(n)) == n
    assert to_string(n) == str(n)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_string_round_trip(x):
    assert to_float(to_string(x)) == x


def test_pipe10_cast_step_keeps_other_fields(make_spec):
    spec = make_spec(
        steps_toml(
            'op = "cast"\nfield = "n"\nto = "int"', 'op = "cast"\nfield = "flag"\nto = "bool"'
        )
    )
    event = {"ts": 0, "n": "9.6", "flag": "0", "big": 12345678901234567891, "f": 1.5, "s": "7"}
    out = spec.compile().process([event], now_ms=0)
    assert out.events == [
        {"ts": 0, "n": 10, "flag": False, "big": 12345678901234567891, "f": 1.5, "s": "7"}
    ]
    assert type(out.events[0]["big"]) is int
    bad = spec.compile().process([{"ts": 0, "n": "x", "flag": "0"}], now_ms=0)
    assert bad.dead == [
        ({"ts": 0, "n": "x", "flag": "0"}, "cast_0", "n: cannot cast 'x' to int: not a number")
    ]


def test_decimal_reference_is_right():
    # The reference itself, on the requirement's examples.
    assert half_away(Fraction(Decimal("-2.5"))) == -3
    assert half_away(Fraction(Decimal("9.6"))) == 10
