"""What a compatibility check reports: :class:`Violation` (kind, dotted path, level)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Level", "Violation", "ViolationKind"]


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
