"""Field-level differences between two schema versions (PIPE-7).

:func:`diff` lists the fields (dotted paths as in :mod:`.compatibility`: ``items[].price``)
that the new version adds, removes and modifies; each modification names its kind:

* ``TYPE``: the admitted JSON types differ (``integer`` → ``number``);
* ``CONSTRAINT``: one change per keyword among bounds, lengths, counts, ``pattern``,
  ``format``, ``enum``/``const``, ``multipleOf``, ``uniqueItems``, ``additionalProperties``;
* ``DEFAULT``: the ``default`` appeared, disappeared or changed;
* ``REQUIRED``: the field became required or optional.

Fields are read through ``$ref`` (local), arrays (``[]``, tuple positions ``[0]``) and
unions (a field of any branch; merged: types united, required only if required in every
branch that declares it). ``diff(s, s)`` is always empty. The root itself is ``$``: it can
be modified, never added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .canonical import Schema, check_schema_document
from .nodes import ROOT, branches, effective_types, join, json_equal, resolve

__all__ = ["ChangeKind", "FieldChange", "FieldInfo", "SchemaDiff", "diff", "fields"]


class ChangeKind(StrEnum):
    TYPE = "TYPE"
    CONSTRAINT = "CONSTRAINT"
    DEFAULT = "DEFAULT"
    REQUIRED = "REQUIRED"


_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "enum",
    "const",
    "additionalProperties",
)

_MISSING: Any = object()


@dataclass
class FieldInfo:
    """What a schema says about one field: its types (None: any), its constraints
    (keyword → value; a schema-valued ``additionalProperties`` is recorded as
    ``"schema"``), its default and whether its parent requires it."""

    types: frozenset[str] | None
    constraints: dict[str, Any] = field(default_factory=dict)
    default: Any = _MISSING
    required: bool = False

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True)
class FieldChange:
    """One modification of a field present in both versions; ``keyword`` names the
    constraint for kind CONSTRAINT. ``old``/``new`` are None when absent."""

    path: str
    kind: ChangeKind
    old: Any
    new: Any
    keyword: str | None = None

    def __str__(self) -> str:
        what = f" {self.keyword}" if self.keyword else ""
        return f"{self.kind}{what} at {self.path}: {self.old!r} → {self.new!r}"


@dataclass(frozen=True)
class SchemaDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    modified: tuple[FieldChange, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def kinds(self, path: str) -> set[ChangeKind]:
        """The kinds of modification of ``path``."""
        return {c.kind for c in self.modified if c.path == path}


def fields(schema: Schema) -> dict[str, FieldInfo]:
    """Every field of ``schema`` by dotted path, the root as ``$``. Raises
    :class:`InvalidSchema` for a non-local ``$ref``."""
    check_schema_document(schema)
    out: dict[str, FieldInfo] = {}
    _walk(schema, schema, ROOT, True, out, frozenset())
    return out


def _info(node: Any) -> FieldInfo:
    if not isinstance(node, dict):
        return FieldInfo(types=None if node is True else frozenset())
    info = FieldInfo(types=effective_types(node) if "type" in node else None)
    for key in _CONSTRAINTS:
        if key in node:
            value = node[key]
            if key == "additionalProperties" and isinstance(value, dict):
                value = "schema"
            info.constraints[key] = value
    if "default" in node:
        info.default = node["default"]
    return info


def _merge(into: FieldInfo, other: FieldInfo) -> None:
    if into.types is None or other.types is None:
        into.types = None
    else:
        into.types = into.types | other.types
    for key, value in other.constraints.items():
        into.constraints.setdefault(key, value)
    if not into.has_default and other.has_default:
        into.default = other.default
    into.required = into.required and other.required


def _walk(
    node: Any,
    root: Any,
    path: str,
    required: bool,
    out: dict[str, FieldInfo],
    active: frozenset[str],
) -> None:
    node, ref = resolve(node, root, path)
    cycle = ref is not None and ref in active
    if ref is not None:
        active = active | {ref}
    alternatives = branches(node, root, path)
    info: FieldInfo | None = None
    for alt in alternatives:
        alt_info = _info(alt)
        if info is None:
            info = alt_info
        else:
            _merge(info, alt_info)
    if info is None:
        return
    info.required = required
    if path in out:
        _merge(out[path], info)
    else:
        out[path] = info
    if cycle:
        return  # a recursive reference: the field is listed, its inside already was
    for alt in alternatives:
        if not isinstance(alt, dict):
            continue
        props = alt.get("properties")
        req = alt.get("required")
        names = set(req) if isinstance(req, list) else set()
        if isinstance(props, dict):
            for name, sub in props.items():
                _walk(sub, root, join(path, name), name in names, out, active)
        prefix = alt.get("prefixItems")
        if isinstance(prefix, list):
            for index, sub in enumerate(prefix):
                _walk(sub, root, join(path, f"[{index}]"), False, out, active)
        if "items" in alt:
            _walk(alt["items"], root, join(path, "[]"), False, out, active)
        extra = alt.get("additionalProperties")
        if isinstance(extra, dict):
            _walk(extra, root, join(path, "*"), False, out, active)


def diff(old: Schema, new: Schema) -> SchemaDiff:
    """The fields ``new`` adds, removes and modifies relative to ``old`` (paths sorted;
    modifications ordered by path, then kind TYPE, CONSTRAINT, DEFAULT, REQUIRED)."""
    before = fields(old)
    after = fields(new)
    added = tuple(sorted(set(after) - set(before)))
    removed = tuple(sorted(set(before) - set(after)))
    modified: list[FieldChange] = []
    for path in sorted(set(before) & set(after)):
        a, b = before[path], after[path]
        if a.types != b.types:
            modified.append(FieldChange(path, ChangeKind.TYPE, _types(a.types), _types(b.types)))
        for key in sorted(set(a.constraints) | set(b.constraints)):
            x, y = a.constraints.get(key, _MISSING), b.constraints.get(key, _MISSING)
            if x is _MISSING or y is _MISSING or not json_equal(x, y):
                modified.append(
                    FieldChange(
                        path,
                        ChangeKind.CONSTRAINT,
                        None if x is _MISSING else x,
                        None if y is _MISSING else y,
                        key,
                    )
                )
        if a.has_default != b.has_default or (
            a.has_default and not json_equal(a.default, b.default)
        ):
            modified.append(
                FieldChange(
                    path,
                    ChangeKind.DEFAULT,
                    a.default if a.has_default else None,
                    b.default if b.has_default else None,
                )
            )
        if a.required != b.required:
            modified.append(FieldChange(path, ChangeKind.REQUIRED, a.required, b.required))
    return SchemaDiff(added, removed, tuple(modified))


def _types(types: frozenset[str] | None) -> list[str] | None:
    return None if types is None else sorted(types)
