"""window_aggregate beside Bytewax's own ``fold_window`` (issue 4's benchmark list).

The anchor is ``fold_window`` in its best configuration: input batches of 1000, an
``EventClock`` that never wakes on the system clock (``to_system_utc=lambda t: None``),
timestamps precomputed as aware datetimes, a lambda folder. Both sides run whole
Bytewax flows on one worker (events/s per core), 10 s tumbling windows; every run's
results are checked against a plain computation of the same windows. Slow anchors run on
fewer events (figures are per event). Each flow runs once per round, few rounds: the
machine is shared. Inputs are built before the runs and frozen out of the garbage
collector's sight (``gc.freeze``), as a stream's events are not all held at once; both
sides benefit alike. Each side runs three timed rounds (see :func:`timed`), each after a
full garbage collection, whose sinks read every result as a real sink would and keep
none; one more, untimed, run keeps them for the checks. Both sides' sinks produce what
ours emits: the anchors with sketches read quantiles, estimates and images from them.
The summary compares the fastest rounds (see tests/bench/conftest.py).

The source hands over slices of a prebuilt list, ``batch`` events at a time, as a
connector hands over what one poll returned (:class:`ListSource`). Bytewax's
``TestingSource`` builds each batch in a Python loop over the items, about 175 ns per
event on this machine: a cost of the test harness, not of either side's windowing, and a
third of our time at 100 keys. One pair of runs keeps ``TestingSource`` for comparison
with earlier figures.
"""

from __future__ import annotations

import gc
import json
import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main
from datasketches import hll_sketch, kll_floats_sketch

from datanexus import HyperLogLog, TDigest, WindowResult
from datanexus.stream import SourceBatch, Tumbling, window_aggregate
from datanexus.stream.rollup import RollupRows, rollup_measures

START = 1_700_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WINDOW = timedelta(seconds=10)
BATCH = 1000
MILLION = 1_000_000


