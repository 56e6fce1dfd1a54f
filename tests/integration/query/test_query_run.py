"""run_query against PostgreSQL, compared with plain-Python references over raw values."""

from __future__ import annotations

import bisect
import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from querydata import HOUR, MINUTE, T0, Event, QueryDb, build_rollups

from datanexus.errors import QueryError, QueryTimeout, StorageError, StreamNotFound
from datanexus.query import PlanCache, run_query
from datanexus.query.merge import digest_rank_error

REGIONS = ["eu", "us", "ap"]
HOSTS = ["h1", "h2"]


def iso(ms: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()


def dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def web_events(minutes: int, per_minute: int, seed: int = 7) -> list[Event]:
    rng = np.random.default_rng(seed)
    events = []
    for m in range(minutes):
        for _ in range(per_minute):
            events.append(
                Event(
                    T0 + m * MINUTE + int(rng.integers(0, MINUTE)),
                    {
                        "region": REGIONS[int(rng.integers(0, 3))],
                        "host": HOSTS[int(rng.integers(0, 2))],
                    },
                    {
                        "latency_ms": float(rng.lognormal(3.0, 1.0)),
                        "bytes": float(rng.integers(100, 5000)),
                        "user_id": f"u{int(rng.integers(0, 3000))}",
                    },
                )
            )
    return events


def setup_web(qdb: QueryDb, events: list[Event], levels: tuple[int, ...] = (MINUTE,)) -> None:
    qdb.add_pipeline(
        "web",
        ["region", "host"],
        {"latency_ms": ["sum", "min", "max", "digest"], "bytes": ["sum"], "user_id": ["hll"]},
    )
    for g in levels:
        qdb.write(
            build_rollups(
                qdb.tenant, "web", events, g, digest_fields=["latency_ms"], hll_fields=["user_id"]
            )
        )


def rank_interval(sorted_values: list[float], x: float) -> tuple[float, float]:
    n = len(sorted_values)
    return bisect.bisect_left(sorted_values, x) / n, bisect.bisect_right(sorted_values, x) / n


def test_query_7_measures_match_raw_reference_15m_from_1m(qdb: QueryDb) -> None:
    events = web_events(120, 60)
    setup_web(qdb, events, levels=(MINUTE, HOUR))
    start, end = T0 + 30 * MINUTE, T0 + 120 * MINUTE
    result = run_query(
        qdb.conn,
        qdb.tenant,
        "SELECT time, region, count(), sum(bytes), avg(bytes), min(bytes), max(bytes),"
        " stddev(bytes), p99(latency_ms), p50(latency_ms), distinct(user_id) FROM web"
        f" WHERE time >= '{iso(start)}' AND time < '{iso(end)}'"
        " GROUP BY time(15m), region ORDER BY time, region",
        schema=qdb.schema,
    )
    assert result.granularity_ms == MINUTE  # 1 h does not divide 15 min
    assert result.columns[:3] == ["time", "region", "count()"]
    ref: dict[tuple[int, str], list[Event]] = {}
    for e in events:
        if start <= e.ts_ms - e.ts_ms % MINUTE < end:
            bucket = e.ts_ms - e.ts_ms % (15 * MINUTE)
            ref.setdefault((bucket, e.dims["region"]), []).append(e)
    assert [(r[0], r[1]) for r in result.rows] == [(dt(b), reg) for b, reg in sorted(ref)]
    bound99 = result.errors["p99(latency_ms)"]
    bound50 = result.errors["p50(latency_ms)"]
    assert bound99 == pytest.approx(digest_rank_error(0.99, 100.0))
    assert result.errors["distinct(user_id)"] == pytest.approx(1.04 / math.sqrt(4096))
    for row in result.rows:
        evs = ref[(int(row[0].timestamp() * 1000), row[1])]
        b = [e.values["bytes"] for e in evs]
        lat = sorted(e.values["latency_ms"] for e in evs)
        users = {e.values["user_id"] for e in evs}
        assert row[2] == len(evs)
        assert row[3] == pytest.approx(math.fsum(b), rel=1e-12)
        assert row[4] == pytest.approx(np.mean(b), rel=1e-9)
        assert (row[5], row[6]) == (min(b), max(b))
        assert row[7] == pytest.approx(np.std(b, ddof=1), rel=1e-9)
        for value, q, bound in ((row[8], 0.99, bound99), (row[9], 0.5, bound50)):
            lo, hi = rank_interval(lat, value)
            assert lo - bound <= q <= hi + bound, (q, lo, hi, bound)
        sigma = result.errors["distinct(user_id)"] * len(users)
        assert abs(row[10] - len(users)) <= 3 * sigma + 1


def test_query_7_coarsest_level_whose_watermark_covers_the_range(qdb: QueryDb) -> None:
    events = web_events(6 * 60, 5, seed=3)
    setup_web(qdb, events, levels=(MINUTE, HOUR))
    text = (
        "SELECT time, count(), sum(bytes), p99(latency_ms) FROM web"
        f" WHERE time >= '{iso(T0)}' AND time < '{iso(T0 + 4 * HOUR)}' GROUP BY time(1h)"
    )
    fine = run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema)
    assert fine.granularity_ms == MINUTE  # nothing compacted yet
    qdb.set_watermark(HOUR, T0 + 3 * HOUR)
    assert run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema).granularity_ms == MINUTE
    qdb.set_watermark(HOUR, T0 + 4 * HOUR)
    coarse = run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema)
    assert coarse.granularity_ms == HOUR
    assert [r[:2] for r in coarse.rows] == [r[:2] for r in fine.rows]
    for a, b in zip(coarse.rows, fine.rows, strict=True):
        assert a[2] == pytest.approx(b[2], rel=1e-12)
    # A range that does not start on an hour reads minutes, whatever the watermark.
    unaligned = text.replace(iso(T0), iso(T0 + 30 * MINUTE))
    assert run_query(qdb.conn, qdb.tenant, unaligned, schema=qdb.schema).granularity_ms == MINUTE


