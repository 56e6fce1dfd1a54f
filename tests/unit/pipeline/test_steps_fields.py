"""Field steps: rename, insert, remove, mask, nulls, flatten (PIPE-13, PIPE-16, DEC-1)."""

from __future__ import annotations

import hashlib
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import steps_toml
from datanexus.errors import ConfigError
from datanexus.pipeline.steps import flatten_list
from datanexus.pipeline.steps.fields import flatten_object


def run(make_spec, events, *steps):
    return make_spec(steps_toml(*steps)).compile().process(events, now_ms=10**13)


def test_pipe16_rename(make_spec):
    out = run(
        make_spec,
        [{"ts": 0, "lat": 5, "user": {"n": "a"}}],
        'op = "rename"\nfrom = "lat"\nto = "latency_ms"',
        'op = "rename"\nfrom = "user.n"\nto = "user.name"',
    )
    assert out.events == [{"ts": 0, "latency_ms": 5, "user": {"name": "a"}}]


def test_rename_onto_existing_field(make_spec):
    events = [{"ts": 0, "a": 1, "b": 2}]
    out = run(make_spec, events, 'op = "rename"\nfrom = "a"\nto = "b"')
    assert out.dead == [(events[0], "rename_0", "cannot rename 'a': 'b' exists")]
    out = run(make_spec, events, 'op = "rename"\nfrom = "a"\nto = "b"\nif_exists = "overwrite"')
    assert out.events == [{"ts": 0, "b": 1}]


def test_dec1_missing_field_error_or_skip(make_spec):
    events = [{"ts": 0, "b": 1}]
    out = run(make_spec, events, 'op = "rename"\nfrom = "a"\nto = "c"')
    assert out.dead == [(events[0], "rename_0", "missing field 'a'")]
    out = run(make_spec, events, 'op = "rename"\nfrom = "a"\nto = "c"\non_error = "skip"')
    assert out.events == events
    assert out.counters["rename_0"]["skipped"] == 1
    assert out.dead == []


def test_dec1_null_on_path_is_none(make_spec):
    out = run(
        make_spec,
        [{"ts": 0, "user": {"address": None}}],
        'op = "rename"\nfrom = "user.address.city"\nto = "city"',
    )
    assert out.events == [{"ts": 0, "user": {"address": None}, "city": None}]


def test_pipe16_insert(make_spec):
    out = run(
        make_spec,
        [{"ts": 0}, {"ts": 0, "src": "x"}],
        'op = "insert"\nfield = "meta.tags"\nvalue = ["a"]',
        'op = "insert"\nfield = "src"\nvalue = "gen"\nif_exists = "keep"',
    )
    assert out.events == [
        {"ts": 0, "meta": {"tags": ["a"]}, "src": "gen"},
        {"ts": 0, "src": "x", "meta": {"tags": ["a"]}},
    ]
    out.events[0]["meta"]["tags"].append("mutated")
    assert out.events[1]["meta"]["tags"] == ["a"]


def test_pipe16_remove_all_or_nothing(make_spec):
    events = [{"ts": 0, "a": 1, "b": 2, "c": 3}, {"ts": 0, "a": 1}]
    out = run(make_spec, events, 'op = "remove"\nfields = ["a", "b"]')
    assert out.events == [{"ts": 0, "c": 3}]
    assert out.dead == [(events[1], "remove_0", "missing field 'b'")]
    out = run(make_spec, [dict(events[1])], 'op = "remove"\nfields = ["a", "b"]\non_error = "skip"')
    assert out.events == [events[1]]


def test_pipe16_mask(make_spec):
    card = "4111111111111111"
    out = run(
        make_spec,
        [{"ts": 0, "card": card, "n": 123456, "z": None}],
        'op = "mask"\nfield = "card"',
        'op = "mask"\nfield = "n"\nkeep_last = 2\nchar = "#"',
        'op = "mask"\nfield = "z"',
    )
    assert out.events == [{"ts": 0, "card": "************1111", "n": "####56", "z": None}]
    out = run(
        make_spec,
        [{"ts": 0, "card": card}],
        'op = "mask"\nfield = "card"\nmode = "hash"\nsalt = "s"',
    )
    assert out.events[0]["card"] == hashlib.sha256(b"s" + card.encode()).hexdigest()
    out = run(make_spec, [{"ts": 0, "card": "12"}], 'op = "mask"\nfield = "card"')
    assert out.events[0]["card"] == "12"
    out = run(make_spec, [{"ts": 0, "card": [1]}], 'op = "mask"\nfield = "card"')
    assert out.dead[0][2] == "cannot mask 'card': not a string or number"


