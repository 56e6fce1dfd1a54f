"""The native WindowEngine from Python: reading events, results, errors, bytes, routing.

The semantics themselves are checked against the reference implementation in
``test_window_reference.py``; here, everything the Python boundary adds.
"""

from __future__ import annotations

import copy
import gc
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from datanexus import (
    HyperLogLog,
    InvalidArgument,
    InvalidType,
    SerializationError,
    WindowEngine,
    WindowResult,
)
from datanexus.stream import ShardBatch, WindowRouter

SECOND = timedelta(seconds=1)


def engine(**kwargs: Any) -> WindowEngine:
    params: dict[str, Any] = {
        "measures": {"n": "count", "s": "sum(v)"},
        "group_by": ("k",),
        "allowed_lateness": 0,
    }
    params.update(kwargs)
    return WindowEngine("tumbling", 10 * SECOND, **params)


def emitted_at(e: WindowEngine, events: list[Any]) -> list[WindowResult]:
    results, late, errors = e.process(events)
    assert late == []
    assert errors == []
    return results + e.flush()


@pytest.mark.parametrize(
    ("ts", "ms"),
    [
        (25_000, 25_000),
        (25_000.9, 25_000),
        (-0.5, -1),
        (np.int64(7), 7),
        ("1970-01-01T00:00:25Z", 25_000),
        ("1970-01-01T00:00:25.999999+00:00", 25_999),
        ("1970-01-01 01:00:25+01:00", 25_000),
        (datetime(1970, 1, 1, 0, 0, 25, 999, tzinfo=UTC), 25_000),
        (datetime(1970, 1, 1, 2, 0, 25, tzinfo=timezone(timedelta(hours=2))), 25_000),
        (2**53 - 1, 2**53 - 1),
    ],
)
def test_event_times_in_every_accepted_form(ts: object, ms: int) -> None:
    e = engine(measures={"n": "count"})
    results, late, errors = e.process([{"ts": ts, "k": "a"}])
    assert (results, late, errors) == ([], [], [])
    assert e.watermark == ms
    (r,) = e.flush()
    assert r.start_ms == ms - ms % 10_000
    assert r.end_ms == r.start_ms + 10_000


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"k": "a"}, "no time field 'ts'"),
        ({"ts": None}, "time field 'ts' is None"),
        ({"ts": True}, "epoch milliseconds"),
        ({"ts": [1]}, "epoch milliseconds"),
        ({"ts": "yesterday"}, "RFC 3339"),
        ({"ts": "2025-01-01T00:00:00"}, "no UTC offset"),
        ({"ts": datetime(2025, 1, 1)}, "naive datetime"),  # noqa: DTZ001 - the point
        ({"ts": 2**53}, "2^53"),
        ({"ts": float("nan")}, "finite"),
        ({"ts": 1, "v": "12"}, "field 'v' is not a number"),
        ({"ts": 1, "v": True}, "field 'v' is not a number"),
        ({"ts": 1, "v": 2**70}, "64 bits"),
        ({"ts": 1, "k": [1]}, "group-by field 'k' must be"),
        (42, "must be a mapping"),
    ],
)
def test_events_that_cannot_be_windowed_come_back_with_a_reason(event: object, reason: str) -> None:
    e = engine()
    good = {"ts": 5, "k": "a", "v": 1}
    _results, late, errors = e.process([event, good])
    assert late == []
    assert len(errors) == 1
    assert errors[0][0] is event
    assert reason in errors[0][1]
    assert [r.values for r in e.flush()] == [{"n": 1, "s": 1}], "the good one counted"


def test_measure_fields_absent_or_none_are_skipped_and_types_are_kept() -> None:
    e = WindowEngine(
        "tumbling",
        10_000,
        measures={"n": "count", "s": "sum(v)", "lo": "min(v)", "m": "mean(v)", "sd": "stddev(v)"},
    )
    events = [
        {"ts": 1, "v": 3},
        {"ts": 2},
        {"ts": 3, "v": None},
        {"ts": 4, "v": Decimal("1.5")},
        {"ts": 5, "v": np.float64(0.5)},
        {"ts": 6, "v": np.int32(2)},
    ]
    (r,) = emitted_at(e, events)
    assert r.values["n"] == 6
    assert r.values["s"] == 7.0
    assert r.values["lo"] == 0.5
    assert r.values["m"] == pytest.approx(7.0 / 4, rel=1e-15)
    assert r.values["sd"] == pytest.approx(np.std([3, 1.5, 0.5, 2], ddof=1), rel=1e-12)
    ints = emitted_at(engine(measures={"s": "sum(v)"}), [{"ts": 1, "v": 2**62}] * 4)
    assert ints[0].values["s"] == 2**64, "integer sums are exact"
    assert isinstance(ints[0].values["s"], int)
    empty = emitted_at(engine(measures={"s": "sum(v)", "lo": "min(v)"}), [{"ts": 1}])
    assert empty[0].values == {"s": None, "lo": None}


