"""The pipeline flow's prepare step under both error tolerances (CONN-7): ``all``
dead-letters a bad record with where it came from and continues; ``none`` raises
:class:`RecordRejected` naming connector, partition, offset and stage."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from datanexus.connectors.decode import Decoded, MessageBatch
from datanexus.demo import model_for
from datanexus.errors import RecordRejected
from datanexus.pipeline import SourceSpec, load_spec
from datanexus.store.dead_letters import DeadLetter
from datanexus.stream.pipeline_flow import _Prepare
from datanexus.stream.sources import SourceBatch

WEB = Path(__file__).resolve().parents[3] / "pipelines" / "web.toml"


def prepare(errors: str) -> _Prepare:
    spec = load_spec(WEB)
    options = {"queues": ["q"], "batch_size": 1000, "errors": errors}
    return _Prepare(replace(spec, source=SourceSpec("rabbitmq_stream", options)), "f", None)


def batch(bodies: list[bytes]) -> SourceBatch[Any]:
    positions = [str(100 + i) for i in range(len(bodies))]
    messages = MessageBatch("rabbitmq-stream", "q", positions, bodies, 100 + len(bodies) - 1)
    return SourceBatch("q", ("q",), [messages])


def good(n: int) -> list[bytes]:
    model = model_for("web", n, seed=3)
    return [json.dumps(dict(e)).encode() for b in range(model.blocks) for e in model.block(b)]


def letters(store: list[Any]) -> list[DeadLetter]:
    out: list[DeadLetter] = []
    for item in store:
        out += item.dead_letters if isinstance(item, Decoded) else [item]
    return out


def test_all_dead_letters_both_kinds_and_keeps_the_rest() -> None:
    bodies = good(10)
    bodies[3] = b"{not json"
    bodies[6] = json.dumps({"id": "x", "region": "eu"}).encode()  # fails the schema
    out, store = prepare("all")(batch(bodies))
    assert len(out.events) == 8
    got = letters(store)
    assert [(d.stage, d.reason) for d in got] == [("decode", "invalid_json"), ("schema", "invalid")]
    assert (got[0].source, got[0].partition, got[0].position) == ("rabbitmq-stream", "q", "103")
    assert "at rabbitmq-stream partition 'q' offset 106" in got[1].error
    assert json.loads(got[1].payload) == {"id": "x", "region": "eu"}


def test_none_fails_on_an_undecodable_message_naming_where() -> None:
    bodies = good(5)
    bodies[2] = b"\xff\xfe"
    with pytest.raises(RecordRejected, match=r"rabbitmq-stream partition 'q' offset 102") as info:
        prepare("none")(batch(bodies))
    error = info.value
    assert (error.connector, error.partition, error.offset) == ("rabbitmq-stream", "q", "102")
    assert (error.stage, "utf-8" in error.reason.lower()) == ("decode", True)


def test_none_fails_on_a_schema_failure_at_its_own_offset() -> None:
    bodies = good(8)
    bodies[5] = json.dumps({"id": "y"}).encode()
    with pytest.raises(RecordRejected) as info:
        prepare("none")(batch(bodies))
    assert (info.value.offset, info.value.stage) == ("105", "schema")
    assert "source.errors = 'none'" in str(info.value)


def test_none_passes_a_clean_batch_like_all() -> None:
    bodies = good(20)
    strict, _ = prepare("none")(batch(bodies))
    tolerant, store = prepare("all")(batch(bodies))
    assert strict.events == tolerant.events
    assert len(strict.events) > 0
    assert letters(store) == []
