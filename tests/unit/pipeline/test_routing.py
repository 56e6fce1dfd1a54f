"""Content routing (PIPE-19), topic exchange and fan-out (PIPE-20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.errors import ConfigError
from datanexus.pipeline.routing import (
    DEAD_LETTER,
    ContentRouter,
    RouteRule,
    TopicExchange,
    check_topic_pattern,
    expand,
    topic_matches,
)


def rule(name, pred, dest, prio=0):
    return RouteRule(name, pred, dest, prio)


def test_pipe19_highest_priority_wins_ties_by_order():
    rules = [
        rule("low", lambda e: True, "a", 1),
        rule("high1", lambda e: e["x"] > 0, "b", 5),
        rule("high2", lambda e: e["x"] > 0, "c", 5),
    ]
    router = ContentRouter(rules)
    result = router.route({"x": 1})
    assert (result.destination, result.rule, result.payload) == ("b", "high1", {"x": 1})
    assert router.route({"x": 0}).rule == "low"
    assert router.rules == tuple(rules)


def test_pipe19_unmatched_goes_to_dead_letter_handler_once():
    seen = []
    router = ContentRouter([rule("r", lambda e: False, "a")], on_unmatched=seen.append)
    event = {"x": 1}
    result = router.route(event)
    assert (result.destination, result.rule, result.payload) == (DEAD_LETTER, None, event)
    assert seen == [event]
    assert router.unmatched == 1


@pytest.mark.parametrize(
    ("pattern", "key", "expected"),
    [
        ("eu.*.created", "eu.orders.created", True),
        ("#.created", "eu.orders.created", True),
        ("*.created", "eu.orders.created", False),
        ("#", "", True),
        ("#", "a.b", True),
        ("eu.#", "eu", True),
        ("eu.#.x", "eu.x", True),
        ("eu.#.x", "eu.a.b.x", True),
        ("*", "a.b", False),
        ("a.*", "a", False),
        ("#.#", "a", True),
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
    ],
)
def test_pipe20_topic_examples(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def reference(pattern, key):
    # Exhaustive recursive reference over word lists.
    pw, kw = pattern.split("."), key.split(".") if key else []

    def go(i, j):
        if i == len(pw):
            return j == len(kw)
        if pw[i] == "#":
            return any(go(i + 1, k) for k in range(j, len(kw) + 1))
        return j < len(kw) and (pw[i] == "*" or pw[i] == kw[j]) and go(i + 1, j + 1)

    return go(0, 0)


words = st.sampled_from(["a", "b", "eu"])


@given(
    st.lists(words | st.sampled_from(["*", "#"]), min_size=1, max_size=6),
    st.lists(words, max_size=6),
)
def test_pipe20_topic_matches_reference(pattern_words, key_words):
    pattern, key = ".".join(pattern_words), ".".join(key_words)
    assert topic_matches(pattern, key) is reference(pattern, key)


@given(st.lists(words, min_size=1, max_size=6))
def test_pipe20_topic_laws(key_words):
    key = ".".join(key_words)
    assert topic_matches(key, key)
    assert topic_matches("#", key)
    assert topic_matches(".".join("*" * len(key_words)), key)
    assert not topic_matches(".".join("*" * (len(key_words) + 1)), key)


def test_pipe20_exchange_fanout_and_alternate():
    ex = TopicExchange(
        [("eu.#", "europe"), ("*.orders.*", "orders"), ("eu.orders.created", "audit")],
        groups={"audit": ["log", "archive"]},
        alternate="unrouted",
    )
    assert ex.route("eu.orders.created") == ("europe", "orders", "log", "archive")
    assert ex.route("us.orders.paid") == ("orders",)
    assert ex.unroutable == 0
    assert ex.route("us.users.created") == ("unrouted",)
    assert ex.unroutable == 1
    assert expand("audit", ex.groups) == ("log", "archive")
    assert expand("x", ex.groups) == ("x",)


def test_pipe20_patterns_checked():
    for bad in ["", "a..b", "a.b c", "a.**", "a.#x"]:
        with pytest.raises(ConfigError, match=r"^t: "):
            check_topic_pattern(bad, where="t")
