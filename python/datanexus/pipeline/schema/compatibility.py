"""Compatibility of a new schema version with the versions before it (PIPE-4..6).

A pure checker: no database, no side effects. The question is always "can a reader using
schema R read every event a writer using schema W produced?", asked structurally over the
subset of JSON Schema in :mod:`.nodes`:

* **BACKWARD** (the default): the new schema reads data written with the old one
  (R = new, W = old). Adding an optional field and widening (``integer`` → ``number``)
  pass; a new required field is ``REQUIRED_ADDED``, a changed type ``TYPE_CHANGED``.
* **FORWARD**: the old schema reads data written with the new one (R = old, W = new).
  Removing an optional field and narrowing (``number`` → ``integer``) pass; removing a
  required field is ``FIELD_REMOVED`` (still present but optional: ``REQUIRED_REMOVED``).
* **FULL**: both. ``*_TRANSITIVE`` check against every earlier live version instead of
  the latest only; **NONE** checks nothing.

Like Avro and Protobuf evolution, a property that an open object (no
``additionalProperties: false``) does not declare is taken as *not written*: adding or
removing an optional property passes even though an old event could, in theory, have
carried a property of that name with another type. Keywords outside the subset
(``allOf``, ``not``, ``if``, ``patternProperties``...) that differ between the two
versions, and ``pattern``/``format`` changes (undecidable in general), are reported as
``WARNING``; everything else is an ``ERROR``. Only errors make a schema incompatible;
:class:`CompatibilityError` lists every violation, warnings included.

Paths are dotted from the root (``$``): ``items[].price`` is the ``price`` of any element
of the ``items`` array, ``point[0]`` the first tuple element, ``tags.*`` any property
that ``tags`` does not name. A union is checked branch by branch: each writer branch
must be read by some reader branch; when none reads it, the violations of the closest
branch are reported, under the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum

from datanexus.errors import CompatibilityError, InvalidArgument

from .canonical import Schema, check_schema_document
from .reading import unreadable
from .violations import Level, Violation, ViolationKind

__all__ = [
    "CompatibilityMode",
    "Level",
    "Violation",
    "ViolationKind",
    "check_compatibility",
    "ensure_compatible",
]


class CompatibilityMode(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @classmethod
    def parse(cls, value: object) -> CompatibilityMode:
        """The mode named ``value`` (case-insensitive), else :class:`InvalidArgument`
        listing the modes."""
        if isinstance(value, CompatibilityMode):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise InvalidArgument(
            f"compatibility mode must be one of {', '.join(cls.__members__)}, got {value!r}"
        )

    @property
    def transitive(self) -> bool:
        return self.name.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.name.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.name.startswith(("FORWARD", "FULL"))


def _check_direction(
    reader: Schema, writer: Schema, direction: str, version: int | None, *, notes: bool = True
) -> list[Violation]:
    found = unreadable(reader, writer, direction, notes=notes)
    if version is None:
        return found
    return [Violation(v.kind, v.path, v.level, v.message, v.direction, version) for v in found]


def check_compatibility(
    new: Schema,
    previous: Sequence[Schema],
    mode: CompatibilityMode | str = CompatibilityMode.BACKWARD,
    *,
    versions: Sequence[int] | None = None,
) -> list[Violation]:
    """Every violation of ``mode`` by ``new`` against ``previous`` (oldest first; the
    non-transitive modes look at the last one only), errors and warnings, in a stable
    order without duplicates. ``versions`` numbers ``previous`` for the messages.
    An empty ``previous`` (a first version) and mode NONE give []. Raises
    :class:`InvalidSchema` for a non-local ``$ref`` and :class:`InvalidArgument` for an
    unknown mode."""
    mode = CompatibilityMode.parse(mode)
    check_schema_document(new, where="new schema")
    if versions is not None and len(versions) != len(previous):
        raise InvalidArgument(
            f"versions has {len(versions)} entries for {len(previous)} previous schemas"
        )
    if mode is CompatibilityMode.NONE or not previous:
        return []
    numbers: list[int | None] = list(versions) if versions is not None else [None] * len(previous)
    pairs = list(zip(previous, numbers, strict=True))
    if not mode.transitive:
        pairs = pairs[-1:]
    out: list[Violation] = []
    seen: dict[tuple[object, ...], int] = {}
    for old, number in reversed(pairs):
        check_schema_document(old, where=f"version {number}" if number else "previous schema")
        found: list[Violation] = []
        if mode.backward:
            found += _check_direction(new, old, "BACKWARD", number)
        if mode.forward:
            found += _check_direction(old, new, "FORWARD", number, notes=not mode.backward)
        for v in found:
            key = (v.kind, v.path, v.level, v.message, v.version)
            if key not in seen:
                seen[key] = len(out)
                out.append(v)
            elif out[seen[key]].direction != v.direction:
                # the same break seen both ways (a type change under FULL): list it once
                out[seen[key]] = replace(out[seen[key]], direction="BOTH")
    return out


def ensure_compatible(
    new: Schema,
    previous: Sequence[Schema],
    mode: CompatibilityMode | str = CompatibilityMode.BACKWARD,
    *,
    versions: Sequence[int] | None = None,
    subject: str | None = None,
) -> list[Violation]:
    """The warnings of :func:`check_compatibility` when there is no error; else raises
    :class:`CompatibilityError` carrying every violation, its message listing them."""
    found = check_compatibility(new, previous, mode, versions=versions)
    errors = [v for v in found if v.level is Level.ERROR]
    if errors:
        mode = CompatibilityMode.parse(mode)
        where = f" for subject {subject!r}" if subject else ""
        lines = "\n".join(f"  - {v}" for v in found)
        raise CompatibilityError(
            f"schema is not {mode} compatible{where}: {len(errors)} error(s), "
            f"{len(found) - len(errors)} warning(s)\n{lines}",
            tuple(found),
        )
    return found