def test_query_4_other_tenants_stream_is_not_found_like_a_missing_one(qdb: QueryDb) -> None:
    qdb.add_pipeline("secret", ["region"], {"x": ["sum"]}, tenant="someone-else")
    qdb.add_pipeline("web", ["region"], {"x": ["sum"]})
    qdb.add_pipeline("web", ["region"], {"x": ["sum"]}, tenant="someone-else")
    other = build_rollups("someone-else", "web", [Event(T0, {"region": "eu"}, {"x": 1.0})], MINUTE)
    mine = build_rollups(qdb.tenant, "web", [Event(T0, {"region": "eu"}, {"x": 5.0})], MINUTE)
    qdb.write(other + mine)
    messages = []
    for stream in ("secret", "nothing_here"):
        with pytest.raises(StreamNotFound) as info:
            run_query(qdb.conn, qdb.tenant, f"SELECT count() FROM {stream}", schema=qdb.schema)
        assert info.value.http_status == 404
        messages.append(str(info.value).replace(stream, "S"))
    assert messages[0] == messages[1]
    result = run_query(qdb.conn, qdb.tenant, "SELECT count(), sum(x) FROM web", schema=qdb.schema)
    assert result.rows == [(1, 5.0)]


def dims_pipeline(qdb: QueryDb, dim_values: list[dict[str, Any]]) -> None:
    qdb.add_pipeline("d", ["city", "status", "k"], {"x": ["sum"]})
    events = [Event(T0 + i * MINUTE, dims, {"x": 1.0}) for i, dims in enumerate(dim_values)]
    qdb.write(build_rollups(qdb.tenant, "d", events, MINUTE))


def cities(qdb: QueryDb, where: str) -> list[Any]:
    text = f"SELECT city, count() FROM d WHERE {where} GROUP BY city ORDER BY city"
    return [r[0] for r in run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema).rows]


