"""Saved queries (QUERY-15): dependencies refresh first; invalidation marks every
transitive dependant stale until it is queried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from querydata import MINUTE, T0, QueryDb
from test_query_run import setup_web, web_events

from datanexus.errors import InvalidArgument, QueryError
from datanexus.query import run_query
from datanexus.query.saved import SavedResults, load_saved_queries, save_query

NOW = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + 60 * MINUTE)
BASE = "SELECT count() FROM web"
BY_REGION = "SELECT region, count() FROM web GROUP BY region ORDER BY region"


def _save_graph(qdb: QueryDb) -> None:
    # base <- mid <- top, base <- side; lone depends on nothing.
    save_query(qdb.conn, qdb.tenant, "base", BASE, schema=qdb.schema)
    save_query(qdb.conn, qdb.tenant, "mid", BY_REGION, ["base"], schema=qdb.schema)
    save_query(
        qdb.conn, qdb.tenant, "top", "SELECT sum(bytes) FROM web", ["mid"], schema=qdb.schema
    )
    save_query(
        qdb.conn, qdb.tenant, "side", "SELECT max(latency_ms) FROM web", ["base"], schema=qdb.schema
    )
    save_query(qdb.conn, qdb.tenant, "lone", "SELECT min(bytes) FROM web", schema=qdb.schema)


def test_query_15_refresh_runs_dependencies_first(qdb: QueryDb) -> None:
    setup_web(qdb, web_events(60, 5, seed=4))
    _save_graph(qdb)
    results = SavedResults(qdb.conn, qdb.tenant, schema=qdb.schema, now=NOW)
    top = results.refresh("top")
    assert results.last_refreshed == ["base", "mid", "top"]
    assert (
        top.rows
        == run_query(
            qdb.conn, qdb.tenant, "SELECT sum(bytes) FROM web", schema=qdb.schema, now=NOW
        ).rows
    )
    base = results.get("base")
    assert base is not None
    assert base.rows == run_query(qdb.conn, qdb.tenant, BASE, schema=qdb.schema, now=NOW).rows
    # Fresh dependencies are not run again; the query itself always is.
    results.refresh("top")
    assert results.last_refreshed == ["top"]


def test_query_15_invalidation_marks_transitive_dependants_stale(qdb: QueryDb) -> None:
    setup_web(qdb, web_events(60, 5, seed=5))
    _save_graph(qdb)
    results = SavedResults(qdb.conn, qdb.tenant, schema=qdb.schema, now=NOW)
    for name in ("top", "side", "lone"):
        results.refresh(name)
    assert all(results.get(n) is not None for n in ("base", "mid", "top", "side", "lone"))
    assert results.invalidate("base") == {"base", "mid", "top", "side"}
    assert [results.get(n) for n in ("base", "mid", "top", "side")] == [None] * 4
    assert results.get("lone") is not None
    results.refresh("side")
    assert results.last_refreshed == ["base", "side"]
    assert results.get("mid") is None
    assert results.get("top") is None
    results.refresh("top")
    assert results.last_refreshed == ["mid", "top"]
    assert results.invalidate("mid") == {"mid", "top"}
    assert results.get("base") is not None


def test_query_15_saving_checks_text_dependencies_and_cycles(qdb: QueryDb) -> None:
    setup_web(qdb, web_events(10, 2, seed=6))
    first = save_query(qdb.conn, qdb.tenant, "a", BASE, schema=qdb.schema)
    assert first.version == 1
    assert save_query(qdb.conn, qdb.tenant, "a", BY_REGION, schema=qdb.schema).version == 2
    save_query(qdb.conn, qdb.tenant, "b", BASE, ["a"], schema=qdb.schema)
    with pytest.raises(InvalidArgument, match="depend on itself"):
        save_query(qdb.conn, qdb.tenant, "a", BASE, ["b"], schema=qdb.schema)
    with pytest.raises(InvalidArgument, match="unknown"):
        save_query(qdb.conn, qdb.tenant, "c", BASE, ["nope"], schema=qdb.schema)
    with pytest.raises(InvalidArgument, match="not a saved query name"):
        save_query(qdb.conn, qdb.tenant, "bad name;", BASE, schema=qdb.schema)
    with pytest.raises(QueryError):
        save_query(qdb.conn, qdb.tenant, "d", "DELETE FROM web", schema=qdb.schema)
    saved = load_saved_queries(qdb.conn, qdb.tenant, schema=qdb.schema)
    assert sorted(saved) == ["a", "b"]
    assert (saved["a"].text, saved["a"].version, saved["b"].depends_on) == (BY_REGION, 2, ("a",))
    # Another tenant sees none of them.
    assert load_saved_queries(qdb.conn, qdb.tenant + "-other", schema=qdb.schema) == {}
    with pytest.raises(InvalidArgument, match="no saved query"):
        SavedResults(qdb.conn, qdb.tenant + "-other", schema=qdb.schema).refresh("a")