def test_null_policies(make_spec):
    events = [{"ts": 0, "b": None}, {"ts": 0, "b": 0.5}]
    out = run(make_spec, events, 'op = "nulls"\nfields = ["b"]\npolicy = "drop"')
    assert out.events == [events[1]]
    assert out.filtered == 1
    assert out.dead == []
    out = run(make_spec, events, 'op = "nulls"\nfields = ["b"]\npolicy = "default"\ndefault = -1')
    assert [e["b"] for e in out.events] == [-1, 0.5]
    out = run(make_spec, events, 'op = "nulls"\nfields = ["b"]\npolicy = "error"')
    assert out.dead == [(events[0], "nulls_0", "field 'b' is null")]
    out = run(
        make_spec,
        [{"ts": 0}],
        'op = "nulls"\nfields = ["b"]\npolicy = "default"\ndefault = 0\nmissing = "null"',
    )
    assert out.events == [{"ts": 0, "b": 0}]
    out = run(
        make_spec, [{"ts": 0}], 'op = "nulls"\nfields = ["b"]\npolicy = "default"\ndefault = 0'
    )
    assert out.dead[0][2] == "missing field 'b'"


def test_null_policy_options_checked(make_spec):
    with pytest.raises(ConfigError, match=r"transforms\[0\]\.default: is required"):
        make_spec(steps_toml('op = "nulls"\nfields = ["b"]\npolicy = "default"'))
    with pytest.raises(ConfigError, match=r"transforms\[0\]\.default: only applies"):
        make_spec(steps_toml('op = "nulls"\nfields = ["b"]\npolicy = "drop"\ndefault = 1'))


def test_pipe13_flatten_examples(make_spec):
    assert flatten_list([[["x"]], "y", []]) == ["x", "y"]
    out = run(
        make_spec,
        [{"ts": 0, "tags": [[["x"]], "y", []]}, {"ts": 0, "tags": "x"}],
        'op = "flatten"\nfield = "tags"',
    )
    assert [e["tags"] for e in out.events] == [["x", "y"], "x"]


def test_pipe13_flatten_depth_1000_is_iterative():
    deep: list = ["x"]
    for _ in range(1000):
        deep = [deep, "y"]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive flatten would fail here
    try:
        flat = flatten_list(deep)
    finally:
        sys.setrecursionlimit(limit)
    assert flat == ["x"] + ["y"] * 1000


def reference_flatten(value):
    out = []
    for item in value:
        if isinstance(item, list):
            out.extend(reference_flatten(item))
        else:
            out.append(item)
    return out


nested = st.recursive(
    st.integers() | st.text(max_size=3) | st.none(),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=30,
)


@given(st.lists(nested, max_size=6))
def test_pipe13_flatten_matches_reference(value):
    flat = flatten_list(value)
    assert flat == reference_flatten(value)
    assert not any(isinstance(v, list) for v in flat)
    assert flatten_list(flat) == flat


def test_flatten_object(make_spec):
    event = {
        "ts": 0,
        "reading": {
            "temperature": 21.5,
            "humidity": 40.0,
            "battery": None,
            "gps": {"lat": 1, "lon": 2},
        },
    }
    out = run(make_spec, [event], 'op = "flatten"\nfield = "reading"\nkind = "object"')
    assert out.events == [
        {
            "ts": 0,
            "reading_temperature": 21.5,
            "reading_humidity": 40.0,
            "reading_battery": None,
            "reading_gps_lat": 1,
            "reading_gps_lon": 2,
        }
    ]
    assert event["reading"]["gps"] == {"lat": 1, "lon": 2}  # the original is untouched
    clash = {"ts": 0, "reading": {"t": 1}, "reading_t": 5}
    out = run(make_spec, [clash], 'op = "flatten"\nfield = "reading"\nkind = "object"')
    assert out.dead == [(clash, "flatten_0", "cannot flatten 'reading': 'reading_t' exists")]


keys = st.text("abc", min_size=1, max_size=3)
objects = st.recursive(
    st.integers(), lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3), max_leaves=15
)


def reference_flatten_object(prefix, value, sep):
    out = {}
    for k, v in value.items():
        name = f"{prefix}{sep}{k}"
        if isinstance(v, dict) and v:
            out.update(reference_flatten_object(name, v, sep))
        else:
            out[name] = v
    return out


@given(st.dictionaries(keys, objects, min_size=1, max_size=4))
def test_flatten_object_matches_reference(value):
    assert flatten_object("r", value, "__") == reference_flatten_object("r", value, "__")
