"""run_queries (QUERY-14): a dashboard's queries share one connection and one fetch per
(stream, range, granularity, filter); each answer equals run_query's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg_pool import ConnectionPool
from querydata import MINUTE, T0, QueryDb
from test_query_run import setup_web, web_events

from datanexus.errors import QueryError
from datanexus.query import PlanCache, run_query
from datanexus.query.batch import run_queries

NOW = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + 6 * 60 * MINUTE)


class CountingCursor(psycopg.Cursor[Any]):
    """A real cursor that counts the statements reading the rollups."""

    fetches = 0

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = query if isinstance(query, str) else query.as_string(self.connection)
        if "rollups" in text and "SELECT (extract" in text:
            CountingCursor.fetches += 1
        return super().execute(query, params, **kwargs)


class CountingPool:
    """A real psycopg pool that counts the connections handed out."""

    def __init__(self, url: str) -> None:
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=4,
            open=True,
            kwargs={"autocommit": True, "cursor_factory": CountingCursor},
        )
        self.checkouts = 0

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        self.checkouts += 1
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self.pool.close()


def _widgets() -> list[str]:
    ranges = ["time >= now() - interval '6 hours'", "time >= now() - interval '1 hour'"]
    filters = ["", " AND region = 'eu'"]
    shapes: list[LiteralString] = [
        "SELECT p99(latency_ms), count() FROM web WHERE {w}",
        "SELECT region, p50(latency_ms) FROM web WHERE {w} GROUP BY region ORDER BY region",
        "SELECT time, sum(bytes) FROM web WHERE {w} GROUP BY time(15m) ORDER BY time",
        "SELECT host, distinct(user_id), avg(bytes) FROM web WHERE {w} GROUP BY host ORDER BY host",
        "SELECT region, max(latency_ms), min(bytes) FROM web WHERE {w}"
        " GROUP BY region ORDER BY region",
    ]
    return [s.format(w=r + f) for r in ranges for f in filters for s in shapes]


@pytest.fixture
def pool(database_url: str) -> Iterator[CountingPool]:
    p = CountingPool(database_url)
    yield p
    p.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return bool(a == b)


def test_query_14_dashboard_shares_fetches_and_connections(
    qdb: QueryDb, pool: CountingPool
) -> None:
    setup_web(qdb, web_events(6 * 60, 20, seed=11))
    texts = _widgets()
    assert len(texts) == 20
    plans = PlanCache()
    # One by one, the way a dashboard without batching asks: a connection per widget.
    CountingCursor.fetches = 0
    singles = []
    for text in texts:
        with pool.connection() as conn:
            singles.append(
                run_query(conn, qdb.tenant, text, schema=qdb.schema, now=NOW, plans=plans)
            )
    one_by_one_connections, one_by_one_fetches = pool.checkouts, CountingCursor.fetches
    assert (one_by_one_connections, one_by_one_fetches) == (20, 20)

    pool.checkouts = CountingCursor.fetches = 0
    started = time.perf_counter()
    batch = run_queries(pool, qdb.tenant, texts, schema=qdb.schema, now=NOW, plans=plans)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed
    # 2 ranges x 2 filters: 4 fetches for 20 widgets, on one connection.
    assert CountingCursor.fetches == 4
    assert pool.checkouts <= 0.4 * one_by_one_connections
    assert pool.checkouts == 1
    for text, single, shared in zip(texts, singles, batch, strict=True):
        assert shared.columns == single.columns, text
        assert shared.granularity_ms == single.granularity_ms
        assert shared.errors == single.errors
        assert len(shared.rows) == len(single.rows) > 0, text
        for r1, r2 in zip(shared.rows, single.rows, strict=True):
            assert all(_same(a, b) for a, b in zip(r1, r2, strict=True)), (text, r1, r2)


def test_query_14_accepts_a_connection_and_reports_bad_text(qdb: QueryDb) -> None:
    setup_web(qdb, web_events(30, 5, seed=2))
    texts = ["SELECT count() FROM web", "SELECT sum(bytes) FROM web"]
    out = run_queries(qdb.conn, qdb.tenant, texts, schema=qdb.schema, now=NOW)
    assert [r.rows for r in out] == [
        run_query(qdb.conn, qdb.tenant, t, schema=qdb.schema, now=NOW).rows for t in texts
    ]
    assert run_queries(qdb.conn, qdb.tenant, [], schema=qdb.schema) == []
    with pytest.raises(QueryError):
        run_queries(qdb.conn, qdb.tenant, [texts[0], "DROP TABLE x"], schema=qdb.schema)
    # The connection still answers afterwards.
    assert run_queries(qdb.conn, qdb.tenant, texts[:1], schema=qdb.schema, now=NOW)[0].rows
