"""WatermarkTracker through its Python surface, against the plain-Python reference."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from watermark_reference import ReferenceTracker

import datanexus.sketches
from datanexus import (
    HyperLogLog,
    InvalidArgument,
    InvalidType,
    SerializationError,
    WatermarkTracker,
)

EXACT = 2**53 - 1


def same(a: object, b: object) -> bool:
    """Equal values of the same type (so 8000 and 8000.0 differ), recursively."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_public_names() -> None:
    assert datanexus.sketches.WatermarkTracker is WatermarkTracker
    assert WatermarkTracker.__module__ == "datanexus"


def test_stream_7_example() -> None:
    t = WatermarkTracker()
    assert t.watermark is None
    assert t.partition_watermark("p1") is None
    assert t.holdback() is None
    assert not t.is_late(-(2**50))
    assert t.observe("p1", 8000) == 8000
    assert t.observe("p1", 4000) == 8000
    assert t.partition_watermark("p1") == 8000
    assert same(t.observe("p2", 6000), 6000)
    assert t.watermark == 6000
    assert t.partition_watermark("p3") is None
    assert same(t.holdback(), ("p2", 2000))
    assert len(t) == 2


def test_out_of_orderness_and_lateness() -> None:
    t = WatermarkTracker(max_out_of_orderness=1000)
    assert t.max_out_of_orderness == 1000
    assert t.idle_timeout is None
    assert t.observe(0, 10_000) == 9000
    assert t.is_late(8999)
    assert not t.is_late(9000)
    assert t.is_late(8499, allowed_lateness=500)
    assert not t.is_late(8500, allowed_lateness=500)
    assert not t.is_late(8999.5, 0.5)


def test_answers_keep_the_type_of_the_inputs() -> None:
    t = WatermarkTracker(5, idle_timeout=30)
    assert same(t.observe("a", 100, now=1), 95)
    assert same(t.partitions(), {"a": {"watermark": 95, "idle": False, "last_seen": 1}})
    assert same(t.observe("a", 100.5), 95.5)
    assert same(t.max_out_of_orderness, 5.0)
    assert same(t.partition_watermark("a"), 95.5)
    assert same(t.idle_timeout, 30)
    t.tick(2.5)
    assert same(t.idle_timeout, 30.0)
    assert same(t.partitions()["a"]["last_seen"], 1.0)


def test_epoch_milliseconds_up_to_2_53_are_exact() -> None:
    t = WatermarkTracker(max_out_of_orderness=1)
    assert same(t.observe("a", EXACT), EXACT - 1)
    assert t.is_late(EXACT - 2)
    assert not t.is_late(EXACT - 1)
    with pytest.raises(InvalidArgument, match="2\\^53"):
        t.observe("a", EXACT + 1)
    with pytest.raises(InvalidArgument, match="2\\^53"):
        t.observe("a", -EXACT - 1)
    with pytest.raises(InvalidArgument):
        t.observe("a", 2**70)
    assert t.partition_watermark("a") == EXACT - 1


@pytest.mark.parametrize(
    "bad", [-1, -0.5, math.nan, math.inf, -math.inf, EXACT + 1, np.float64("nan")]
)
def test_bad_durations(bad: float) -> None:
    with pytest.raises(InvalidArgument):
        WatermarkTracker(max_out_of_orderness=bad)
    with pytest.raises(InvalidArgument):
        WatermarkTracker(idle_timeout=bad)
    with pytest.raises(InvalidArgument):
        WatermarkTracker().is_late(0, allowed_lateness=bad)


@pytest.mark.parametrize("bad", ["5", b"5", [5], True])
def test_durations_of_other_types(bad: Any) -> None:
    with pytest.raises(InvalidType):
        WatermarkTracker(max_out_of_orderness=bad)
    with pytest.raises(InvalidType):
        WatermarkTracker(idle_timeout=bad)


def test_bad_timestamps_and_clocks_change_nothing() -> None:
    t = WatermarkTracker(idle_timeout=10)
    t.observe("a", 100, now=5)
    image = t.to_bytes()
    for bad in (math.nan, math.inf, -math.inf, EXACT + 1, 2**64):
        with pytest.raises(InvalidArgument):
            t.observe("a", bad)
        with pytest.raises(InvalidArgument):
            t.observe("b", 1, now=bad)
        with pytest.raises(InvalidArgument):
            t.tick(bad)
        with pytest.raises(InvalidArgument):
            t.is_late(bad)
    for wrong in ("1", None, True, [1], object()):
        with pytest.raises(InvalidType):
            t.observe("a", wrong)  # type: ignore[arg-type]
    assert t.to_bytes() == image


