"""Reading JSON Schema nodes the way the compatibility checker and the differ need them.

Both work on the draft 2020-12 subset DataNexus documents (docs/schemas.md): ``type``
(a string or a list), ``properties``, ``required``, ``additionalProperties``, ``items``,
``prefixItems``, ``enum``, ``const``, ``anyOf``/``oneOf`` (unions), ``$ref`` to the same
document (``#``, ``#/$defs/...``), the numeric/length/count bounds, ``pattern``,
``format``, ``multipleOf``, ``uniqueItems`` and ``default``. A ``$ref`` elsewhere is an
:class:`InvalidSchema`; other keywords are left to the callers to report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datanexus.errors import InvalidSchema

__all__ = [
    "JSON_TYPES",
    "branches",
    "effective_types",
    "join",
    "json_equal",
    "json_type",
    "resolve",
    "type_covers",
]

JSON_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})

ROOT = "$"


def join(path: str, name: str) -> str:
    """The dotted path of property ``name`` below ``path`` (``$`` is the root); array
    segments (``[]``, ``[0]``) and ``*`` (any other property) attach the same way."""
    if name.startswith("["):
        return path + name
    return name if path == ROOT else f"{path}.{name}"


def json_type(value: object) -> str:
    """The JSON Schema type of a JSON value (``1.0`` is an integer, as in 2020-12)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise InvalidSchema(f"{type(value).__name__} is not a JSON value")


def json_equal(a: object, b: object) -> bool:
    """Equality of JSON values: ``1 == 1.0`` but ``true != 1`` and ``false != 0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def resolve(node: Any, root: Any, where: str = "$") -> tuple[Any, str | None]:
    """``node`` with any chain of ``$ref`` followed inside ``root``, and the last reference
    followed (None when there was none), so callers can stop on reference cycles.
    Sibling keywords of a ``$ref`` are kept (2020-12 applies both), the target's first.
    Raises :class:`InvalidSchema` for a non-local or dangling reference."""
    ref: str | None = None
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        target = node["$ref"]
        if not isinstance(target, str) or not target.startswith("#"):
            raise InvalidSchema(
                f"$ref {target!r} at {where} is not local; only '#' and '#/...' "
                "references into the same schema are allowed"
            )
        if target in seen:
            raise InvalidSchema(f"$ref {target!r} at {where} refers to itself")
        seen.add(target)
        ref = target
        found = _pointer(root, target[1:], where)
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if not rest:
            node = found
        elif isinstance(found, dict):
            # the target's own $ref (if any) is followed on the next turn
            node = {**found, **rest}
        elif found is False:
            node = False
        else:
            node = rest
    return node, ref


def _pointer(root: Any, pointer: str, where: str) -> Any:
    node = root
    if pointer == "":
        return node
    if not pointer.startswith("/"):
        raise InvalidSchema(
            f"$ref '#{pointer}' at {where}: only JSON pointers ('#/$defs/name') are supported"
        )
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise InvalidSchema(f"$ref '#{pointer}' at {where} points to nothing in the schema")
    return node


def effective_types(node: dict[str, Any]) -> frozenset[str] | None:
    """The types a node admits: its ``type``, else the types of its ``const``/``enum``
    values, else None (any type)."""
    declared = node.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(t for t in declared if isinstance(t, str))
    if "const" in node:
        return frozenset({json_type(node["const"])})
    if isinstance(node.get("enum"), list):
        return frozenset(json_type(v) for v in node["enum"])
    return None


def type_covers(reader: str, writer: str) -> bool:
    """Whether a value of JSON type ``writer`` is of type ``reader`` (integers are
    numbers)."""
    return reader == writer or (reader == "number" and writer == "integer")


def branches(node: Any, root: Any, where: str) -> list[Any]:
    """The alternatives of a node, each admitting a single type (or any type): the
    branches of ``anyOf``/``oneOf`` merged with the node's other keywords, each split by
    type (``{"type": ["string", "null"]}`` is two branches). ``true``/``false`` stay as
    they are."""
    node, _ = resolve(node, root, where)
    if not isinstance(node, dict):
        return [node]
    union = node.get("anyOf", node.get("oneOf"))
    alternatives: Iterable[Any]
    if isinstance(union, list) and union:
        base = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        merged: list[Any] = []
        for branch in union:
            resolved, _ = resolve(branch, root, where)
            if isinstance(resolved, dict):
                # a branch inside a branch: flatten it
                merged.extend(branches({**base, **resolved}, root, where))
            elif resolved is True:
                merged.append(base or True)
        alternatives = merged
    else:
        alternatives = [node]
    out: list[Any] = []
    for alt in alternatives:
        if not isinstance(alt, dict):
            out.append(alt)
            continue
        types = effective_types(alt) if "type" in alt else None
        if types is None or len(types) <= 1:
            out.append(alt)
        else:
            out.extend({**alt, "type": t} for t in sorted(types))
    return out
