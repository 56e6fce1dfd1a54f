"""Window results to rollup rows, against rows built in plain Python from the raw events."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus import HyperLogLog, InvalidArgument, InvalidType, TDigest, WindowEngine
from datanexus.store.merge import merge_rows
from datanexus.store.rollups import RollupRow
from datanexus.stream.rollup import (
    RollupRetraction,
    canonical_series,
    rollup_measures,
    to_rollup_changes,
    to_rollup_rows,
)

MINUTE = 60_000
FIELDS = {"latency_ms": {"sum", "min", "max", "m2", "digest"}, "user_id": {"hll"}}
GROUP_BY = ("region", "status")


def reference_rows(events: list[dict[str, Any]], fields: dict[str, set[str]]) -> list[RollupRow]:
    """The CONTRACT's rows, one window at a time, from the events in arrival order."""
    windows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for e in events:
        series = json.dumps(
            {g: e.get(g) for g in GROUP_BY},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        windows.setdefault((series, e["ts"] // MINUTE * MINUTE), []).append(e)
    rows = []
    for (series, start), es in windows.items():
        base = ("t1", "web", series, MINUTE, start, 0)
        rows.append(RollupRow(*base, len(es), 0.0, metric="*"))
        for f, needs in fields.items():
            xs = [e[f] for e in es if e.get(f) is not None]
            nums = [float(x) for x in xs] if "hll" not in needs else []
            mean = math.fsum(nums) / len(nums) if nums else None
            digest = None
            if "digest" in needs and nums:
                d = TDigest(100)
                for x in nums:
                    d.add(x)
                digest = d.to_bytes()
            hll = None
            if "hll" in needs and xs:
                h = HyperLogLog(12)
                for x in xs:
                    h.add(x)
                hll = h.to_bytes()
            rows.append(
                RollupRow(
                    *base,
                    len(xs),
                    math.fsum(nums) if "sum" in needs else 0.0,
                    min=min(nums) if nums and "min" in needs else None,
                    max=max(nums) if nums and "max" in needs else None,
                    mean=mean if needs & {"mean", "m2"} else None,
                    m2=math.fsum((x - mean) ** 2 for x in nums)
                    if mean is not None and "m2" in needs
                    else None,
                    digest=digest,
                    hll=hll,
                    metric=f,
                )
            )
    return rows


def engine_rows(
    events: list[dict[str, Any]], fields: dict[str, set[str]], *, batch: int = 500
) -> list[RollupRow]:
    e = WindowEngine(
        "tumbling",
        MINUTE,
        measures=rollup_measures(fields),
        group_by=GROUP_BY,
        allowed_lateness=0,
        max_out_of_orderness=10 * MINUTE,
    )
    results = []
    for lo in range(0, len(events), batch):
        got, late, errors = e.process(events[lo : lo + batch])
        assert late == []
        assert errors == []
        results += got
    results += e.flush()
    rows = []
    for r in results:
        rows += to_rollup_rows(
            r, tenant="t1", pipeline="web", group_by=GROUP_BY, granularity_ms=MINUTE, fields=fields
        )
    return rows


def assert_rows_equal(got: list[RollupRow], want: list[RollupRow]) -> None:
    def key(r: RollupRow) -> tuple[Any, ...]:
        return (r.series, r.window_start_ms, r.metric)

    got_by, want_by = {key(r): r for r in got}, {key(r): r for r in want}
    assert len(got_by) == len(got)
    assert got_by.keys() == want_by.keys()
    for k, w in want_by.items():
        g = got_by[k]
        exact = ("tenant", "pipeline", "granularity_ms", "revision", "n", "min", "max", "digest")
        assert [getattr(g, f) for f in exact] == [getattr(w, f) for f in exact], k
        assert g.hll == w.hll, k
        # Neumaier vs fsum and Welford vs two-pass: equal to rounding.
        for f in ("sum", "mean", "m2"):
            a, b = getattr(g, f), getattr(w, f)
            assert (a is None) == (b is None), (k, f)
            if a is not None:
                assert a == pytest.approx(b, rel=1e-9, abs=1e-9), (k, f)


def events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        e: dict[str, Any] = {
            "ts": int(rng.integers(0, 5 * MINUTE)),
            "region": ["eu", "us", "日本"][int(rng.integers(0, 3))],
            "status": int(rng.choice([200, 500])),
            "user_id": f"u{int(rng.integers(0, 400))}",
        }
        if i % 9:
            e["latency_ms"] = float(rng.lognormal(4, 1)) if i % 2 else int(rng.integers(1, 900))
        out.append(e)
    return out


def test_rows_equal_rows_computed_from_the_raw_events() -> None:
    evs = events(5000, 1)
    got = engine_rows(evs, FIELDS)
    assert len(got) == 3 * 2 * 5 * 3
    assert_rows_equal(got, reference_rows(evs, FIELDS))
    star = [r for r in got if r.metric == "*"]
    assert sum(r.n for r in star) == len(evs)
    assert '{"region":"日本","status":200}' in {r.series for r in star}


rows_events = st.lists(
    st.fixed_dictionaries(
        {
            "ts": st.integers(0, 3 * MINUTE),
            "region": st.sampled_from(["eu", "us"]),
            "status": st.sampled_from([200, 500, None]),
            "user_id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", 1, 2])),
            "latency_ms": st.one_of(
                st.none(),
                st.integers(-1000, 1000),
                st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
            ),
        }
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(rows_events, st.integers(1, 60))
def test_rows_match_the_reference_on_random_streams(evs: list[dict[str, Any]], batch: int) -> None:
    fields = {"latency_ms": {"sum", "min", "max", "mean", "m2", "digest"}, "user_id": {"hll"}}
    assert_rows_equal(engine_rows(evs, fields, batch=batch), reference_rows(evs, fields))


def test_rows_merge_into_the_coarse_window_of_all_events() -> None:
    """What the store does with them: fine rows merged equal the coarse window's rows."""
    evs = [e for e in events(3000, 2) if e["region"] == "eu" and e["status"] == 200]
    fine = [r for r in engine_rows(evs, FIELDS) if r.metric == "latency_ms"]
    merged = merge_rows(fine, granularity_ms=5 * MINUTE, window_start_ms=0, revision=0)
    xs = [float(e["latency_ms"]) for e in evs if "latency_ms" in e]
    assert merged.n == len(xs)
    assert (merged.min, merged.max) == (min(xs), max(xs))
    assert merged.sum == pytest.approx(math.fsum(xs), rel=1e-12)
    assert merged.m2 == pytest.approx(float(np.var(xs)) * len(xs), rel=1e-9)
    assert merged.digest is not None
    q = TDigest.from_bytes(merged.digest).quantile(0.5)
    assert abs(np.searchsorted(np.sort(xs), q) / len(xs) - 0.5) < 0.01


def test_measures_and_rows_refuse_what_they_cannot_map() -> None:
    m = rollup_measures({"lat": {"m2"}, "u": {"hll"}}, digest_compression=200)
    assert m == {
        "__count__": "count",
        "__lat__count": "count(lat)",
        "__lat__mean": "mean(lat)",
        "__lat__m2": "m2(lat)",
        "__u__count": "count(u)",
        "__u__hll": "hll(u, 12)",
    }
    with pytest.raises(InvalidArgument, match="unknown needs \\['p99'\\]"):
        rollup_measures({"lat": {"p99"}})
    for bad in ("*", "", "a(b)", "a,b"):
        with pytest.raises(InvalidArgument, match="rollup field"):
            rollup_measures({bad: {"sum"}})
    with pytest.raises(InvalidType, match="set of names"):
        rollup_measures({"lat": "sum"})
    e = WindowEngine("tumbling", MINUTE, measures={"n": "count"})
    (r,) = e.process([{"ts": 1}])[0] + e.flush()
    with pytest.raises(InvalidArgument, match="no measure '__count__'"):
        to_rollup_rows(r, tenant="t", pipeline="p", group_by=(), granularity_ms=MINUTE, fields={})
    with pytest.raises(InvalidArgument, match="key has 0 values"):
        canonical_series(("region",), ())
    with pytest.raises(InvalidArgument, match="not JSON"):
        canonical_series(("x",), (math.nan,))
    assert canonical_series((), ()) == "{}"


def test_retracted_sessions_become_deletions() -> None:
    fields = {"v": {"sum"}}
    e = WindowEngine(
        "session", gap=10, measures=rollup_measures(fields), group_by=("k",), allowed_lateness=100
    )
    first = e.process([{"ts": 50, "k": "a", "v": 2}, {"ts": 100, "k": "a", "v": 1}])[0]
    assert [r.start_ms for r in first] == [50]
    # A late event at 45 moves the emitted session [50, 60) to start at 45.
    out = e.process([{"ts": 45, "k": "a", "v": 3}])[0]
    gone = [r for r in out if r.retracted]
    assert len(gone) == 1
    kw: dict[str, Any] = {
        "tenant": "t",
        "pipeline": "p",
        "group_by": ("k",),
        "granularity_ms": 0,
        "fields": fields,
    }
    change = to_rollup_changes(gone[0], **kw)
    assert change == RollupRetraction("t", "p", '{"k":"a"}', 0, 50, gone[0].revision, ("*", "v"))
    with pytest.raises(InvalidArgument, match="to_rollup_changes"):
        to_rollup_rows(gone[0], **kw)
    live = to_rollup_changes(first[0], **kw)
    assert isinstance(live, list)
    assert [r.metric for r in live] == ["*", "v"]


def test_a_lone_surrogate_in_a_key_gives_a_storable_series_of_the_same_value() -> None:
    """JSON allows "\\ud800"; PostgreSQL text does not: the series escapes it."""
    series = canonical_series(("region", "city"), ("\ud800x", "Zürich"))
    series.encode()  # storable UTF-8
    assert json.loads(series) == {"region": "\ud800x", "city": "Zürich"}
    assert canonical_series(("city",), ("Zürich",)) == '{"city":"Zürich"}'
