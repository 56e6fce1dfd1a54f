"""Merging (QUERY-7, QUERY-8), shaping (QUERY-5), cursors (QUERY-9), the plan cache
(QUERY-11) and result formats, against plain Python references."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.errors import InvalidArgument, QueryError
from datanexus.query import PlanCache, QueryResult, format_result
from datanexus.query.catalog import Catalog
from datanexus.query.check import check, parse_query
from datanexus.query.cursor import decode_cursor, encode_cursor
from datanexus.query.merge import MetricAcc, counter_increase, finish
from datanexus.query.model import ColumnRef, Measure, OrderItem
from datanexus.query.planner import build_plan
from datanexus.query.shape import Group, dims_of, evaluate, like_regex, ordered
from datanexus.sketches import HyperLogLog, TDigest

CHUNKS = st.lists(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    min_size=1,
    max_size=12,
)


def acc_of(chunks: list[list[float]]) -> MetricAcc:
    acc = MetricAcc()
    for i, chunk in enumerate(chunks):
        mean = math.fsum(chunk) / len(chunk)
        m2 = math.fsum((v - mean) ** 2 for v in chunk)
        acc.add(
            (
                i * 60_000,
                "{}",
                "x",
                len(chunk),
                math.fsum(chunk),
                min(chunk),
                max(chunk),
                mean,
                m2,
                None,
                None,
            ),
            want_samples=False,
        )
    return acc


@settings(max_examples=200, deadline=None)
@given(CHUNKS)
def test_query_7_exact_merges_equal_the_raw_reference(chunks: list[list[float]]) -> None:
    acc = acc_of(chunks)
    values = [v for c in chunks for v in c]
    assert finish(Measure("count", "x"), acc) == len(values)
    assert finish(Measure("min", "x"), acc) == min(values)
    assert finish(Measure("max", "x"), acc) == max(values)
    assert finish(Measure("sum", "x"), acc) == pytest.approx(math.fsum(values), rel=1e-9, abs=1e-6)
    assert finish(Measure("avg", "x"), acc) == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)
    std = finish(Measure("stddev", "x"), acc)
    if len(values) < 2:
        assert std is None
    else:
        assert std == pytest.approx(np.std(values, ddof=1), rel=1e-6, abs=1e-6)


def test_query_7_sketches_merge_never_average() -> None:
    rng = np.random.default_rng(1)
    parts = [rng.lognormal(0, 1 + i, 2000) for i in range(4)]  # very different windows
    acc = MetricAcc()
    for i, p in enumerate(parts):
        d = TDigest(100)
        d.add_many(p)
        h = HyperLogLog(12)
        h.add_many([int(x * 1000) for x in p[:500]])
        acc.add(
            (
                i,
                "{}",
                "x",
                len(p),
                float(p.sum()),
                float(p.min()),
                float(p.max()),
                None,
                None,
                d.to_bytes(),
                h.to_bytes(),
            ),
            want_samples=False,
        )
    allv = np.sort(np.concatenate(parts))
    p99 = finish(Measure("quantile", "x", q=0.99), acc)
    assert isinstance(p99, float)
    rank = np.searchsorted(allv, p99) / len(allv)
    assert abs(rank - 0.99) < 0.002
    mean_of_p99s = np.mean([np.quantile(p, 0.99) for p in parts])
    averaged_rank = np.searchsorted(allv, mean_of_p99s) / len(allv)
    assert abs(rank - 0.99) < abs(averaged_rank - 0.99)  # averaging percentiles is worse
    assert acc.compression == 100.0
    distinct = {int(x * 1000) for p in parts for x in p[:500]}
    est = finish(Measure("distinct", "x"), acc)
    assert abs(est - len(distinct)) <= 3 * 1.04 / 64 * len(distinct)  # type: ignore[operator]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e9, allow_nan=False), max_size=20))
def test_query_8_increase_never_negative_resets_count_in_full(values: list[float]) -> None:
    samples = [(i * 60_000, v) for i, v in enumerate(values)]
    result = counter_increase(samples)
    if len(values) < 2:
        assert result is None
        return
    assert result is not None
    increase, span = result
    expected = math.fsum(b - a if b >= a else b for a, b in itertools.pairwise(values))
    assert increase >= 0
    assert increase == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert span == (len(values) - 1) * 60_000


def test_query_5_float_keys_twelve_digits_null_group_bools_apart() -> None:
    dims = ("k",)
    assert dims_of(json.dumps({"k": 1.1 + 2.2}), dims) == dims_of(json.dumps({"k": 3.3}), dims)
    assert dims_of("{}", dims) == dims_of('{"k": null}', dims)
    assert dims_of('{"k": true}', dims) != dims_of('{"k": 1}', dims)
    assert dims_of("not json", dims) is None


def test_query_5_stable_multi_column_order_with_nulls() -> None:
    groups = [
        Group(None, {"a": a, "b": b}, {"n": n})
        for a, b, n in [(1, "x", 3), (None, "y", 1), (2, "x", 3), (1, "y", None), (2, "a", 2)]
    ]
    order = (
        OrderItem(ColumnRef("measure", "n"), desc=True, nulls_first=True),
        OrderItem(ColumnRef("dim", "a")),
    )
    rows = [
        (g.values["n"], g.dims["a"], g.dims["b"]) for _, g in ordered(groups, order, ("a", "b"))
    ]
    assert rows == [(None, 1, "y"), (3, 1, "x"), (3, 2, "x"), (2, 2, "a"), (1, None, "y")]


def test_query_3_having_evaluation_and_like() -> None:
    cond = check(
        parse_query(
            "SELECT region, count() AS n FROM web GROUP BY region "
            "HAVING n > 2 AND region LIKE 'O_lo' OR region IS NULL"
        ),
        CATALOG,
    ).having
    assert cond is not None

    def get(values: dict[str, object]):  # type: ignore[no-untyped-def]
        return lambda ref: values.get(ref.name)

    assert evaluate(cond, get({"count()": 3, "region": "Oslo"})) is True
    assert evaluate(cond, get({"count()": 1, "region": "Oslo"})) is False
    assert evaluate(cond, get({"count()": None, "region": None})) is True
    assert like_regex("a.c", False).fullmatch("abc") is None
    assert like_regex("O_lo", False).fullmatch("Oslo") is not None
    assert like_regex("%\\%", False).fullmatch("x\\") is not None


CATALOG = Catalog("t", "web", 1, ("region",), {"x": frozenset({"sum"})})


def test_query_9_cursor_round_trip_and_tamper() -> None:
    token = encode_cursor(b"s", "t1", "Q", 123, [1.5, None, "é", 7])
    assert decode_cursor(b"s", "t1", "Q", token) == (123, [1.5, None, "é", 7])
    for secret, tenant, query in ((b"x", "t1", "Q"), (b"s", "t2", "Q"), (b"s", "t1", "Q2")):
        with pytest.raises(QueryError, match="invalid cursor"):
            decode_cursor(secret, tenant, query, token)
    body, mac = token.split(".")
    for bad in (body + "A." + mac, body + "." + mac[:-1], "", "a.b.c", "é.é"):
        with pytest.raises(QueryError):
            decode_cursor(b"s", "t1", "Q", bad)


def test_query_11_plan_cache_same_object_lru_invalidate_stats() -> None:
    cache = PlanCache(max_size=2)
    built = 0

    def builder(text: str):  # type: ignore[no-untyped-def]
        def build():  # type: ignore[no-untyped-def]
            nonlocal built
            built += 1
            return build_plan(check(parse_query(text), CATALOG), CATALOG, "s")

        return build

    a = cache.get_or_build("A", "t", "web", 1, builder("SELECT count() FROM web"))
    assert cache.get_or_build("A", "t", "web", 1, builder("SELECT count() FROM web")) is a
    assert cache.get_or_build("A", "u", "web", 1, builder("SELECT count() FROM web")) is not a
    cache.get_or_build(
        "B", "t", "web", 1, builder("SELECT sum(x) FROM web")
    )  # evicts (A, t)? no: LRU
    assert cache.stats() == {"size": 2, "max": 2, "version": 0, "hits": 1, "misses": 3}
    assert cache.get_or_build("A", "t", "web", 1, builder("SELECT count() FROM web")) is not a
    cache.invalidate()
    cache.invalidate()
    assert cache.stats()["size"] == 0
    assert cache.stats()["version"] == 2
    assert cache.get_or_build("A", "t", "web", 2, builder("SELECT count() FROM web")) is not a
    assert built == 5
    with pytest.raises(InvalidArgument):
        PlanCache(max_size=0)


RESULT = QueryResult(
    columns=["time", "region", "p99"],
    rows=[(datetime(2024, 5, 1, tzinfo=UTC), 'eu, "west"', 12.5), (None, None, None)],
    granularity_ms=60_000,
    errors={"p99": 0.0066},
    next_cursor="abc.def",
    total=7,
)


def test_format_result_json_csv_table() -> None:
    data = json.loads(format_result(RESULT, "json"))
    assert data["rows"] == [["2024-05-01T00:00:00Z", 'eu, "west"', 12.5], [None, None, None]]
    assert (data["total"], data["next_cursor"], data["errors"]) == (7, "abc.def", {"p99": 0.0066})
    parsed = list(csv.reader(io.StringIO(format_result(RESULT, "csv"))))
    assert parsed == [
        ["time", "region", "p99"],
        ["2024-05-01T00:00:00Z", 'eu, "west"', "12.5"],
        ["", "", ""],
    ]
    table = format_result(RESULT, "table").splitlines()
    assert table[0].split() == ["time", "region", "p99"]
    assert "12.5" in table[2]
    assert "(2 of 7 rows, granularity 60000 ms; error bounds: p99 ±0.0066" in table[-1]
    with pytest.raises(InvalidArgument, match="unknown format"):
        format_result(RESULT, "xml")
