"""Time values of the language: durations (``5m``, ``interval '6 hours'``) and instants
(``now()``, RFC 3339 strings, epoch milliseconds), all in integer milliseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["format_duration", "parse_duration_ms", "parse_instant_ms"]

_UNIT_MS = {
    "ms": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "s": 1_000,
    "sec": 1_000,
    "secs": 1_000,
    "second": 1_000,
    "seconds": 1_000,
    "m": 60_000,
    "min": 60_000,
    "mins": 60_000,
    "minute": 60_000,
    "minutes": 60_000,
    "h": 3_600_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "days": 86_400_000,
    "w": 604_800_000,
    "week": 604_800_000,
    "weeks": 604_800_000,
}
_DURATION = re.compile(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*([a-zA-Z]+)\s*")
UNITS_HELP = "ms, s, m, h, d, w (or their names: seconds, minutes, hours, days, weeks)"
_MAX_MS = 100 * 366 * 86_400_000  # a century: beyond it a duration is a typo


def parse_duration_ms(text: str, unit: str | None = None) -> int | None:
    """``text`` (``"5m"``, ``"6 hours"``, or ``"6"`` with ``unit="HOURS"``) in ms, or None
    when it is not a positive duration of a known unit within a century."""
    if unit is not None:
        text = f"{text} {unit}"
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    scale = _UNIT_MS.get(match.group(2).lower())
    if scale is None:
        return None
    ms = round(float(match.group(1)) * scale)
    if ms <= 0 or ms > _MAX_MS:
        return None
    return ms


def parse_instant_ms(text: str) -> int | None:
    """An RFC 3339 / ISO 8601 instant in epoch ms (no offset means UTC), or None."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def format_duration(ms: int) -> str:
    """The shortest exact spelling of ``ms``: ``"5m"``, ``"1h"``, ``"90s"``."""
    for suffix, scale in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000)):
        if ms % scale == 0:
            return f"{ms // scale}{suffix}"
    for suffix, scale in (("m", 60_000), ("s", 1_000)):
        if ms % scale == 0:
            return f"{ms // scale}{suffix}"
    return f"{ms}ms"
