from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datanexus.connectors import WebEvent, WebEventsSource, WebTraffic, generate_events
from datanexus.connectors.generator import WebEventsPartition
from datanexus.connectors.web_traffic import BLOCK_SIZE, REGIONS
from datanexus.errors import InvalidArgument, InvalidType

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FIELDS = {
    "ts": int,
    "id": str,
    "tenant": str,
    "stream": str,
    "user_id": str,
    "region": str,
    "method": str,
    "path": str,
    "status": int,
    "latency_ms": int,
    "bytes": int,
}
ENDPOINTS = {
    ("GET", "/"),
    ("GET", "/search"),
    ("GET", "/api/products"),
    ("POST", "/api/cart"),
    ("POST", "/api/checkout"),
    ("GET", "/static/app.js"),
}


def drain(part: WebEventsPartition, max_batches: int | None = None) -> list[list[WebEvent]]:
    """Batches from ``part`` until it stops (or ``max_batches``), as Bytewax would poll it."""
    batches: list[list[WebEvent]] = []
    while max_batches is None or len(batches) < max_batches:
        try:
            items = part.next_batch()
        except StopIteration:
            break
        assert len(items) == 1, "each poll emits one batch (a list) as one item"
        batches.append(items[0])
    return batches


def run_source(source: WebEventsSource) -> dict[str, list[list[WebEvent]]]:
    return {name: drain(source.build_part("gen", name, None)) for name in source.list_parts()}


def flat(batches: list[list[WebEvent]]) -> list[WebEvent]:
    return [e for batch in batches for e in batch]


def test_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    a = generate_events(3000, seed=11, start=START)
    assert a == generate_events(3000, seed=11, start=START)
    b = generate_events(3000, seed=12, start=START)
    assert len(a) == len(b) == 3000
    # Another seed must change the random fields, not just the ids.
    same_users = sum(x["user_id"] == y["user_id"] for x, y in zip(a, b, strict=True))
    assert same_users < 300
    assert [e["region"] for e in a] != [e["region"] for e in b]


@pytest.mark.parametrize("batch_size", [1, 7, 1000, BLOCK_SIZE, 5000])
def test_one_partition_emits_generate_events_in_order_whatever_the_batch_size(
    batch_size: int,
) -> None:
    traffic = WebTraffic(events=2500, seed=3, start=START)
    batches = run_source(WebEventsSource(traffic, batch_size=batch_size))["web-0"]
    assert all(0 < len(b) <= batch_size for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1]), "only the last batch is short"
    assert flat(batches) == generate_events(2500, seed=3, start=START)


