"""User Python folds (``Fold`` measures): against the Python reference on random streams,
independent of batch sizes and worker counts in flows, amended by late events, kept in
snapshots, purged, and refused when invalid."""

from __future__ import annotations

import itertools
import pickle
import runpy
import statistics
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus import ConfigError, InvalidType, WindowEngine, WindowResult
from datanexus.stream import Fold, Session, Tumbling, WindowRouter, window_aggregate
from datanexus.stream.window_fold import WindowFolds, split_measures

_here = Path(__file__).parent
_reference = runpy.run_path(str(_here / "window_reference.py"))
_cases = runpy.run_path(str(_here / "test_window_reference.py"))
ReferenceEngine = _reference["ReferenceEngine"]
streams = _cases["streams"]
assert_same = _cases["assert_same"]

M61 = (1 << 61) - 1


def _chain(acc: int, events: list[dict[str, Any]]) -> int:
    """Order-sensitive: a polynomial hash of (time, value) in the order given."""
    for e in events:
        v = e.get("v")
        acc = (acc * 1_000_003 + e["ts"] * 7 + (0 if v is None else hash(v))) % M61
    return acc


ORDERED = Fold(init=lambda: 1, fold=_chain)
"""A fold whose value changes with the order of the events it is given."""
LAST_V = Fold(
    init=lambda: [None],
    fold=lambda acc, events: [*acc, *(e.get("v") for e in events)],
    finish=lambda acc: next((v for v in reversed(acc) if v is not None), None),
)
"""The value of the latest event (in event time) that has one."""
SIZE = Fold(init=lambda: 0, fold=lambda acc, events: acc + len(events))

MEASURES: dict[str, Any] = {"n": "count", "order": ORDERED, "s": "sum(v)", "last": LAST_V}


class FoldingEngine:
    """The operator's per-shard path without Bytewax: a router with one shard, an engine
    and its fold state."""

    def __init__(self, window: str, params: dict[str, Any], **kwargs: Any) -> None:
        measures = kwargs.pop("measures")
        specs, folds = split_measures("test", measures)
        self.engine = WindowEngine(window, **params, measures=specs, **kwargs)
        self.router = WindowRouter(self.engine, 1)
        self.folds = WindowFolds(folds, list(measures), self.engine.params)

    def process(
        self, events: list[Any], partition: str, announce: list[str] | None
    ) -> tuple[list[WindowResult], list[Any]]:
        parts, errors = self.router.split(events, partition, announce)
        assert errors == []
        results: list[WindowResult] = []
        late: list[Any] = []
        for _, part in parts:
            r, lt = self.folds.process(self.engine, part, None)
            results += r
            late += lt
        return results, late

    def flush(self) -> list[WindowResult]:
        return [self.folds.complete(r) for r in self.engine.flush()]


def run_both(s: dict[str, Any], snapshot_every: int = 0) -> None:
    kwargs = {
        "measures": MEASURES,
        "group_by": ("k",),
        "max_out_of_orderness": s["ooo"],
        "allowed_lateness": s["lateness"],
    }
    native = FoldingEngine(s["window"], s["params"], **kwargs)
    reference = ReferenceEngine(s["window"], **s["params"], **kwargs)
    announce = ["p1", "p2"] if s["announce"] else None
    if announce:
        reference.expect_partitions(announce)
    events, parts = s["events"], s["partitions"]
    batches = 0
    for lo, hi in itertools.pairwise(s["cuts"]):
        i = lo
        while i < hi:
            j = i
            while j < hi and parts[j] == parts[i]:
                j += 1
            got, got_late = native.process(events[i:j], parts[i], announce)
            want, want_late = reference.process(events[i:j], parts[i])
            assert_same(got, want)
            assert got_late == want_late
            i = j
            batches += 1
            if snapshot_every and batches % snapshot_every == 0:
                # What recovery does: the fold state goes through pickle.
                restored = pickle.loads(pickle.dumps(native.folds))
                restored.rebind(native.folds)
                native.folds = restored
    assert_same(native.flush(), reference.flush())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.integers(0, 3))
