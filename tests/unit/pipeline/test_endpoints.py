"""Multi-endpoint sinks (PIPE-21)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.errors import InvalidArgument
from datanexus.pipeline.endpoints import EndpointSelector


def test_pipe21_round_robin_in_order_skipping_unhealthy():
    sel = EndpointSelector(["a", "b", "c"])
    assert [sel.pick() for _ in range(4)] == ["a", "b", "c", "a"]
    sel.set_healthy("c", False)
    assert [sel.pick() for _ in range(4)] == ["b", "a", "b", "a"]
    assert sel.endpoints == ("a", "b", "c")


def test_pipe21_least_connections():
    sel = EndpointSelector(["a", "b", "c"], "least_connections")
    for name, n in (("a", 7), ("b", 2), ("c", 9)):
        for _ in range(n):
            sel.acquire(name)
    assert sel.pick() == "b"
    sel.set_healthy("b", False)
    assert sel.pick() == "a"
    for _ in range(2):
        sel.release("a")
    sel.acquire("c")
    assert sel.pick() == "a"
    assert sel.endpoints == ("a", "b", "c")


def test_pipe21_weighted_80_20():
    sel = EndpointSelector(["heavy", "light"], "weighted", weights={"heavy": 80, "light": 20})
    counts = Counter(sel.pick() for _ in range(1000))
    assert counts["heavy"] > 3 * counts["light"]
    assert counts == {"heavy": 800, "light": 200}


def test_pipe21_none_healthy_is_none():
    for strategy in ("round_robin", "least_connections", "weighted"):
        sel = EndpointSelector(["a", "b"], strategy)
        sel.set_healthy("a", False)
        sel.set_healthy("b", False)
        assert sel.pick() is None


def test_bad_configuration():
    with pytest.raises(InvalidArgument):
        EndpointSelector([])
    with pytest.raises(InvalidArgument):
        EndpointSelector(["a", "a"])
    with pytest.raises(InvalidArgument):
        EndpointSelector(["a"], "random")
    with pytest.raises(InvalidArgument):
        EndpointSelector(["a"], "weighted", weights={"a": 0})
    with pytest.raises(InvalidArgument):
        EndpointSelector(["a"], "weighted", weights={"b": 1})
    with pytest.raises(InvalidArgument):
        EndpointSelector(["a"]).release("a")


@given(st.lists(st.integers(1, 20), min_size=1, max_size=5), st.data())
def test_pipe21_weighted_exact_shares(weights, data):
    names = [f"e{i}" for i in range(len(weights))]
    sel = EndpointSelector(names, "weighted", weights=dict(zip(names, weights, strict=True)))
    down = data.draw(st.sets(st.sampled_from(names), max_size=len(names) - 1))
    for n in down:
        sel.set_healthy(n, False)
    live = [n for n in names if n not in down]
    total = sum(w for n, w in zip(names, weights, strict=True) if n in live)
    counts = Counter(sel.pick() for _ in range(total * 3))
    assert counts == {n: 3 * w for n, w in zip(names, weights, strict=True) if n in live}
    assert sel.endpoints == tuple(names)


@given(st.lists(st.booleans(), min_size=1, max_size=6), st.integers(1, 30))
def test_pipe21_round_robin_cycles_healthy_in_order(health, picks):
    names = [f"e{i}" for i in range(len(health))]
    sel = EndpointSelector(names)
    for n, h in zip(names, health, strict=True):
        sel.set_healthy(n, h)
    live = [n for n, h in zip(names, health, strict=True) if h]
    got = [sel.pick() for _ in range(picks)]
    if not live:
        assert got == [None] * picks
    else:
        assert got == [live[i % len(live)] for i in range(picks)]