@pytest.mark.parametrize("bad", [1.5, None, True, (1,), b"a"])
def test_partitions_are_str_or_int(bad: Any) -> None:
    t = WatermarkTracker()
    with pytest.raises(InvalidType):
        t.observe(bad, 1)
    with pytest.raises(InvalidType):
        t.partition_watermark(bad)
    with pytest.raises(InvalidArgument):
        t.observe(2**64, 1)
    with pytest.raises(InvalidArgument):
        t.observe("\ud800", 1)
    assert len(t) == 0


def test_int_and_str_partitions_are_distinct_and_numpy_ints_are_ints() -> None:
    t = WatermarkTracker()
    t.observe(1, 100)
    t.observe("1", 50)
    t.observe(np.int32(1), 120)
    assert same(
        t.partitions(),
        {
            1: {"watermark": 120, "idle": False, "last_seen": None},
            "1": {"watermark": 50, "idle": False, "last_seen": None},
        },
    )


def test_numpy_scalars_as_timestamps() -> None:
    t = WatermarkTracker()
    assert same(t.observe("a", np.int64(7)), 7)
    assert same(t.observe("b", np.float32(2.5)), 2.5)
    assert same(t.observe("b", np.float64(3.5)), 3.5)


def test_idle_partitions_stop_holding_the_watermark() -> None:
    t = WatermarkTracker(idle_timeout=30)
    t.observe("fast", 8000, now=0)
    t.observe("slow", 2000, now=0)
    t.observe("fast", 9000, now=30)
    assert t.tick(30) == 2000, "silent for exactly the timeout is not idle"
    assert t.tick(31) == 9000
    assert t.partitions()["slow"] == {"watermark": 2000, "idle": True, "last_seen": 0}
    assert same(t.holdback(), ("fast", 0))
    assert t.tick(61) == 9000, "all idle: the maximum"
    assert t.holdback() is None


def test_a_lagging_partition_that_resumes_does_not_pull_the_watermark_back() -> None:
    t = WatermarkTracker(idle_timeout=10)
    t.observe("a", 8000, now=0)
    t.observe("b", 2000, now=0)
    t.observe("a", 8500, now=20)
    assert t.tick(20) == 8500
    assert t.observe("b", 3000, now=21) == 8500
    assert t.partition_watermark("b") == 3000
    assert t.is_late(3000)
    assert not t.partitions()["b"]["idle"]
    # "b" now holds the watermark at 8500 until it catches up.
    assert t.observe("a", 9500, now=22) == 8500
    assert same(t.holdback(), ("b", 1000))
    assert t.observe("b", 9000, now=23) == 9000
    assert t.observe("b", 9900, now=24) == 9500


def test_the_clock_is_the_callers() -> None:
    t = WatermarkTracker(idle_timeout=10)
    t.observe("a", 100)  # no clock yet: counts as heard when the clock starts
    t.observe("b", 900, now=50)
    assert t.tick(60) == 100
    assert t.tick(61) == 900
    t.observe("b", 950, now=5)  # a reading from the past counts as the latest, 61
    assert t.partitions()["b"]["last_seen"] == 61
    assert t.partitions()["a"]["last_seen"] == 50


@pytest.mark.parametrize(
    "dtype", ["int64", "float64", "int32", "uint8", "uint64", "float32", "object"]
)
def test_observe_many_takes_numpy_arrays(dtype: str) -> None:
    values = np.array([30, 10, 50, 20], dtype=dtype)
    t = WatermarkTracker(max_out_of_orderness=5)
    assert t.observe_many("a", values, now=1) == 45
    one = WatermarkTracker(max_out_of_orderness=5)
    for v in values.tolist():
        one.observe("a", v, now=1)
    assert t == one
    assert same(t.watermark, one.watermark)
    assert same(t.watermark, 45.0 if dtype.startswith("float") else 45)


