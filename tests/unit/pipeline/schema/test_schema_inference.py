"""Schemas inferred from samples (PIPE-7)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_reference import NAMES, json_values, reference_valid

from datanexus.errors import InvalidArgument, InvalidType
from datanexus.pipeline.schema import SchemaValidator, infer_schema


def test_PIPE_7_a_field_is_required_only_when_every_sample_has_it() -> None:
    samples = [
        {"id": 1, "name": "a", "tags": ["x"], "user": {"email": "e", "age": 3}},
        {"id": 2, "price": 9.5, "tags": [], "user": {"email": "f"}},
        {"id": 3.5, "name": None, "user": {"email": "g", "age": 4}},
    ]
    assert infer_schema(samples) == {
        "type": "object",
        "properties": {
            "id": {"type": "number"},
            "name": {"type": ["null", "string"]},
            "price": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "user": {
                "type": "object",
                "properties": {"age": {"type": "integer"}, "email": {"type": "string"}},
                "required": ["email"],
            },
        },
        "required": ["id", "user"],
    }


def test_PIPE_7_inference_refuses_nothing_to_infer_from_and_non_objects() -> None:
    with pytest.raises(InvalidArgument, match="at least one sample"):
        infer_schema([])
    with pytest.raises(InvalidType, match="sample 1 must be a JSON object"):
        infer_schema([{}, [1]])  # type: ignore[list-item]
    with pytest.raises(InvalidType, match="sample 0"):
        infer_schema([{"s": {1, 2}}])


samples = st.lists(st.dictionaries(NAMES, json_values, max_size=5), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(samples)
def test_PIPE_7_the_inferred_schema_accepts_every_sample_and_requires_exactly_the_common_fields(
    batch: list[dict[str, Any]],
) -> None:
    schema = infer_schema(batch)
    validator = SchemaValidator(schema)
    for sample in batch:
        assert reference_valid(schema, sample)
        assert validator.errors(sample) == []
    common = set.intersection(*(set(s) for s in batch))
    assert set(schema.get("required", [])) == common