def test_query_3_operators_like_and_numbers(qdb: QueryDb) -> None:
    dims_pipeline(
        qdb,
        [
            {"city": "Oslo", "status": 200, "k": None},
            {"city": "abc", "status": 500, "k": 1.5},
            {"city": "a.c", "status": "404", "k": "x"},
            {"city": "Bergen", "status": 99, "k": None},
            {"city": "50%", "status": 1000},
            {"city": "a\\c", "status": 2},
        ],
    )
    assert cities(qdb, "city LIKE 'O_lo'") == sorted(["Oslo"])
    assert cities(qdb, "city LIKE 'a.c'") == sorted(["a.c"])  # '.' is no wildcard: misses abc
    assert cities(qdb, "city LIKE 'a_c'") == sorted(["a.c", "abc", "a\\c"])
    assert cities(qdb, "city LIKE 'a\\c'") == sorted(["a\\c"])  # backslash is literal
    assert cities(qdb, "city ILIKE 'oSLO'") == sorted(["Oslo"])
    assert cities(qdb, "city NOT LIKE '%a%'") == sorted(["50%", "Bergen", "Oslo"])
    assert cities(qdb, "city = Oslo") == sorted(["Oslo"])  # a bare word is a string
    assert cities(qdb, "status > 100") == sorted(
        ["50%", "a.c", "abc", "Oslo"]
    )  # numeric, not text order
    assert cities(qdb, "status < 100") == sorted(["Bergen", "a\\c"])
    assert cities(qdb, "status IN (404, 2)") == sorted(["a.c", "a\\c"])
    assert cities(qdb, "status <> 200 AND status != 500 AND status >= 404") == sorted(
        ["50%", "a.c"]
    )
    assert cities(qdb, "k IS NULL") == sorted(["50%", "Bergen", "Oslo", "a\\c"])  # missing and null
    assert cities(qdb, "k IS NOT NULL AND NOT (k = 'x')") == sorted(["abc"])
    assert cities(qdb, "city IN ('Oslo', 'Bergen') OR status = 1000") == sorted(
        ["50%", "Bergen", "Oslo"]
    )


def test_query_5_float_keys_null_group_and_stable_multi_column_order(qdb: QueryDb) -> None:
    dims_pipeline(
        qdb,
        [
            {"city": "A", "status": 1, "k": 1.1 + 2.2},
            {"city": "B", "status": 1, "k": 3.3},
            {"city": "C", "status": 2, "k": None},
            {"city": "D", "status": 2},
            {"city": "E", "status": 3, "k": 10},
        ],
    )
    result = run_query(
        qdb.conn, qdb.tenant, "SELECT k, count() FROM d GROUP BY k ORDER BY k", schema=qdb.schema
    )
    assert result.rows == [(3.3, 2), (10, 1), (None, 2)]  # null last in ASC, its own group
    result = run_query(
        qdb.conn,
        qdb.tenant,
        "SELECT status, city, count() AS n FROM d GROUP BY status, city ORDER BY status DESC, city",
        schema=qdb.schema,
    )
    assert [r[:2] for r in result.rows] == [(3, "E"), (2, "C"), (2, "D"), (1, "A"), (1, "B")]
    result = run_query(
        qdb.conn,
        qdb.tenant,
        "SELECT status, count() AS n FROM d GROUP BY status HAVING n >= 2"
        " ORDER BY n DESC, status DESC LIMIT 1",
        schema=qdb.schema,
    )
    assert result.rows == [(2, 2)]
    assert result.total == 2


