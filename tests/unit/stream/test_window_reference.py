"""The native engine against the Python reference on random out-of-order streams.

Hypothesis draws a window, the time parameters, a stream (late events, sessions that get
bridged, keys of several types, ints and floats, absent fields, a second partition) and a
way to cut it into batches. Both engines must emit the same results in the same order,
and the same late events. Exact: keys, windows, revisions, counts, integer sums, min, max,
percentiles (nearest rank: at most 100 values per window here, where the t-digest is
exact) and distinct counts and ``hll(f)`` images (the reference feeds HyperLogLogs the
same items), ``count(f)``; ``digest(f)`` images hold the window's values (their quantiles
are the nearest ranks: at most 80 values, below the digest's exact-points limit). Floats
(float sums, means, deviations, M2, rates) to 1e-9 relative: summation order differs
(Neumaier vs fsum, Welford vs two-pass).
"""

from __future__ import annotations

import itertools
import math
import runpy
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus import TDigest, WindowEngine, WindowResult

_reference = runpy.run_path(str(Path(__file__).with_name("window_reference.py")))
ReferenceEngine = _reference["ReferenceEngine"]
DigestOf = _reference["DigestOf"]

MEASURES = {
    "n": "count",
    "s": "sum(v)",
    "lo": "min(v)",
    "hi": "max(v)",
    "m": "mean(v)",
    "sd": "stddev(v)",
    "p50": "p50(v)",
    "p90": "p90(v)",
    "u": "distinct(u)",
    "r": "rate(c)",
    "cv": "count(v)",
    "cu": "n(u)",
    "m2": "m2(v)",
    "d": "digest(v)",
    "h": "hll(u)",
}

QS = [i / 20 for i in range(21)]


def same_digest(image: Any, want: Any) -> bool:
    """A digest image of at most 100 values answers every quantile with its nearest rank."""
    if not isinstance(image, bytes):
        return False
    digest = TDigest.from_bytes(image)
    xs = sorted(want.values)
    ranks = [xs[max(math.ceil(q * len(xs)) - 1, 0)] for q in QS]
    return digest.count == len(xs) and [digest.quantile(q) for q in QS] == ranks


def close(a: Any, b: Any) -> bool:
    if isinstance(b, DigestOf):
        return same_digest(a, b)
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(type(a) is type(b) and a == b)


def same_values(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)


def as_tuple(r: WindowResult) -> tuple[Any, ...]:
    return (r.key, r.start_ms, r.end_ms, r.values, r.revision, r.previous, r.retracted)


def assert_same(native: list[WindowResult], reference: list[tuple[Any, ...]]) -> None:
    got = [as_tuple(r) for r in native]
    assert len(got) == len(reference), f"{len(got)} results, reference {len(reference)}"
    for g, w in zip(got, reference, strict=True):
        assert g[0] == w[0], (g, w)
        assert [type(x) for x in g[0]] == [type(x) for x in w[0]], (g, w)
        assert g[1:3] == w[1:3], (g, w)
        assert (g[4], g[6]) == (w[4], w[6]), (g, w)
        assert same_values(g[3], w[3]), (g, w)
        assert same_values(g[5], w[5]), (g, w)


keys = st.sampled_from(["a", "b", 1, 2.5, True, None])
values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)),
    st.none(),
)


@st.composite
def streams(draw: st.DrawFn) -> dict[str, Any]:
    window = draw(st.sampled_from(["tumbling", "sliding", "session"]))
    params: dict[str, Any] = {}
    if window == "tumbling":
        params["size"] = draw(st.integers(1, 20_000))
    elif window == "sliding":
        slide = draw(st.integers(1, 8_000))
        params["size"] = slide * draw(st.integers(1, 3)) + draw(st.integers(0, slide - 1))
        params["slide"] = slide
    else:
        params["gap"] = draw(st.integers(1, 15_000))
    n = draw(st.integers(0, 80))
    base = draw(st.lists(st.integers(0, 100_000), min_size=n, max_size=n))
    jitter = draw(st.integers(0, 20_000))
    events = []
    for i, t in enumerate(sorted(base)):
        event: dict[str, Any] = {
            "ts": t - draw(st.integers(0, jitter)),
            "k": draw(keys),
            "u": draw(st.sampled_from(["x", "y", "z", 7, None])),
            "c": i * 3 if draw(st.booleans()) else None,
        }
        v = draw(values)
        if v is not None or draw(st.booleans()):
            event["v"] = v
        events.append(event)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=8)))
    partitions = draw(st.lists(st.sampled_from(["p1", "p2"]), min_size=n, max_size=n))
    return {
        "window": window,
        "params": params,
        "ooo": draw(st.integers(0, 5_000)),
        "lateness": draw(st.integers(0, 30_000)),
        "events": events,
        "cuts": [0, *cuts, n],
        "partitions": partitions,
        "announce": draw(st.booleans()),
    }


def run_both(s: dict[str, Any]) -> None:
    kwargs = {
        "measures": MEASURES,
        "group_by": ("k",),
        "max_out_of_orderness": s["ooo"],
        "allowed_lateness": s["lateness"],
    }
    native = WindowEngine(s["window"], **s["params"], **kwargs)
    reference = ReferenceEngine(s["window"], **s["params"], **kwargs)
    if s["announce"]:
        native.expect_partitions(["p1", "p2"])
        reference.expect_partitions(["p1", "p2"])
    events, parts = s["events"], s["partitions"]
    for lo, hi in zip(s["cuts"], s["cuts"][1:], strict=False):
        # A batch comes from one partition: cut further where the partition changes.
        i = lo
        while i < hi:
            j = i
            while j < hi and parts[j] == parts[i]:
                j += 1
            got, got_late, errors = native.process(events[i:j], parts[i])
            want, want_late = reference.process(events[i:j], parts[i])
            assert errors == []
            assert_same(got, want)
            assert got_late == want_late
            i = j
    assert_same(native.flush(), reference.flush())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_native_engine_matches_the_reference(s: dict[str, Any]) -> None:
    run_both(s)


@settings(max_examples=150, deadline=None)
@given(streams(), st.lists(st.integers(0, 80), max_size=10))
def test_output_does_not_depend_on_batch_sizes(s: dict[str, Any], cuts: list[int]) -> None:
    def run(bounds: list[int]) -> tuple[list[Any], list[Any]]:
        e = WindowEngine(
            s["window"],
            **s["params"],
            measures=MEASURES,
            group_by=("k",),
            max_out_of_orderness=s["ooo"],
            allowed_lateness=s["lateness"],
        )
        results: list[Any] = []
        late: list[Any] = []
        for lo, hi in itertools.pairwise(bounds):
            r, lt, _ = e.process(s["events"][lo:hi])
            results += r
            late += lt
        return results + e.flush(), late

    n = len(s["events"])
    one_by_one = run(list(range(n + 1)))
    whole = run([0, n])
    cut = run(sorted({0, n, *(min(c, n) for c in cuts)}))
    assert one_by_one == whole == cut
