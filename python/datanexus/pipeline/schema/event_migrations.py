"""Carrying events between schema versions (PIPE-8).

A :class:`SchemaMigration` takes events of one version of a subject to another with a
list of :class:`Operation` s applied in order:

* ``ADD path value``: set the field when the event lacks it (an existing value wins);
  its inverse is ``REMOVE path``.
* ``REMOVE path``: drop the field (absent: nothing to do); reversible only when it names
  the ``restore`` value that the inverse adds back.
* ``RENAME path → to``: move the value; the source must exist (unless ``optional``) and
  the target must not. Its inverse renames back.
* ``CAST_TYPE path → type`` (``string``, ``integer``, ``number``, ``boolean``): convert
  the value (null stays null); reversible when ``from_type`` is given and the cast is
  one-to-one (integer → string, boolean → integer ...; never number → integer, never
  from string, whose spellings "7"/"07" collapse).
* ``SET_DEFAULT path value``: fill a missing or null field; not reversible (which events
  were filled is not recorded).

Paths are dotted (``user.address.city``) through objects. An operation whose parent
object is missing, whose source is missing (RENAME, CAST_TYPE without ``optional``) or
whose value cannot be cast raises :class:`EventMigrationError` naming the operation,
the path and the version step; the input event is never modified.

A :class:`Migrator` chains migrations: ``migrate(event, 1, 3)`` runs 1 → 2 → 3 and
equals ``compose(1, 3).apply(event)``; going down uses the inverses of reversible
migrations; ``from_version == to_version`` returns the event itself, unchanged.
Example: RENAME ``name`` → ``full_name`` then ADD ``tier`` = ``"free"`` turns
``{"name": "Ada"}`` into ``{"full_name": "Ada", "tier": "free"}``.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from datanexus.errors import EventMigrationError, InvalidArgument

__all__ = ["CAST_TYPES", "Migrator", "OpKind", "Operation", "SchemaMigration"]

CAST_TYPES = frozenset({"string", "integer", "number", "boolean"})

# one-to-one casts: the inverse cast gives the original value back
_INJECTIVE = frozenset(
    {
        ("integer", "string"),
        ("integer", "number"),
        ("number", "string"),
        ("boolean", "string"),
        ("boolean", "integer"),
        ("boolean", "number"),
    }
)

_UNSET: Any = object()
_INTEGER_LITERAL = re.compile(r"[+-]?[0-9]+")


class OpKind(StrEnum):
    ADD = "ADD"
    REMOVE = "REMOVE"
    RENAME = "RENAME"
    CAST_TYPE = "CAST_TYPE"
    SET_DEFAULT = "SET_DEFAULT"


def _segments(path: object, what: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path:
        raise InvalidArgument(f"{what} must be a non-empty dotted path, got {path!r}")
    parts = tuple(path.split("."))
    if any(not p for p in parts):
        raise InvalidArgument(f"{what} {path!r} has an empty segment")
    return parts


@dataclass(frozen=True)
class Operation:
    """One change to an event; build with the class methods (:meth:`add`,
    :meth:`remove`, :meth:`rename`, :meth:`cast`, :meth:`set_default`)."""

    kind: OpKind
    path: str
    value: Any = None
    to: str | None = None
    from_type: str | None = None
    optional: bool = False
    restore: Any = _UNSET

    def __post_init__(self) -> None:
        _segments(self.path, f"{self.kind} path")
        if self.kind is OpKind.RENAME:
            _segments(self.to, "RENAME target")
            if self.to == self.path:
                raise InvalidArgument(f"RENAME {self.path!r} to itself")
        if self.kind is OpKind.CAST_TYPE:
            if self.to not in CAST_TYPES:
                raise InvalidArgument(
                    f"CAST_TYPE {self.path!r}: type must be one of {sorted(CAST_TYPES)}, "
                    f"got {self.to!r}"
                )
            if self.from_type is not None and self.from_type not in CAST_TYPES:
                raise InvalidArgument(
                    f"CAST_TYPE {self.path!r}: from_type must be one of {sorted(CAST_TYPES)}, "
                    f"got {self.from_type!r}"
                )

    @classmethod
    def add(cls, path: str, value: Any) -> Operation:
        return cls(OpKind.ADD, path, value=copy.deepcopy(value))

    @classmethod
    def remove(cls, path: str, *, restore: Any = _UNSET) -> Operation:
        return cls(OpKind.REMOVE, path, restore=restore)

    @classmethod
    def rename(cls, path: str, to: str, *, optional: bool = False) -> Operation:
        return cls(OpKind.RENAME, path, to=to, optional=optional)

    @classmethod
    def cast(
        cls, path: str, to: str, *, from_type: str | None = None, optional: bool = False
    ) -> Operation:
        return cls(OpKind.CAST_TYPE, path, to=to, from_type=from_type, optional=optional)

    @classmethod
    def set_default(cls, path: str, value: Any) -> Operation:
        return cls(OpKind.SET_DEFAULT, path, value=copy.deepcopy(value))

    @property
    def reversible(self) -> bool:
        if self.kind in (OpKind.ADD, OpKind.RENAME):
            return True
        if self.kind is OpKind.REMOVE:
            return self.restore is not _UNSET
        if self.kind is OpKind.CAST_TYPE:
            return (self.from_type, self.to) in _INJECTIVE
        return False

    def inverse(self) -> Operation:
        """The operation undoing this one; :class:`EventMigrationError` when it is not
        :attr:`reversible`."""
        if self.kind is OpKind.ADD:
            return Operation.remove(self.path, restore=self.value)
        if self.kind is OpKind.RENAME and self.to is not None:
            return Operation.rename(self.to, self.path, optional=self.optional)
        if self.kind is OpKind.REMOVE and self.restore is not _UNSET:
            return Operation.add(self.path, self.restore)
        if self.kind is OpKind.CAST_TYPE and self.reversible and self.from_type is not None:
            assert self.to is not None
            return Operation.cast(
                self.path, self.from_type, from_type=self.to, optional=self.optional
            )
        raise EventMigrationError(f"{self} is not reversible")

    def __str__(self) -> str:
        match self.kind:
            case OpKind.RENAME:
                return f"RENAME {self.path} → {self.to}"
            case OpKind.CAST_TYPE:
                return f"CAST_TYPE {self.path} → {self.to}"
            case OpKind.REMOVE:
                return f"REMOVE {self.path}"
            case _:
                return f"{self.kind} {self.path} = {json.dumps(self.value, default=repr)}"

    def apply(self, event: dict[str, Any]) -> None:
        """Apply to ``event`` in place (callers pass a copy)."""
        parts = _segments(self.path, "path")
        parent = _parent(event, parts, self)
        name = parts[-1]
        match self.kind:
            case OpKind.ADD:
                if name not in parent:
                    parent[name] = copy.deepcopy(self.value)
            case OpKind.REMOVE:
                parent.pop(name, None)
            case OpKind.SET_DEFAULT:
                if parent.get(name) is None:
                    parent[name] = copy.deepcopy(self.value)
            case OpKind.RENAME:
                assert self.to is not None
                if name not in parent:
                    if self.optional:
                        return
                    raise EventMigrationError(f"{self}: the event has no {self.path!r}")
                target = _segments(self.to, "RENAME target")
                into = _parent(event, target, self)
                if target[-1] in into:
                    raise EventMigrationError(
                        f"{self}: the event already has {self.to!r}; refusing to overwrite it"
                    )
                into[target[-1]] = parent.pop(name)
            case OpKind.CAST_TYPE:
                assert self.to is not None
                if name not in parent:
                    if self.optional:
                        return
                    raise EventMigrationError(f"{self}: the event has no {self.path!r}")
                parent[name] = _cast(parent[name], self.to, self)


def _parent(event: dict[str, Any], parts: tuple[str, ...], op: Operation) -> dict[str, Any]:
    node: Any = event
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            found = "missing" if child is None else f"a {type(child).__name__}"
            raise EventMigrationError(f"{op}: {where!r} is {found}, an object is needed")
        node = child
    if not isinstance(node, dict):
        raise EventMigrationError(f"{op}: the event is not an object")
    return node


def _round_half_away(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _cast(value: Any, to: str, op: Operation) -> Any:
    if value is None:
        return None

    def fail(why: str = "") -> EventMigrationError:
        return EventMigrationError(f"{op}: cannot cast {value!r} to {to}{why}")

    if isinstance(value, dict | list):
        raise fail(" (objects and arrays are not cast)")
    if to == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if not math.isfinite(value):
                raise fail()
            return json.dumps(value)
        return str(value)
    if to == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            if value.strip().lower() in ("true", "1"):
                return True
            if value.strip().lower() in ("false", "0", ""):
                return False
            raise fail(' (allowed: "true", "1", "false", "0", "")')
        if value in (0, 1):
            return bool(value)
        raise fail(" (only 0 and 1 are booleans)")
    # integer or number
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail()
        if to == "number":
            return value
        return _round_half_away(Decimal(repr(value)))
    if not isinstance(value, str):
        raise fail()
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise fail() from None
    if not number.is_finite():
        raise fail()
    if to == "integer":
        return _round_half_away(number)
    if _INTEGER_LITERAL.fullmatch(text):
        return int(text)  # exact, however large
    return float(number)


@dataclass(frozen=True)
class SchemaMigration:
    """The operations that take events of ``from_version`` to ``to_version``."""

    from_version: int
    to_version: int
    operations: tuple[Operation, ...]

    def __post_init__(self) -> None:
        for name in ("from_version", "to_version"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"{name} must be a positive int, got {value!r}")
        if self.from_version == self.to_version:
            raise InvalidArgument(f"a migration needs two versions, got {self.from_version} twice")
        object.__setattr__(self, "operations", tuple(self.operations))

    @property
    def reversible(self) -> bool:
        return all(op.reversible for op in self.operations)

    def inverse(self) -> SchemaMigration:
        """The migration back; :class:`EventMigrationError` naming the first operation
        that is not reversible."""
        for op in self.operations:
            if not op.reversible:
                raise EventMigrationError(
                    f"migration v{self.from_version} → v{self.to_version} cannot run backwards: "
                    f"{op} is not reversible"
                )
        return SchemaMigration(
            self.to_version,
            self.from_version,
            tuple(op.inverse() for op in reversed(self.operations)),
        )

    def apply(self, event: dict[str, Any]) -> dict[str, Any]:
        """A migrated copy of ``event``; errors name the version step."""
        if not isinstance(event, dict):
            raise EventMigrationError(f"an event must be a JSON object, got {type(event).__name__}")
        out = copy.deepcopy(event)
        for op in self.operations:
            try:
                op.apply(out)
            except EventMigrationError as error:
                raise EventMigrationError(
                    f"v{self.from_version} → v{self.to_version}: {error}"
                ) from None
        return out


class Migrator:
    """The migrations of one subject, chained along version numbers."""

    def __init__(self, migrations: Iterable[SchemaMigration]) -> None:
        self._steps: dict[tuple[int, int], SchemaMigration] = {}
        for m in migrations:
            key = (m.from_version, m.to_version)
            if key in self._steps:
                raise InvalidArgument(f"two migrations from v{key[0]} to v{key[1]}")
            self._steps[key] = m

    def _path(
        self, start: int, goal: int, *, irreversible: bool
    ) -> list[tuple[SchemaMigration, bool]] | None:
        """The shortest chain of (migration, backwards) from ``start`` to ``goal``; steps
        back through irreversible migrations only when ``irreversible``."""
        edges: dict[int, list[tuple[int, SchemaMigration, bool]]] = {}
        for (a, b), m in sorted(self._steps.items()):
            edges.setdefault(a, []).append((b, m, False))
            if m.reversible or irreversible:
                edges.setdefault(b, []).append((a, m, True))
        previous: dict[int, tuple[int, SchemaMigration, bool]] = {}
        queue = deque([start])
        seen = {start}
        while queue:
            at = queue.popleft()
            for nxt, m, back in edges.get(at, []):
                if nxt not in seen:
                    seen.add(nxt)
                    previous[nxt] = (at, m, back)
                    queue.append(nxt)
        if goal not in seen:
            return None
        chain: list[tuple[SchemaMigration, bool]] = []
        at = goal
        while at != start:
            before, m, back = previous[at]
            chain.append((m, back))
            at = before
        return chain[::-1]

    def compose(self, from_version: int, to_version: int) -> SchemaMigration:
        """One migration doing what the chain from ``from_version`` to ``to_version``
        does (its operations concatenated); :class:`EventMigrationError` when no chain
        leads there, naming the irreversible step when only that blocks the way down."""
        if from_version == to_version:
            raise InvalidArgument(f"compose needs two versions, got {from_version} twice")
        chain = self._chain(from_version, to_version)
        ops = tuple(op for m in chain for op in m.operations)
        return SchemaMigration(from_version, to_version, ops)

    def _chain(self, from_version: int, to_version: int) -> list[SchemaMigration]:
        path = self._path(from_version, to_version, irreversible=False)
        if path is None:
            blocked = self._path(from_version, to_version, irreversible=True)
            if blocked is not None:
                for m, back in blocked:
                    if back:
                        m.inverse()  # raises for the irreversible one, naming its operation
            raise EventMigrationError(
                f"no migration leads from v{from_version} to v{to_version} (known steps: "
                f"{', '.join(f'v{a} → v{b}' for a, b in sorted(self._steps)) or 'none'})"
            )
        return [m.inverse() if back else m for m, back in path]

    def migrate(self, event: dict[str, Any], from_version: int, to_version: int) -> dict[str, Any]:
        """``event`` (of ``from_version``) carried to ``to_version``: the same object when
        the versions are equal, else a migrated copy."""
        if from_version == to_version:
            return event
        for m in self._chain(from_version, to_version):
            event = m.apply(event)
        return event
