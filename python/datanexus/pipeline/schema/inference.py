"""A JSON Schema inferred from sample events (PIPE-7).

:func:`infer_schema` looks at every sample and writes the narrowest schema of the subset
DataNexus checks that accepts all of them: per field the JSON types seen (``integer``
and ``number`` seen together give ``number``; several types give a ``type`` list, which
is how a nullable field reads), objects with their ``properties``, arrays with the
schema of all their elements as ``items``. A field is ``required`` only when *every*
object at its place carries it. The result validates every sample (a tested law).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datanexus.errors import InvalidArgument, InvalidType

from .nodes import json_type

__all__ = ["infer_schema"]


class _Shape:
    """What was seen at one place of the samples."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.objects = 0
        self.fields: dict[str, _Shape] = {}
        self.present: dict[str, int] = {}
        self.items: _Shape | None = None

    def add(self, value: Any, where: str) -> None:
        kind = json_type(value)
        self.types.add(kind)
        if isinstance(value, dict):
            self.objects += 1
            for key, child in value.items():
                if not isinstance(key, str):
                    raise InvalidType(f"sample key {key!r} at {where} is not a string")
                self.fields.setdefault(key, _Shape()).add(child, f"{where}.{key}")
                self.present[key] = self.present.get(key, 0) + 1
        elif isinstance(value, list):
            if self.items is None:
                self.items = _Shape()
            for child in value:
                self.items.add(child, f"{where}[]")

    def schema(self) -> dict[str, Any]:
        types = set(self.types)
        if {"integer", "number"} <= types:
            types.discard("integer")
        out: dict[str, Any] = {}
        if types:
            ordered = sorted(types)
            out["type"] = ordered[0] if len(ordered) == 1 else ordered
        if "object" in types:
            out["properties"] = {k: v.schema() for k, v in sorted(self.fields.items())}
            required = sorted(k for k, n in self.present.items() if n == self.objects)
            if required:
                out["required"] = required
        if "array" in types and self.items is not None and self.items.types:
            out["items"] = self.items.schema()
        return out


def infer_schema(samples: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The schema of ``samples`` (JSON objects). Raises :class:`InvalidArgument` when
    there is no sample (nothing to infer from) and :class:`InvalidType` for a sample that
    is not a dict or holds a non-JSON value (naming its index and field)."""
    shape = _Shape()
    count = 0
    for index, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise InvalidType(f"sample {index} must be a JSON object, got {type(sample).__name__}")
        try:
            shape.add(sample, f"sample {index}")
        except InvalidType:
            raise
        except (InvalidArgument, ValueError) as error:
            raise InvalidType(f"sample {index}: {error}") from error
        count += 1
    if count == 0:
        raise InvalidArgument("infer_schema needs at least one sample")
    return shape.schema()