@pytest.mark.parametrize("partitions", [2, 3, 7])
def test_partitions_share_the_events_exactly_once(partitions: int) -> None:
    traffic = WebTraffic(events=5000, seed=5)
    source = WebEventsSource(traffic, batch_size=600, partitions=partitions)
    assert source.list_parts() == [f"web-{p}" for p in range(partitions)]
    per_part = run_source(source)
    emitted = [e for batches in per_part.values() for e in flat(batches)]
    reference = generate_events(5000, seed=5)
    assert sorted(emitted, key=lambda e: e["id"]) == reference
    # Blocks are dealt round-robin, so each partition holds whole blocks p, p + P, ...
    for p, name in enumerate(source.list_parts()):
        indices = [int(e["id"].rsplit("-", 1)[1]) for e in flat(per_part[name])]
        assert {i // BLOCK_SIZE % partitions for i in indices} <= {p}
        assert indices == sorted(indices)


def test_fields_follow_the_schema_and_ranges() -> None:
    duration = timedelta(minutes=20)
    events = generate_events(
        20_000, seed=8, start=START, duration=duration, users=5000, jitter=timedelta(0)
    )
    start_ms = int(START.timestamp() * 1000)
    end_ms = start_ms + 20 * 60_000
    for e in events:
        assert set(e) == set(FIELDS)
        for name, kind in FIELDS.items():
            assert type(e[name]) is kind, name  # type: ignore[literal-required]
        assert e["tenant"] == "demo"
        assert e["stream"] == "web"
        assert start_ms <= e["ts"] < end_ms
        assert e["region"] in REGIONS
        assert (e["method"], e["path"]) in ENDPOINTS
        assert 200 <= e["status"] <= 599
        assert e["latency_ms"] >= 1
        assert e["bytes"] >= 0
        match = re.fullmatch(r"u(\d+)", e["user_id"])
        assert match is not None
        assert 1 <= int(match[1]) <= 5000
    assert len({e["id"] for e in events}) == len(events)
    # Without jitter, time never goes backwards; the whole period is used.
    assert all(x["ts"] <= y["ts"] for x, y in pairwise(events))
    assert events[0]["ts"] - start_ms < 1000
    assert end_ms - events[-1]["ts"] < 1000


def test_distributions_are_skewed_like_real_traffic() -> None:
    events = generate_events(30_000, seed=2, users=10_000)
    regions = Counter(e["region"] for e in events)
    assert [r for r, _ in regions.most_common()] == list(REGIONS), "weights decrease"
    assert regions[REGIONS[0]] > 4 * regions[REGIONS[-1]]
    statuses = Counter(e["status"] for e in events)
    ok = statuses[200] + statuses[201]
    server_errors = sum(c for s, c in statuses.items() if s >= 500)
    assert 0.9 < ok / len(events) < 0.99
    assert server_errors > 0
    users = Counter(e["user_id"] for e in events)
    # Zipf: user 1 is the most active and far above the median user.
    assert users.most_common(1)[0][0] == "u1"
    assert users["u1"] > 20 * sorted(users.values())[len(users) // 2]

    # Regions differ in latency: sa-east-1 is slower than us-east-1 on the median.
    def median_latency(region: str) -> int:
        values = sorted(e["latency_ms"] for e in events if e["region"] == region)
        return values[len(values) // 2]

    assert median_latency("sa-east-1") > 1.5 * median_latency("us-east-1")


@pytest.mark.parametrize("jitter_s", [0, 1, 5])
def test_out_of_orderness_is_bounded_by_the_jitter(jitter_s: int) -> None:
    events = generate_events(8000, seed=4, start=START, jitter=timedelta(seconds=jitter_s))
    high = events[0]["ts"]
    lateness = 0
    for e in events:
        high = max(high, e["ts"])
        lateness = max(lateness, high - e["ts"])
    assert lateness <= jitter_s * 1000
    if jitter_s:
        assert lateness > jitter_s * 500, "jitter should actually reorder events"
    assert min(e["ts"] for e in events) >= int(START.timestamp() * 1000)


@pytest.mark.parametrize(("partitions", "take"), [(1, 0), (1, 3), (2, 1), (3, 4), (3, 100)])
def test_resuming_from_a_snapshot_continues_exactly(partitions: int, take: int) -> None:
    traffic = WebTraffic(events=4100, seed=9)
    source = WebEventsSource(traffic, batch_size=333, partitions=partitions)
    for name in source.list_parts():
        uninterrupted = flat(drain(source.build_part("gen", name, None)))
        first = source.build_part("gen", name, None)
        head = flat(drain(first, take))
        state = first.snapshot()
        assert isinstance(state, int)
        resumed = source.build_part("gen", name, state)
        assert resumed.snapshot() == state
        tail = flat(drain(resumed))
        assert head + tail == uninterrupted
        assert resumed.snapshot() == traffic.events, "an exhausted partition says so"
        with pytest.raises(StopIteration):
            source.build_part("gen", name, resumed.snapshot()).next_batch()


def test_a_snapshot_is_the_index_of_the_next_event() -> None:
    source = WebEventsSource(WebTraffic(events=3000, seed=1), batch_size=100, partitions=2)
    part = source.build_part("gen", "web-1", None)
    assert part.snapshot() == BLOCK_SIZE
    (batch,) = part.next_batch()
    assert batch[0]["id"].endswith(f"-{BLOCK_SIZE:010d}")
    assert part.snapshot() == BLOCK_SIZE + 100


def test_a_resume_state_of_another_partition_is_refused() -> None:
    source = WebEventsSource(WebTraffic(events=5000, seed=1), partitions=2)
    with pytest.raises(InvalidArgument, match="partition count"):
        source.build_part("gen", "web-0", BLOCK_SIZE + 5)
    with pytest.raises(InvalidArgument, match="unknown partition"):
        source.build_part("gen", "web-2", None)
    with pytest.raises(InvalidArgument):
        source.build_part("gen", "web-0", -1)


def test_empty_traffic_stops_at_once() -> None:
    assert generate_events(0) == []
    part = WebEventsSource(WebTraffic(events=0)).build_part("gen", "web-0", None)
    with pytest.raises(StopIteration):
        part.next_batch()
    assert part.snapshot() == 0


def test_rate_paces_through_next_awake_without_blocking() -> None:
    unpaced = WebEventsSource(WebTraffic(events=5000)).build_part("gen", "web-0", None)
    unpaced.next_batch()
    assert unpaced.next_awake() is None

    before = datetime.now(UTC)
    source = WebEventsSource(WebTraffic(events=5000), batch_size=500, partitions=2, rate=100.0)
    part = source.build_part("gen", "web-0", None)
    assert part.next_awake() is None
    part.next_batch()
    first = part.next_awake()
    part.next_batch()
    second = part.next_awake()
    assert first is not None
    assert second is not None
    # 100 events/s over 2 partitions: 500 events are due 10 s apart on one partition.
    assert first - before >= timedelta(seconds=9.9)
    assert second - first == timedelta(seconds=10)
    assert datetime.now(UTC) - before < timedelta(seconds=5), "next_batch must not sleep"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": -1},
        {"seed": -1},
        {"users": 0},
        {"users": 10_000_001},
        {"user_skew": -0.5},
        {"user_skew": math.nan},
        {"duration": timedelta(0)},
        {"duration": timedelta(microseconds=10)},
        {"jitter": timedelta(seconds=-1)},
        {"start": datetime(2024, 1, 1)},  # noqa: DTZ001 - the naive datetime is the point
    ],
)
def test_invalid_traffic_is_an_invalid_argument(kwargs: dict[str, object]) -> None:
    params: dict[str, object] = {"events": 10, **kwargs}
    with pytest.raises(InvalidArgument, match=next(iter(kwargs))):
        WebTraffic(**params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        generate_events(**{("n" if k == "events" else k): v for k, v in params.items()})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"partitions": 0}, {"rate": 0.0}, {"rate": -5}, {"rate": math.inf}],
)
def test_invalid_source_options_are_invalid_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match=next(iter(kwargs))):
        WebEventsSource(WebTraffic(events=10), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"events": 1.5}, {"events": True}, {"seed": "7"}, {"duration": 60}]
)
def test_wrong_types_are_invalid_types(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidType, match=next(iter(kwargs))):
        WebTraffic(**{"events": 10, **kwargs})  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 3 * BLOCK_SIZE + 17),
    seed=st.integers(0, 2**64),
    batch_size=st.integers(1, 2 * BLOCK_SIZE + 5),
    partitions=st.integers(1, 4),
    stop_after=st.integers(0, 6),
)
def test_any_batching_partitioning_and_resume_point_gives_the_same_events(
    n: int, seed: int, batch_size: int, partitions: int, stop_after: int
) -> None:
    traffic = WebTraffic(events=n, seed=seed, duration=timedelta(minutes=5))
    source = WebEventsSource(traffic, batch_size=batch_size, partitions=partitions)
    emitted: list[WebEvent] = []
    for name in source.list_parts():
        first = source.build_part("gen", name, None)
        head = drain(first, stop_after)
        tail = drain(source.build_part("gen", name, first.snapshot()))
        assert all(0 < len(b) <= batch_size for b in head + tail)
        emitted += flat(head + tail)
    reference = generate_events(n, seed, duration=timedelta(minutes=5))
    assert len(reference) == n
    assert sorted(emitted, key=lambda e: e["id"]) == reference
