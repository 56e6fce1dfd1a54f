"""``window_aggregate`` in Bytewax flows: validation when the flow is built, determinism
over batch sizes and worker counts, per-partition watermarks, the raw path, recovery."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import (
    AbortExecution,
    FixedPartitionedSource,
    Source,
    StatefulSourcePartition,
)
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from datanexus import ConfigError, HyperLogLog, InvalidArgument, InvalidType, WindowResult
from datanexus.connectors import WebEventsSource, WebTraffic, generate_events
from datanexus.stream import (
    PartitionedSource,
    Session,
    Sliding,
    SourceBatch,
    Tumbling,
    window_aggregate,
)

TEN_S = timedelta(seconds=10)
EVENTS = 6_000
SEED = 11
DURATION = timedelta(minutes=5)
JITTER = timedelta(seconds=2)
MEASURES = {
    "n": "count",
    "errors_sum": "sum(status)",
    "lat": "sum(latency_ms)",
    "lo": "min(latency_ms)",
    "hi": "max(latency_ms)",
    "p99": "p99(latency_ms)",
    "users": "distinct(user_id)",
}


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return [dict(e) for e in generate_events(EVENTS, SEED, duration=DURATION, jitter=JITTER)]


Final = dict[tuple[tuple[Any, ...], int], tuple[int, dict[str, Any]]]


def finals(results: list[WindowResult]) -> Final:
    """The last result of every window still standing."""
    out: Final = {}
    for r in results:
        if r.retracted:
            out.pop((r.key, r.start_ms), None)
        else:
            out[(r.key, r.start_ms)] = (r.end_ms, r.values)
    return out


def run_flow(
    source: Source[Any], *, workers: int = 1, recovery: Path | None = None, **kwargs: Any
) -> tuple[list[WindowResult], list[Any], list[Any]]:
    params: dict[str, Any] = {
        "window": Tumbling(TEN_S),
        "measures": MEASURES,
        "group_by": ("region",),
        "max_out_of_orderness": JITTER,
        "shards": 4,
        **kwargs,
    }
    flow = Dataflow("window_test")
    out = window_aggregate("agg", op.input("in", flow, source), **params)
    results: list[WindowResult] = []
    late: list[Any] = []
    errors: list[Any] = []
    op.output("results", out.results, TestingSink(results))
    op.output("late", out.late, TestingSink(late))
    op.output("errors", out.errors, TestingSink(errors))
    config = None if recovery is None else RecoveryConfig(str(recovery))
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=config)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, epoch_interval=timedelta(0))
    return results, late, errors


def ground_truth(events: list[dict[str, Any]]) -> dict[tuple[tuple[Any, ...], int], Any]:
    groups: dict[tuple[tuple[Any, ...], int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        groups[((e["region"],), e["ts"] - e["ts"] % 10_000)].append(e)
    out = {}
    for key, es in groups.items():
        hll = HyperLogLog(12)
        hll.add_many(e["user_id"] for e in es)
        lat = [e["latency_ms"] for e in es]
        out[key] = (len(es), sum(e["status"] for e in es), sum(lat), min(lat), max(lat))
    return out


def exact_part(f: Final) -> dict[tuple[tuple[Any, ...], int], Any]:
    return {k: (v["n"], v["errors_sum"], v["lat"], v["lo"], v["hi"]) for k, (_, v) in f.items()}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"measures": {"p": "median(latency_ms)"}}, "measure 'p'.*median"),
        ({"window": "tumbling"}, "window must be Tumbling, Sliding or Session"),
        ({"allowed_lateness": 5}, "allowed_lateness must be a timedelta"),
        ({"max_out_of_orderness": timedelta(microseconds=1500)}, "whole number"),
        ({"group_by": ("region", "region")}, "twice"),
        ({"shards": 0}, "shards"),
        ({"max_open_windows": 0}, "max_open_windows must be at least 1"),
        ({"max_open_windows": 1.5}, "max_open_windows must be an int"),
        ({"fields": ("ts", "region", "status")}, r"unknown fields \['latency_ms', 'user_id'\]"),
    ],
)
def test_bad_parameters_fail_when_the_flow_is_built(kwargs: dict[str, Any], match: str) -> None:
    params: dict[str, Any] = {
        "window": Tumbling(TEN_S),
        "measures": MEASURES,
        "group_by": ("region",),
        **kwargs,
    }
    flow = Dataflow("bad")
    with pytest.raises(ConfigError, match=match) as caught:
        window_aggregate("agg_step", op.input("in", flow, TestingSource([])), **params)
    assert "agg_step" in str(caught.value)


def test_window_shapes_check_their_durations() -> None:
    with pytest.raises(InvalidArgument, match="slide"):
        Sliding(timedelta(seconds=1), timedelta(seconds=2))
    with pytest.raises(InvalidArgument, match="positive"):
        Session(timedelta(0))
    with pytest.raises(InvalidArgument, match="whole number"):
        Tumbling(timedelta(microseconds=10))
    with pytest.raises(InvalidType, match="timedelta"):
        Tumbling(10)  # type: ignore[arg-type]


def test_same_final_results_for_any_batch_size_and_worker_count(
    events: list[dict[str, Any]],
) -> None:
    runs: dict[tuple[int, int], Final] = {}
    for batch_size in (1, 100, 1000):
        for workers in (1, 2):
            results, late, errors = run_flow(
                TestingSource(events, batch_size=batch_size), workers=workers
            )
            assert (late, errors) == ([], [])
            runs[(batch_size, workers)] = finals(results)
    first = runs[(1, 1)]
    assert exact_part(first) == ground_truth(events)
    for config, final in runs.items():
        assert final == first, config


def test_partitioned_sources_keep_a_watermark_per_partition(
    events: list[dict[str, Any]],
) -> None:
    def source() -> PartitionedSource[Any, int]:
        traffic = WebTraffic(events=EVENTS, seed=SEED, duration=DURATION, jitter=JITTER)
        return PartitionedSource(WebEventsSource(traffic, batch_size=300, partitions=3))

    one, late1, _ = run_flow(source())
    two, late2, _ = run_flow(source(), workers=2)
    assert late1 == late2 == []
    assert finals(one) == finals(two)
    assert exact_part(finals(one)) == ground_truth(events)
    # Every window came out once: the watermark waited for all three partitions.
    assert all(r.revision == 0 for r in one + two)


def test_late_and_unwindowable_events_have_their_own_streams() -> None:
    items = [
        {"ts": 1_000, "region": "a", "latency_ms": 5, "status": 200, "user_id": "u"},
        {"ts": 60_000, "region": "a", "latency_ms": 5, "status": 200, "user_id": "u"},
        {"ts": 2_000, "region": "a", "latency_ms": 5, "status": 200, "user_id": "u"},
        {"ts": "soon", "region": "a"},
    ]
    results, late, errors = run_flow(TestingSource(items), allowed_lateness=timedelta(0))
    assert late == [items[2]]
    assert errors == [(items[3], errors[0][1])]
    assert "RFC 3339" in errors[0][1]
    assert sorted((r.start_ms, r.values["n"]) for r in results) == [(0, 1), (60_000, 1)]


def test_max_open_windows_bounds_the_operator_not_each_shard() -> None:
    """STREAM-12: 10 windows open in 2 shards under a bound of 4 (2 per shard): at
    least 6 must have emitted early, which their second events then amend."""
    regions = [f"r{i}" for i in range(10)]
    first = [
        {"ts": 1_000 + i, "region": r, "latency_ms": 5, "status": 200, "user_id": "u"}
        for i, r in enumerate(regions)
    ]
    second = [{**e, "ts": e["ts"] + 100} for e in first]
    results, late, _ = run_flow(
        TestingSource(first + second),
        shards=2,
        max_open_windows=4,
        max_out_of_orderness=timedelta(0),
    )
    assert late == []
    amended = {r.key for r in results if r.revision > 0}
    assert len(amended) >= 6, f"only {sorted(amended)} emitted early"
    assert {k: v["n"] for (k, _), (_, v) in finals(results).items()} == {(r,): 2 for r in regions}


def test_raw_json_documents_give_the_same_results(events: list[dict[str, Any]]) -> None:
    docs = [json.dumps(e).encode() for e in events[:2000]]
    batches = [docs[i : i + 250] for i in range(0, len(docs), 250)]
    raw, _, _ = run_flow(TestingSource([SourceBatch("p", ("p",), b) for b in batches]))
    parsed, _, _ = run_flow(TestingSource(events[:2000], batch_size=250))
    assert finals(raw) == finals(parsed)
    assert len(raw) > 10


def test_sessions_and_sliding_windows_through_the_operator(
    events: list[dict[str, Any]],
) -> None:
    session, _, _ = run_flow(
        TestingSource(events[:1500], batch_size=100),
        window=Session(timedelta(milliseconds=300)),
        measures={"n": "count"},
    )
    total = sum(v["n"] for _, v in finals(session).values())
    assert total == 1500, "every event in exactly one final session"
    sliding, _, _ = run_flow(
        TestingSource(events[:1500], batch_size=100),
        window=Sliding(TEN_S, timedelta(seconds=5)),
        measures={"n": "count"},
    )
    assert sum(v["n"] for _, v in finals(sliding).values()) == 2 * 1500


class AbortOnce(FixedPartitionedSource[Any, Any]):
    """Wraps a source; the first execution aborts once ``after`` batches were polled.

    (``TestingSource.ABORT`` inside a list resumes one item early, since the sentinel
    counts as an item when the resumed iterator skips ahead: Bytewax's own stateful_map
    then counts an event twice. The generator's resume state is exact.)"""

    def __init__(self, inner: FixedPartitionedSource[Any, Any], after: int) -> None:
        self.inner = inner
        self.after = after
        self.polls = 0
        self.aborted = False

    def list_parts(self) -> list[str]:
        return self.inner.list_parts()

    def build_part(
        self, step_id: str, for_part: str, resume_state: Any
    ) -> StatefulSourcePartition[Any, Any]:
        inner = self.inner.build_part(step_id, for_part, resume_state)
        control = self

        class Part(StatefulSourcePartition[Any, Any]):
            def next_batch(self) -> Any:
                control.polls += 1
                if not control.aborted and control.polls > control.after:
                    control.aborted = True
                    raise AbortExecution
                return inner.next_batch()

            def snapshot(self) -> Any:
                return inner.snapshot()

        return Part()


def test_abort_and_resume_converges_to_the_uninterrupted_results(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    def source() -> PartitionedSource[Any, int]:
        traffic = WebTraffic(events=EVENTS, seed=SEED, duration=DURATION, jitter=JITTER)
        return PartitionedSource(WebEventsSource(traffic, batch_size=200, partitions=3))

    uninterrupted, _, _ = run_flow(source())
    init_db_dir(tmp_path, 1)
    aborting = AbortOnce(source(), after=12)
    first, _, _ = run_flow(aborting, recovery=tmp_path)
    assert aborting.aborted
    assert len(first) < len(uninterrupted), "the first run stopped part way"
    resumed, late, errors = run_flow(aborting, recovery=tmp_path)
    assert (late, errors) == ([], [])
    assert finals(first + resumed) == finals(uninterrupted)
    assert exact_part(finals(uninterrupted)) == ground_truth(events)


def test_a_snapshot_resumes_only_under_its_parameters(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    """Each engine's share of max_open_windows is among the parameters a snapshot keeps:
    resuming under another bound fails at start, naming both, instead of mixing them."""
    traffic = WebTraffic(events=EVENTS, seed=SEED, duration=DURATION, jitter=JITTER)
    init_db_dir(tmp_path, 1)
    source = WebEventsSource(traffic, batch_size=200, partitions=3)
    aborting = AbortOnce(PartitionedSource(source), after=12)
    run_flow(aborting, recovery=tmp_path)
    assert aborting.aborted
    with pytest.raises(Exception, match="other parameters") as caught:  # Bytewax wraps it
        run_flow(aborting, recovery=tmp_path, max_open_windows=40)
    assert "max_open_windows" in str(caught.value)
