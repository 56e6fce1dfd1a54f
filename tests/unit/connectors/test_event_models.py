"""The payment and IoT models: deterministic per index, shaped as their docstrings say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from datanexus.connectors.event_models import IotReadings, Payments
from datanexus.connectors.generator import ModelEventsSource
from datanexus.connectors.web_traffic import BLOCK_SIZE
from datanexus.errors import InvalidArgument

START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("model", [Payments, IotReadings])
def test_events_are_a_function_of_parameters_and_index(model: type[Payments]) -> None:
    large = model(events=5 * BLOCK_SIZE, seed=3)
    again = model(events=5 * BLOCK_SIZE, seed=3)
    assert [again.block(b) for b in (3, 1)] == [large.block(3), large.block(1)]
    assert model(events=5 * BLOCK_SIZE, seed=4).block(0) != large.block(0)
    short = model(events=BLOCK_SIZE + 10, seed=3)
    assert len(short.block(1)) == 10
    ids = [e["id"] for b in range(large.blocks) for e in large.block(b)]
    assert len(set(ids)) == len(ids) == 5 * BLOCK_SIZE
    with pytest.raises(InvalidArgument):
        large.block(5)


def test_payments_shape() -> None:
    events = Payments(events=3 * BLOCK_SIZE, seed=1, start=START).block(0)
    start_ms = int(START.timestamp() * 1000)
    for e in events:
        assert start_ms <= e["ts"] < start_ms + 3_600_000
        assert Decimal(e["amount"]) >= Decimal("0.50")
        assert e["amount"] == f"{Decimal(e['amount']):.2f}"
        assert len(e["card"]) == 16
        assert e["card"].isdigit()
        assert e["currency"].lower() in {"eur", "gbp", "usd", "brl", "inr"}
        assert e["status"] in {"ok", "failed", "declined"}
    assert {e["currency"].isupper() for e in events} == {True, False}


def test_iot_shape_and_naive_site() -> None:
    events = IotReadings(events=BLOCK_SIZE, seed=2, start=START).block(0)
    naive = [e for e in events if e["site"] == "berlin"]
    aware = [e for e in events if e["site"] != "berlin"]
    assert naive
    assert aware
    assert all(datetime.fromisoformat(e["ts"]).tzinfo is None for e in naive)
    for e in aware:
        t = datetime.fromisoformat(e["ts"])
        assert t.tzinfo is not None
        assert START - timedelta(seconds=3) <= t < START + timedelta(hours=1)
    assert any(e["reading"]["battery"] is None for e in events) or len(events) < 200
    assert all(isinstance(e["reading"]["temperature"], float) for e in events)


def test_model_source_partitions_are_named_after_the_model() -> None:
    source = ModelEventsSource(Payments(events=10), partitions=2)
    assert source.list_parts() == ["payments-0", "payments-1"]