def test_observe_many_takes_sequences_strided_arrays_and_empty_batches() -> None:
    t = WatermarkTracker()
    assert t.observe_many("a", []) is None
    assert len(t) == 0
    assert same(t.observe_many("a", [1, 2, 3]), 3)
    assert same(t.observe_many("a", (v for v in [4, 2.5])), 4.0)
    strided = np.arange(100, dtype=np.int64)[::7]
    assert t.observe_many("b", strided) == 4
    assert t.partition_watermark("b") == 98


def test_observe_many_refuses_bad_batches_whole() -> None:
    t = WatermarkTracker()
    t.observe("a", 10)
    image = t.to_bytes()
    with pytest.raises(InvalidArgument, match="index 2"):
        t.observe_many("a", np.array([1.0, 2.0, np.nan, 40.0]))
    with pytest.raises(InvalidArgument, match="index 1"):
        t.observe_many("a", np.array([1, 2**60], dtype=np.int64))
    with pytest.raises(InvalidArgument, match="index 0"):
        t.observe_many("a", np.array([2**63], dtype=np.uint64))
    with pytest.raises(InvalidArgument, match="index 1"):
        t.observe_many("a", [1, math.inf])
    with pytest.raises(InvalidArgument, match="1-D"):
        t.observe_many("a", np.zeros((2, 2)))
    with pytest.raises(InvalidType):
        t.observe_many("a", np.array([True]))
    with pytest.raises(InvalidType, match="datetime64"):
        t.observe_many("a", np.array(["2024-01-01"], dtype="datetime64[ms]"))
    with pytest.raises(InvalidType):
        t.observe_many("a", 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidType):
        t.observe_many("a", ["x"])  # type: ignore[list-item]
    assert t.to_bytes() == image


# Partitions mixing str and int names; timestamps and clocks that keep results — holdback
# is a difference of two times, so |times| ≤ 2^51 — within ±2^53, where float64 is exact
# and the reference's Python ints agree to the last digit.
partitions = st.sampled_from(["a", "b", 1, 2, "1"])
int_times = st.integers(min_value=-(2**51), max_value=2**51)
small_times = st.integers(min_value=-50, max_value=500)
times = st.one_of(small_times, int_times, st.floats(min_value=-1e6, max_value=1e6))
clock_steps = st.one_of(st.none(), st.integers(min_value=-3, max_value=20), st.floats(0, 20))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("observe"), partitions, times, clock_steps),
        st.tuples(st.just("many"), partitions, st.lists(times, max_size=5), clock_steps),
        st.tuples(st.just("tick"), st.one_of(st.integers(-3, 40), st.floats(0, 40))),
        st.tuples(st.just("late"), times, st.integers(0, 2**50)),
    ),
    max_size=50,
)


def replay(ops: list[tuple[Any, ...]], *trackers: Any) -> None:
    """Applies `ops` to each tracker (clock readings as steps from a running clock) and
    asserts after each that they all give the same answers, of the same types."""
    clock: int | float = 0

    def now(step: int | float | None) -> int | float | None:
        nonlocal clock
        if step is None:
            return None
        clock += step
        return clock

    first, *others = trackers
    for op in ops:
        results = []
        kind = op[0]
        if kind == "observe":
            reading = now(op[3])
            results = [t.observe(op[1], op[2], now=reading) for t in trackers]
        elif kind == "many":
            reading = now(op[3]) if op[2] else None
            results = [t.observe_many(op[1], op[2], now=reading) for t in trackers]
        elif kind == "tick":
            reading = now(op[1])
            results = [t.tick(reading) for t in trackers]
        else:
            results = [t.is_late(op[1], allowed_lateness=op[2]) for t in trackers]
        for t, r in zip(others, results[1:], strict=True):
            assert same(r, results[0]), (op, r, results[0])
            assert same(t.watermark, first.watermark), op
            assert same(t.partitions(), first.partitions()), op
            assert same(t.holdback(), first.holdback()), op
            for p in ("a", 1, "zz"):
                assert same(t.partition_watermark(p), first.partition_watermark(p))


@settings(max_examples=300, deadline=None)
@given(
    ops,
    st.one_of(st.integers(0, 2**50), st.floats(0, 100)),
    st.one_of(st.none(), st.integers(0, 30), st.floats(0, 30)),
)
def test_agrees_with_the_reference(
    ops: list[tuple[Any, ...]], ooo: int | float, idle: int | float | None
) -> None:
    replay(ops, ReferenceTracker(ooo, idle), WatermarkTracker(ooo, idle))


