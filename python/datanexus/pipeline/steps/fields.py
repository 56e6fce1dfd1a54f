"""Steps that move, add, remove or reshape fields: rename, insert, remove, mask, nulls,
flatten (PIPE-13, PIPE-16). Options are in docs/pipelines.md; each builder reads them from
a :class:`~datanexus.pipeline.reader.Table` and fails the spec on anything else."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from datanexus.errors import TransformError
from datanexus.pipeline.paths import FieldPath
from datanexus.pipeline.reader import Table
from datanexus.pipeline.steps.base import BuildContext, Step, read_path, read_paths

__all__ = [
    "FlattenStep",
    "InsertStep",
    "MaskStep",
    "NullsStep",
    "RemoveStep",
    "RenameStep",
    "flatten_list",
]

_IF_EXISTS = ("overwrite", "keep", "error")


class RenameStep(Step):
    """``from`` → ``to``; when ``to`` exists, ``if_exists`` decides (default ``"error"``:
    renaming onto a field would silently lose it)."""

    op = "rename"

    def __init__(
        self, name: str, src: FieldPath, dst: FieldPath, if_exists: str, **kw: Any
    ) -> None:
        super().__init__(name, **kw)
        self.src, self.dst, self.if_exists = src, dst, if_exists

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> RenameStep:
        return cls(
            name,
            read_path(t, "from"),
            read_path(t, "to"),
            t.string("if_exists", "error", choices=_IF_EXISTS),
            **kw,
        )

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        value = self.src.get(event)
        if self.dst.has(event):
            if self.if_exists == "error":
                raise TransformError(f"cannot rename {self.src.text!r}: {self.dst.text!r} exists")
            if self.if_exists == "keep":
                self.src.delete(event)
                return event
        self.src.delete(event)
        self.dst.set(event, value)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.src, self.dst)


class InsertStep(Step):
    """Set ``field`` to the constant ``value``; ``if_exists`` = overwrite (default), keep
    or error."""

    op = "insert"

    def __init__(self, name: str, path: FieldPath, value: Any, if_exists: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.path, self.value, self.if_exists = path, value, if_exists
        self._mutable = isinstance(value, dict | list)

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> InsertStep:
        value = t.raw("value")
        if not _is_json(value):
            raise t.error(
                "value",
                "must be a string, number, boolean, array or table "
                "(TOML dates are not JSON; write them as strings)",
            )
        return cls(
            name,
            read_path(t, "field"),
            value,
            t.string("if_exists", "overwrite", choices=_IF_EXISTS),
            **kw,
        )

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if self.if_exists != "overwrite" and self.path.has(event):
            if self.if_exists == "keep":
                return event
            raise TransformError(f"cannot insert {self.path.text!r}: it exists")
        self.path.set(event, copy.deepcopy(self.value) if self._mutable else self.value)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)


class RemoveStep(Step):
    """Remove every path of ``fields``; all must exist (checked before any is removed)."""

    op = "remove"

    def __init__(self, name: str, paths: list[FieldPath], **kw: Any) -> None:
        super().__init__(name, **kw)
        self.paths = paths

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> RemoveStep:
        return cls(name, read_paths(t, "fields"), **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        for path in self.paths:
            path.get(event)
        for path in self.paths:
            path.delete(event)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return tuple(self.paths)


class MaskStep(Step):
    """``mode = "keep_last"`` (default): every character but the last ``keep_last``
    (default 4) becomes ``char`` (default ``*``); ``mode = "hash"``: the SHA-256 hex of
    ``salt`` + the value. Numbers are masked as their decimal string; null stays null."""

    op = "mask"

    def __init__(
        self, name: str, path: FieldPath, mode: str, keep_last: int, char: str, salt: str, **kw: Any
    ) -> None:
        super().__init__(name, **kw)
        self.path, self.mode, self.keep_last, self.char = path, mode, keep_last, char
        self._salt = salt.encode()

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> MaskStep:
        mode = t.string("mode", "keep_last", choices=("keep_last", "hash"))
        keep = t.integer("keep_last", 4, lo=0, hi=64)
        char = t.string("char", "*")
        if len(char) != 1:
            raise t.error("char", f"must be one character, got {char!r}")
        salt = t.string("salt", "")
        if mode == "hash" and t.has("keep_last"):
            raise t.error("keep_last", 'only applies to mode = "keep_last"')
        return cls(name, read_path(t, "field"), mode, keep, char, salt, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        value = self.path.get(event)
        if value is None:
            return event
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TransformError(f"cannot mask {self.path.text!r}: not a string or number")
        text = value if isinstance(value, str) else repr(value)
        if self.mode == "hash":
            masked = hashlib.sha256(self._salt + text.encode()).hexdigest()
        else:
            hidden = max(len(text) - self.keep_last, 0)
            masked = self.char * hidden + text[hidden:]
        self.path.set(event, masked)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)


class NullsStep(Step):
    """Null policy for ``fields``: ``policy = "drop"`` filters the event out, ``"default"``
    stores ``default``, ``"error"`` dead-letters it. ``missing = "null"`` treats an absent
    field as null; the default ``"error"`` follows DEC-1."""

    op = "nulls"

    def __init__(
        self,
        name: str,
        paths: list[FieldPath],
        policy: str,
        default: Any,
        missing_is_null: bool,
        **kw: Any,
    ) -> None:
        super().__init__(name, **kw)
        self.paths, self.policy, self.default = paths, policy, default
        self.missing_is_null = missing_is_null

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> NullsStep:
        policy = t.string("policy", choices=("drop", "default", "error"))
        default = t.raw("default", None)
        if policy == "default" and not t.has("default"):
            raise t.error("default", 'is required with policy = "default"')
        if policy != "default" and t.has("default"):
            raise t.error("default", 'only applies to policy = "default"')
        if default is not None and not _is_json(default):
            raise t.error("default", "must be a JSON value")
        missing = t.string("missing", "error", choices=("error", "null"))
        return cls(name, read_paths(t, "fields"), policy, default, missing == "null", **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        for path in self.paths:
            missing = self.missing_is_null and not path.has(event)
            value = None if missing else path.get(event)
            if value is not None:
                continue
            if self.policy == "drop":
                return None
            if self.policy == "error":
                raise TransformError(f"field {path.text!r} is null")
            path.set(event, copy.deepcopy(self.default))
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return tuple(self.paths) if self.policy == "default" else ()


class FlattenStep(Step):
    """``kind = "list"`` (default): nested lists at ``field`` become one flat list
    (PIPE-13, iterative: any depth); a value that is not a list is left unchanged.
    ``kind = "object"``: the leaves of the object at ``field`` move to its parent as
    ``field<separator>key<separator>…`` (``reading.temperature`` → ``reading_temperature``)
    and the object is removed; a name clash is an error; a non-object is left unchanged."""

    op = "flatten"

    def __init__(self, name: str, path: FieldPath, kind: str, separator: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.path, self.kind, self.separator = path, kind, separator
        self._parent = (
            None if path.depth == 1 else FieldPath(path.text.rsplit(".", 1)[0], path.segments[:-1])
        )

    @classmethod
    def build(cls, t: Table, name: str, ctx: BuildContext, **kw: Any) -> FlattenStep:
        kind = t.string("kind", "list", choices=("list", "object"))
        sep = t.string("separator", "_")
        path = read_path(t, "field")
        if kind == "object":
            if not isinstance(path.segments[-1], str) or "[" in path.text.rsplit(".", 1)[-1]:
                raise t.error("field", "an object to flatten must be named, not a list element")
            if not sep or not all(c.isalnum() or c in "_-" for c in sep):
                raise t.error("separator", "must be letters, digits, '_' or '-'")
        elif t.has("separator"):
            raise t.error("separator", 'only applies to kind = "object"')
        return cls(name, path, kind, sep, **kw)

    def apply(self, event: dict[str, Any]) -> dict[str, Any] | None:
        value = self.path.get(event)
        if self.kind == "list":
            if isinstance(value, list):
                self.path.set(event, flatten_list(value))
            return event
        if not isinstance(value, dict):
            return event
        parent = event if self._parent is None else self._parent.get(event)
        assert isinstance(parent, dict)
        flat = flatten_object(str(self.path.segments[-1]), value, self.separator)
        clash = [k for k in flat if k in parent and k != self.path.segments[-1]]
        if clash:
            raise TransformError(f"cannot flatten {self.path.text!r}: {clash[0]!r} exists")
        del parent[str(self.path.segments[-1])]
        parent.update(flat)
        return event

    def written(self) -> tuple[FieldPath, ...]:
        return (self.path,)


def flatten_list(value: list[Any]) -> list[Any]:
    """Nested lists → one flat list, in order, without recursion (any depth):
    ``[[["x"]], "y", []]`` → ``["x", "y"]``."""
    out: list[Any] = []
    stack = [iter(value)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def flatten_object(prefix: str, value: dict[str, Any], sep: str) -> dict[str, Any]:
    """``{prefix}{sep}{key}…`` → leaf for every non-object leaf (empty objects are leaves),
    in document order, without recursion."""
    out: dict[str, Any] = {}
    stack = [(prefix, iter(value.items()))]
    while stack:
        base, items = stack[-1]
        for key, item in items:
            name = f"{base}{sep}{key}"
            if isinstance(item, dict) and item:
                stack.append((name, iter(item.items())))
                break
            if name in out:
                raise TransformError(f"cannot flatten {prefix!r}: two leaves named {name!r}")
            out[name] = item
        else:
            stack.pop()
    return out


def _is_json(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not isinstance(item, str | int | float | bool):
            return False
    return True
