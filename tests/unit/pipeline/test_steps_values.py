"""Regex steps on RE2 only (PIPE-14)."""

from __future__ import annotations

import time

import pytest

from conftest import steps_toml
from datanexus.errors import ConfigError
from datanexus.pipeline.steps import compile_re2


def run(make_spec, step, events):
    return make_spec(steps_toml(step)).compile().process(events, now_ms=10**13)


def test_pipe14_extract_first_match(make_spec):
    out = run(
        make_spec,
        'op = "regex_extract"\nfield = "s"\npattern = "\\\\d+"\nto = "n"',
        [{"ts": 0, "s": "ab12cd34"}, {"ts": 0, "s": "none"}, {"ts": 0, "s": None}],
    )
    assert [e["n"] for e in out.events] == ["12", None, None]


def test_pipe14_extract_group(make_spec):
    out = run(
        make_spec,
        'op = "regex_extract"\nfield = "path"\npattern = "^/api/(v\\\\d)/"\ngroup = 1',
        [{"ts": 0, "path": "/api/v2/users"}],
    )
    assert out.events[0]["path"] == "v2"


def test_pipe14_replace(make_spec):
    out = run(
        make_spec,
        'op = "regex_replace"\nfield = "path"\npattern = "/\\\\d+"\nreplacement = "/:id"',
        [{"ts": 0, "path": "/users/42/orders/7"}],
    )
    assert out.events[0]["path"] == "/users/:id/orders/:id"


def test_pipe14_match_filter_and_store(make_spec):
    events = [{"ts": 0, "ua": "Mozilla/5.0"}, {"ts": 0, "ua": "curl/8"}]
    out = run(make_spec, 'op = "regex_match"\nfield = "ua"\npattern = "^Mozilla"', events)
    assert out.events == [events[0]]
    assert out.filtered == 1
    assert out.dead == []
    out = run(
        make_spec, 'op = "regex_match"\nfield = "ua"\npattern = "bot|curl"\nto = "is_bot"', events
    )
    assert [e["is_bot"] for e in out.events] == [False, True]


def test_pipe14_non_string_is_an_error(make_spec):
    out = run(make_spec, 'op = "regex_extract"\nfield = "s"\npattern = "a"', [{"ts": 0, "s": 5}])
    assert out.dead[0][1:] == ("regex_extract_0", "'s' is int, not a string")


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=a)", r"(?!a)", r"(?<=a)b", r"(?<!a)b", r"a{1001}{1001}", "("]
)
def test_pipe14_re2_invalid_fails_no_fallback(pattern):
    with pytest.raises(ConfigError, match="not an RE2 pattern"):
        compile_re2(pattern, where="t")


def test_pipe14_linear_time():
    regex = compile_re2("(x+x+)+y", where="t")
    text = "x" * 5000
    started = time.perf_counter()
    assert regex.search(text) is None
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05, elapsed


def test_pipe14_linear_time_through_a_step(make_spec):
    spec = make_spec(steps_toml('op = "regex_match"\nfield = "s"\npattern = "(x+x+)+y"'))
    pipeline = spec.compile()
    started = time.perf_counter()
    out = pipeline.process([{"ts": 0, "s": "x" * 5000}], now_ms=0)
    assert time.perf_counter() - started < 0.05
    assert out.filtered == 1


def test_regex_match_negate(make_spec):
    events = [{"ts": 0, "ua": "Mozilla/5.0"}, {"ts": 0, "ua": "curl/8"}, {"ts": 0, "ua": None}]
    step = 'op = "regex_match"\nfield = "ua"\npattern = "bot|curl"\nnegate = true'
    out = run(make_spec, step, events)
    assert out.events == [events[0], events[2]]


def test_case_step(make_spec):
    events = [{"ts": 0, "c": "eur"}, {"ts": 0, "c": None}, {"ts": 0, "c": 5}]
    out = run(make_spec, 'op = "case"\nfield = "c"\nto = "upper"', events)
    assert [e["c"] for e in out.events] == ["EUR", None]
    assert out.dead == [(events[2], "case_0", "'c' is int, not a string")]


def test_timestamp_zone_override(make_spec):
    step = 'op = "timestamp"\nfield = "when"\ntime_zone = "America/New_York"'
    out = run(make_spec, step, [{"ts": 0, "when": "2023-03-05 07:08"}])
    assert out.events[0]["when"] == "2023-03-05T12:08:00.000Z"
    with pytest.raises(ConfigError, match=r"transforms\[0\]\.time_zone: unknown time zone"):
        make_spec(steps_toml('op = "timestamp"\nfield = "when"\ntime_zone = "Nowhere/City"'))
