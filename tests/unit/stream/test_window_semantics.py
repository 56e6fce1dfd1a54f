"""Scenario tests: each bullet of the window semantics and the REQUIREMENTS examples
(STREAM-3..12), on the native engine as users call it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from datanexus import InvalidArgument, WindowEngine, WindowResult

S = 1000  # ms


def tumbling(size: int = 10 * S, **kwargs: Any) -> WindowEngine:
    params: dict[str, Any] = {"measures": {"n": "count", "s": "sum(v)"}, "allowed_lateness": 0}
    params.update(kwargs)
    return WindowEngine("tumbling", size, **params)


def spans(results: list[WindowResult]) -> list[tuple[int, int]]:
    return [(r.start_ms, r.end_ms) for r in results]


def feed(e: WindowEngine, *ts: int, v: int = 1, partition: str = "") -> list[WindowResult]:
    results, _late, errors = e.process([{"ts": t, "v": v} for t in ts], partition)
    assert errors == []
    return results


@pytest.mark.parametrize(
    ("t", "window"),
    [
        (25_000, (20_000, 30_000)),
        (30_000, (30_000, 40_000)),
        (-1, (-10_000, 0)),
        (2**53 - 1, (2**53 - 1 - (2**53 - 1) % 10_000, 2**53 - 1 - (2**53 - 1) % 10_000 + 10_000)),
    ],
)
def test_stream_3_tumbling_windows_floor_toward_minus_infinity(
    t: int, window: tuple[int, int]
) -> None:
    e = tumbling()
    feed(e, t)
    assert spans(e.flush()) == [window]


def test_windows_are_half_open() -> None:
    e = tumbling()
    results = feed(e, 9_999, 10_000) + e.flush()
    assert [(r.start_ms, r.values["n"]) for r in results] == [(0, 1), (10_000, 1)]


def test_stream_4_sliding_windows() -> None:
    e = WindowEngine("sliding", 10 * S, 5 * S, measures={"n": "count"})
    feed(e, 12_000)
    assert spans(e.flush()) == [(5_000, 15_000), (10_000, 20_000)]
    same = WindowEngine("sliding", 10 * S, 10 * S, measures={"n": "count"})
    feed(same, 12_000)
    assert spans(same.flush()) == [(10_000, 20_000)]
    for slide in (11 * S, 0, -S):
        with pytest.raises(InvalidArgument):
            WindowEngine("sliding", 10 * S, slide, measures={"n": "count"})


@pytest.mark.parametrize(
    ("times", "sessions"),
    [
        ((0, 6_000, 16_000), [(0, 26_000, 3)]),
        ((0, 10_001), [(0, 10_000, 1), (10_001, 20_001, 1)]),
        ((0, 10_000), [(0, 20_000, 2)]),
        ((16_000, 0, 6_000), [(0, 26_000, 3)]),  # 6000 bridges [16000, 26000) and [0, 10000)
    ],
)
def test_stream_5_sessions(times: tuple[int, ...], sessions: list[tuple[int, int, int]]) -> None:
    e = WindowEngine("session", gap=10 * S, measures={"n": "count"}, max_out_of_orderness=30 * S)
    feed(e, *times)
    got = [r for r in e.flush() if not r.retracted]
    assert [(r.start_ms, r.end_ms, r.values["n"]) for r in got] == sessions


def test_stream_6_the_watermark_is_max_event_time_minus_out_of_orderness() -> None:
    e = tumbling(max_out_of_orderness=2 * S)
    assert e.watermark is None
    feed(e, 8_000)
    assert e.watermark == 6_000
    feed(e, 3_000)
    assert e.watermark == 6_000, "monotone"
    e.process([{"ts": 8_500}], now=10**12)
    assert e.watermark == 6_500, "processing time never enters it"
    assert e.tick(10**13) == []
    assert e.watermark == 6_500


def test_stream_7_partitions_combine_by_minimum_and_idle_ones_stop_holding() -> None:
    e = tumbling(idle_timeout=30 * S)
    e.expect_partitions(["p1", "p2"])
    feed(e, 8_000, partition="p1")
    feed(e, 4_000, partition="p1")
    assert e.watermark is None, "p2 has no events yet"
    feed(e, 6_000, partition="p2")
    assert e.watermark == 6_000
    feed(e, 25_000, partition="p1")
    assert e.watermark == 6_000, "p2 holds it back"
    e.process([{"ts": 26_000}], "p1", now=0)
    assert e.tick(30 * S) == []
    results = e.tick(30 * S + 1)
    assert e.watermark == 26_000, "p2, silent for more than 30 s, no longer holds"
    assert spans(results) == [(0, 10_000)]


def test_stream_8_emission_once_at_the_watermark_in_end_order() -> None:
    e = tumbling()
    assert feed(e, 21_000) == []
    assert spans(feed(e, 30_000)) == [(20_000, 30_000)]
    e = tumbling(measures={"n": "count"}, group_by=("k",))
    first, _, _ = e.process([{"ts": t, "k": k} for t, k in ((5_000, "a"), (2_000, "c"))])
    assert first == []
    jump = e.process([{"ts": 15_000, "k": "b"}])[0] + feed(e, 95_000)
    assert spans(jump) == [(0, 10_000), (0, 10_000), (10_000, 20_000)]
    assert [r.key for r in jump] == [("a",), ("c",), ("b",)], "equal ends: first opened first"
    assert feed(e, 96_000) == []
    assert e.stats()["emitted"] == 3


def test_stream_9_and_10_lateness_from_the_window_end_and_revisions() -> None:
    e = tumbling(allowed_lateness=5 * S)
    feed(e, 1_000, v=40)
    feed(e, 14_999, v=0)
    (r,) = feed(e, 3_000, v=2)
    assert (r.start_ms, r.revision, r.values["s"], r.previous) == (0, 1, 42, {"n": 1, "s": 40})
    feed(e, 15_000, v=0)
    results, late, _ = e.process([{"ts": 3_000, "v": 7}])
    assert results == []
    assert late == [{"ts": 3_000, "v": 7}]


def test_stream_11_late_and_unwindowable_events_are_never_dropped_silently() -> None:
    e = tumbling()
    feed(e, 50_000)
    events = [{"ts": 1_000}, {"ts": "yesterday"}, {"nots": 1}, {"ts": 60_000, "v": "x"}]
    results, late, errors = e.process(events)
    assert results == []
    assert late == [events[0]]
    assert [ev for ev, _ in errors] == events[1:]
    assert all(reason for _, reason in errors)
    assert e.stats()["late"] == 1


def test_stream_12_state_is_purged_and_open_windows_are_bounded() -> None:
    e = tumbling(size=S, allowed_lateness=2 * S, group_by=("k",))
    for step in range(400):
        e.process([{"ts": step * 250 + k, "k": k} for k in range(20)])
        assert len(e) <= 20 * 5
    assert e.stats()["purged"] > 1000
    capped = tumbling(max_open_windows=3, group_by=("k",))
    results, _, _ = capped.process([{"ts": 1_000, "k": k} for k in range(5)])
    assert len(results) == 2
    assert capped.open_windows == 3
    assert capped.stats()["early"] == 2
    assert [r.key for r in results] == [(0,), (1,)], "the oldest go first"
    assert capped.process([{"ts": 2_000, "k": 0}])[0] == [], "amended when the window ends"
    at_end = capped.process([{"ts": 10_000, "k": 9}])[0]
    assert sorted((r.key, r.revision, r.values["n"]) for r in at_end) == [
        ((0,), 1, 2),
        ((2,), 0, 1),
        ((3,), 0, 1),
        ((4,), 0, 1),
    ]


def test_end_of_input_emits_every_open_window() -> None:
    e = WindowEngine(
        "sliding",
        10 * S,
        5 * S,
        measures={"n": "count"},
        group_by=("k",),
        max_out_of_orderness=20 * S,
    )
    e.process([{"ts": 12_000, "k": "a"}, {"ts": 3_000, "k": "b"}])
    assert e.open_windows == 4
    results = e.flush()
    assert [r.end_ms for r in results] == sorted(r.end_ms for r in results)
    assert len(results) == 4
    assert e.open_windows == 0
    assert e.flush() == []


def test_durations_as_timedelta_mean_milliseconds() -> None:
    e = WindowEngine(
        "tumbling",
        timedelta(minutes=1),
        measures={"n": "count"},
        max_out_of_orderness=timedelta(seconds=2),
    )
    feed(e, 61_000)
    assert e.watermark == 59_000
    assert spans(e.flush()) == [(60_000, 120_000)]
