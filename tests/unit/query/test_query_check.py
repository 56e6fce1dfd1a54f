"""Parser and checker (QUERY-1, QUERY-3 parsing, QUERY-5/6 model), no database."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.errors import QueryError
from datanexus.query.catalog import Catalog
from datanexus.query.check import check, parse_query
from datanexus.query.model import Cmp, ColumnRef, InList, Like, Query, TimeBound

CATALOG = Catalog(
    "t",
    "web",
    1,
    ("region", "host", "status"),
    {
        "latency_ms": frozenset({"sum", "digest"}),
        "user_id": frozenset({"hll"}),
        "bytes": frozenset({"sum"}),
    },
)


def q(text: str) -> Query:
    return check(parse_query(text), CATALOG)


def test_query_1_the_example_query_checks() -> None:
    query = q(
        "SELECT p99(latency_ms), distinct(user_id), count(), sum(bytes), avg(latency_ms),"
        " min(bytes), max(bytes), stddev(bytes), p99.9(latency_ms), rate(bytes), increase(bytes)"
        " FROM web WHERE region IN ('eu', 'us') AND time >= now() - interval '6 hours'"
        " GROUP BY time(5m), region ORDER BY time LIMIT 500"
    )
    assert [m.name for m in query.measures] == [
        "p99(latency_ms)",
        "distinct(user_id)",
        "count()",
        "sum(bytes)",
        "avg(latency_ms)",
        "min(bytes)",
        "max(bytes)",
        "stddev(bytes)",
        "p99.9(latency_ms)",
        "rate(bytes)",
        "increase(bytes)",
    ]
    assert query.measures[8].q == pytest.approx(0.999)
    assert query.bucket_ms == 300_000
    assert query.group_dims == ("region",)
    assert query.where == InList(ColumnRef("dim", "region"), ("eu", "us"))
    assert query.time_bounds == (TimeBound(">=", None, -6 * 3_600_000),)
    assert query.limit == 500


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT count() FROM web; SELECT 1", "';' is not allowed"),
        ("SELECT count() FROM web;", "';' is not allowed"),
        ("DROP TABLE web", "only SELECT"),
        ("INSERT INTO web VALUES (1)", "only SELECT"),
        ("SELECT count() FROM web -- hi", "comments"),
        ("SELECT pg_sleep(1) FROM web", "pg_sleep() is not allowed"),
        ("SELECT count() FROM s.web", "schemas are not allowed"),
        ("SELECT count() FROM c.s.web", "not allowed"),
        ("SELECT count() FROM web AS w", "aliases are not allowed"),
        ("SELECT count() FROM web JOIN x ON true", "JOINS is not supported"),
        ("SELECT count() FROM (SELECT 1)", "one stream"),
        ("SELECT count() FROM web WHERE region IN (SELECT 1)", "subquery"),
        ("SELECT count() FROM web WHERE region = (SELECT 1)", "subquery"),
        ("SELECT * FROM web", "SELECT * is not supported"),
        ("SELECT DISTINCT region FROM web GROUP BY region", "DISTINCT is not supported"),
        ("SELECT count() FROM web UNION SELECT count() FROM web", "not UNION"),
        ("SELECT nope FROM web", "unknown field 'nope'"),
        ("SELECT count() FROM web WHERE latency_ms > 3", "measured field"),
        ("SELECT count() FROM web WHERE nope = 'x'", "unknown field 'nope'"),
        ("SELECT region, count() FROM web", "must appear in GROUP BY"),
        ("SELECT time, count() FROM web", "GROUP BY time"),
        ("SELECT p99(bytes) FROM web", "no t-digest"),
        ("SELECT distinct(bytes) FROM web", "no HyperLogLog"),
        ("SELECT p101(bytes) FROM web", "at most p100"),
        ("SELECT sum(region) FROM web", "not a measured field"),
        ("SELECT count() FROM web GROUP BY time(7q)", "syntax error"),
        ("SELECT count() FROM web GROUP BY time('7 fortnights')", "duration"),
        ("SELECT count() FROM web GROUP BY nope", "unknown group-by field"),
        ("SELECT count() FROM web WHERE time > 'yesterday'", "RFC 3339"),
        ("SELECT count() FROM web WHERE region = 'a' OR time > now()", "joined by AND"),
        ("SELECT count() FROM web WHERE region BETWEEN 'a' AND 'b'", "BETWEEN"),
        ("SELECT count() FROM web WHERE region LIKE 'a' ESCAPE '!'", "ESCAPE"),
        ("SELECT count() FROM web WHERE region = NULL", "IS NULL"),
        ("SELECT count() FROM web WHERE region = host", "with a literal"),
        ("SELECT count() FROM web WHERE region::text = 'x'", "not allowed"),
        ("SELECT count() FROM web LIMIT -1", "0 or more"),
        ("SELECT count() FROM web LIMIT 'x'", "integer"),
        ("SELECT count() AS a, sum(bytes) AS a FROM web", "two columns are named"),
        ("SELECT count() FROM web ORDER BY 3", "position"),
        ("", "empty"),
        ("SELECT", "FROM <stream> is required"),
    ],
)
def test_query_1_refused_with_query_invalid(text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        q(text)
    assert fragment in str(info.value)
    assert info.value.code == "QUERY_INVALID"
    assert info.value.http_status == 400


def test_query_1_errors_point_at_the_users_text() -> None:
    text = "SELECT count(),\n  pg_sleep(1) FROM web"
    with pytest.raises(QueryError) as info:
        q(text)
    assert info.value.position == text.index("pg_sleep")
    assert (info.value.line, info.value.col) == (2, 3)
    # Positions after a rewritten spelling (distinct( → dn_distinct() still map back.
    text = "SELECT distinct(user_id), nope FROM web"
    with pytest.raises(QueryError) as info:
        q(text)
    assert info.value.position == text.index("nope")


def test_query_3_bare_words_literals_and_flipped_comparisons() -> None:
    query = q("SELECT count() FROM web WHERE region = eu AND 200 <= status AND host LIKE 'O_lo'")
    assert query.where is not None
    parts = query.where.parts  # type: ignore[union-attr]
    assert parts[0] == Cmp(ColumnRef("dim", "region"), "=", "eu")
    assert parts[1] == Cmp(ColumnRef("dim", "status"), ">=", 200)
    assert parts[2] == Like(ColumnRef("dim", "host"), "O_lo")
    neg = q("SELECT count() FROM web WHERE status > -1.5e3 AND region NOT ILIKE 'x'").where
    assert neg.parts[0].value == -1500.0  # type: ignore[union-attr]
    assert neg.parts[1].negated
    assert neg.parts[1].case_insensitive


def test_query_6_time_bounds_and_durations() -> None:
    query = q(
        "SELECT count() FROM web WHERE time >= '2024-05-01T00:00:00Z'"
        " AND time < timestamp '2024-05-02T00:00:00+00:00' AND now() - interval '1' day > time"
        " AND time <= 1714521600000"
    )
    assert query.time_bounds == (
        TimeBound(">=", 1_714_521_600_000, 0),
        TimeBound("<", 1_714_608_000_000, 0),
        TimeBound("<", None, -86_400_000),
        TimeBound("<=", 1_714_521_600_000, 0),
    )
    for spelling in ("time(5m)", "time('5m')", "time(interval '5 minutes')", "time(300s)"):
        assert q(f"SELECT count() FROM web GROUP BY {spelling}").bucket_ms == 300_000


def test_query_10_negative_offset_is_zero() -> None:
    assert q("SELECT count() FROM web LIMIT 3 OFFSET -5").offset == 0
    assert q("SELECT count() FROM web OFFSET 7").offset == 7


def test_query_11_normalised_text_ignores_spacing_and_case() -> None:
    a = parse_query("SELECT count() FROM web WHERE region = 'eu'")
    b = parse_query("select   COUNT()\n from web\twhere region='eu'")
    assert a.normalized == b.normalized
    assert a.normalized != parse_query("SELECT count() FROM web WHERE region = 'EU'").normalized


def test_query_5_having_and_order_resolve_aliases_and_hidden_measures() -> None:
    query = q(
        "SELECT region, count() AS n FROM web GROUP BY region"
        " HAVING p99(latency_ms) > 3 AND n > 1 ORDER BY max(bytes) DESC, 1"
    )
    assert [m.name for m in query.measures] == ["count()", "p99(latency_ms)", "max(bytes)"]
    assert [c.label for c in query.columns] == ["region", "n"]
    assert [(o.ref.name, o.desc, o.nulls_first) for o in query.order] == [
        ("max(bytes)", True, True),
        ("region", False, False),
    ]


# -- properties ---------------------------------------------------------------------------

MEASURES = st.sampled_from(
    [
        "count()",
        "sum(bytes)",
        "avg(latency_ms)",
        "p95(latency_ms)",
        "p99.9(latency_ms)",
        "distinct(user_id)",
        "min(bytes)",
        "max(bytes)",
        "stddev(bytes)",
        "rate(bytes)",
    ]
)
LITERALS = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=12,
    ).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.integers(-(10**6), 10**6).map(str),
)
CONDITIONS = st.builds(
    lambda dim, op, lit: f"{dim} {op} {lit}",
    st.sampled_from(["region", "host", "status"]),
    st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="]),
    LITERALS,
)


@settings(max_examples=200, deadline=None)
@given(
    measures=st.lists(MEASURES, min_size=1, max_size=4, unique=True),
    conditions=st.lists(CONDITIONS, max_size=3),
    bucket=st.sampled_from(["", "time(1m), ", "time(15m), ", "time(1h), "]),
    group=st.sampled_from(["", "region", "region, host"]),
    limit=st.none() | st.integers(0, 20_000),
)
def test_query_1_random_allow_listed_queries_check_and_round_trip(
    measures: list[str], conditions: list[str], bucket: str, group: str, limit: int | None
) -> None:
    group_by = (bucket + group).rstrip(", ")
    select = ", ".join(([group] if group else []) + measures)
    text = f"SELECT {select} FROM web"
    if conditions:
        text += " WHERE " + " AND ".join(conditions)
    if group_by:
        text += f" GROUP BY {group_by}"
    if limit is not None:
        text += f" LIMIT {limit}"
    query = q(text)
    assert len(query.measures) == len(measures)
    assert query.limit == limit
    # The normalised text is itself a query that checks to the same model.
    again = q(query.normalized)
    assert again == query


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_query_1_junk_only_ever_raises_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        q(text)


TOKENS = st.sampled_from(
    [
        "SELECT",
        "FROM",
        "web",
        "WHERE",
        "GROUP BY",
        "ORDER BY",
        "LIMIT",
        "(",
        ")",
        ",",
        "'x'",
        "count()",
        "p99(latency_ms)",
        "region",
        "time",
        "=",
        "AND",
        "OR",
        "NOT",
        "1",
        "-",
        "now()",
        "interval",
        "'1h'",
        "time(5m)",
        ";",
        "--",
        "/*",
        "*/",
        "DROP",
        "UNION",
        "pg_sleep(1)",
        "*",
        "distinct",
        "IN",
        "LIKE",
        "IS",
        "NULL",
        "HAVING",
        "OFFSET",
        "::",
        '"',
        "'",
        "$1",
        "E'\\''",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=25))
def test_query_1_token_soup_only_ever_raises_query_error(tokens: list[str]) -> None:
    with contextlib.suppress(QueryError):
        q(" ".join(tokens))
