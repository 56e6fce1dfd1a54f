"""The example specs in pipelines/: they load, together use every step, window, measure
and routing mode, and do what their comments say on sample events (PIPE-1 preview)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from datanexus.pipeline import load_spec, preview
from datanexus.pipeline.steps import OPS

ROOT = Path(__file__).resolve().parents[3] / "pipelines"
NOW = 1_700_000_000_000


@pytest.fixture(scope="module")
def specs():
    return {name: load_spec(ROOT / f"{name}.toml") for name in ("web", "payments", "iot")}


def web_event(**kw):
    event = {
        "ts": NOW - 1000,
        "tenant": "demo",
        "id": "w1",
        "region": "eu",
        "path": "/api/v2/users/42",
        "method": "GET",
        "status": 200,
        "latency_ms": 12.5,
        "user_id": "u1",
        "bytes": 512,
    }
    return {**event, **kw}


def payment(**kw):
    event = {
        "ts": NOW - 1000,
        "tenant": "demo",
        "id": "p1",
        "merchant": "acme",
        "amount": "19.99",
        "currency": "eur",
        "card": "4111111111111111",
        "status": "ok",
        "country": "DE",
    }
    return {**event, **kw}


def reading(**kw):
    event = {
        "ts": "2023-11-14 23:13:00",
        "tenant": "demo",
        "id": "r1",
        "device": "d-7",
        "site": "Berlin-1",
        "reading": {"temperature": 21.5, "humidity": 40, "battery": 90.0},
    }
    return {**event, **kw}


def test_examples_cover_every_feature(specs):
    ops = {s.op for spec in specs.values() for s in spec.steps}
    assert ops == set(OPS)
    windows = {a.window_kind for spec in specs.values() for a in spec.aggregations}
    assert windows == {"tumbling", "sliding", "session"}
    measures = {
        m.split("(")[0].rstrip("0123456789.")
        for spec in specs.values()
        for a in spec.aggregations
        for m in a.measures.values()
    }
    assert measures == {"count", "sum", "min", "max", "mean", "stddev", "rate", "p", "distinct"}
    assert {spec.routing.mode for spec in specs.values()} == {"content", "topic"}
    assert all(spec.schema is not None and spec.schema.path.is_file() for spec in specs.values())
    for spec in specs.values():
        assert json.loads(spec.schema.path.read_text())["type"] == "object"
        for agg in spec.aggregations:
            assert not {"id", "user_id", "device", "card"} & set(agg.group_by)


def test_web_example(specs):
    events = [
        web_event(),
        web_event(id="w2", status=503, latency_ms=1500.0, path="/checkout/7"),
        web_event(id="w3", method="TRACE"),
        web_event(id="w4", ts=NOW + 600_000),
        web_event(id="w5", status="oops"),
    ]
    out = specs["web"].compile().process(copy.deepcopy(events), now_ms=NOW)
    assert out.events == [
        {
            **{k: v for k, v in events[0].items() if k not in ("path", "bytes")},
            "route": "/api/v2/users/:id",
            "api_version": "v2",
            "is_error": 0,
            "response_bytes": 512,
            "origin": "edge",
        },
        {
            **{k: v for k, v in events[1].items() if k not in ("path", "bytes")},
            "route": "/checkout/:id",
            "api_version": None,
            "is_error": 1,
            "response_bytes": 512,
            "origin": "edge",
        },
    ]
    assert out.filtered == 1
    assert [(d[0]["id"], d[1], d[2].split(":")[0]) for d in out.dead] == [
        ("w4", "event_time", "future_timestamp"),
        ("w5", "status_int", "status"),
    ]
    assert {k: [e["id"] for e in v] for k, v in out.routed.items()} == {
        "requests": ["w1"],
        "errors": ["w2"],
    }


def test_payments_example(specs):
    events = [
        payment(),
        payment(id="p2", status="failed", amount="250.00", currency="Usd"),
        payment(id="p3", status="declined", amount="0.00"),
        payment(id="p4", merchant=None),
        payment(id="p5", currency="euro"),
        payment(id="p6", amount="12,50"),
    ]
    out = specs["payments"].compile().process(copy.deepcopy(events), now_ms=NOW)
    ok, failed = out.events
    assert (ok["amount"], ok["currency"], ok["card"], ok["is_failed"]) == (
        19.99,
        "EUR",
        "************1111",
        0,
    )
    assert len(ok["card_ref"]) == 64
    assert "4111111111111111" not in json.dumps(out.events)
    assert (failed["amount"], failed["currency"], failed["is_failed"]) == (250.0, "USD", 1)
    assert out.filtered == 2  # a zero amount and a non-ISO currency
    assert [(d[0]["id"], d[1]) for d in out.dead] == [
        ("p4", "merchant_required"),
        ("p6", "amount_float"),
    ]
    assert out.dead[0][0] == events[3]
    assert {k: [e["id"] for e in v] for k, v in out.routed.items()} == {
        "ledger": ["p1"],
        "failed_payments": ["p2"],
        "fraud_review": ["p2"],
    }


def test_iot_example(specs):
    events = [
        reading(),
        reading(
            id="r2",
            ts="2023-11-14T22:13:00Z",
            site="Hamburg-2",
            reading={"temperature": 45.0, "humidity": 10.5, "battery": None},
        ),
        reading(
            id="r3",
            ts="14.11.2023 23:13:00",
            reading={"temperature": None, "humidity": 40, "battery": 10.0},
        ),
        reading(
            id="r4",
            ts="14.11.2023 23:13:00",
            reading={"temperature": 20.0, "humidity": 40, "battery": 10.0},
        ),
        reading(id="r5", ts="sometime"),
        reading(id="r6", reading={"temperature": 150.0, "humidity": 1, "battery": 100}),
    ]
    out = specs["iot"].compile().process(copy.deepcopy(events), now_ms=NOW)
    assert [e["id"] for e in out.events] == ["r1", "r2", "r4"]
    first = out.events[0]
    assert first["ts"] == "2023-11-14T22:13:00.000Z"  # Berlin local time, UTC+1 in November
    assert (first["reading_temperature"], first["reading_humidity"], first["reading_battery"]) == (
        21.5,
        40.0,
        90.0,
    )
    assert "reading" not in first
    assert type(first["reading_humidity"]) is float
    assert (first["site"], first["low_battery"]) == ("berlin-1", False)
    assert out.events[1]["low_battery"] is False  # a null battery is not low
    assert out.events[2]["ts"] == "2023-11-14T22:13:00.000Z"
    assert out.events[2]["low_battery"] is True
    assert out.filtered == 2  # null temperature, implausible temperature
    assert [(d[0]["id"], d[1], d[2].split(":")[0]) for d in out.dead] == [
        ("r5", "event_time", "invalid_timestamp")
    ]
    assert out.counters["utc_time"]["unparseable"] == 1
    assert {k: [e["id"] for e in v] for k, v in out.routed.items()} == {
        "telemetry": ["r1", "r2", "r4"],
        "pager": ["r2"],
        "ops_chat": ["r2"],
    }


def test_pipe1_preview_examples_without_side_effects(specs):
    samples = {
        "web": [web_event(), web_event(status="x")],
        "payments": [payment(), payment(amount="0.00")],
        "iot": [reading(), reading(ts="never")],
    }
    for name, spec in specs.items():
        before = copy.deepcopy(samples[name])
        pipeline = spec.compile()
        reports = preview(spec, samples[name], now_ms=NOW)
        assert samples[name] == before
        assert all(c.in_ == 0 for c in pipeline.counters.values())
        assert [r.step for r in reports] == [s.name for s in spec.steps] + ["event_time", "route"]
        assert all(len(r.results) == 2 for r in reports)
        assert reports[-1].results[0].status == "ok"
        assert reports[-1].results[0].destinations
        # The first sample's final event equals what process() produces.
        final = pipeline.process(copy.deepcopy(samples[name][:1]), now_ms=NOW).events[0]
        assert reports[-1].results[0].event == final
        assert [r.results[1].status for r in reports].count("ok") + [
            r.results[1].status for r in reports
        ].count("skipped") < len(reports)


def test_preview_shows_each_step(specs):
    reports = preview(specs["web"], [web_event(status="x"), web_event(method="TRACE")], now_ms=NOW)
    by_step = {r.step: r for r in reports}
    assert by_step["known_methods"].results[0].status == "ok"
    assert by_step["known_methods"].results[1].status == "filtered"
    assert by_step["status_int"].results[0].status == "error"
    assert by_step["status_int"].errors == ["status: cannot cast 'x' to int: not a number"]
    assert by_step["status_int"].results[1].status == "not_reached"
    assert by_step["route_template"].results[0].status == "not_reached"
    ok = preview(specs["web"], [web_event()], now_ms=NOW)
    steps = {r.step: r.results[0].event for r in ok}
    assert steps["route_template"]["route"] == "/api/v2/users/:id"
    assert "path" in steps["route_template"]
    assert "path" not in steps["drop_raw_path"]


def test_preview_with_validator(specs):
    def validator(event):
        return [] if isinstance(event.get("status"), int) else ["/status: not an integer"]

    reports = preview(specs["web"], [web_event(status="x")], validator=validator, now_ms=NOW)
    assert reports[0].step == "schema"
    assert reports[0].errors == ["/status: not an integer"]
    assert all(r.results[0].status == "not_reached" for r in reports[1:])
