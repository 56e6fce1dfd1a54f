"""The compiled pipeline: order, counters, dead letters of the original event (PIPE-18,
CONN-6), schema validation first, routing inside the pipeline."""

from __future__ import annotations

import copy

from conftest import steps_toml


def test_pipe18_steps_run_in_declaration_order(make_spec):
    # Each step sees the previous output: rename, then cast the new name, then derive.
    spec = make_spec(
        steps_toml(
            'op = "rename"\nfrom = "lat"\nto = "latency_ms"',
            'op = "cast"\nfield = "latency_ms"\nto = "float"',
            'op = "derive"\nfield = "slow"\nexpr = "latency_ms > 100.0"',
        )
    )
    out = spec.compile().process([{"ts": 0, "lat": "150"}], now_ms=0)
    assert out.events == [{"ts": 0, "latency_ms": 150.0, "slow": True}]
    swapped = make_spec(
        steps_toml(
            'op = "cast"\nfield = "latency_ms"\nto = "float"',
            'op = "rename"\nfrom = "lat"\nto = "latency_ms"',
        )
    )
    out = swapped.compile().process([{"ts": 0, "lat": "150"}], now_ms=0)
    assert out.dead[0][1:] == ("cast_0", "missing field 'latency_ms'")


def test_pipe18_twenty_steps_chain(make_spec):
    steps = [f'op = "derive"\nfield = "n"\nexpr = "n + {i}"' for i in range(20)]
    out = make_spec(steps_toml(*steps)).compile().process([{"ts": 0, "n": 0}], now_ms=0)
    assert out.events[0]["n"] == sum(range(20))


def test_pipe18_per_step_counters_accumulate(make_spec):
    spec = make_spec(
        steps_toml(
            'op = "cast"\nfield = "n"\nto = "int"',
            'op = "filter"\nfield = "n"\ncmp = "gt"\nvalue = 0',
            'op = "rename"\nfrom = "x"\nto = "y"\non_error = "skip"',
        )
    )
    pipeline = spec.compile()
    batch = [
        {"ts": 0, "n": "1"},
        {"ts": 0, "n": "-1"},
        {"ts": 0, "n": "z"},
        {"ts": 0, "n": "2", "x": 1},
    ]
    first = pipeline.process(batch, now_ms=0)
    assert first.counters == {
        "cast_0": {"in": 4, "out": 3, "filtered": 0, "errors": 1, "skipped": 0, "unparseable": 0},
        "filter_1": {"in": 3, "out": 2, "filtered": 1, "errors": 0, "skipped": 0, "unparseable": 0},
        "rename_2": {"in": 2, "out": 2, "filtered": 0, "errors": 0, "skipped": 1, "unparseable": 0},
    }
    second = pipeline.process(batch, now_ms=0)
    assert second.counters == first.counters
    assert pipeline.counters["cast_0"].in_ == 8
    assert pipeline.counters["filter_1"].filtered == 2


def test_conn6_dead_letter_is_the_event_as_received(make_spec):
    spec = make_spec(
        steps_toml(
            'op = "rename"\nfrom = "a.b"\nto = "a.c"',
            'op = "insert"\nfield = "a.d"\nvalue = 1',
            'op = "cast"\nfield = "n"\nto = "int"',
        )
    )
    event = {"ts": 0, "a": {"b": 1}, "n": "x"}
    snapshot = copy.deepcopy(event)
    out = spec.compile().process([event], now_ms=0)
    assert out.events == []
    assert out.dead == [(snapshot, "cast_2", "n: cannot cast 'x' to int: not a number")]
    assert out.dead[0][0] is event
    assert event == snapshot  # nested writes happened on a deep copy


def test_shallow_copy_when_only_top_level_writes(make_spec):
    pipeline = make_spec(steps_toml('op = "cast"\nfield = "n"\nto = "int"')).compile()
    assert pipeline.deep_copy is False
    event = {"ts": 0, "n": "5", "nested": {"k": 1}}
    out = pipeline.process([event], now_ms=0)
    assert event["n"] == "5"
    assert out.events[0]["n"] == 5
    nested = make_spec(steps_toml('op = "cast"\nfield = "a.n"\nto = "int"')).compile()
    assert nested.deep_copy is True


def test_validator_runs_first(make_spec):
    calls = []

    def validator(event):
        calls.append(dict(event))
        return [] if "price" in event else ["/price: is required"]

    spec = make_spec(steps_toml('op = "insert"\nfield = "price"\nvalue = 1'))
    pipeline = spec.compile(validator=validator)
    out = pipeline.process([{"ts": 0}, {"ts": 0, "price": 2}], now_ms=0)
    assert out.dead == [({"ts": 0}, "schema", "/price: is required")]
    assert out.events == [{"ts": 0, "price": 1}]
    assert calls == [{"ts": 0}, {"ts": 0, "price": 2}]
    assert out.counters["insert_0"]["in"] == 1


def test_routing_in_pipeline(make_spec):
    spec = make_spec(
        """
[routing]
groups = { failures = ["failed_payments", "fraud_review"] }

[[routes]]
name = "failed"
when = "status == 'failed'"
priority = 10
destination = "failures"

[[routes]]
name = "declined"
when = "status != 'ok'"
destination = "declined"
"""
    )
    events = [
        {"ts": 0, "status": "failed"},
        {"ts": 0, "status": "declined"},
        {"ts": 0, "status": "ok"},
    ]
    out = spec.compile().process(events, now_ms=0)
    assert out.events == events  # routing copies; aggregation still sees every event
    assert out.routed == {
        "failed_payments": [events[0]],
        "fraud_review": [events[0]],
        "declined": [events[1]],
        "dead-letter": [events[2]],
    }
    assert out.unroutable == 1


def test_topic_routing_in_pipeline(make_spec):
    spec = make_spec(
        """
[routing]
mode = "topic"
key = "region + '.' + kind"
alternate = "unrouted"

[[routes]]
topic = "eu.#"
destination = "europe"

[[routes]]
topic = "*.error"
destination = "errors"
"""
    )
    events = [
        {"ts": 0, "region": "eu", "kind": "error"},
        {"ts": 0, "region": "us", "kind": "ok"},
        {"ts": 0, "region": 5, "kind": "x"},
    ]
    out = spec.compile().process(events, now_ms=0)
    assert out.routed == {"europe": [events[0]], "errors": [events[0]], "unrouted": [events[1]]}
    assert out.unroutable == 1
    assert out.dead[0][:2] == (events[2], "route")


def test_unexpected_step_failure_is_a_dead_letter_not_a_crash(make_spec, caplog):
    pipeline = make_spec(steps_toml('op = "cast"\nfield = "n"\nto = "int"')).compile()

    def broken(event):
        raise RuntimeError("bug")

    pipeline.steps[0].apply = broken
    events = [{"ts": 0, "n": "1"}]
    out = pipeline.process(events, now_ms=0)
    assert out.dead == [(events[0], "cast_0", "internal error: RuntimeError: bug")]
    assert "cast_0 failed unexpectedly" in caplog.text


def test_validator_failure_is_a_dead_letter(make_spec, caplog):
    def validator(event):
        raise KeyError("boom")

    out = make_spec().compile(validator=validator).process([{"ts": 0}], now_ms=0)
    assert out.dead == [({"ts": 0}, "schema", "validator failed: KeyError: 'boom'")]