def test_folds_match_the_reference(s: dict[str, Any], snapshot_every: int) -> None:
    """Every emission (first results, amendments, session retractions) carries the fold
    of exactly the window's events so far, in (time, arrival) order."""
    run_both(s, snapshot_every)


@settings(max_examples=100, deadline=None)
@given(streams(), st.lists(st.integers(0, 80), max_size=10))
def test_fold_values_do_not_depend_on_batch_sizes(s: dict[str, Any], cuts: list[int]) -> None:
    def run(bounds: list[int]) -> list[Any]:
        e = FoldingEngine(
            s["window"],
            s["params"],
            measures=MEASURES,
            group_by=("k",),
            max_out_of_orderness=s["ooo"],
            allowed_lateness=s["lateness"],
        )
        out: list[Any] = []
        for lo, hi in itertools.pairwise(bounds):
            out += e.process(s["events"][lo:hi], "", None)[0]
        return out + e.flush()

    n = len(s["events"])
    assert run(list(range(n + 1))) == run([0, n]) == run(sorted({0, n, *(min(c, n) for c in cuts)}))


# --- flows -------------------------------------------------------------------------------
def flow_events() -> list[dict[str, Any]]:
    """Out of order within 2 s, 20 keys, a few minutes."""
    out = []
    for i in range(3_000):
        t = 1_700_000_000_000 + i * 97 - (i * 7919 % 2_000)
        out.append({"ts": t, "k": f"k{i % 20}", "v": i * 31 % 1000})
    return out


def median_fold() -> Fold[list[int]]:
    return Fold(
        init=list,
        fold=lambda acc, events: acc + [e["v"] for e in events],
        finish=lambda acc: statistics.median(acc) if acc else None,
    )


FLOW_MEASURES: dict[str, Any] = {"n": "count", "median": median_fold(), "order": ORDERED}


def run_flow(
    items: Any,
    *,
    batch: int = 1,
    workers: int = 1,
    recovery_config: RecoveryConfig | None = None,
    input_id: str = "in",
    **kwargs: Any,
) -> list[Any]:
    flow = Dataflow("fold_test")
    src = op.input(input_id, flow, TestingSource(items, batch_size=batch))
    out = window_aggregate(
        "agg",
        src,
        window=kwargs.pop("window", Tumbling(timedelta(seconds=10))),
        measures=kwargs.pop("measures", FLOW_MEASURES),
        group_by="k",
        max_out_of_orderness=timedelta(seconds=2),
        shards=4,
        **kwargs,
    )
    results: list[WindowResult] = []
    op.output("results", out.results, TestingSink(results))
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery_config)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, epoch_interval=timedelta(0))
    return results


def finals(results: list[WindowResult]) -> dict[tuple[Any, int], dict[str, Any]]:
    out: dict[tuple[Any, int], dict[str, Any]] = {}
    for r in results:
        if r.retracted:
            out.pop((r.key, r.start_ms), None)
        else:
            out[(r.key, r.start_ms)] = r.values
    return out