def test_query_6_boundary_row_in_exactly_one_of_two_adjacent_ranges(qdb: QueryDb) -> None:
    qdb.add_pipeline("d", ["city"], {"x": ["sum"]})
    events = [Event(T0 + i * MINUTE, {"city": "c"}, {"x": float(i)}) for i in range(10)]
    qdb.write(build_rollups(qdb.tenant, "d", events, MINUTE))
    mid = T0 + 5 * MINUTE

    def total(lo: str, hi: str) -> list[tuple[Any, ...]]:
        text = f"SELECT count(), sum(x) FROM d WHERE time >= {lo} AND time < {hi}"
        return run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema, now=dt(mid)).rows

    first = total(f"'{iso(T0)}'", "now()")
    second = total("now()", f"'{iso(T0 + 10 * MINUTE)}'")
    assert first == [(5, 10.0)]
    assert second == [(5, 35.0)]
    # now() is resolved once: both bounds use the same instant, so this range is empty.
    assert total("now()", "now()") == []
    # > and <= are half-open too: (mid, end] holds minutes 6..9.
    text = f"SELECT count() FROM d WHERE time > '{iso(mid)}' AND time <= '{iso(T0 + 9 * MINUTE)}'"
    assert run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema).rows == [(4,)]


def test_query_8_rate_and_increase_with_resets(qdb: QueryDb) -> None:
    qdb.add_pipeline("c", ["host"], {"requests": ["max"]})
    # Per minute, the counter's samples; the minute's max is its last value (monotone).
    h1 = [10, 20, 35, 5, 15]  # reset at minute 3: increase 10 + 15 + 5 + 10 = 40
    events = [
        Event(T0 + i * MINUTE + 1, {"host": "h1"}, {"requests": float(v)}) for i, v in enumerate(h1)
    ]
    events.append(Event(T0, {"host": "h2"}, {"requests": 100.0}))
    qdb.write(build_rollups(qdb.tenant, "c", events, MINUTE))
    result = run_query(
        qdb.conn,
        qdb.tenant,
        "SELECT host, increase(requests), rate(requests) FROM c GROUP BY host ORDER BY host",
        schema=qdb.schema,
    )
    assert result.rows == [("h1", 40.0, 40.0 / 240.0), ("h2", None, None)]
    all_hosts = run_query(
        qdb.conn, qdb.tenant, "SELECT increase(requests) FROM c", schema=qdb.schema
    )
    assert all_hosts.rows == [(40.0,)]


def test_query_9_keyset_paging_amid_inserts_and_tampered_cursor(qdb: QueryDb) -> None:
    qdb.add_pipeline("d", ["city"], {"x": ["sum"]})
    qdb.write(
        build_rollups(
            qdb.tenant,
            "d",
            [Event(T0 + 2 * i * MINUTE, {"city": "c"}, {"x": 1.0}) for i in range(30)],
            MINUTE,
        )
    )
    text = "SELECT time, count() FROM d GROUP BY time(1m) ORDER BY time"
    seen: list[Any] = []
    cursor = None
    for page in range(3):
        result = run_query(
            qdb.conn, qdb.tenant, text, schema=qdb.schema, limit=10, cursor=cursor, secret=b"k"
        )
        seen.extend(r[0] for r in result.rows)
        # Inserts between pages, before and after the current position.
        qdb.write(
            build_rollups(
                qdb.tenant,
                "d",
                [
                    Event(T0 + (2 * page * 10 + 1) * MINUTE, {"city": "c"}, {"x": 1.0}),
                    Event(T0 - (page + 1) * MINUTE, {"city": "c"}, {"x": 1.0}),
                ],
                MINUTE,
            )
        )
        cursor = result.next_cursor
        assert result.has_more == (cursor is not None)
    originals = [dt(T0 + 2 * i * MINUTE) for i in range(30)]
    assert [t for t in seen if t in originals] == originals  # each original row exactly once
    assert len(seen) == len(set(seen))
    first = run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema, limit=10, secret=b"k")
    assert first.next_cursor is not None
    body, mac = first.next_cursor.split(".")
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    for bad in (tampered, first.next_cursor + "x", "garbage"):
        with pytest.raises(QueryError, match="invalid cursor"):
            run_query(qdb.conn, qdb.tenant, text, schema=qdb.schema, cursor=bad, secret=b"k")
    with pytest.raises(QueryError, match="invalid cursor"):  # another query
        run_query(
            qdb.conn,
            qdb.tenant,
            text + " LIMIT 5",
            schema=qdb.schema,
            cursor=first.next_cursor,
            secret=b"k",
        )
    with pytest.raises(QueryError, match="invalid cursor"):  # another key
        run_query(
            qdb.conn, qdb.tenant, text, schema=qdb.schema, cursor=first.next_cursor, secret=b"other"
        )


