"""Parsers never crash and never drop: every body is one event or one dead letter with a
reason (hypothesis)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus.connectors.decode import MessageBatch, decode_batch, decode_body, parse_ts
from datanexus.connectors.files import FilePartition
from datanexus.connectors.idempotency import RecentKeys, canonical_json, idempotency_key
from datanexus.errors import InvalidArgument

REASONS = {
    "invalid_utf8", "invalid_json", "not_an_object", "non_finite_number", "nul_character",
    "lone_surrogate", "too_large", "too_deep", "invalid_ts",
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
events = st.dictionaries(st.text(max_size=8), json_values, max_size=6).map(
    lambda d: {**d, "ts": 1_700_000_000_000}
)
bodies = st.one_of(
    st.binary(max_size=200),
    events.map(lambda e: json.dumps(e).encode()),
    st.sampled_from(
        [
            b"NaN",
            b'{"x": NaN}',
            b'{"x": Infinity}',
            b"[" * 5000,
            b'{"a":"\\u0000"}',
            b'{"a":"\\ud800"}',
        ]
    ),
)


@given(st.lists(bodies, max_size=30))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_every_body_is_one_event_or_one_dead_letter(batch: list[bytes]) -> None:
    positions = [str(i) for i in range(len(batch))]
    decoded = decode_batch(MessageBatch("src", "p", positions, batch, len(batch)), flow="f")
    assert len(decoded.events) + len(decoded.dead_letters) == len(batch)
    for letter in decoded.dead_letters:
        assert letter.reason in REASONS
        assert letter.payload == batch[int(letter.position or "-1")]
        assert letter.error
    for event in decoded.events:
        assert isinstance(event, dict)
        assert isinstance(event["ts"], int)


def _lone_surrogate(s: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in s)


@given(events)
def test_valid_events_round_trip(event: dict[str, Any]) -> None:
    if any("\x00" in s for s in _strings(event)):
        with pytest.raises(InvalidArgument, match="nul_character"):
            decode_body(json.dumps(event).encode())
    elif any(_lone_surrogate(s) for s in _strings(event)):
        with pytest.raises(InvalidArgument, match="lone_surrogate"):
            decode_body(json.dumps(event).encode())
    else:
        assert decode_body(json.dumps(event).encode()) == event
        assert decode_body(canonical_json(event)) == event


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@given(events, events)
def test_the_content_key_is_canonical(a: dict[str, Any], b: dict[str, Any]) -> None:
    a.pop("id", None)
    b.pop("id", None)
    reordered = dict(reversed(list(a.items())))
    assert idempotency_key(a) == idempotency_key(reordered)
    assert (idempotency_key(a) == idempotency_key(b)) == (canonical_json(a) == canonical_json(b))


def test_ids_win_and_recent_keys_forget_the_oldest() -> None:
    assert idempotency_key({"id": "x", "v": 1}) == idempotency_key({"id": "x", "v": 2}) == "x"
    assert idempotency_key({"id": 7}) == "7"
    assert idempotency_key({"id": True}) != "True", "a boolean is not an id"
    keys = RecentKeys(3)
    assert [keys.seen(k) for k in "abca"] == [False, False, False, True]
    assert keys.seen("d") is False  # evicts b (a was refreshed)
    assert keys.seen("b") is False
    assert keys.seen("a") is True


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (0, 0),
        (1_735_689_600_000, 1_735_689_600_000),
        ("2025-01-01T00:00:00.123Z", 1_735_689_600_123),
        ("2025-01-01T01:00:00+01:00", 1_735_689_600_000),
    ],
)
def test_ts_parses(value: Any, ms: int) -> None:
    assert parse_ts(value) == ms


@pytest.mark.parametrize("value", [None, True, 1.5, "2025-01-01T00:00:00", "soon", 2**60, [1]])
def test_bad_ts_is_refused(value: Any) -> None:
    with pytest.raises(InvalidArgument):
        parse_ts(value)


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"))


@given(st.lists(st.tuples(cells, cells), max_size=20), st.lists(st.binary(max_size=40), max_size=5))
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_csv_rows_round_trip_and_garbage_is_dead_lettered(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str]], garbage: list[bytes]
) -> None:
    path: Path = tmp_path_factory.mktemp("csv") / "x.csv"
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["a", "b"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    records = len(rows)
    for junk in garbage:
        line = junk.replace(b"\n", b" ").replace(b'"', b"'")
        data += line + b"\n"
        records += bool(line.rstrip(b"\r").strip())  # the source skips blank lines
    path.write_bytes(data)
    part = FilePartition(path, "x.csv", "csv", None, flow="f", batch_size=7, require_ts=False)
    got: list[dict[str, Any]] = []
    letters = 0
    try:
        while True:
            batch = part.next_batch()[0]
            got += batch.events
            letters += len(batch.dead_letters)
    except StopIteration:
        pass
    finally:
        part.close()
    assert got[: len(rows)] == [{"a": a, "b": b} for a, b in rows]
    assert len(got) + letters == records, "each record is an event or a dead letter"


def test_lone_surrogates_are_refused_and_pairs_kept() -> None:
    """JSON may escape a lone surrogate; no UTF-8 text (PostgreSQL's) can hold one."""
    for body in (b'{"a":"x\\ud800"}', b'{"\\udc00":1}', b'{"a":["\\uDBFF"]}'):
        with pytest.raises(InvalidArgument, match="lone_surrogate"):
            decode_body(body)
    assert decode_body(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}
