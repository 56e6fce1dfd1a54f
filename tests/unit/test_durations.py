"""Durations in specs and configuration: "250ms", "5s", "1m", "2h", "1d", ints = ms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.durations import duration_ms, format_duration, parse_duration
from datanexus.errors import ConfigError, InvalidArgument


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("5s", 5000),
        ("1m", 60_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        ("1h30m", 5_400_000),
        ("1m30s500ms", 90_500),
        ("0s", 0),
        (0, 0),
        (1500, 1500),
    ],
)
def test_parse(text, ms):
    assert parse_duration(text, where="x") == timedelta(milliseconds=ms)
    assert duration_ms(text, where="x") == ms


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "5",
        "-5s",
        "5 s",
        "1.5s",
        "5sec",
        "s",
        "1m1h",
        "1s1s",
        "5S",
        -1,
        True,
        1.5,
        None,
        "\u0661s",
    ],
)
def test_garbage_names_where(bad):
    with pytest.raises(ConfigError, match=r"web\.toml: aggregations\[0\]\.window\.size"):
        parse_duration(bad, where="web.toml: aggregations[0].window.size")


def test_format_examples():
    assert format_duration(90_000) == "1m30s"
    assert format_duration(0) == "0s"
    assert format_duration(timedelta(hours=25, milliseconds=7)) == "1d1h7ms"
    with pytest.raises(InvalidArgument):
        format_duration(-1)
    with pytest.raises(InvalidArgument):
        format_duration(timedelta(microseconds=1))


@given(st.integers(min_value=0, max_value=10**13))
def test_format_round_trips(ms):
    text = format_duration(ms)
    assert duration_ms(text, where="x") == ms
    assert parse_duration(text, where="x") == timedelta(milliseconds=ms)


@given(
    st.lists(st.integers(0, 10**4), min_size=5, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_parse_matches_reference_sum(amounts, present):
    units = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    parts = [(a, u) for a, u, p in zip(amounts, units, present, strict=True) if p]
    if not parts:
        return
    text = "".join(f"{a}{u[0]}" for a, u in parts)
    assert duration_ms(text, where="x") == sum(a * u[1] for a, u in parts)