def test_query_10_limit_zero_offset_and_cap(qdb: QueryDb) -> None:
    qdb.add_pipeline("d", ["city"], {"x": ["sum"]})
    events = [Event(T0 + i * MINUTE, {"city": "c"}, {"x": 1.0}) for i in range(10_050)]
    qdb.write(build_rollups(qdb.tenant, "d", events, MINUTE))
    base = "SELECT time, count() FROM d GROUP BY time(1m) ORDER BY time"

    def rows(suffix: str, **kw: Any) -> list[Any]:
        return run_query(qdb.conn, qdb.tenant, base + suffix, schema=qdb.schema, **kw).rows

    assert rows(" LIMIT 0") == []
    assert rows(" LIMIT 5", limit=0) == []
    assert rows(" LIMIT 5 OFFSET 20000") == []
    assert rows(" LIMIT 2 OFFSET -5") == rows(" LIMIT 2")
    assert rows(" LIMIT 2 OFFSET 3")[0][0] == dt(T0 + 3 * MINUTE)
    capped = run_query(qdb.conn, qdb.tenant, base + " LIMIT 20000", schema=qdb.schema)
    assert len(capped.rows) == 10_000
    assert capped.total == 10_050
    assert capped.has_more
    assert len(rows("")) == 1000  # the default page


def test_query_11_plan_cache_same_query_same_plan(qdb: QueryDb) -> None:
    setup_web(qdb, web_events(3, 5))
    plans = PlanCache(max_size=10)
    a = "SELECT count() FROM web WHERE region = 'eu'"
    b = "select   COUNT()  from web where region='eu'"
    run_query(qdb.conn, qdb.tenant, a, schema=qdb.schema, plans=plans)
    run_query(qdb.conn, qdb.tenant, b, schema=qdb.schema, plans=plans)
    stats = plans.stats()
    assert (stats["size"], stats["hits"], stats["version"]) == (1, 1, 0)
    plans.invalidate()
    run_query(qdb.conn, qdb.tenant, a, schema=qdb.schema, plans=plans)
    assert plans.stats()["size"] == 1
    assert plans.stats()["version"] == 1


def test_query_12_timeout_reaches_postgres_then_keeps_serving(
    qdb: QueryDb, database_url: str
) -> None:
    setup_web(qdb, web_events(3, 5))
    locker = psycopg.connect(database_url)
    try:
        locker.execute(f'LOCK TABLE "{qdb.schema}".rollups IN ACCESS EXCLUSIVE MODE')
        started = time.monotonic()
        with pytest.raises(QueryTimeout) as info:
            run_query(
                qdb.conn, qdb.tenant, "SELECT count() FROM web", schema=qdb.schema, timeout_ms=300
            )
        assert info.value.http_status == 504
        assert 0.25 < time.monotonic() - started < 5
    finally:
        locker.rollback()
        locker.close()
    assert run_query(qdb.conn, qdb.tenant, "SELECT count() FROM web", schema=qdb.schema).rows == [
        (15,)
    ]
    broken = psycopg.connect(database_url, autocommit=True)
    broken.close()
    with pytest.raises(StorageError) as storage:
        run_query(broken, qdb.tenant, "SELECT count() FROM web", schema=qdb.schema)
    assert storage.value.http_status == 503


def test_query_12_concurrent_queries_each_get_their_answer(qdb: QueryDb, database_url: str) -> None:
    setup_web(qdb, web_events(10, 5))
    answers: list[Any] = []

    def worker() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            answers.append(
                run_query(conn, qdb.tenant, "SELECT count() FROM web", schema=qdb.schema).rows
            )

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [[(50,)]] * 4
