"""Durations as configuration writes them: ``"250ms"``, ``"5s"``, ``"1m"``, ``"2h"``, ``"1d"``.

* :func:`parse_duration` reads a duration string (or an int of milliseconds) into a
  :class:`~datetime.timedelta`. Units are ``ms``, ``s``, ``m``, ``h``, ``d``; several parts
  may be combined, largest first, each unit at most once (``"1h30m"``, ``"1m30s500ms"``).
  Amounts are non-negative integers. Anything else — a negative number, a fraction, an
  unknown unit, a bool, an empty string — raises :class:`~datanexus.ConfigError` naming
  ``where`` (the file and key path) and the accepted forms.
* :func:`format_duration` writes the shortest string of that grammar, so
  ``parse_duration(format_duration(d)) == d`` for every whole-millisecond ``d ≥ 0``.

Durations have millisecond resolution: the window engine works in epoch milliseconds.
"""

from __future__ import annotations

import re
from datetime import timedelta

from datanexus.errors import ConfigError, InvalidArgument

__all__ = ["duration_ms", "format_duration", "parse_duration"]

_UNITS_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
# Largest unit first, each at most once; "ms" must be tried before "m".
_GRAMMAR = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?", re.ASCII)
_ORDER = ("d", "h", "m", "s", "ms")
# A year of milliseconds times a thousand: far beyond any window, well inside timedelta.
_MAX_MS = 1000 * 366 * 86_400_000

_ALLOWED = (
    'a non-negative integer of milliseconds or a string like "250ms", "5s", "1m", "2h", '
    '"1d", "1h30m"'
)


def parse_duration(value: str | int, *, where: str) -> timedelta:
    """Read ``value`` as a duration; ``where`` names it in errors (``"web.toml:
    aggregations[0].window.size"``).

    Raises :class:`~datanexus.ConfigError` for negative or malformed values and for
    durations past 1000 years.
    """
    return timedelta(milliseconds=duration_ms(value, where=where))


def duration_ms(value: str | int, *, where: str) -> int:
    """Like :func:`parse_duration`, in whole milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}: expected {_ALLOWED}, got {type(value).__name__} {value!r}")
    if isinstance(value, int):
        total = value
    else:
        match = _GRAMMAR.fullmatch(value)
        if not value or match is None:
            raise ConfigError(f"{where}: expected {_ALLOWED}, got {value!r}")
        total = sum(
            int(amount) * _UNITS_MS[unit]
            for amount, unit in zip(match.groups(), _ORDER, strict=True)
            if amount is not None
        )
    if total < 0:
        raise ConfigError(f"{where}: a duration cannot be negative, got {value!r}")
    if total > _MAX_MS:
        raise ConfigError(f"{where}: duration {value!r} is longer than 1000 years")
    return total


def format_duration(value: timedelta | int) -> str:
    """The shortest string :func:`parse_duration` reads back as ``value`` (a timedelta or
    milliseconds): ``90_000`` → ``"1m30s"``, ``0`` → ``"0s"``.

    Raises :class:`~datanexus.InvalidArgument` for negative durations or ones with a
    sub-millisecond part, which the grammar cannot express.
    """
    if isinstance(value, timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        if micros % 1000:
            raise InvalidArgument(f"duration {value} has a sub-millisecond part")
        ms = micros // 1000
    else:
        ms = value
    if ms < 0:
        raise InvalidArgument(f"duration {value} is negative")
    if ms == 0:
        return "0s"
    parts = []
    for unit in _ORDER:
        amount, ms = divmod(ms, _UNITS_MS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
