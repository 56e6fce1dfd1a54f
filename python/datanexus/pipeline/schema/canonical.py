"""The canonical text and fingerprint of a JSON Schema, and the limits every schema obeys.

Two schemas that differ only in key order, in the order of ``required`` or of a ``type``
list, or in writing an integral number as ``1.0`` have the same canonical text, hence the
same fingerprint (SHA-256 of that text); the registry uses it to return the existing
version of a schema registered again (PIPE-2). The text is JSON with sorted keys, no
whitespace and non-ASCII characters kept.

Limits (PIPE-9): a schema is refused with :class:`SchemaLimitExceeded` when its canonical
text passes :data:`MAX_SCHEMA_BYTES` or its nesting (objects and arrays) passes
:data:`MAX_SCHEMA_DEPTH`; a value that is not JSON (a set, a NaN, a non-string key) is
refused with :class:`InvalidSchema`. The depth is measured without recursion, so a
hostile 100 000-level document costs a loop, never a ``RecursionError``.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from datanexus.errors import InvalidSchema, InvalidType, SchemaLimitExceeded

__all__ = [
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_DEPTH",
    "Schema",
    "canonical_text",
    "check_schema_document",
    "fingerprint",
    "normalise",
]

#: A JSON Schema document: an object, or ``true``/``false``.
Schema = dict[str, Any] | bool

MAX_SCHEMA_BYTES = 256 * 1024
MAX_SCHEMA_DEPTH = 64

# Keywords whose value is a subschema, a list of subschemas, or a map name -> subschema
# (draft 2020-12). Every other keyword's value is data (enum, const, default, ...).
SUBSCHEMA = frozenset(
    {
        "additionalItems",
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
SUBSCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SUBSCHEMA_MAP = frozenset(
    {"$defs", "definitions", "dependentSchemas", "patternProperties", "properties"}
)


def check_schema_document(
    schema: object,
    *,
    max_depth: int = MAX_SCHEMA_DEPTH,
    where: str = "schema",
) -> Schema:
    """``schema`` if it is a JSON object or boolean made only of JSON values and no deeper
    than ``max_depth``; else :class:`InvalidType` (not an object or boolean),
    :class:`InvalidSchema` (a non-JSON value, with its location) or
    :class:`SchemaLimitExceeded` (too deep)."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise InvalidType(
            f"{where} must be a JSON object (dict) or a boolean, got {type(schema).__name__}"
        )
    stack: list[tuple[object, str, int]] = [(schema, "", 1)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > max_depth:
                raise SchemaLimitExceeded(
                    f"{where} nests deeper than {max_depth} levels at {pointer or '/'}"
                )
            if isinstance(value, dict):
                for key, child in value.items():
                    if not isinstance(key, str):
                        raise InvalidSchema(
                            f"{where} has a non-string key {key!r} at {pointer or '/'}; "
                            "JSON object keys are strings"
                        )
                    stack.append((child, f"{pointer}/{_escape(key)}", depth + 1))
            else:
                for index, child in enumerate(value):
                    stack.append((child, f"{pointer}/{index}", depth + 1))
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidSchema(f"{where} has {value!r} at {pointer or '/'}; JSON has no NaN/inf")
        elif value is not None and not isinstance(value, str | int | float):
            raise InvalidSchema(
                f"{where} has a {type(value).__name__} at {pointer or '/'}; allowed: "
                "dict, list, str, int, float, bool, None"
            )
    return schema


def normalise(schema: Schema) -> Schema:
    """A copy of ``schema`` in normal form: ``required`` sorted without duplicates, a
    ``type`` list sorted without duplicates (one type written as a string), integral
    floats written as integers. Meaning is unchanged; the input must have passed
    :func:`check_schema_document`."""
    normal: Schema = _normalise_schema(schema)
    return normal


def canonical_text(schema: object, *, max_bytes: int = MAX_SCHEMA_BYTES) -> str:
    """The canonical JSON text of ``schema`` (checked, normalised, keys sorted); raises
    like :func:`check_schema_document`, and :class:`SchemaLimitExceeded` when the text
    is longer than ``max_bytes`` UTF-8 bytes."""
    checked = check_schema_document(schema)
    text = json.dumps(
        normalise(checked),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise SchemaLimitExceeded(
            f"schema is {size} bytes in canonical form, more than the limit of {max_bytes}"
        )
    return text


def fingerprint(schema: object) -> str:
    """SHA-256 (hex) of :func:`canonical_text`: equal for schemas equal up to key order,
    ``required``/``type`` order and ``1`` vs ``1.0``."""
    return hashlib.sha256(canonical_text(schema).encode("utf-8")).hexdigest()


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _normalise_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_value(v) for v in value]
    return value


def _normalise_schema(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return _normalise_value(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in SUBSCHEMA:
            out[key] = _normalise_schema(value)
        elif key in SUBSCHEMA_LIST and isinstance(value, list):
            out[key] = [_normalise_schema(v) for v in value]
        elif key in SUBSCHEMA_MAP and isinstance(value, dict):
            out[key] = {k: _normalise_schema(v) for k, v in value.items()}
        elif (
            key == "required" and isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            out[key] = sorted(set(value))
        elif key == "type" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            types = sorted(set(value))
            out[key] = types[0] if len(types) == 1 else types
        else:
            out[key] = _normalise_value(value)
    return out
