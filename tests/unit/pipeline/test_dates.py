"""Dates and timestamps (PIPE-15) and the future-skew check (PIPE-11)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import spec_text, steps_toml
from datanexus.pipeline import parse_spec
from datanexus.pipeline.dates import event_time_ms, format_instant, parse_instant, to_epoch_ms

BERLIN = ZoneInfo("Europe/Berlin")
# hypothesis takes naive bounds and attaches the zone itself
NAIVE_MIN = datetime(1900, 1, 1)  # noqa: DTZ001
NAIVE_MAX = datetime(2200, 1, 1)  # noqa: DTZ001


def norm(value, zone=UTC, formats=()):
    instant = parse_instant(value, zone, formats)
    return None if instant is None else format_instant(instant)


def test_pipe15_examples():
    assert norm("2023-03-05T07:08:09Z") == "2023-03-05T07:08:09.000Z"
    assert norm("2023-03-05 07:08", BERLIN) == "2023-03-05T06:08:00.000Z"
    assert norm("2023-07-05 07:08", BERLIN) == "2023-07-05T05:08:00.000Z"  # summer time
    assert norm("2023-03-05T07:08:09.123456+01:00") == "2023-03-05T06:08:09.123Z"
    assert norm("2023-03-05", BERLIN) == "2023-03-04T23:00:00.000Z"
    assert norm(1_678_000_000_123) == "2023-03-05T07:06:40.123Z"
    assert norm("05/03/2023 07:08", BERLIN, ["%d/%m/%Y %H:%M"]) == "2023-03-05T06:08:00.000Z"


@pytest.mark.parametrize(
    "bad", ["yesterday", "", "2023-13-01", True, None, [1], {"a": 1}, float("nan"), "9" * 100]
)
def test_pipe15_unparseable_is_none(bad):
    assert parse_instant(bad, UTC) is None


@given(st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX, timezones=st.just(UTC)))
def test_format_parse_round_trip_to_ms(dt):
    text = format_instant(dt)
    back = parse_instant(text, BERLIN)
    assert back is not None
    assert to_epoch_ms(back) == to_epoch_ms(dt)
    assert event_time_ms(text, BERLIN) == to_epoch_ms(dt)
    assert event_time_ms(to_epoch_ms(dt), BERLIN) == to_epoch_ms(dt)


def test_pipe15_timestamp_step_unparseable_kept_and_counted():
    spec = parse_spec(
        spec_text(steps_toml('op = "timestamp"\nfield = "when"')).replace(
            'tenant = "demo"', 'time_zone = "Europe/Berlin"'
        ),
        source_name="x.toml",
    )
    pipeline = spec.compile()
    events = [
        {"ts": 0, "when": "2023-03-05 07:08"},
        {"ts": 0, "when": "not a date"},
        {"ts": 0, "when": None},
    ]
    out = pipeline.process(events, now_ms=0)
    assert [e["when"] for e in out.events] == ["2023-03-05T06:08:00.000Z", "not a date", None]
    assert out.counters["timestamp_0"]["unparseable"] == 1
    assert out.dead == []


def test_timestamp_step_epoch_ms_and_to_field(make_spec):
    spec = make_spec(
        steps_toml('op = "timestamp"\nfield = "ts"\nformat = "epoch_ms"\nto_field = "ts_ms"')
    )
    out = spec.compile().process([{"ts": "2023-03-05T07:08:09.5Z"}], now_ms=2_000_000_000_000)
    assert out.events == [{"ts": "2023-03-05T07:08:09.5Z", "ts_ms": 1_678_000_089_500}]


def test_pipe11_future_skew_dead_letter(make_spec):
    now = 1_700_000_000_000
    pipeline = make_spec().compile()
    events = [
        {"ts": now + 300_000},  # exactly the limit: accepted
        {"ts": now + 300_001},
        {"ts": format_instant(datetime.fromtimestamp((now + 3_600_000) / 1000, UTC))},
        {"ts": now - 86_400_000},
        {"ts": "garbage"},
        {"x": 1},
    ]
    out = pipeline.process(events, now_ms=now)
    assert out.events == [events[0], events[3]]
    assert [(d[0], d[1], d[2].split(":")[0]) for d in out.dead] == [
        (events[1], "event_time", "future_timestamp"),
        (events[2], "event_time", "future_timestamp"),
        (events[4], "event_time", "invalid_timestamp"),
        (events[5], "event_time", "invalid_timestamp"),
    ]


def test_pipe11_skew_setting(make_spec):
    spec = parse_spec(
        spec_text().replace('tenant = "demo"', 'max_future_skew = "1s"'), source_name="x.toml"
    )
    out = spec.compile().process([{"ts": 1001}, {"ts": 1000}], now_ms=0)
    assert [e["ts"] for e in out.events] == [1000]
    assert out.dead[0][2] == "future_timestamp"