def test_group_by_keys_keep_their_types_and_missing_fields_are_none() -> None:
    e = engine(measures={"n": "count"}, group_by=("k", "j"))
    events = [
        {"ts": 1, "k": 1},
        {"ts": 1, "k": 1.0},
        {"ts": 1, "k": True},
        {"ts": 1, "k": "1"},
        {"ts": 1, "k": None},
        {"ts": 1},
        {"ts": 1, "k": 1, "j": "x"},
    ]
    # Typed keys: a dict would merge 1, 1.0 and True, so compare (type, value) pairs.
    got = sorted(
        (tuple((type(v).__name__, v) for v in r.key), r.values["n"]) for r in emitted_at(e, events)
    )
    t = type(None).__name__
    assert got == sorted(
        [
            ((("int", 1), (t, None)), 1),
            ((("float", 1.0), (t, None)), 1),
            ((("bool", True), (t, None)), 1),
            ((("str", "1"), (t, None)), 1),
            (((t, None), (t, None)), 2),
            ((("int", 1), ("str", "x")), 1),
        ]
    )


def test_distinct_equals_a_hyperloglog_fed_the_same_items() -> None:
    items: list[Any] = ["u1", "u2", "u1", 7, 7.5, b"raw", 2**64 + 3, -(2**70), "", None, 2**63]
    items += [f"user-{i}" for i in range(3000)]
    e = WindowEngine("tumbling", 10_000, measures={"u": "distinct(u)"})
    (r,) = emitted_at(e, [{"ts": 1, "u": u} for u in items])
    h = HyperLogLog(12)
    h.add_many(u for u in items if u is not None)
    assert r.values["u"] == h.estimate()


