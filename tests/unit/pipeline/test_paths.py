"""Field paths (PIPE-12) and the null-vs-missing rule (DEC-1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.errors import ConfigError, MissingField, TransformError
from datanexus.pipeline.paths import parse_path


def p(text):
    return parse_path(text, where="t")


def test_pipe12_dotted_and_indexed():
    event = {"items": [{"sku": "a"}, {"sku": "b"}], "user": {"name": "Ada"}}
    assert p("items[1].sku").get(event) == "b"
    assert p("user.name").get(event) == "Ada"
    assert p("items[1].sku").segments == ("items", 1, "sku")
    assert p("m[0][2]").segments == ("m", 0, 2)


def test_dec1_null_yields_none_missing_raises():
    assert p("user.address.city").get({"user": {"address": None}}) is None
    with pytest.raises(MissingField, match=r"user\.address\.city"):
        p("user.address.city").get({"user": {}})
    with pytest.raises(MissingField):
        p("items[3]").get({"items": [1]})
    with pytest.raises(MissingField):
        p("x").get({})


def test_pipe12_never_attributes():
    # A path walks dicts and lists only: a str has no "upper" key, an object no attributes.
    with pytest.raises(TransformError, match="expected an object"):
        p("name.upper").get({"name": "ada"})
    with pytest.raises(TransformError, match="expected a list"):
        p("a[0]").get({"a": {"0": 1}})
    with pytest.raises(TransformError):
        p("a.real").get({"a": 5})


@pytest.mark.parametrize(
    "bad",
    [
        "_x",
        "a._b",
        "__proto__",
        "a.__class__",
        "items[0]._x",
        "",
        "a..b",
        "a.",
        "a[x]",
        "a b",
        "[0]",
        5,
    ],
)
def test_pipe12_underscore_and_malformed_fail_spec(bad):
    with pytest.raises(ConfigError, match="t: "):
        parse_path(bad, where="t")


def test_set_creates_objects_and_refuses_null():
    event: dict = {}
    p("meta.source").set(event, "gen")
    assert event == {"meta": {"source": "gen"}}
    with pytest.raises(TransformError, match="null"):
        p("a.b").set({"a": None}, 1)
    with pytest.raises(TransformError):
        p("a[2]").set({"a": [0]}, 1)
    event = {"a": [0, 1]}
    p("a[1]").set(event, 9)
    assert event == {"a": [0, 9]}


def test_delete():
    event = {"a": {"b": 1, "c": 2}}
    assert p("a.b").delete(event) == 1
    assert event == {"a": {"c": 2}}
    with pytest.raises(MissingField):
        p("a.b").delete(event)


names = st.builds(lambda a, b: a + b, st.sampled_from("abcxyz"), st.text("ab09_-", max_size=6))
json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=20,
)


def reference_get(value, segments):
    for seg in segments:
        if value is None:
            return None
        value = value[seg]
    return value


@given(st.dictionaries(names, json_values, min_size=1, max_size=5), st.data())
def test_get_matches_walk_of_existing_paths(event, data):
    # Build a path along the actual structure and compare with a plain walk.
    segments: list = []
    value = event
    while True:
        if isinstance(value, dict) and value:
            key = data.draw(st.sampled_from(sorted(value)))
        elif isinstance(value, list) and value and segments:
            key = data.draw(st.integers(0, len(value) - 1))
        else:
            break
        segments.append(key)
        value = value[key]
        if not data.draw(st.booleans()):
            break
    if not segments:
        return
    text = ""
    for seg in segments:
        text += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if text else seg)
    path = p(text)
    assert path.segments == tuple(segments)
    assert path.get(event) == reference_get(event, segments)


@given(st.lists(names, min_size=1, max_size=5), json_values)
def test_set_then_get_round_trips(segments, value):
    event: dict = {}
    path = p(".".join(segments))
    path.set(event, value)
    assert path.get(event) == value
    assert path.delete(event) == value