class ListSource(FixedPartitionedSource[Any, int]):
    """One partition handing out ``items`` in slices of ``batch``, as a connector hands
    over what one poll returned; with ``stamps``, records when each slice was handed
    over."""

    def __init__(self, items: list[Any], batch: int, stamps: list[float] | None = None) -> None:
        self.items = items
        self.batch = batch
        self.stamps = stamps

    def list_parts(self) -> list[str]:
        return ["only"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> StatefulSourcePartition[Any, int]:
        return _Slices(self, resume_state or 0)


class _Slices(StatefulSourcePartition[Any, int]):
    def __init__(self, source: ListSource, at: int) -> None:
        self.items = source.items
        self.batch = source.batch
        self.stamps = source.stamps
        self.at = at

    def next_batch(self) -> list[Any]:
        if self.at >= len(self.items):
            raise StopIteration
        if self.stamps is not None:
            self.stamps.append(time.perf_counter())
        self.at += self.batch
        return self.items[self.at - self.batch : self.at]

    def snapshot(self) -> int:
        return self.at


def _source(items: list[Any], batch: int, harness: bool) -> Any:
    return TestingSource(items, batch_size=batch) if harness else ListSource(items, batch)


def timed(benchmark: Any, run: Callable[[], Any]) -> Any:
    """Three timed rounds of ``run`` whose sinks read every result and keep none, as a
    real sink passes them on; then one untimed run whose sink keeps them, returned for
    the checks. Kept, a million results cost the side that has them twice over: the
    next round faulted in fresh memory, and every full garbage collection walked the
    list. Before each round the garbage is collected (not timed)."""
    global _KEEP
    _KEEP = False
    try:
        benchmark.pedantic(run, setup=_collect, rounds=3, iterations=1)
    finally:
        _KEEP = True
    gc.collect()
    return run()


_KEEP = True


def _collect() -> None:  # a setup that returns a value would be taken for arguments
    gc.collect()


def sink(out: list[Any], read: Callable[[list[Any]], None]) -> ReadingSink:
    """A sink that reads every item, and keeps them in ``out`` outside timed rounds."""
    return ReadingSink(out if _KEEP else None, read)


def make_events(n: int, keys: int, per_key_window: bool = False) -> list[dict[str, Any]]:
    """``n`` events in time order over ``keys`` keys (``k``), with ``v`` and ``user``.
    ``per_key_window``: every key has exactly one event per window."""
    rng = np.random.default_rng(keys)
    if per_key_window:
        windows = n // keys
        ts = (
            START
            + np.repeat(np.arange(windows) * 10_000, keys)
            + np.tile(np.arange(keys) * (10_000 // keys), windows)
        )
        k = np.tile(np.arange(keys), windows)
    else:
        ts = START + np.arange(n) * 10  # 100 events per second
        k = rng.integers(0, keys, n)
    v = rng.integers(0, 1000, n)
    user = rng.integers(0, 5000, n)
    return [
        {"ts": t, "k": f"key-{kk}", "v": vv, "user": f"u{uu}"}
        for t, kk, vv, uu in zip(ts.tolist(), k.tolist(), v.tolist(), user.tolist(), strict=True)
    ]


def sums(events: list[dict[str, Any]]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = defaultdict(int)
    for e in events:
        out[(e["k"], e["ts"] - e["ts"] % 10_000)] += e["v"]
    return dict(out)


def final_values(results: list[WindowResult], name: str) -> dict[tuple[str, int], Any]:
    return {(r.key[0], r.start_ms): r.values[name] for r in results}


def ours(items: list[Any], measures: dict[str, str], **kwargs: Any) -> list[WindowResult]:
    """One run of window_aggregate over ``items`` (events, or lists of events)."""
    flow = Dataflow("ours")
    batch, harness = kwargs.pop("batch", BATCH), kwargs.pop("harness", False)
    source = op.input("in", flow, _source(items, batch, harness))
    out = window_aggregate("agg", source, Tumbling(WINDOW), measures, group_by="k", **kwargs)
    results: list[WindowResult] = []
    op.output("out", out.results, sink(results, _read_results))
    op.inspect("late", out.late, lambda _s, e: pytest.fail(f"late: {e}"))
    run_main(flow)
    return results


class ReadingSink(DynamicSink[Any]):
    """Reads each item with ``read``, as a sink that writes them somewhere must (ours
    builds a result's key and values only when asked, so a sink that skipped them would
    hide that cost), then keeps the items in ``out`` unless it is None."""

    def __init__(self, out: list[Any] | None, read: Callable[[list[Any]], None]) -> None:
        self.out = out
        self.read = read

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Reading:
        return _Reading(self.out, self.read)


class _Reading(StatelessSinkPartition[Any]):
    def __init__(self, out: list[Any] | None, read: Callable[[list[Any]], None]) -> None:
        self.out = out
        self.read = read

    def write_batch(self, items: list[Any]) -> None:
        self.read(items)
        if self.out is not None:
            self.out += items


def _read_results(items: list[WindowResult]) -> None:
    for r in items:
        r.key, r.values  # noqa: B018 - the cost of reading them is part of the run


def _read_tuples(items: list[tuple[str, tuple[int, Any]]]) -> None:
    for _key, (_window, _value) in items:
        pass


def _read_sketches(items: list[tuple[str, tuple[int, list[Any]]]]) -> None:
    """What ours emits for count + p50/p99 + distinct, from the DataSketches state."""
    for _key, (_window, (_n, kll, hll)) in items:
        kll.get_quantile(0.5), kll.get_quantile(0.99), hll.get_estimate()


def _read_images(items: list[tuple[str, tuple[int, list[Any]]]]) -> None:
    """What ours emits for the rollup measures: the sketches' images."""
    for _key, (_window, acc) in items:
        acc[6].to_bytes(), acc[7].to_bytes()


def baseline(
    events: list[dict[str, Any]],
    builder: Callable[[], Any],
    folder: Callable[[Any, Any], Any],
    batch_size: int = BATCH,
    harness: bool = False,
    read: Callable[[list[Any]], None] = _read_tuples,
) -> list[tuple[str, tuple[int, Any]]]:
    """Bytewax fold_window, best configuration; its sink reads each result with
    ``read``."""
    flow = Dataflow("baseline")
    source = op.input("in", flow, _source(events, batch_size, harness))
    keyed = op.key_on("key", source, lambda e: e["k"])
    clock = EventClock(
        ts_getter=lambda e: e["dt"],
        wait_for_system_duration=timedelta(0),
        to_system_utc=lambda t: None,
    )
    windower = TumblingWindower(length=WINDOW, align_to=EPOCH)
    out = fold_window("fold", keyed, clock, windower, builder, folder, lambda a, b: a)
    results: list[tuple[str, tuple[int, Any]]] = []
    op.output("out", out.down, sink(results, read))
    run_main(flow)
    return results


def check_baseline(
    benchmark: Any, results: list[tuple[str, tuple[int, Any]]], events: list[dict[str, Any]]
) -> None:
    """fold_window's sums, allowing for events its wall-clock watermark called late
    (counted in the report): every window it emitted is at most the true sum."""
    got = {(k, window_start(w)): s for k, (w, s) in results}
    want = sums(events)
    assert got.keys() <= want.keys()
    wrong = [k for k in got if got[k] != want[k]]
    assert len(wrong) <= 0.01 * len(want), f"{len(wrong)} of {len(want)} windows differ"
    if wrong or got.keys() != want.keys():
        benchmark.extra_info["report"] = [
            f"{benchmark.name}: fold_window got {len(wrong)} windows wrong and missed "
            f"{len(want) - len(got)} of {len(want)} (its watermark follows the wall clock)"
        ]


def with_datetimes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "dt": EPOCH + timedelta(milliseconds=e["ts"])} for e in events]


def window_start(window_id: int) -> int:
    return window_id * 10_000


def frozen(data: Any) -> Any:
    """Keeps ``data`` out of garbage collections (see the module docstring)."""
    gc.collect()
    gc.freeze()
    return data


@pytest.fixture(scope="module", autouse=True)
def _unfreeze_after_the_module() -> Any:
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def hundred_keys() -> list[dict[str, Any]]:
    return frozen(make_events(MILLION, 100))


def check_sums(results: list[WindowResult], events: list[dict[str, Any]]) -> None:
    assert final_values(results, "s") == sums(events)


# --- 1. built-in sum at 100 keys -----------------------------------------------------
@pytest.mark.benchmark(group="sum, 100 keys (events)")
def test_sum_100_keys_ours(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    results = timed(benchmark, lambda: ours(hundred_keys, {"s": "sum(v)"}))
    check_sums(results, hundred_keys)
    rate = MILLION / benchmark.stats.stats.min
    benchmark.extra_info.update(
        items=MILLION,
        role="ours",
        report=[f"events/s per core (sum, 100 keys, 1 worker): {rate:,.0f}"],
    )


@pytest.mark.benchmark(group="sum, 100 keys (events)")
def test_sum_100_keys_ours_batched_input(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    batches = [hundred_keys[i : i + BATCH] for i in range(0, MILLION, BATCH)]
    results = timed(benchmark, lambda: ours(batches, {"s": "sum(v)"}, batch=1))
    check_sums(results, hundred_keys)
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="sum, 100 keys (events)")
def test_sum_100_keys_fold_window(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    events = frozen(with_datetimes(hundred_keys[:200_000]))
    results = timed(benchmark, lambda: baseline(events, lambda: 0, lambda acc, e: acc + e["v"]))
    check_baseline(benchmark, results, events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="fold_window")


@pytest.mark.benchmark(group="sum, 100 keys (TestingSource)")
def test_sum_100_keys_ours_testing_source(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    results = timed(benchmark, lambda: ours(hundred_keys, {"s": "sum(v)"}, harness=True))
    check_sums(results, hundred_keys)
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="sum, 100 keys (TestingSource)")
def test_sum_100_keys_fold_window_testing_source(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    events = frozen(with_datetimes(hundred_keys[:200_000]))
    results = timed(
        benchmark,
        lambda: baseline(events, lambda: 0, lambda acc, e: acc + e["v"], harness=True),
    )
    check_baseline(benchmark, results, events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="fold_window")


# --- 2. count + p50/p99 + distinct ----------------------------------------------------
SKETCHES = {"n": "count", "p50": "p50(v)", "p99": "p99(v)", "users": "distinct(user)"}


@pytest.mark.benchmark(group="count+p50/p99+distinct")
def test_sketches_ours(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    results = timed(benchmark, lambda: ours(hundred_keys, SKETCHES))
    counts = defaultdict(int)
    for e in hundred_keys:
        counts[(e["k"], e["ts"] - e["ts"] % 10_000)] += 1
    assert final_values(results, "n") == counts
    # 100 values per window and key: nearest-rank percentiles, exact.
    by_window: dict[tuple[str, int], list[int]] = defaultdict(list)
    for e in hundred_keys[:50_000]:
        by_window[(e["k"], e["ts"] - e["ts"] % 10_000)].append(e["v"])
    p99 = final_values(results, "p99")
    for key, vs in by_window.items():
        if len(vs) <= 100:
            assert p99[key] == sorted(vs)[-(-99 * len(vs) // 100) - 1]
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="count+p50/p99+distinct")
def test_sketches_fold_window(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    events = frozen(with_datetimes(hundred_keys[:100_000]))

    def build() -> list[Any]:
        return [0, kll_floats_sketch(200), hll_sketch(12)]

    def fold(acc: list[Any], e: dict[str, Any]) -> list[Any]:
        acc[0] += 1
        acc[1].update(e["v"])
        acc[2].update(e["user"])
        return acc

    results = timed(benchmark, lambda: baseline(events, build, fold, read=_read_sketches))
    counted = sum(acc[0] for _, (_, acc) in results)
    # fold_window's watermark moves with the wall clock: it may call an in-order event
    # late and drop it from the windows. Say how many, rather than hide it.
    assert counted >= 0.99 * len(events)
    benchmark.extra_info.update(
        items=len(events),
        role="anchor",
        label="fold_window+datasketches",
        report=[f"fold_window dropped {len(events) - counted} of {len(events)} in-order events"],
    )


# --- 2b. rollup measures: one field's store state (digest + hll + stats) ---------------
ROLLUP_FIELDS = {"v": {"sum", "min", "max", "m2", "digest"}, "user": {"hll"}}


_rows = RollupRows(
    tenant="t", pipeline="p", group_by=("k",), granularity_ms=10_000, fields=ROLLUP_FIELDS
)


@pytest.mark.benchmark(group="rollup measures (1 field digest+hll+stats)")
def test_rollup_measures_ours(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    """The flow, as in the count+p50/p99+distinct case; turning the results into rows
    (what the sink adds) is timed apart and reported."""
    measures = rollup_measures(ROLLUP_FIELDS)
    results = timed(benchmark, lambda: ours(hundred_keys, measures))
    started = time.perf_counter()
    rows = [row for r in results for row in _rows(r)]
    elapsed = time.perf_counter() - started
    assert sum(r.n for r in rows if r.metric == "*") == MILLION
    assert all(r.digest is not None and r.m2 is not None for r in rows if r.metric == "v")
    assert all(r.hll is not None for r in rows if r.metric == "user")
    benchmark.extra_info.update(
        items=MILLION,
        role="ours",
        report=[
            f"to_rollup_rows: {len(results)} results -> {len(rows)} rows in "
            f"{elapsed * 1e3:.0f} ms ({elapsed / len(results) * 1e6:.1f} us per window)"
        ],
    )


@pytest.mark.benchmark(group="rollup measures (1 field digest+hll+stats)")
def test_rollup_measures_fold_window(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    """The same state folded in Python: count, sum, min, max, Welford, our TDigest(100)
    and HyperLogLog(12) fed one event at a time."""
    events = frozen(with_datetimes(hundred_keys[:100_000]))

    def build() -> list[Any]:
        return [0, 0.0, math.inf, -math.inf, 0.0, 0.0, TDigest(100), HyperLogLog(12)]

    def fold(acc: list[Any], e: dict[str, Any]) -> list[Any]:
        x = e["v"]
        acc[0] += 1
        acc[1] += x
        acc[2] = min(acc[2], x)
        acc[3] = max(acc[3], x)
        d = x - acc[4]
        acc[4] += d / acc[0]
        acc[5] += d * (x - acc[4])
        acc[6].add(x)
        acc[7].add(e["user"])
        return acc

    results = timed(benchmark, lambda: baseline(events, build, fold, read=_read_images))
    counted = sum(acc[0] for _, (_, acc) in results)
    assert counted >= 0.99 * len(events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="fold_window+sketches")


# --- 3/4. many keys, one event per key and window -------------------------------------
@pytest.mark.benchmark(group="10k keys, 1 event/key-window")
def test_10k_keys_ours(benchmark: Any) -> None:
    events = frozen(make_events(MILLION, 10_000, per_key_window=True))
    results = timed(benchmark, lambda: ours(events, {"s": "sum(v)"}))
    check_sums(results, events)
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="10k keys, 1 event/key-window")
def test_10k_keys_fold_window(benchmark: Any) -> None:
    events = frozen(with_datetimes(make_events(30_000, 10_000, per_key_window=True)))
    results = timed(benchmark, lambda: baseline(events, lambda: 0, lambda acc, e: acc + e["v"]))
    check_baseline(benchmark, results, events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="fold_window")


@pytest.mark.benchmark(group="100k keys vs our 100 keys")
def test_100k_keys_ours(benchmark: Any) -> None:
    events = frozen(make_events(MILLION, 100_000, per_key_window=True))
    results = timed(benchmark, lambda: ours(events, {"s": "sum(v)"}))
    check_sums(results, events)
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="100k keys vs our 100 keys")
def test_100k_keys_anchor_ours_at_100_keys(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    results = timed(benchmark, lambda: ours(hundred_keys, {"s": "sum(v)"}))
    check_sums(results, hundred_keys)
    benchmark.extra_info.update(items=MILLION, role="anchor", label="ours@100 keys")


# --- 5. one event per batch -----------------------------------------------------------
@pytest.mark.benchmark(group="one event per batch")
def test_one_event_per_batch_ours(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    events = hundred_keys[:30_000]
    results = timed(benchmark, lambda: ours(events, {"s": "sum(v)"}, batch=1))
    check_sums(results, events)
    benchmark.extra_info.update(items=len(events), role="ours")


@pytest.mark.benchmark(group="one event per batch")
def test_one_event_per_batch_fold_window(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    events = frozen(with_datetimes(hundred_keys[:10_000]))
    results = timed(
        benchmark, lambda: baseline(events, lambda: 0, lambda acc, e: acc + e["v"], batch_size=1)
    )
    check_baseline(benchmark, results, events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="fold_window")


@pytest.mark.benchmark(group="one event per batch")
def test_one_event_per_batch_bytewax_floor(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    """Bytewax alone: the same source straight into a sink, nothing between. Its cost per
    batch bounds any operator's speed at one event per batch from below."""
    events = hundred_keys[:10_000]

    def run() -> list[Any]:
        flow = Dataflow("floor")
        out: list[Any] = []
        op.output("out", op.input("in", flow, ListSource(events, 1)), sink(out, _read_none))
        run_main(flow)
        return out

    assert len(timed(benchmark, run)) == len(events)
    benchmark.extra_info.update(items=len(events), role="anchor", label="source->sink only")


def _read_none(items: list[Any]) -> None:
    pass


# --- 6. raw JSON bytes against the dict path ------------------------------------------
@pytest.fixture(scope="module")
def json_batches(hundred_keys: list[dict[str, Any]]) -> list[list[bytes]]:
    docs = [json.dumps(e).encode() for e in hundred_keys[:300_000]]
    return frozen([docs[i : i + BATCH] for i in range(0, len(docs), BATCH)])


@pytest.mark.benchmark(group="JSON bytes: raw path vs json.loads+dicts")
def test_raw_json_ours(
    benchmark: Any, json_batches: list[list[bytes]], hundred_keys: list[dict[str, Any]]
) -> None:
    items = [SourceBatch("p", ("p",), b) for b in json_batches]
    results = timed(benchmark, lambda: ours(items, {"s": "sum(v)"}, batch=1))
    check_sums(results, hundred_keys[:300_000])
    benchmark.extra_info.update(items=300_000, role="ours")


@pytest.mark.benchmark(group="JSON bytes: raw path vs json.loads+dicts")
def test_raw_json_dict_path(
    benchmark: Any, json_batches: list[list[bytes]], hundred_keys: list[dict[str, Any]]
) -> None:
    def run() -> list[WindowResult]:
        flow = Dataflow("dicts")
        source = op.input("in", flow, ListSource(json_batches, 1))
        parsed = op.map("loads", source, lambda docs: [json.loads(d) for d in docs])
        out = window_aggregate("agg", parsed, Tumbling(WINDOW), {"s": "sum(v)"}, group_by="k")
        results: list[WindowResult] = []
        op.output("out", out.results, sink(results, _read_results))
        run_main(flow)
        return results

    results = timed(benchmark, run)
    check_sums(results, hundred_keys[:300_000])
    benchmark.extra_info.update(items=300_000, role="anchor", label="json.loads+dicts")


# --- 7. snapshots every second --------------------------------------------------------
def run_recovered(batches: list[list[dict[str, Any]]], epoch: timedelta) -> list[WindowResult]:
    with tempfile.TemporaryDirectory() as tmp:
        init_db_dir(Path(tmp), 1)
        flow = Dataflow("snap")
        source = op.input("in", flow, ListSource(batches, 1))
        out = window_aggregate("agg", source, Tumbling(WINDOW), {"s": "sum(v)"}, group_by="k")
        results: list[WindowResult] = []
        op.output("out", out.results, sink(results, _read_results))
        run_main(flow, epoch_interval=epoch, recovery_config=RecoveryConfig(tmp))
        return results


@pytest.mark.benchmark(group="snapshots every second")
def test_snapshots_every_second(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    batches = [hundred_keys[i : i + BATCH] for i in range(0, MILLION, BATCH)]
    results = timed(benchmark, lambda: run_recovered(batches, timedelta(seconds=1)))
    check_sums(results, hundred_keys)
    benchmark.extra_info.update(items=MILLION, role="ours")


@pytest.mark.benchmark(group="snapshots every second")
def test_snapshots_anchor_without_recovery(
    benchmark: Any, hundred_keys: list[dict[str, Any]]
) -> None:
    batches = [hundred_keys[i : i + BATCH] for i in range(0, MILLION, BATCH)]
    results = timed(benchmark, lambda: ours(batches, {"s": "sum(v)"}, batch=1))
    check_sums(results, hundred_keys)
    benchmark.extra_info.update(items=MILLION, role="anchor", label="no recovery")


# --- 8. delay from the watermark passing a window's end to its result -----------------
def test_emission_delay(benchmark: Any, hundred_keys: list[dict[str, Any]]) -> None:
    batches = [hundred_keys[i : i + BATCH] for i in range(0, 300_000, BATCH)]
    stamps: list[float] = []
    arrivals: list[tuple[float, WindowResult]] = []

    def run() -> None:
        stamps.clear()
        arrivals.clear()
        flow = Dataflow("delay")
        source = op.input("in", flow, ListSource(batches, 1, stamps))
        out = window_aggregate("agg", source, Tumbling(WINDOW), {"s": "sum(v)"}, group_by="k")
        op.inspect("arrive", out.results, lambda _s, r: arrivals.append((time.perf_counter(), r)))
        run_main(flow)

    benchmark.pedantic(run, rounds=1, iterations=1)
    # The batch whose events first bring the watermark to a window's end.
    crossing = {}
    for i, b in enumerate(batches):
        top = b[-1]["ts"] - b[-1]["ts"] % 10_000
        crossing.setdefault(top, i)
    delays = [t - stamps[crossing[r.end_ms]] for t, r in arrivals if r.end_ms in crossing]
    p99 = float(np.percentile(delays, 99)) * 1e3
    benchmark.extra_info.update(
        items=300_000,
        role="ours",
        report=[f"p99 delay, watermark passing a window end → result: {p99:.2f} ms"],
    )
    assert len(delays) > 2000
