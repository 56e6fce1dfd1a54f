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
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from datanexus.errors import CompatibilityError, InvalidArgument

from .canonical import Schema, check_schema_document
from .nodes import ROOT, branches, effective_types, join, json_equal, resolve, type_covers

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


class ViolationKind(StrEnum):
    REQUIRED_ADDED = "REQUIRED_ADDED"
    REQUIRED_REMOVED = "REQUIRED_REMOVED"
    FIELD_ADDED = "FIELD_ADDED"
    FIELD_REMOVED = "FIELD_REMOVED"
    TYPE_CHANGED = "TYPE_CHANGED"
    ENUM_CHANGED = "ENUM_CHANGED"
    CONSTRAINT_CHANGED = "CONSTRAINT_CHANGED"
    DEFAULT_CHANGED = "DEFAULT_CHANGED"
    UNSUPPORTED = "UNSUPPORTED"


class Level(StrEnum):
    ERROR = "ERROR"
    WARNING = "WARNING"


@dataclass(frozen=True)
class Violation:
    """One way the new schema breaks compatibility. ``direction`` is ``BACKWARD`` (the
    new schema cannot read old data), ``FORWARD`` (the old one cannot read new data) or
    ``BOTH``;
    ``version`` is the registered version it conflicts with, when known."""

    kind: ViolationKind
    path: str
    level: Level
    message: str
    direction: str
    version: int | None = None

    def __str__(self) -> str:
        against = f" (vs version {self.version})" if self.version is not None else ""
        return (
            f"{self.level} {self.kind} at {self.path}{against} [{self.direction}]: {self.message}"
        )