def test_results_are_aware_utc_windows_with_revisions() -> None:
    e = engine(allowed_lateness=5 * SECOND)
    first, _, _ = e.process([{"ts": 1_000, "k": "a", "v": 40}, {"ts": 10_000, "k": "b", "v": 0}])
    (r,) = first
    assert r.key == ("a",)
    assert r.start == datetime(1970, 1, 1, tzinfo=UTC)
    assert r.end == datetime(1970, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert r.start.tzinfo is UTC
    assert (r.revision, r.previous, r.retracted) == (0, None, False)
    (amended,), _, _ = e.process([{"ts": 2_000, "k": "a", "v": 2}])
    assert (amended.revision, amended.values, amended.previous) == (
        1,
        {"n": 2, "s": 42},
        {"n": 1, "s": 40},
    )
    assert pickle.loads(pickle.dumps(amended)) == amended
    assert amended != r
    values = amended.values
    values["s"] = 0
    assert amended.values["s"] == 42, "values are a copy"
    assert "revision=1" in repr(amended)
    assert "1970-01-01T00:00:10+00:00" in repr(amended)
    gone = WindowResult(("a",), 0, 10, {}, 2, {"n": 1, "s": 2.5}, retracted=True)
    assert (gone.values, gone.previous, gone.key) == ({}, {"n": 1, "s": 2.5}, ("a",))
    assert pickle.loads(pickle.dumps(gone)) == gone
    with pytest.raises(InvalidArgument, match="same measures"):
        WindowResult((), 0, 10, {"n": 1}, 1, {"m": 1})
    with pytest.raises(InvalidType, match="int, float, bytes or None"):
        WindowResult((), 0, 10, {"n": "1"})
    far = WindowResult((), 2**53 - 10_000, 2**53, {})
    assert far.end_ms == 2**53
    with pytest.raises(InvalidArgument, match="years 1 to 9999"):
        _ = far.start


def test_late_events_are_returned_as_given() -> None:
    e = engine()
    e.process([{"ts": 30_000, "k": "a"}])
    late_event = {"ts": 1_000, "k": "a", "v": 1}
    results, late, errors = e.process([late_event])
    assert (results, errors) == ([], [])
    assert late == [late_event]
    assert late[0] is late_event
    assert e.stats()["late"] == 1


def test_sessions_retract_what_they_absorb() -> None:
    e = WindowEngine(
        "session", gap=10 * SECOND, measures={"n": "count"}, allowed_lateness=60 * SECOND
    )
    e.process([{"ts": 0}, {"ts": 15_000}, {"ts": 40_000}])
    results, _, _ = e.process([{"ts": 8_000}])
    gone, merged = results
    assert (gone.start_ms, gone.retracted, gone.values, gone.previous) == (
        15_000,
        True,
        {},
        {"n": 1},
    )
    assert (merged.start_ms, merged.end_ms, merged.values, merged.revision) == (
        0,
        25_000,
        {"n": 3},
        1,
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("hopping", 10), {}, InvalidArgument, "unknown window 'hopping'"),
        (("tumbling",), {}, InvalidArgument, "needs a size"),
        (("tumbling", 10, 5), {}, InvalidArgument, "takes no slide"),
        (("sliding", 10, 20), {}, InvalidArgument, "must not exceed"),
        (("session",), {"gap": 0}, InvalidArgument, "session gap"),
        (("tumbling", timedelta(microseconds=1500)), {}, InvalidArgument, "whole number"),
        (("tumbling", 1.5), {}, InvalidType, "timedelta"),
        (("tumbling", 10), {"measures": {"x": "median(v)"}}, InvalidArgument, "measure 'x'"),
        (("tumbling", 10), {"measures": {"x": 3}}, InvalidType, "measure x"),
        (("tumbling", 10), {"measures": {}}, InvalidArgument, "at least one measure"),
        (("tumbling", 10), {"allowed_lateness": -1}, InvalidArgument, "allowed_lateness"),
        (("tumbling", 10), {"group_by": ("k", "k")}, InvalidArgument, "twice"),
        (("tumbling", 10), {"group_by": (1,)}, InvalidType, "group_by"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    params: dict[str, Any] = {"measures": {"n": "count"}, **kwargs}
    with pytest.raises(error, match=match):
        WindowEngine(*args, **params)


def test_batches_must_be_iterables_of_events() -> None:
    e = engine()
    for bad in ({"ts": 1}, "ts", b"x", 3):
        with pytest.raises(InvalidType, match="batch"):
            e.process(bad)  # type: ignore[arg-type]
    results, _, _ = e.process({"ts": t, "k": "a"} for t in (1, 20_000))
    assert [r.start_ms for r in results] == [0]


def test_bytes_pickle_and_copies_keep_everything() -> None:
    e = engine(allowed_lateness=5 * SECOND, idle_timeout=30 * SECOND)
    e.process([{"ts": t, "k": k, "v": 1} for t in range(0, 22_000, 700) for k in "ab"], "p1")
    for clone in (
        WindowEngine.from_bytes(e.to_bytes()),
        pickle.loads(pickle.dumps(e)),
        copy.deepcopy(e),
        e.copy(),
    ):
        assert clone == e
        assert clone.to_bytes() == e.to_bytes()
        events = [{"ts": 31_000, "k": "a"}, {"ts": 26_000, "k": "b", "v": 5}]
        assert clone.process(events, "p1") == e.copy().process(events, "p1")
    assert len(e) == e.stats()["windows"] > 0
    assert [w["revision"] for w in e.windows()].count(0) >= 2
    for bad in (b"", b"DN\x05\x09", e.to_bytes()[:-3], b"DN\x04\x01"):
        with pytest.raises(SerializationError):
            WindowEngine.from_bytes(bad)


def test_announced_partitions_hold_the_watermark_until_they_speak() -> None:
    e = engine()
    e.expect_partitions(["p1", "p2"])
    assert e.process([{"ts": 50_000, "k": "a"}], "p1")[0] == []
    assert e.watermark is None
    results, _, _ = e.process([{"ts": 20_000, "k": "b"}], "p2")
    assert e.watermark == 20_000
    assert results == []
    assert [r.key for r in e.tick(0)] == []


def test_routed_shards_emit_what_one_engine_emits() -> None:
    rng = np.random.default_rng(3)
    events = [
        {"ts": int(t), "k": f"k{int(k)}", "v": int(v)}
        for t, k, v in zip(
            np.sort(rng.integers(0, 200_000, 3000)) - rng.integers(0, 3000, 3000),
            rng.integers(0, 40, 3000),
            rng.integers(-5, 50, 3000),
            strict=True,
        )
    ]
    one = engine(allowed_lateness=2 * SECOND)
    want: list[WindowResult] = []
    want_late: list[Any] = []
    router = WindowRouter(one, 5)
    shards = [one.copy() for _ in range(router.shards)]
    got: list[WindowResult] = []
    got_late: list[Any] = []
    for lo in range(0, len(events), 250):
        batch = events[lo : lo + 250]
        results, late, _ = one.process(batch, "p")
        want += results
        want_late += late
        parts, errors = router.split(batch, "p")
        assert errors == []
        for shard, part in parts:
            part = pickle.loads(pickle.dumps(part))
            assert isinstance(part, ShardBatch)
            assert part.partition == "p"
            results, late = shards[shard].process_routed(part)
            got += results
            got_late += late
    assert len(want_late) > 0, "the data must exercise lateness"
    key = repr
    assert sorted(map(key, got)) == sorted(map(key, want))
    assert sorted(map(key, got_late)) == sorted(map(key, want_late))


def test_the_raw_json_path_reads_what_the_dict_path_reads() -> None:
    rng = np.random.default_rng(5)
    events: list[dict[str, Any]] = [
        {
            "ts": int(t),
            "k": f"r{int(k)}",
            "v": int(v) if i % 3 else float(v) / 4,
            "u": f"user-{int(u)}",
            "junk": {"nested": [1, 2, {"x": None}]},
        }
        for i, (t, k, v, u) in enumerate(
            zip(
                rng.integers(0, 100_000, 2000),
                rng.integers(0, 5, 2000),
                rng.integers(0, 1000, 2000),
                rng.integers(0, 300, 2000),
                strict=True,
            )
        )
    ]
    measures = {"n": "count", "s": "sum(v)", "hi": "max(v)", "p": "p90(v)", "u": "distinct(u)"}
    by_dict = engine(measures=measures, allowed_lateness=20 * SECOND)
    by_json = by_dict.copy()
    docs: list[bytes | str] = [json.dumps(e).encode() for e in events]
    docs[7] = json.dumps(events[7])  # str documents are read too
    docs.append(b'{"ts": "soon"}')
    want, want_late, want_errors = by_dict.process([*events, {"ts": "soon"}])
    got, got_late, got_errors = by_json.process_json(docs)
    assert got == want
    assert len(got_late) == len(want_late) > 0
    assert [json.loads(d) for d in got_late] == want_late
    assert [(d, why) for d, why in got_errors] == [(docs[-1], want_errors[0][1])]
    assert by_json.flush() == by_dict.flush()
    with pytest.raises(InvalidType, match="JSON documents"):
        by_json.process_json(b'{"ts": 1}')
    with pytest.raises(InvalidType, match="bytes or str"):
        by_json.process_json([{"ts": 1}])
    router = WindowRouter(engine(measures=measures), 3)
    parts, errors = router.split_json([*docs[:50], b"[]"], "p")
    assert sum(len(p) for _, p in parts) == 50
    assert errors[0][0] == b"[]"
    assert "not a JSON object" in errors[0][1]


def test_results_are_untracked_and_share_their_series_key() -> None:
    """Results hold no reference that could close a cycle, so the garbage collector
    never scans them; a series' results share one key tuple (the engine's cache)."""
    engine = WindowEngine("tumbling", 10, measures={"n": "count"}, group_by=("k",))
    results, _late, _errors = engine.process(
        [{"ts": t, "k": k} for t in range(0, 40, 5) for k in ("a", "b")], None, 0
    )
    results += engine.flush()
    assert len(results) == 8
    assert not any(gc.is_tracked(r) for r in results)
    by_key: dict[tuple[Any, ...], list[Any]] = {}
    for r in results:
        by_key.setdefault(r.key, []).append(r)
    assert sorted(by_key) == [("a",), ("b",)]
    for same in by_key.values():
        assert all(r.key is same[0].key for r in same)
    assert gc.is_tracked(WindowResult(("a",), 0, 10, {"n": 1}))  # built in Python: tracked


def test_results_name_their_own_series_after_series_ids_are_reused() -> None:
    """Forty thousand keys of one window each: idle series are swept and their ids
    reused by new keys, and every result still carries its own key (the cache of key
    tuples is indexed by series id)."""
    engine = WindowEngine(
        "tumbling", 1_000, measures={"n": "count"}, group_by=("k",), allowed_lateness=0
    )
    events = [{"ts": i // 100 * 1_000, "k": f"k{i}"} for i in range(40_000)]
    results = []
    for start in range(0, len(events), 1_000):
        got, _late, _errors = engine.process(events[start : start + 1_000], None, 0)
        results += got
    results += engine.flush()
    assert sorted((r.key, r.start_ms) for r in results) == sorted(
        ((e["k"],), e["ts"]) for e in events
    )
