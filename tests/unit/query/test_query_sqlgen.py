"""SQL generation (QUERY-2) and the planner (QUERY-7), no database."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from datanexus.errors import QueryError
from datanexus.query.catalog import Catalog
from datanexus.query.check import check, parse_query
from datanexus.query.model import TimeBound
from datanexus.query.planner import build_plan, choose_granularity, ms_to_sql, resolve_range
from datanexus.query.sqlgen import like_pattern

M, H, D = 60_000, 3_600_000, 86_400_000
CATALOG = Catalog(
    "t",
    "web",
    1,
    ("region", "host"),
    {"latency_ms": frozenset({"digest"}), "u": frozenset({"hll"})},
)


def render(statement: sql.Composable) -> str:
    # as_string without a connection renders identifiers and the fixed literals only.
    return statement.as_string(None)


def fetch(text: str) -> tuple[str, tuple[object, ...]]:
    plan = build_plan(check(parse_query(text), CATALOG), CATALOG, "dn_schema")
    params = plan.fetch.params("tenant-x", "web", M, "-infinity", "infinity")
    return render(plan.fetch.statement), params


EVIL = ["x'; DROP TABLE t; --", "Robert'); --", "a\\'b", "%_%", "$$; SELECT 1; $$", "\u202e'"]


@pytest.mark.parametrize("evil", EVIL)
def test_query_2_user_text_only_in_params(evil: str) -> None:
    literal = "'" + evil.replace("'", "''") + "'"
    text, params = fetch(
        f"SELECT count() FROM web WHERE region = {literal} AND host LIKE {literal}"
        f" AND region IN ({literal}, 'b') AND host NOT ILIKE {literal}"
    )
    assert evil not in text
    assert evil.split("'")[0] not in text or evil.split("'")[0] in ("", "x", "a")
    assert "DROP" not in text
    assert "Robert" not in text
    assert evil in params
    assert like_pattern(evil) in params
    assert text.count("%s") == len(params)


def test_query_2_statement_shape() -> None:
    text, params = fetch(
        "SELECT p99(latency_ms), distinct(u), count() FROM web WHERE region = 'eu' AND host > 10"
    )
    assert '"dn_schema"."rollups"' in text
    assert "tenant_id = %s AND pipeline = %s AND granularity_ms = %s" in text
    assert "ESCAPE" not in text  # no LIKE here
    assert params[0] == ["latency_ms"]  # digests only for p99's metric
    assert params[1] == ["u"]  # HLLs only for distinct's
    assert params[2:7] == ("tenant-x", "web", M, "-infinity", "infinity")
    assert params[7] == ["*", "latency_ms", "u"]
    assert "region" in params
    assert "eu" in params
    assert "10" in params
    assert "::numeric" in text  # a number literal compares numerically
    assert 'COLLATE "C"' in text


def test_query_3_like_escape_makes_only_percent_and_underscore_wildcards() -> None:
    text, params = fetch("SELECT count() FROM web WHERE region LIKE 'a\\c%'")
    assert "ESCAPE" in text
    assert "a\\\\c%" in params


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s))
def test_query_2_any_literal_never_reaches_the_sql(value: str) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    text, params = fetch(f"SELECT count() FROM web WHERE region = {literal}")
    assert value in params
    template = render(
        build_plan(
            check(parse_query("SELECT count() FROM web WHERE region = 'z'"), CATALOG),
            CATALOG,
            "dn_schema",
        ).fetch.statement
    )
    assert text == template  # the statement does not depend on the value at all


def test_query_6_resolve_range_is_half_open_and_snapped() -> None:
    now = 10 * H + 30_500
    bounds = (TimeBound(">=", None, -H), TimeBound("<", None, 0))
    assert resolve_range(bounds, now, M) == (9 * H + M, 10 * H + M)
    assert resolve_range((TimeBound(">", 5 * M, 0),), now, M) == (6 * M, None)
    assert resolve_range((TimeBound("<=", 5 * M, 0),), now, M) == (None, 6 * M)
    assert resolve_range((TimeBound("=", 5 * M, 0),), now, M) == (5 * M, 6 * M)
    assert resolve_range((), now, M) == (None, None)


def test_query_7_choose_granularity() -> None:
    levels = (M, H, D)
    covered = {H: 100 * D, D: 100 * D}
    assert choose_granularity(levels, 15 * M, 0, 10 * D, covered) == M  # 15 min from 1 min
    assert choose_granularity(levels, 2 * H, 0, 10 * D, covered) == H
    assert choose_granularity(levels, D, 0, 10 * D, covered) == D
    assert choose_granularity(levels, None, 0, 10 * D, covered) == D
    assert choose_granularity(levels, D, 0, 10 * D, {H: 100 * D, D: 5 * D}) == H  # D not compacted
    assert choose_granularity(levels, D, 0, 10 * D, {}) == M  # no watermarks
    assert choose_granularity(levels, D, 0, None, covered) == M  # reaches the present
    assert choose_granularity(levels, D, 30 * M, 10 * D, covered) == M  # unaligned start
    assert choose_granularity(levels, None, None, 10 * D, covered) == D


def test_query_7_bucket_must_be_a_multiple_of_the_finest_level() -> None:
    with pytest.raises(QueryError, match="not a multiple"):
        build_plan(
            check(parse_query("SELECT count() FROM web GROUP BY time(90s)"), CATALOG), CATALOG, "s"
        )


def test_ms_to_sql_bounds() -> None:
    assert ms_to_sql(None, upper=False) == "-infinity"
    assert ms_to_sql(None, upper=True) == "infinity"
    assert ms_to_sql(1_714_521_600_123, upper=False) == "2024-05-01T00:00:00.123000+00:00"
    assert ms_to_sql(10**18, upper=True) == "infinity"