# Keywords the checker does not reason about: a difference is a WARNING.
_UNCHECKED = (
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_LOWER = ("minLength", "minItems", "minProperties")
_UPPER = ("maxLength", "maxItems", "maxProperties")


class _Checker:
    """Finds where ``reader`` rejects something ``writer`` accepts."""

    def __init__(
        self, reader_root: Any, writer_root: Any, direction: str, *, notes: bool = True
    ) -> None:
        self.reader_root = reader_root
        # direction-free remarks (default changes, unchecked keywords) once per pair
        self.notes = notes
        self.writer_root = writer_root
        self.direction = direction
        self.backward = direction == "BACKWARD"
        # reference pairs being compared further up: a recursive schema stops here
        self.active: set[tuple[str | None, str | None]] = set()

    def violation(
        self, kind: ViolationKind, path: str, message: str, level: Level = Level.ERROR
    ) -> Violation:
        return Violation(kind, path, level, message, self.direction)

    def compare(self, reader: Any, writer: Any, path: str) -> list[Violation]:
        reader, r_ref = resolve(reader, self.reader_root, path)
        writer, w_ref = resolve(writer, self.writer_root, path)
        key = (r_ref, w_ref)
        if (r_ref or w_ref) and key in self.active:
            return []
        if r_ref or w_ref:
            self.active.add(key)
        try:
            return self._compare(reader, writer, path)
        finally:
            self.active.discard(key)

    def _compare(self, reader: Any, writer: Any, path: str) -> list[Violation]:
        if writer is False or reader is True or reader == {}:
            return []
        if reader is False:
            return [self.violation(ViolationKind.TYPE_CHANGED, path, "now accepts no value")]
        if writer is True:
            writer = {}
        r_alts = branches(reader, self.reader_root, path)
        w_alts = branches(writer, self.writer_root, path)
        if len(r_alts) == 1 and len(w_alts) == 1:
            return self._single(r_alts[0], w_alts[0], path)
        return self._union(r_alts, w_alts, path)

    def _union(self, r_alts: list[Any], w_alts: list[Any], path: str) -> list[Violation]:
        out: list[Violation] = []
        for w in w_alts:
            if w is False:
                continue
            w_node = {} if w is True else w
            w_types = effective_types(w_node)
            candidates = [
                r
                for r in r_alts
                if r is True
                or (
                    isinstance(r, dict)
                    and (
                        (rt := effective_types(r)) is None
                        or (w_types is not None and all(_covered(t, rt) for t in w_types))
                    )
                )
            ]
            if not candidates:
                accepted = sorted({t for r in r_alts if isinstance(r, dict) for t in _types(r)})
                out.append(
                    self.violation(
                        ViolationKind.TYPE_CHANGED,
                        path,
                        f"{_describe(w_types)} is no longer accepted "
                        f"(the reader takes {', '.join(accepted) or 'nothing'})",
                    )
                )
                continue
            # the reader branch that reads this writer branch best: fewest errors, then
            # fewest warnings; a branch with nothing to report ends the search
            best: list[Violation] | None = None
            for r in candidates:
                found = self._single(r, w_node, path)
                if best is None or _rank(found) < _rank(best):
                    best = found
                if not found:
                    break
            out.extend(best or [])
        return out

    def _single(self, reader: Any, writer: Any, path: str) -> list[Violation]:
        if reader is True or reader == {} or writer is False:
            return []
        if reader is False:
            return [self.violation(ViolationKind.TYPE_CHANGED, path, "now accepts no value")]
        if writer is True:
            writer = {}
        out: list[Violation] = []
        r_types = effective_types(reader)
        w_types = effective_types(writer)
        if r_types is not None:
            if w_types is None:
                out.append(
                    self.violation(
                        ViolationKind.TYPE_CHANGED,
                        path,
                        f"restricted to {_describe(r_types)}, was any type",
                    )
                )
                return out
            if not all(_covered(t, r_types) for t in w_types):
                old, new = (w_types, r_types) if self.backward else (r_types, w_types)
                out.append(
                    self.violation(
                        ViolationKind.TYPE_CHANGED, path, f"{_describe(old)} → {_describe(new)}"
                    )
                )
                return out
        out.extend(self._enum(reader, writer, path))
        out.extend(self._constraints(reader, writer, path))
        if self.notes:
            out.extend(self._notes(reader, writer, path))
        types = w_types if w_types is not None else r_types
        if types is None or "object" in types:
            out.extend(self._object(reader, writer, path))
        if types is None or "array" in types:
            out.extend(self._array(reader, writer, path))
        return out

    def _enum(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Violation]:
        r_values = _enum_values(reader)
        if r_values is None:
            return []
        w_values = _enum_values(writer)
        if w_values is None:
            return [
                self.violation(
                    ViolationKind.ENUM_CHANGED,
                    path,
                    f"restricted to the values {_short(r_values)}",
                )
            ]
        lost = [v for v in w_values if not any(json_equal(v, r) for r in r_values)]
        if not lost:
            return []
        what = "no longer allows" if self.backward else "newly allows"
        return [self.violation(ViolationKind.ENUM_CHANGED, path, f"{what} {_short(lost)}")]

    def _constraints(
        self, reader: dict[str, Any], writer: dict[str, Any], path: str
    ) -> list[Violation]:
        out: list[Violation] = []
        narrowed: list[str] = []
        for key in _LOWER:
            r, w = _number(reader.get(key)), _number(writer.get(key))
            if r is not None and (w is None or w < r):
                narrowed.append(f"{key} {_fmt(w)} → {_fmt(r)}")
        for key in _UPPER:
            r, w = _number(reader.get(key)), _number(writer.get(key))
            if r is not None and (w is None or w > r):
                narrowed.append(f"{key} {_fmt(w)} → {_fmt(r)}")
        r_low, w_low = _bound(reader, "minimum"), _bound(writer, "minimum")
        if r_low is not None and (
            w_low is None
            or w_low[0] < r_low[0]
            or (w_low[0] == r_low[0] and r_low[1] and not w_low[1])
        ):
            narrowed.append(f"lower bound {_fmt_bound(w_low)} → {_fmt_bound(r_low)}")
        r_high, w_high = _bound(reader, "maximum"), _bound(writer, "maximum")
        if r_high is not None and (
            w_high is None
            or w_high[0] > r_high[0]
            or (w_high[0] == r_high[0] and r_high[1] and not w_high[1])
        ):
            narrowed.append(f"upper bound {_fmt_bound(w_high)} → {_fmt_bound(r_high)}")
        r_mult, w_mult = _number(reader.get("multipleOf")), _number(writer.get("multipleOf"))
        if r_mult is not None and (w_mult is None or not _is_multiple(w_mult, r_mult)):
            narrowed.append(f"multipleOf {_fmt(w_mult)} → {_fmt(r_mult)}")
        if reader.get("uniqueItems") is True and writer.get("uniqueItems") is not True:
            narrowed.append("uniqueItems now true")
        for item in narrowed:
            out.append(self.violation(ViolationKind.CONSTRAINT_CHANGED, path, item))
        before, after = (writer, reader) if self.backward else (reader, writer)
        for key in ("pattern", "format"):
            if key in reader and reader.get(key) != writer.get(key):
                out.append(
                    self.violation(
                        ViolationKind.CONSTRAINT_CHANGED,
                        path,
                        f"{key} {before.get(key)!r} → {after.get(key)!r} (not decidable; "
                        "check by hand)",
                        Level.WARNING,
                    )
                )
        return out

    def _notes(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Violation]:
        out: list[Violation] = []
        if ("default" in reader or "default" in writer) and not (
            "default" in reader
            and "default" in writer
            and json_equal(reader["default"], writer["default"])
        ):
            old, new = (writer, reader) if self.backward else (reader, writer)
            out.append(
                self.violation(
                    ViolationKind.DEFAULT_CHANGED,
                    path,
                    f"default {old.get('default', '(none)')!r} → {new.get('default', '(none)')!r}",
                    Level.WARNING,
                )
            )
        for key in _UNCHECKED:
            if (key in reader or key in writer) and not json_equal(
                reader.get(key), writer.get(key)
            ):
                out.append(
                    self.violation(
                        ViolationKind.UNSUPPORTED,
                        path,
                        f"{key} differs; the checker does not reason about it",
                        Level.WARNING,
                    )
                )
        return out

    def _object(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Violation]:
        out: list[Violation] = []
        r_props = _props(reader)
        w_props = _props(writer)
        r_extra = reader.get("additionalProperties", True)
        w_extra = writer.get("additionalProperties", True)
        for name in sorted(set(r_props) | set(w_props)):
            sub = join(path, name)
            if name in w_props:
                w_sub = w_props[name]
            elif w_extra is True or w_extra is False:
                # open and undeclared: taken as not written; closed: never written
                continue
            else:
                w_sub = w_extra
            r_sub = r_props.get(name, r_extra)
            if r_sub is False:
                kind = ViolationKind.FIELD_REMOVED if self.backward else ViolationKind.FIELD_ADDED
                out.append(self.violation(kind, sub, "no longer allowed (closed object)"))
                continue
            out.extend(self.compare(r_sub, w_sub, sub))
        if w_extra is not False:
            if r_extra is False:
                # writer open: undeclared properties are taken as not written (see the
                # module docstring), so this is a warning; writer a schema: an error
                out.append(
                    self.violation(
                        ViolationKind.CONSTRAINT_CHANGED,
                        join(path, "*"),
                        "additionalProperties closed: undeclared properties now refused",
                        Level.WARNING if w_extra is True else Level.ERROR,
                    )
                )
            elif r_extra is not True:
                if w_extra is True:
                    out.append(
                        self.violation(
                            ViolationKind.CONSTRAINT_CHANGED,
                            join(path, "*"),
                            "additionalProperties now constrained",
                            Level.WARNING,
                        )
                    )
                else:
                    out.extend(self.compare(r_extra, w_extra, join(path, "*")))
        r_req = _required(reader)
        w_req = _required(writer)
        for name in sorted(r_req - w_req):
            sub = join(path, name)
            if self.backward:
                kind, text = ViolationKind.REQUIRED_ADDED, "newly required"
            elif name not in w_props:
                kind, text = ViolationKind.FIELD_REMOVED, "required field removed"
            else:
                kind, text = ViolationKind.REQUIRED_REMOVED, "no longer required"
            out.append(self.violation(kind, sub, text))
        return out

    def _array(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Violation]:
        out: list[Violation] = []
        r_prefix = _list(reader.get("prefixItems"))
        w_prefix = _list(writer.get("prefixItems"))
        r_items = reader.get("items", True)
        w_items = writer.get("items", True)
        for index in range(max(len(r_prefix), len(w_prefix))):
            r_at = r_prefix[index] if index < len(r_prefix) else r_items
            w_at = w_prefix[index] if index < len(w_prefix) else w_items
            out.extend(self.compare(r_at, w_at, join(path, f"[{index}]")))
        if "items" in reader or "items" in writer:
            out.extend(self.compare(r_items, w_items, join(path, "[]")))
        return out


def _rank(found: list[Violation]) -> tuple[int, int]:
    return (sum(v.level is Level.ERROR for v in found), len(found))


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _required(schema: dict[str, Any]) -> set[str]:
    required = schema.get("required")
    return {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _types(node: dict[str, Any]) -> frozenset[str]:
    return effective_types(node) or frozenset({"any"})


def _covered(writer_type: str, reader_types: frozenset[str]) -> bool:
    return any(type_covers(r, writer_type) for r in reader_types)


def _describe(types: frozenset[str] | None) -> str:
    if types is None:
        return "any type"
    return " | ".join(sorted(types))


def _enum_values(node: dict[str, Any]) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    values = node.get("enum")
    return values if isinstance(values, list) else None


def _short(values: list[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" (+{len(values) - limit} more)" if len(values) > limit else "")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _bound(node: dict[str, Any], side: str) -> tuple[float, bool] | None:
    """The effective (value, exclusive) bound of ``minimum``/``maximum`` with its
    ``exclusive*`` companion."""
    inclusive = _number(node.get(side))
    exclusive = _number(node.get("exclusive" + side.capitalize()))
    if inclusive is None and exclusive is None:
        return None
    if inclusive is None:
        return (exclusive, True)  # type: ignore[return-value]
    if exclusive is None:
        return (inclusive, False)
    tighter = exclusive >= inclusive if side == "minimum" else exclusive <= inclusive
    return (exclusive, True) if tighter else (inclusive, False)


def _is_multiple(value: float, of: float) -> bool:
    if of == 0:
        return False
    quotient = value / of
    return abs(quotient - round(quotient)) < 1e-9


def _fmt(value: float | None) -> str:
    return "(none)" if value is None else repr(value)


def _fmt_bound(bound: tuple[float, bool] | None) -> str:
    if bound is None:
        return "(none)"
    return f"{'>' if bound[1] else '≥'}{bound[0]!r}"


def _check_direction(
    reader: Schema, writer: Schema, direction: str, version: int | None, *, notes: bool = True
) -> list[Violation]:
    found = _Checker(reader, writer, direction, notes=notes).compare(reader, writer, ROOT)
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
