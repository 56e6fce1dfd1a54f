"""The mergeable-state measures from Python: ``count(f)``, ``m2(f)``, ``digest(f)`` and
``hll(f)`` against :class:`datanexus.TDigest`, :class:`datanexus.HyperLogLog` and numpy,
through the dict and JSON paths, routing, pickling and engine snapshots."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest

from datanexus import HyperLogLog, InvalidArgument, TDigest, WindowEngine, WindowResult
from datanexus.stream import WindowRouter

MEASURES = {
    "n": "count",
    "c": "count(lat)",
    "m2": "m2(lat)",
    "d": "digest(lat)",
    "cu": "n(user)",
    "h": "hll(user)",
}
MINUTE = 60_000


def image(value: object) -> bytes:
    assert isinstance(value, bytes), value
    return value


def events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        e: dict[str, Any] = {"ts": int(rng.integers(0, 3 * MINUTE)), "k": f"r{i % 3}"}
        if i % 11:
            e["lat"] = float(rng.lognormal(3, 1)) if i % 2 else int(rng.integers(0, 500))
        if i % 13:
            e["user"] = f"u{int(rng.integers(0, 2000))}" if i % 3 else int(rng.integers(0, 99))
        out.append(e)
    return out


def engine(**kw: Any) -> WindowEngine:
    params: dict[str, Any] = {
        "measures": MEASURES,
        "group_by": ("k",),
        "allowed_lateness": 10 * MINUTE,
        "max_out_of_orderness": 3 * MINUTE,
    }
    params.update(kw)
    return WindowEngine("tumbling", MINUTE, **params)


def reference(evs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (k, window start): the store's state built in plain Python, in arrival order."""
    wins: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for e in evs:
        wins.setdefault((e["k"], e["ts"] - e["ts"] % MINUTE), []).append(e)
    out = {}
    for key, es in wins.items():
        lat = [e["lat"] for e in es if e.get("lat") is not None]
        digest = TDigest(100)
        for x in lat:
            digest.add(x)
        hll = HyperLogLog(12)
        for e in es:
            if e.get("user") is not None:
                hll.add(e["user"])
        out[key] = {
            "n": len(es),
            "c": len(lat),
            "m2": float(np.var(lat) * len(lat)) if lat else None,
            "d": digest.to_bytes() if lat else None,
            "cu": sum(e.get("user") is not None for e in es),
            "h": hll.to_bytes() if not hll.is_empty() else None,
        }
    return out


def check(results: list[WindowResult], evs: list[dict[str, Any]]) -> None:
    want = reference(evs)
    got = {(r.key[0], r.start_ms): r.values for r in results}
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        assert (g["n"], g["c"], g["cu"]) == (w["n"], w["c"], w["cu"]), key
        assert g["m2"] == pytest.approx(w["m2"], rel=1e-9), key
        # Fed the same values in the same order: the same image, so the same quantiles.
        assert g["d"] == w["d"], key
        assert g["h"] == w["h"], key
        assert isinstance(g["d"], bytes)
        td = TDigest.from_bytes(g["d"])
        assert td.compression == 100
        assert td.count == w["c"]
        assert td.quantile(0.99) == TDigest.from_bytes(w["d"]).quantile(0.99)


def test_images_equal_sketches_fed_the_same_values_in_order() -> None:
    evs = sorted(events(6000, 1), key=lambda e: e["ts"])
    e = engine()
    results, late, errors = e.process(evs)
    assert late == []
    assert errors == []
    check(results + e.flush(), evs)


def test_images_survive_snapshots_at_any_point() -> None:
    evs = sorted(events(3000, 2), key=lambda e: e["ts"])
    whole = engine()
    want = whole.process(evs)[0] + whole.flush()
    for cut in (1, 799, 1500, 2999):
        e = engine()
        first = e.process(evs[:cut])[0]
        restored = pickle.loads(pickle.dumps(e))
        assert restored.to_bytes() == e.to_bytes()
        restored = WindowEngine.from_bytes(restored.to_bytes())
        got = first + restored.process(evs[cut:])[0] + restored.flush()
        assert got == want, cut
    check(want, evs)


def test_amendments_carry_the_previous_images() -> None:
    e = engine(max_out_of_orderness=0)
    e.process([{"ts": 1, "k": "a", "lat": 5, "user": "x"}])
    (first,) = e.process([{"ts": MINUTE + 1, "k": "a", "lat": 1, "user": "y"}])[0]
    (amended,) = e.process([{"ts": 2, "k": "a", "lat": 7, "user": "z"}])[0]
    assert amended.revision == 1
    assert amended.previous == first.values
    d = TDigest(100)
    d.add_many([5.0, 7.0])
    h = HyperLogLog(12)
    h.add("x")
    h.add("z")
    assert amended.values["h"] == h.to_bytes()
    # The digest was merged at the first emission and again now, so its sweep direction
    # may differ from a digest merged once; what it answers does not.
    got = TDigest.from_bytes(image(amended.values["d"]))
    assert (got.count, got.quantile(0.0), got.quantile(0.5), got.quantile(1.0)) == (
        d.count,
        d.quantile(0.0),
        d.quantile(0.5),
        d.quantile(1.0),
    )
    assert amended.values["m2"] == pytest.approx(2.0)
    back = pickle.loads(pickle.dumps(amended))
    assert back == amended
    assert back.previous == first.values
    assert WindowResult((), 0, 1, {"d": b"\x00"}) != WindowResult((), 0, 1, {"d": b"\x01"})


def test_the_json_path_and_routing_give_the_same_images() -> None:
    evs = events(2000, 3)
    by_dict = engine()
    by_json = by_dict.copy()
    want = by_dict.process(evs)[0] + by_dict.flush()
    got = by_json.process_json([json.dumps(e).encode() for e in evs])[0] + by_json.flush()
    assert got == want
    router = WindowRouter(engine(), 3)
    shards = [engine() for _ in range(router.shards)]
    parts, errors = router.split_json([json.dumps(e) for e in evs], "p")
    assert errors == []
    routed: list[WindowResult] = []
    for shard, part in parts:
        routed += shards[shard].process_routed(pickle.loads(pickle.dumps(part)))[0]
    routed += [r for s in shards for r in s.flush()]
    assert sorted(map(repr, routed)) == sorted(map(repr, want))


def test_sketch_parameters_and_sharing() -> None:
    evs = sorted(events(1500, 4), key=lambda e: e["ts"])
    e = engine(
        measures={
            "p99": "p99(lat)",
            "d200": "digest(lat, 200)",
            "d50": "digest(lat, 50)",
            "u": "distinct(user)",
            "h": "hll(user)",
            "h14": "hll(user, 14)",
        }
    )
    results = e.process(evs)[0] + e.flush()
    for r in results:
        es = [x for x in evs if x["k"] == r.key[0] and x["ts"] - x["ts"] % MINUTE == r.start_ms]
        v = r.values
        d200 = TDigest.from_bytes(image(v["d200"]))
        assert d200.compression == 200
        assert d200.quantile(0.99) == v["p99"], "digest(f, 200) shares the p99's digest"
        assert TDigest.from_bytes(image(v["d50"])).compression == 50
        h14 = HyperLogLog(14)
        for x in es:
            if x.get("user") is not None:
                h14.add(x["user"])
        assert v["h14"] == h14.to_bytes()
        assert HyperLogLog.from_bytes(image(v["h"])).estimate() == v["u"]
    for bad in ("digest(lat, 5)", "hll(user, 30)", "m2()", "digest(lat, many)"):
        with pytest.raises(InvalidArgument, match="hll\\(f, precision\\)"):
            engine(measures={"x": bad})
