"""Source kinds come from entry points (CONN-12)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from datanexus.connectors.generator import ModelEventsSource
from datanexus.connectors.registry import (
    SourceContext,
    known_sources,
    make_source,
    redis_stream_key,
    reload_sources,
)
from datanexus.errors import ConfigError

CTX = SourceContext(tenant="demo", pipeline="payments")


def test_conn12_builtins_are_registered_as_entry_points() -> None:
    names = {ep.name for ep in entry_points(group="datanexus.sources")}
    assert {"redis_stream", "rabbitmq_stream", "file", "generator"} <= names
    assert set(known_sources()) >= names


def test_conn12_unknown_kind_names_it_and_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown source kind 'kafka'; known: .*redis_stream"):
        make_source("kafka", {}, CTX)


def test_conn12_reload_swaps_the_table() -> None:
    before = known_sources()
    table = reload_sources()
    assert sorted(table) == before == known_sources()


def test_generator_source_by_model() -> None:
    source = make_source("generator", {"model": "payments", "events": 10, "partitions": 2}, CTX)
    assert isinstance(source, ModelEventsSource)
    assert source.list_parts() == ["payments-0", "payments-1"]
    with pytest.raises(ConfigError, match=r"source\.model"):
        make_source("generator", {"model": "nope"}, CTX)


def test_redis_stream_keys() -> None:
    assert redis_stream_key("demo", "web") == "dn:demo:web"


def test_rabbitmq_stream_stop_after_ends_each_queue_at_its_offset() -> None:
    ctx = SourceContext(tenant="t", pipeline="p", amqp_url="amqp://guest:guest@127.0.0.1/%2F")
    source = make_source("rabbitmq_stream", {"queues": ["a", "b"], "stop_after": {"a": 9}}, ctx)
    assert source.list_parts() == ["a", "b"]
    assert source._stop_after == {"a": 9}  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [5, {"a": "9"}, {"a": True}, ["a"]])
def test_rabbitmq_stream_stop_after_must_map_queues_to_offsets(bad: object) -> None:
    ctx = SourceContext(tenant="t", pipeline="p", amqp_url="amqp://guest:guest@127.0.0.1/%2F")
    with pytest.raises(ConfigError, match=r"source\.stop_after must map queue names"):
        make_source("rabbitmq_stream", {"queues": ["a"], "stop_after": bad}, ctx)
