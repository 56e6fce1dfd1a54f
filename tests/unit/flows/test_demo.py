from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import flows.demo as demo
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import AbortExecution, FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, cluster_main, run_main
from rich.console import Console

from datanexus.connectors import WebEvent, WebEventsSource, WebTraffic, generate_events
from datanexus.errors import ConfigError, InvalidType
from datanexus.stream.demo_rollup import (
    MINUTE_MS,
    PRECISION,
    Rollups,
    merge_rollups,
    render_summary,
    rollup_batch,
    summarise,
)

EVENTS = 30_000
SEED = 77
DURATION = timedelta(minutes=10)
# A 4-sigma band of the HyperLogLog's relative standard error 1.04/sqrt(m), m = 4096
# registers (precision 12): about 6.5 %. The events are fixed by the seed, so this is not
# flaky; it fails only if the sketch or its feeding (wrong items, lost groups) is wrong.
HLL_TOLERANCE = 4 * 1.04 / math.sqrt(1 << PRECISION)


@dataclass
class Ref:
    count: int = 0
    errors: int = 0
    latency_sum_ms: int = 0
    users: set[str] = field(default_factory=set)


def reference(events: list[WebEvent]) -> dict[tuple[str, int], Ref]:
    """The slow, obvious aggregation the flow must reproduce."""
    out: dict[tuple[str, int], Ref] = {}
    for e in events:
        ref = out.setdefault((e["region"], e["ts"] // MINUTE_MS * MINUTE_MS), Ref())
        ref.count += 1
        ref.errors += e["status"] >= 500
        ref.latency_sum_ms += e["latency_ms"]
        ref.users.add(e["user_id"])
    return out


@pytest.fixture(scope="module")
def events() -> list[WebEvent]:
    return generate_events(EVENTS, SEED, duration=DURATION)


@pytest.fixture(scope="module")
def expected(events: list[WebEvent]) -> dict[tuple[str, int], Ref]:
    return reference(events)


def build(sink: TestingSink[Rollups], **kwargs: object) -> Dataflow:
    # Batches of 700 straddle minutes and blocks; 3 partitions spread over the workers.
    params: dict[str, object] = {
        "seed": SEED,
        "duration": DURATION,
        "batch_size": 700,
        "partitions": 3,
        "sink": sink,
        **kwargs,
    }
    return demo.build(EVENTS, **params)  # type: ignore[arg-type]


def assert_matches(rollups: Rollups, expected: dict[tuple[str, int], Ref]) -> None:
    got = {(r, m): s for r, rollup in rollups.items() for m, s in rollup.items()}
    assert got.keys() == expected.keys()
    worst = 0.0
    for key, ref in expected.items():
        stats = got[key]
        assert (stats.count, stats.errors, stats.latency_sum_ms) == (
            ref.count,
            ref.errors,
            ref.latency_sum_ms,
        ), key
        assert stats.exact_users == ref.users, key
        worst = max(worst, abs(stats.users.estimate() / len(ref.users) - 1))
    assert worst <= HLL_TOLERANCE


def run_one_worker(**kwargs: object) -> Rollups:
    out: list[Rollups] = []
    run_main(build(TestingSink(out), **kwargs))
    assert len(out) == 1, "one report, after the input ends"
    return out[0]


def test_one_worker_matches_a_plain_python_aggregation(
    expected: dict[tuple[str, int], Ref],
) -> None:
    assert sum(r.count for r in expected.values()) == EVENTS
    assert len(expected) > 50, "the test data must span many (region, minute) keys"
    assert_matches(run_one_worker(), expected)


def test_two_workers_in_process_give_the_same_rollups(
    expected: dict[tuple[str, int], Ref],
) -> None:
    out: list[Rollups] = []
    cluster_main(build(TestingSink(out)), [], 0, worker_count_per_proc=2)
    assert len(out) == 1, "the gather step sends every region to one worker"
    assert_matches(out[0], expected)


class _AbortOnce:
    """Wraps the generator; the first execution aborts after some batches."""

    def __init__(self, inner: WebEventsSource, after_batches: int) -> None:
        self.inner = inner
        self.after = after_batches
        self.aborted = False


class AbortingSource(FixedPartitionedSource[list[WebEvent], int]):
    def __init__(self, control: _AbortOnce) -> None:
        self.control = control

    def list_parts(self) -> list[str]:
        return self.control.inner.list_parts()

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> StatefulSourcePartition[list[WebEvent], int]:
        inner = self.control.inner.build_part(step_id, for_part, resume_state)
        control = self.control

        class Part(StatefulSourcePartition[list[WebEvent], int]):
            def __init__(self) -> None:
                self.polls = 0

            def next_batch(self) -> list[list[WebEvent]]:
                self.polls += 1
                if not control.aborted and self.polls > control.after:
                    control.aborted = True
                    raise AbortExecution
                return inner.next_batch()

            def snapshot(self) -> int:
                return inner.snapshot()

        return Part()


def test_abort_and_resume_counts_every_event_once(
    tmp_path: Path, expected: dict[tuple[str, int], Ref]
) -> None:
    init_db_dir(tmp_path, 1)
    recovery = RecoveryConfig(str(tmp_path))
    inner = WebEventsSource(
        WebTraffic(events=EVENTS, seed=SEED, duration=DURATION), batch_size=700, partitions=3
    )
    control = _AbortOnce(inner, after_batches=8)
    out: list[Rollups] = []
    flow = build(TestingSink(out), source=AbortingSource(control))
    # A zero epoch interval snapshots after every activation, so the abort lands
    # between snapshots with some events already folded into the state.
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert control.aborted
    assert out == [], "no report from the aborted run: the input did not end"
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert len(out) == 1
    assert_matches(out[0], expected)


def test_summary_and_report_agree_with_the_reference(
    events: list[WebEvent], expected: dict[tuple[str, int], Ref]
) -> None:
    rollups = run_one_worker()
    summary = summarise(rollups, top=3)

    by_region: dict[str, list[Ref]] = {}
    by_minute: dict[int, int] = {}
    for (region, minute), ref in expected.items():
        by_region.setdefault(region, []).append(ref)
        by_minute[minute] = by_minute.get(minute, 0) + ref.count
    assert [r.label for r in summary.regions] == sorted(
        by_region, key=lambda r: -sum(x.count for x in by_region[r])
    )
    for row in summary.regions:
        refs = by_region[row.label]
        assert row.events == sum(x.count for x in refs)
        assert row.errors == sum(x.errors for x in refs)
        assert row.latency_sum_ms == sum(x.latency_sum_ms for x in refs)
        assert row.distinct_exact == len(set().union(*(x.users for x in refs)))
        assert row.distinct_error is not None
        assert abs(row.distinct_error) <= HLL_TOLERANCE
    all_users = {e["user_id"] for e in events}
    assert summary.total.events == EVENTS
    assert summary.total.distinct_exact == len(all_users)
    assert abs(summary.total.distinct_estimate / len(all_users) - 1) <= HLL_TOLERANCE
    top = sorted(by_minute.values(), reverse=True)[:3]
    assert [row.events for row in summary.busiest_minutes] == top
    assert summary.day == "2025-01-01"

    console = Console(file=io.StringIO(), width=120)
    render_summary(summary, console, elapsed_s=2.0)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for row in summary.regions:
        assert row.label in text
        assert f"{row.events:,}" in text
    assert f"{EVENTS:,}" in text
    assert "make test" in text
    assert "make bench" in text


def test_without_exact_users_the_sets_are_not_kept() -> None:
    rollups = run_one_worker(exact_users=False)
    assert all(s.exact_users is None for r in rollups.values() for s in r.values())
    assert summarise(rollups).total.distinct_exact is None


def test_partials_merge_to_the_rollup_of_the_whole(events: list[WebEvent]) -> None:
    head = events[:5000]
    whole = dict(rollup_batch(head, exact_users=True))
    merged: Rollups = {}
    for lo in range(0, len(head), 613):
        for region, part in rollup_batch(head[lo : lo + 613], exact_users=True):
            merged[region] = merge_rollups(merged.get(region, {}), part)
    assert merged.keys() == whole.keys()
    for region, rollup in whole.items():
        assert merged[region].keys() == rollup.keys()
        for minute, stats in rollup.items():
            other = merged[region][minute]
            assert (other.count, other.errors, other.latency_sum_ms) == (
                stats.count,
                stats.errors,
                stats.latency_sum_ms,
            )
            assert other.exact_users == stats.exact_users
            # Register-wise max gives the one-pass registers; the estimates may still
            # differ, as a one-pass sketch keeps its order-dependent HIP estimate.
            assert other.users.registers() == stats.users.registers()


def test_rollup_refuses_non_integer_measures(events: list[WebEvent]) -> None:
    assert rollup_batch([]) == []
    bad = [dict(e) for e in events[:10]]
    bad[3]["latency_ms"] = 12.5
    with pytest.raises(InvalidType, match="latency_ms"):
        rollup_batch(bad)


def test_events_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(demo.EVENTS_VAR, raising=False)
    assert demo.events_from_env() == demo.DEFAULT_EVENTS
    monkeypatch.setenv(demo.EVENTS_VAR, "12_000")
    assert demo.events_from_env() == 12_000
    for bad in ("lots", "0", "-5"):
        monkeypatch.setenv(demo.EVENTS_VAR, bad)
        with pytest.raises(ConfigError, match=demo.EVENTS_VAR):
            demo.events_from_env()


def test_the_module_exposes_a_flow_for_bytewax_run() -> None:
    assert isinstance(demo.flow, Dataflow)
