"""dedup (STREAM-13..15): against a plain Python reference, in flows on 1 and 2 workers,
and through an abort and resume."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.inputs import AbortExecution, FixedPartitionedSource, StatefulSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.errors import ConfigError, InvalidArgument
from datanexus.stream import dedup, dedup_scope
from datanexus.stream.dedup import Deduplicator
from datanexus.stream.dedup_keys import LocalSeenKeys

WINDOW_MS = 60_000


class Clock:
    """A wall clock the test moves."""

    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def reference(
    steps: list[tuple[int, list[dict[str, Any]]]], window_ms: int, content: bool
) -> tuple[list[Any], list[Any]]:
    """Event by event: an identity (dedup_key, else id; and the payload minus ts/id
    with ``content``) first seen less than ``window_ms`` ago makes a duplicate."""
    first_seen: dict[Any, int] = {}
    kept: list[Any] = []
    dups: list[Any] = []
    for now, events in steps:
        for e in events:
            ids = []
            if e.get("dedup_key") is not None:
                ids.append(("k", json.dumps(e["dedup_key"])))
            elif e.get("id") is not None:
                ids.append(("i", json.dumps(e["id"])))
            if content:
                payload = {k: v for k, v in e.items() if k not in ("ts", "id")}
                ids.append(("c", json.dumps(payload, sort_keys=True)))
            repeat = False
            for i in ids:
                if i in first_seen and now - first_seen[i] < window_ms:
                    repeat = True
                else:
                    first_seen[i] = now
            (dups if repeat else kept).append(e)
    return kept, dups


def run_dedup(
    steps: list[tuple[int, list[dict[str, Any]]]], window_ms: int, content: bool
) -> tuple[list[Any], list[Any]]:
    clock = Clock(0)
    d = Deduplicator(LocalSeenKeys(window_ms), content=content, clock=clock)
    kept: list[Any] = []
    dups: list[Any] = []
    for now, events in steps:
        clock.ms = now
        k, dd = d.process(events)
        kept += k
        dups += [e for e, why in dd if why == "duplicate"]
        assert len(k) + len(dd) == len(events)
    return kept, dups


event = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 2])},
    optional={
        "dedup_key": st.sampled_from(["a", "b", 1, None]),
        "id": st.sampled_from(["a", "x", "y", 2, None]),
        "ts": st.integers(-(10**15), 10**15),
    },
)
steps = st.lists(st.tuples(st.integers(0, 50_000), st.lists(event, max_size=6)), max_size=25).map(
    lambda s: [(sum(d for d, _ in s[: i + 1]), evs) for i, (_, evs) in enumerate(s)]
)


@settings(max_examples=300, deadline=None)
@given(steps, st.sampled_from([1, 1000, WINDOW_MS]), st.booleans())
def test_dedup_matches_the_reference(
    s: list[tuple[int, list[dict[str, Any]]]], window_ms: int, content: bool
) -> None:
    assert run_dedup(s, window_ms, content) == reference(s, window_ms, content)


def test_stream_13_keys_ids_and_payloads() -> None:
    clock = Clock()
    d = Deduplicator(LocalSeenKeys(WINDOW_MS), clock=clock)
    events = [
        {"id": 1, "dedup_key": "k1", "v": 1},
        {"id": 2, "dedup_key": "k1", "v": 1},  # same dedup_key: duplicate
        {"id": 1, "v": 1},  # id 1, no dedup_key: another namespace than k1
        {"id": 1, "v": 9},  # id 1 again: duplicate
        {"v": 1},  # no key: processed
        {"v": 1},  # no key: processed again
        {"id": 3, "v": 1},  # same payload, different ids: both
        {"id": 4, "v": 1},
        {"id": 1.0, "v": 1},  # 1.0 is not the id 1
        {"dedup_key": True, "v": 1},  # nor is True the key 1
        {"dedup_key": 1, "v": 1},
        "not an event",
    ]
    kept, dups = d.process(events)
    assert dups == [(events[1], "duplicate"), (events[3], "duplicate")]
    assert kept == [e for i, e in enumerate(events) if i not in (1, 3)]


def test_stream_14_the_window_is_wall_clock() -> None:
    clock = Clock()
    d = Deduplicator(LocalSeenKeys(WINDOW_MS), clock=clock)
    future = {"id": "a", "ts": 10**15}
    assert d.process([future]) == ([future], [])
    clock.ms += WINDOW_MS - 1
    past = {"id": "a", "ts": 0}
    assert d.process([past]) == ([], [(past, "duplicate")]), "event time does not matter"
    clock.ms += 1
    assert d.process([past]) == ([past], []), "a window after the first sighting"
    # Expired identities leave the state: it is bounded by the window.
    seen = LocalSeenKeys(1000)
    d = Deduplicator(seen, clock=clock)
    for i in range(100):
        clock.ms += 100
        d.process([{"id": i}])
    assert len(seen) == 10
    capped = LocalSeenKeys(WINDOW_MS, max_keys=5)
    Deduplicator(capped, clock=clock).process([{"id": i} for i in range(20)])
    assert len(capped) == 5


def test_stream_15_content_dedup_ignores_ts_and_id() -> None:
    clock = Clock()
    d = Deduplicator(LocalSeenKeys(WINDOW_MS), content=True, clock=clock)
    a = {"id": 1, "ts": 5, "v": {"x": [1, 2]}, "w": "é"}
    b = {"w": "é", "v": {"x": [1, 2]}, "ts": 9, "id": 2}
    c = {"id": 3, "ts": 5, "v": {"x": [2, 1]}, "w": "é"}
    kept, dups = d.process([a, b, c])
    assert (kept, dups) == ([a, c], [(b, "duplicate")])


def test_snapshots_restore_the_seen_identities() -> None:
    clock = Clock()
    seen = LocalSeenKeys(WINDOW_MS)
    Deduplicator(seen, clock=clock).process([{"id": i} for i in range(5)])
    clock.ms += 10
    Deduplicator(seen, clock=clock).process([{"id": 9}])
    back = LocalSeenKeys.restore(seen.snapshot(), WINDOW_MS)
    assert back.snapshot() == seen.snapshot()
    d = Deduplicator(back, clock=clock)
    assert d.process([{"id": 3}, {"id": 7}]) == ([{"id": 7}], [({"id": 3}, "duplicate")])
    with pytest.raises(InvalidArgument, match="not a dedup snapshot"):
        LocalSeenKeys.restore(b"junk", WINDOW_MS)


@pytest.mark.parametrize(
    ("window", "match"),
    [
        (timedelta(hours=1, milliseconds=1), "between 0 \\(off\\) and 1 h"),
        (timedelta(seconds=-1), "between 0"),
        ("60s", "must be a timedelta"),
    ],
)
def test_bad_windows_fail_when_the_flow_is_built(window: Any, match: str) -> None:
    flow = Dataflow("bad")
    up = op.input("in", flow, TestingSource([]))
    with pytest.raises(ConfigError, match=match):
        dedup("dedup_step", up, window=window)


# --- flows ------------------------------------------------------------------------------
def workload() -> list[tuple[str, list[dict[str, Any]]]]:
    """Batches of two tenants' streams with repeats inside and across batches; the same
    id in another (tenant, stream) is another event."""
    items = []
    for i in range(60):
        for scope in (dedup_scope("t1", "web"), dedup_scope("t2", "web"), dedup_scope("t1", "app")):
            items.append((scope, [{"id": f"e{j}", "n": j} for j in range(i * 3, i * 3 + 5)]))
    return items


def expected(items: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for scope in {s for s, _ in items}:
        events = [e for s, b in items if s == scope for e in b]
        kept = len({e["id"] for e in events})
        out[scope] = (kept, len(events) - kept)
    return out


def run_flow(
    source: Any, *, workers: int = 1, recovery: Path | None = None, window: Any = WINDOW_MS
) -> tuple[list[Any], list[Any]]:
    flow = Dataflow("dedup_test")
    out = dedup("dedup", op.input("in", flow, source), window=window, clock=Clock())
    kept: list[Any] = []
    dups: list[Any] = []
    op.output("kept", out.events, TestingSink(kept))
    op.output("dups", out.duplicates, TestingSink(dups))
    config = None if recovery is None else RecoveryConfig(str(recovery))
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=config)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, epoch_interval=timedelta(0))
    return kept, dups


def counts(kept: list[Any], dups: list[Any]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for scope, batch in kept:
        k, d = out.get(scope, (0, 0))
        out[scope] = (k + len(batch), d)
    for scope, (_, why) in dups:
        assert why == "duplicate"
        k, d = out.get(scope, (0, 0))
        out[scope] = (k, d + 1)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_flows_on_one_and_two_workers(workers: int) -> None:
    items = workload()
    kept, dups = run_flow(TestingSource(items, batch_size=7), workers=workers)
    assert counts(kept, dups) == expected(items)
    ids = [(s, e["id"]) for s, b in kept for e in b]
    assert len(ids) == len(set(ids))


def test_window_zero_switches_dedup_off() -> None:
    items = workload()
    kept, dups = run_flow(TestingSource(items), window=timedelta(0))
    assert dups == []
    assert sum(len(b) for _, b in kept) == sum(len(b) for _, b in items)


class AbortOnce(FixedPartitionedSource[Any, int]):
    """A list of items in one partition; the first execution aborts after ``after``."""

    def __init__(self, items: list[Any], after: int) -> None:
        self.items = items
        self.after = after
        self.aborted = False

    def list_parts(self) -> list[str]:
        return ["only"]

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> StatefulSourcePartition[Any, int]:
        control = self

        class Part(StatefulSourcePartition[Any, int]):
            def __init__(self) -> None:
                self.at = resume_state or 0

            def next_batch(self) -> list[Any]:
                if self.at >= len(control.items):
                    raise StopIteration
                if not control.aborted and self.at >= control.after:
                    control.aborted = True
                    raise AbortExecution
                self.at += 1
                return [control.items[self.at - 1]]

            def snapshot(self) -> int:
                return self.at

        return Part()


def test_abort_and_resume_remembers_what_was_seen(tmp_path: Path) -> None:
    items = workload()
    init_db_dir(tmp_path, 1)
    source = AbortOnce(items, after=len(items) // 2)
    first_kept, _ = run_flow(source, recovery=tmp_path)
    assert source.aborted
    assert 0 < sum(len(b) for _, b in first_kept) < sum(len(b) for _, b in items)
    kept, dups = run_flow(source, recovery=tmp_path)
    # The resumed run starts at the last snapshot, item `start`, and knows every id seen
    # before it: it keeps only ids new since then.
    got = counts(kept, dups)
    start = len(items) - sum(k + d for k, d in got.values()) // 5
    assert 0 < start <= len(items) // 2
    for scope, (k, _) in got.items():
        before = {e["id"] for s, b in items[:start] if s == scope for e in b}
        after = {e["id"] for s, b in items[start:] if s == scope for e in b}
        assert k == len(after - before), scope
        assert len(after & before) > 0, "the resumed part repeats earlier ids"
