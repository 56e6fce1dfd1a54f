"""Field paths into events (PIPE-12): ``user.address.city``, ``items[1].sku``.

A path is dotted names with optional ``[i]`` list indices. It walks JSON values only —
dicts by key, lists by index — never Python attributes, so no path reaches ``__class__``
or anything else outside the event. Segments starting with ``_`` are refused when the
spec is loaded (:func:`parse_path` raises :class:`~datanexus.ConfigError`), which also
keeps out ``__proto__``-style names.

Reading follows DEC-1 exactly: a null met on the way yields ``None``
(``{"user": {"address": None}}`` at ``user.address.city`` → ``None``); a missing key or
an index past the end raises :class:`~datanexus.MissingField` (``{"user": {}}`` at the
same path). A step turns that into a skip when it sets ``on_error = "skip"``. Walking into
a value that is neither object nor list (``5`` at ``a.b``) raises
:class:`~datanexus.TransformError`.
"""

from __future__ import annotations

import re
from typing import Any

from datanexus.errors import ConfigError, MissingField, TransformError

__all__ = ["FieldPath", "parse_path"]

# A name: letters, digits, "_" and "-", not starting with "_"; then any number of [i].
_SEGMENT = re.compile(r"([A-Za-z0-9-][A-Za-z0-9_-]*)((?:\[\d+\])*)", re.ASCII)
_INDEX = re.compile(r"\[(\d+)\]", re.ASCII)
_MAX_SEGMENTS = 32

Segment = str | int


class FieldPath:
    """A parsed path: ``text`` as written and ``segments`` (``str`` keys, ``int`` indices).

    Methods work on plain JSON values (dict, list, str, int, float, bool, None).
    """

    __slots__ = ("_first", "segments", "text")

    def __init__(self, text: str, segments: tuple[Segment, ...]) -> None:
        self.text = text
        self.segments = segments
        self._first = segments[0]

    def __repr__(self) -> str:
        return f"FieldPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldPath) and other.segments == self.segments

    def __hash__(self) -> int:
        return hash(self.segments)

    @property
    def depth(self) -> int:
        """Number of segments; 1 for a top-level field."""
        return len(self.segments)

    def get(self, event: dict[str, Any]) -> Any:
        """The value at this path (DEC-1: ``None`` past a null, :class:`MissingField`
        for a missing key or index)."""
        if len(self.segments) == 1:
            try:
                return event[self._first]  # type: ignore[index]
            except KeyError:
                raise MissingField(f"missing field {self.text!r}") from None
        value: Any = event
        for seg in self.segments:
            if value is None:
                return None
            value = self._step(value, seg)
        return value

    def has(self, event: dict[str, Any]) -> bool:
        """Whether :meth:`get` would return a value rather than raise."""
        try:
            self.get(event)
        except TransformError:
            return False
        return True

    def set(self, event: dict[str, Any], value: Any) -> None:
        """Store ``value`` at this path, creating missing objects on the way
        (``meta.source`` on ``{}`` → ``{"meta": {"source": value}}``). Raises
        :class:`TransformError` when the way passes a null, a scalar, or a list index past
        the end."""
        if len(self.segments) == 1:
            event[self._first] = value  # type: ignore[index]
            return
        parent = self._parent(event, create=True)
        last = self.segments[-1]
        if isinstance(last, int):
            if not isinstance(parent, list) or last >= len(parent):
                raise TransformError(f"cannot set {self.text!r}: no list element {last}")
            parent[last] = value
        else:
            if not isinstance(parent, dict):
                raise TransformError(f"cannot set {self.text!r}: its parent is not an object")
            parent[last] = value

    def delete(self, event: dict[str, Any]) -> Any:
        """Remove the value at this path and return it; :class:`MissingField` when absent.
        As for :meth:`get`, a null on the way means there is nothing to remove: ``None``."""
        parent: Any = event
        for seg in self.segments[:-1]:
            if parent is None:
                return None
            parent = self._step(parent, seg)
        if parent is None:
            return None
        last = self.segments[-1]
        try:
            if isinstance(last, int):
                if not isinstance(parent, list):
                    raise TransformError(f"cannot remove {self.text!r}: not a list")
                return parent.pop(last)
            if not isinstance(parent, dict):
                raise TransformError(f"cannot remove {self.text!r}: its parent is not an object")
            return parent.pop(last)
        except (KeyError, IndexError):
            raise MissingField(f"missing field {self.text!r}") from None

    def _parent(self, event: dict[str, Any], *, create: bool) -> Any:
        value: Any = event
        for seg, nxt in zip(self.segments, self.segments[1:], strict=False):
            if value is None:
                raise TransformError(f"cannot reach {self.text!r}: a value on the way is null")
            if create and isinstance(seg, str) and isinstance(value, dict) and seg not in value:
                value[seg] = [] if isinstance(nxt, int) else {}
            value = self._step(value, seg)
        if value is None:
            raise TransformError(f"cannot reach {self.text!r}: a value on the way is null")
        return value

    def _step(self, value: Any, seg: Segment) -> Any:
        if isinstance(seg, int):
            if not isinstance(value, list):
                raise TransformError(
                    f"{self.text!r}: expected a list for [{seg}], found {_kind(value)}"
                )
            if seg >= len(value):
                raise MissingField(f"missing field {self.text!r}: list has {len(value)} items")
            return value[seg]
        if not isinstance(value, dict):
            raise TransformError(
                f"{self.text!r}: expected an object at {seg!r}, found {_kind(value)}"
            )
        try:
            return value[seg]
        except KeyError:
            raise MissingField(f"missing field {self.text!r}") from None


def parse_path(text: object, *, where: str) -> FieldPath:
    """Parse ``text`` into a :class:`FieldPath`; :class:`~datanexus.ConfigError` naming
    ``where`` for anything else than dotted names with ``[i]`` indices, for names starting
    with ``_`` and for more than 32 segments."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{where}: expected a field path like 'user.address.city', got {text!r}")
    segments: list[Segment] = []
    for part in text.split("."):
        if part.startswith("_"):
            raise ConfigError(
                f"{where}: field path {text!r}: segment {part!r} starts with '_', which is "
                "reserved and never allowed"
            )
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ConfigError(
                f"{where}: field path {text!r}: bad segment {part!r}; allowed are names of "
                "letters, digits, '_' and '-' (not starting with '_') with optional [i] indices"
            )
        segments.append(match.group(1))
        segments.extend(int(i) for i in _INDEX.findall(match.group(2)))
    if len(segments) > _MAX_SEGMENTS:
        raise ConfigError(f"{where}: field path {text!r} has more than {_MAX_SEGMENTS} segments")
    return FieldPath(text, tuple(segments))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
