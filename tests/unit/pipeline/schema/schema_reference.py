"""Hypothesis strategies for schemas of the checked subset and events, and a slow,
obvious reference validator for that subset (compared with jsonschema-rs)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NAMES = st.sampled_from(["a", "b", "c", "id", "name", "price", "items", "tags"])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False).filter(
        lambda f: not f.is_integer()
    ),
    st.text(max_size=6),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def scalar_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "integer", "number", "boolean", "null", "enum"]))
    schema: dict[str, Any]
    if kind == "enum":
        values = draw(st.lists(st.sampled_from(["x", "y", "z", 1, 2]), min_size=1, max_size=3))
        schema = {"enum": list(dict.fromkeys(values))}
    elif kind == "string":
        schema = {"type": "string"}
        if draw(st.booleans()):
            schema["maxLength"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            schema["minLength"] = draw(st.integers(0, 3))
    elif kind in ("integer", "number"):
        schema = {"type": kind}
        if draw(st.booleans()):
            schema["minimum"] = draw(st.integers(-50, 0))
        if draw(st.booleans()):
            schema["maximum"] = draw(st.integers(0, 50))
    else:
        schema = {"type": kind}
    if draw(st.booleans()) and "type" in schema and schema["type"] != "null":
        schema["type"] = [schema["type"], "null"]
    if draw(st.integers(0, 4)) == 0:
        schema["default"] = draw(json_scalars)
    return schema


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        props = draw(st.dictionaries(NAMES, children, max_size=4))
        schema: dict[str, Any] = {"type": "object", "properties": props}
        required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        if required:
            schema["required"] = required
        if draw(st.integers(0, 3)) == 0:
            schema["additionalProperties"] = False
        return schema

    arrays = st.builds(lambda items: {"type": "array", "items": items}, children)
    unions = st.lists(children, min_size=2, max_size=3).map(lambda bs: {"anyOf": bs})
    return st.one_of(objects(), arrays, unions)


schemas = st.recursive(scalar_schemas(), _extend, max_leaves=10)

object_schemas = st.builds(
    lambda props, closed: {
        "type": "object",
        "properties": props,
        **({"additionalProperties": False} if closed else {}),
    },
    st.dictionaries(NAMES, schemas, max_size=4),
    st.booleans(),
)


@st.composite
def instance_of(draw: st.DrawFn, schema: Any) -> Any:
    """A value meant to be valid for ``schema`` (most of the time; the comparison with
    the reference does not depend on it)."""
    if schema is True or schema == {}:
        return draw(json_values)
    if "anyOf" in schema:
        return draw(instance_of(draw(st.sampled_from(schema["anyOf"]))))
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = draw(st.sampled_from(kind))
    if kind == "null":
        return None
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "integer":
        return draw(st.integers(schema.get("minimum", -100), schema.get("maximum", 100)))
    if kind == "number":
        return draw(
            st.floats(schema.get("minimum", -100), schema.get("maximum", 100), allow_nan=False)
        )
    if kind == "string":
        low = schema.get("minLength", 0)
        return draw(st.text(min_size=low, max_size=max(low, schema.get("maxLength", 8))))
    if kind == "array":
        return draw(st.lists(instance_of(schema.get("items", True)), max_size=3))
    if kind == "object":
        out: dict[str, Any] = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", []) or draw(st.booleans()):
                out[name] = draw(instance_of(sub))
        return out
    return draw(json_values)


def json_type_matches(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    raise AssertionError(kind)


def json_eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_eq(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def reference_valid(schema: Any, value: Any) -> bool:
    """The subset's semantics, written plainly from the 2020-12 text."""
    if schema is True:
        return True
    if schema is False:
        return False
    if "anyOf" in schema and not any(reference_valid(b, value) for b in schema["anyOf"]):
        return False
    if "enum" in schema and not any(json_eq(value, v) for v in schema["enum"]):
        return False
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(json_type_matches(k, value) for k in kinds):
            return False
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)):
            return False
        if len(value) < schema.get("minLength", 0):
            return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    if (
        isinstance(value, list)
        and "items" in schema
        and not all(reference_valid(schema["items"], v) for v in value)
    ):
        return False
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", [])):
            return False
        for name, sub in value.items():
            if name in props:
                if not reference_valid(props[name], sub):
                    return False
            elif schema.get("additionalProperties", True) is False:
                return False
    return True
