"""Safe event validation with jsonschema-rs (PIPE-9)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_reference import instance_of, json_values, reference_valid, schemas

from datanexus.errors import InvalidSchema, InvalidType, SchemaLimitExceeded
from datanexus.pipeline.schema import SchemaValidator

ORDER = {
    "$defs": {"money": {"type": "number", "minimum": 0}},
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "string", "pattern": "^o-[0-9]+$"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "price": {"$ref": "#/$defs/money"}},
            },
        },
        "a/b": {"type": "integer"},
    },
}


def test_PIPE_9_reasons_start_with_the_json_pointer_of_the_failing_place() -> None:
    validator = SchemaValidator(ORDER)
    event = {"id": "x-1", "items": [{"sku": "a", "price": -1}, {"price": "9"}], "a/b": "no"}
    reasons = validator.errors(event)
    assert sorted(r.split(": ", 1)[0] for r in reasons) == [
        "/a~1b",
        "/id",
        "/items/0/price",
        "/items/1",
        "/items/1/price",
    ]
    assert '/items/1: "sku" is a required property' in reasons
    assert not validator.is_valid(event)
    assert validator.errors({"id": "o-1", "items": []}) == []
    assert validator.errors([]) == ['/: [] is not of type "object"']


def test_PIPE_9_split_separates_valid_events_from_dead_letters_with_reasons() -> None:
    validator = SchemaValidator(ORDER)
    good = {"id": "o-1", "items": [{"sku": "a", "price": 2.5}]}
    bad = {"id": "o-2"}
    valid, invalid = validator.split([good, bad, good])
    assert valid == [good, good]
    assert invalid == [(bad, ['/: "items" is a required property'])]
    assert validator({"id": "o-3", "items": []}) == []  # usable as Callable[[dict], list[str]]


def test_PIPE_9_patterns_run_on_a_linear_time_engine() -> None:
    validator = SchemaValidator({"type": "string", "pattern": "^(x+x+)+y$"})
    evil = "x" * 5000
    started = time.perf_counter()
    assert not validator.is_valid(evil)
    assert len(validator.errors(evil)) == 1
    assert time.perf_counter() - started < 0.05
    assert len(validator.errors(evil)[0]) <= len("/: ") + 300  # the quoted value is clipped
    for pattern in (r"(a)\1", "(?=a)b", "(?<!a)b"):
        with pytest.raises(InvalidSchema, match="pattern"):
            SchemaValidator({"pattern": pattern})


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = b'{"type": "string"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def schema_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/s.json"
    server.shutdown()
    server.server_close()
    thread.join()


def test_PIPE_9_only_local_refs_nothing_is_ever_fetched(schema_server: str, tmp_path: Any) -> None:
    local = tmp_path / "s.json"
    local.write_text('{"type": "string"}')
    _Counter.hits = 0
    refused = [
        {"$ref": schema_server},
        {"properties": {"a": {"$ref": local.as_uri()}}},
        {"items": {"$ref": "s.json"}},
        {"$id": schema_server, "$ref": "#/$defs/x", "$defs": {"x": {}}},
        {"anyOf": [{"$dynamicRef": schema_server}]},
    ]
    for schema in refused:
        with pytest.raises(InvalidSchema, match=r"not local|not allowed"):
            SchemaValidator(schema)
    assert _Counter.hits == 0
    assert SchemaValidator({"$defs": {"x": {"type": "integer"}}, "$ref": "#/$defs/x"}).is_valid(3)
    with pytest.raises(InvalidSchema):
        SchemaValidator({"$ref": "#/$defs/missing"})


def test_PIPE_9_size_and_depth_limits_are_typed_errors() -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(100):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(SchemaLimitExceeded, match="deeper than 64"):
        SchemaValidator(deep)
    hostile: Any = {}
    for _ in range(100_000):  # never recursed into: no RecursionError
        hostile = {"not": hostile}
    with pytest.raises(SchemaLimitExceeded):
        SchemaValidator(hostile)
    big = {"enum": ["x" * 1000] * 300}
    with pytest.raises(SchemaLimitExceeded, match="more than the limit of 262144"):
        SchemaValidator(big)
    assert SchemaValidator(big, max_bytes=1 << 20).is_valid("x" * 1000)
    with pytest.raises(InvalidType):
        SchemaValidator("{}")  # type: ignore[arg-type]
    with pytest.raises(InvalidSchema, match=r"not a valid JSON Schema .* at /type"):
        SchemaValidator({"type": "strin"})


def test_PIPE_9_a_non_json_event_is_a_reason_not_a_crash() -> None:
    validator = SchemaValidator({"type": "object", "properties": {"s": {"type": "array"}}})
    assert validator.errors({"s": {1, 2}}) == ["/: not a JSON value (Unsupported type: 'set')"]
    assert not validator.is_valid({"s": {1, 2}})
    assert validator.errors(object())[0].startswith("/: not a JSON value")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), schemas)
def test_PIPE_9_the_validator_agrees_with_the_reference_on_generated_instances(
    data: st.DataObject, schema: dict[str, Any]
) -> None:
    validator = SchemaValidator(schema)
    for _ in range(4):
        value = data.draw(st.one_of(instance_of(schema), json_values))
        expected = reference_valid(schema, value)
        assert validator.is_valid(value) is expected, (schema, value)
        assert (validator.errors(value) == []) is expected
