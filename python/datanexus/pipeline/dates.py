"""Event times and dates (PIPE-15): reading them in any usual form, writing them as UTC.

:func:`parse_instant` reads

* epoch milliseconds (an int, or a finite float; booleans are not times),
* ISO 8601 / RFC 3339 strings: ``2023-03-05T07:08:09Z``, ``2023-03-05 07:08:09.5+01:00``,
  ``2023-03-05T07:08``, ``2023-03-05`` (midnight),
* strings matching one of the step's extra ``strptime`` formats,

and returns an aware :class:`~datetime.datetime`, or ``None`` when the value is none of
these. A naive time (no offset) is read in the pipeline's zone (``time_zone``, an IANA name
through :mod:`zoneinfo`): Europe/Berlin ``2023-03-05 07:08`` is ``06:08Z``. Wall times that
a DST change makes ambiguous take the first occurrence (``fold=0``), and those it skips are
read with the offset before the change, as :mod:`zoneinfo` does.

:func:`format_instant` writes ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds, truncated).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from datanexus.errors import ConfigError

__all__ = ["event_time_ms", "format_instant", "load_zone", "parse_instant", "to_epoch_ms"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# datetime covers years 1..9999; keep epoch values inside that.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999


def load_zone(name: object, *, where: str) -> ZoneInfo:
    """The IANA zone ``name``; :class:`~datanexus.ConfigError` naming ``where`` otherwise."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: expected an IANA time zone name like 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r}") from None


def parse_instant(value: Any, zone: tzinfo, formats: Sequence[str] = ()) -> datetime | None:
    """See the module docstring; ``None`` when ``value`` is not a time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if not _MIN_MS <= value <= _MAX_MS:
            return None
        return _EPOCH + timedelta(milliseconds=value)
    if not isinstance(value, str) or len(value) > 64:
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
        for fmt in formats:
            try:
                parsed = datetime.strptime(value, fmt)  # noqa: DTZ007 - zone added below
            except ValueError:
                continue
            break
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def format_instant(instant: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an aware datetime, in UTC."""
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def to_epoch_ms(instant: datetime) -> int:
    """Milliseconds since the epoch, floored."""
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def event_time_ms(value: Any, zone: tzinfo) -> int | None:
    """The event time of ``value`` in epoch ms (epoch ms pass through exactly), or ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and _MIN_MS <= value <= _MAX_MS:
        return value
    instant = parse_instant(value, zone)
    return None if instant is None else to_epoch_ms(instant)