@settings(max_examples=100, deadline=None)
@given(ops, ops, st.integers(0, 100), st.one_of(st.none(), st.integers(0, 30)))
def test_pickled_trackers_carry_on_the_same(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]], ooo: int, idle: int | None
) -> None:
    t = WatermarkTracker(ooo, idle)
    replay(before, t)
    back = pickle.loads(pickle.dumps(t))
    assert back == t
    assert back.to_bytes() == t.to_bytes()
    replay(after, t, back, copy.deepcopy(back), WatermarkTracker.from_bytes(t.to_bytes()))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(partitions, st.lists(int_times, max_size=30)), max_size=10),
    st.sampled_from(["int64", "float64"]),
)
def test_batches_equal_items_one_by_one(batches: list[tuple[Any, list[int]]], dtype: str) -> None:
    batched, single = WatermarkTracker(3), WatermarkTracker(3)
    for step, (p, ts) in enumerate(batches):
        values = np.array(ts, dtype=dtype)
        w = batched.observe_many(p, values, now=step)
        for v in values.tolist():
            single.observe(p, v, now=step)
        assert same(w, single.watermark)
        assert batched == single


def test_watermark_never_decreases_without_a_new_partition() -> None:
    rng = np.random.default_rng(3)
    t = WatermarkTracker(max_out_of_orderness=50, idle_timeout=5)
    previous = None
    held = 0
    for step in range(20_000):
        p = int(rng.integers(0, 6))
        if rng.random() < 0.05:
            w = t.tick(step)
            new = False
        else:
            status = t.partitions().get(p)
            new = status is None
            # Partition p runs behind the others by p * 100, with jitter, and the higher
            # ones speak less often, so they go idle and resume behind the watermark.
            if rng.random() < 1 - p * 0.15:
                w = t.observe(p, step * 10 - p * 100 + int(rng.integers(-80, 80)), now=step)
                own = t.partition_watermark(p)
                held += status is not None and status["idle"] and own is not None and own < w
            else:
                w = t.watermark
        if previous is not None and not new:
            assert w is not None
            assert w >= previous, step
        previous = w
    assert held > 20, "the history should exercise resumes behind the watermark"


def test_images_and_their_corruption() -> None:
    t = WatermarkTracker(5, idle_timeout=30)
    t.observe("a", 100, now=1)
    t.observe(7, 40, now=2)
    t.tick(40)
    good = t.to_bytes()
    assert good[:4] == b"DN\x04\x01"
    assert WatermarkTracker.from_bytes(bytearray(good)) == t
    for n in range(len(good)):
        with pytest.raises(SerializationError):
            WatermarkTracker.from_bytes(good[:n])
    with pytest.raises(SerializationError):
        WatermarkTracker.from_bytes(good + b"\x00")
    with pytest.raises(SerializationError, match="type"):
        WatermarkTracker.from_bytes(HyperLogLog().to_bytes())
    with pytest.raises(InvalidType):
        WatermarkTracker.from_bytes("DN")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_never_crash(data: bytes) -> None:
    for candidate in (data, b"DN\x04\x01" + data):
        try:
            t = WatermarkTracker.from_bytes(candidate)
        except SerializationError:
            continue
        # Whatever reads back is a working tracker that writes the same image.
        assert WatermarkTracker.from_bytes(t.to_bytes()) == t
        t.observe("x", 1, now=0)
        t.tick(1)


def test_copies_are_independent_and_repr_says_what_it_holds() -> None:
    t = WatermarkTracker(5)
    t.observe("a", 100)
    c = copy.copy(t)
    c.observe("a", 200)
    assert t.watermark == 95
    assert c != t
    assert t.copy() == t
    assert t != "a tracker"
    assert repr(t) == (
        "WatermarkTracker(max_out_of_orderness=5, idle_timeout=None, partitions=1, watermark=95)"
    )
    with pytest.raises(TypeError):
        hash(t)


def test_batches_release_the_gil(runs_without_the_gil: Callable[..., None]) -> None:
    values = np.arange(20_000_000, dtype=np.float64)
    t = WatermarkTracker()
    runs_without_the_gil(lambda: t.observe_many("a", values), min_ticks=100)
    assert t.watermark == 19_999_999
