"""The structural question behind every compatibility mode: where does a *reader*
schema reject a value that a *writer* schema accepts? (PIPE-5, PIPE-6)

:func:`unreadable` walks both schemas together (objects, arrays, tuples, unions, local
``$ref`` with recursion) and returns a :class:`Violation` for each place, named from the
point of view of the change old → new given by ``direction`` (BACKWARD: reader = new,
writer = old; FORWARD: reader = old, writer = new). The rules are in the docstring of
:mod:`.compatibility`.
"""

from __future__ import annotations

from typing import Any

from .nodes import ROOT, branches, effective_types, join, json_equal, resolve, type_covers
from .violations import Level, Violation, ViolationKind

__all__ = ["unreadable"]

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


def unreadable(reader: Any, writer: Any, direction: str, *, notes: bool = True) -> list[Violation]:
    """Every place where ``reader`` rejects what ``writer`` accepts; ``notes`` adds the
    direction-free warnings (default changes, unchecked keywords)."""
    return _Checker(reader, writer, direction, notes=notes).compare(reader, writer, ROOT)
