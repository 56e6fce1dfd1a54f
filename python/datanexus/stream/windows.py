"""Window shapes for :func:`datanexus.stream.window_aggregate`: tumbling, sliding and
session windows of event time, aligned to the epoch.

They hold ``timedelta`` durations in whole milliseconds (the engine's resolution) and
check them when built, so a bad window fails where the flow is defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from datanexus.errors import InvalidArgument, InvalidType

__all__ = ["Session", "Sliding", "Tumbling", "Window"]

_MS = timedelta(milliseconds=1)


def _ms(name: str, value: object) -> int:
    if not isinstance(value, timedelta):
        raise InvalidType(f"{name} must be a datetime.timedelta, got {type(value).__name__}")
    if value % _MS:
        raise InvalidArgument(f"{name} must be a whole number of milliseconds, got {value}")
    if value <= timedelta(0):
        raise InvalidArgument(f"{name} must be positive, got {value}")
    return value // _MS


@dataclass(frozen=True)
class Tumbling:
    """Back-to-back windows ``[k·size, (k + 1)·size)``."""

    size: timedelta

    def __post_init__(self) -> None:
        _ms("Tumbling size", self.size)

    def engine_args(self) -> dict[str, Any]:
        return {"window": "tumbling", "size": _ms("size", self.size)}


@dataclass(frozen=True)
class Sliding:
    """Windows ``[k·slide, k·slide + size)`` every ``slide``; an event is in each window
    holding it. ``0 < slide ≤ size``; ``slide == size`` is :class:`Tumbling`."""

    size: timedelta
    slide: timedelta

    def __post_init__(self) -> None:
        size, slide = _ms("Sliding size", self.size), _ms("Sliding slide", self.slide)
        if slide > size:
            raise InvalidArgument(
                f"a sliding window's slide ({self.slide}) must not exceed its size ({self.size})"
            )

    def engine_args(self) -> dict[str, Any]:
        return {
            "window": "sliding",
            "size": _ms("size", self.size),
            "slide": _ms("slide", self.slide),
        }


@dataclass(frozen=True)
class Session:
    """Per key, events at most ``gap`` apart (inclusive) share a window
    ``[first, last + gap)``; an event that bridges two sessions merges them."""

    gap: timedelta

    def __post_init__(self) -> None:
        _ms("Session gap", self.gap)

    def engine_args(self) -> dict[str, Any]:
        return {"window": "session", "gap": _ms("gap", self.gap)}


Window = Tumbling | Sliding | Session