def test_same_fold_results_for_any_batch_size_and_worker_count() -> None:
    events = flow_events()
    runs = {
        (batch, workers): finals(run_flow(events, batch=batch, workers=workers))
        for batch in (1, 100, 1000)
        for workers in (1, 2)
    }
    first = runs[(1, 1)]
    groups: dict[tuple[Any, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        groups[((e["k"],), e["ts"] - e["ts"] % 10_000)].append(e)
    want = {
        w: {
            "n": len(es),
            "median": statistics.median(e["v"] for e in es),
            # Event-time order: the input has no equal times within a key.
            "order": _chain(1, sorted(es, key=lambda e: e["ts"])),
        }
        for w, es in groups.items()
    }
    assert first == want
    assert list(next(iter(first.values()))) == ["n", "median", "order"]
    for config, final in runs.items():
        assert final == first, config


def test_a_late_event_refolds_the_window_with_the_previous_value() -> None:
    items = [
        {"ts": 1_000, "k": "a", "v": 5},
        {"ts": 12_000, "k": "a", "v": 1},  # the watermark passes 10 s: [0, 10 s) emits
        {"ts": 2_000, "k": "a", "v": 9},  # within lateness: an amendment
    ]
    results = run_flow(items, measures={"n": "count", "median": median_fold()})
    first = [r for r in results if r.start_ms == 0]
    assert [(r.revision, r.values, r.previous) for r in first] == [
        (0, {"n": 1, "median": 5}, None),
        (1, {"n": 2, "median": 7}, {"n": 1, "median": 5}),
    ]


def test_sessions_fold_their_merged_events() -> None:
    items = [
        {"ts": 1_000, "k": "a", "v": 1},
        {"ts": 9_000, "k": "a", "v": 3},
        {"ts": 5_000, "k": "a", "v": 2},  # bridges the two sessions (gap 5 s)
    ]
    results = run_flow(
        items,
        window=Session(timedelta(seconds=5)),
        measures={"vs": Fold(lambda: 0, lambda acc, es: acc * 10 + sum(e["v"] for e in es))},
    )
    assert finals(results) == {(("a",), 1_000): {"vs": 6}}


def test_fold_state_is_in_the_snapshots(tmp_path: Path) -> None:
    events = flow_events()
    uninterrupted = finals(run_flow(events, batch=100))
    init_db_dir(tmp_path, 1)
    half = len(events) // 2
    config = RecoveryConfig(str(tmp_path))
    first = run_flow(events[:half], batch=100, recovery_config=config)
    # The second run resumes the first's state; it sees only the rest of the input (the
    # first run ended normally, so its engines flushed: windows amend as events come).
    # (A new input step: the source's own resume state is not what is tested here.)
    rest = run_flow(events[half:], batch=100, recovery_config=config, input_id="in2")
    assert finals(first + rest) == uninterrupted


def test_closed_windows_forget_their_events() -> None:
    engine = FoldingEngine(
        "tumbling", {"size": 1_000}, measures={"n": SIZE}, group_by=("k",), allowed_lateness=0
    )
    for i in range(200):
        engine.process([{"ts": i * 500 + j, "k": f"k{j}"} for j in range(10)], "", None)
    # Events older than one window and the lateness are gone.
    assert engine.folds.stored_events <= 40


@pytest.mark.parametrize(
    ("measure", "match"),
    [
        (42, "measure 'bad' must be a spec string"),
        (Fold(init=1, fold=lambda a, e: a), "Fold.init must be callable"),  # type: ignore[arg-type]
        (Fold(init=list, fold=None), "Fold.fold must be callable"),  # type: ignore[arg-type]
        (Fold(init=list, fold=lambda a, e: a, finish=3), "Fold.finish"),  # type: ignore[arg-type]
    ],
)
def test_invalid_folds_fail_when_the_flow_is_built(measure: Any, match: str) -> None:
    flow = Dataflow("bad")
    src = op.input("in", flow, TestingSource([]))
    with pytest.raises(ConfigError, match=match) as info:
        window_aggregate("agg", src, Tumbling(timedelta(seconds=1)), {"n": "count", "bad": measure})
    assert "window_aggregate 'bad.agg'" in str(info.value)


def test_a_fold_giving_an_unsupported_value_names_the_measure() -> None:
    engine = FoldingEngine(
        "tumbling", {"size": 1_000}, measures={"top": Fold(list, lambda a, es: a + es)}
    )
    with pytest.raises(InvalidType, match=r"measure 'top'.*list"):
        engine.process([{"ts": 1}, {"ts": 5_000}], "", None)
