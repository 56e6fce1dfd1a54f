"""Value casts of the ``cast`` step (PIPE-10), exact and type-strict.

* ``bool``: ``"false"``, ``""``, ``"0"``, ``0``, ``False`` → ``False``; ``"true"``, ``"1"``,
  ``1``, ``True`` → ``True`` (``"true"``/``"false"`` in any letter case); any other string,
  number or type → error.
* ``int``: rounds half away from zero (``"9.6"`` → 10, ``"-2.5"`` → -3, ``2.5`` → 3).
  Strings are read as decimals, never through a float, so ``"12345678901234567891"`` stays
  exact; JSON integers are returned unchanged. Booleans give 1/0. NaN, infinities and
  non-numeric strings → error.
* ``float``: numbers and numeric strings; NaN and infinities are refused (DEC-8).
  Booleans give 1.0/0.0.
* ``string``: ``7`` → ``"7"``, ``2.5`` → ``"2.5"``, ``True`` → ``"true"``; objects and lists
  as compact JSON.

``None`` casts to ``None`` for every type: nulls are the null policy's business. Errors are
:class:`~datanexus.TransformError` saying the value and the target type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from datanexus.errors import TransformError

__all__ = ["CASTS", "to_bool", "to_float", "to_int", "to_string"]

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0", ""})
_ONE = Decimal(1)


def to_bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return value == 1
    elif isinstance(value, str):
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise TransformError(
        f'cannot cast {value!r} to bool; allowed: true/false, "true"/"false", "1"/"0", 1/0, ""'
    )


def to_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TransformError(f"cannot cast {value!r} to int")
        return int(Decimal(value).to_integral_value(rounding=ROUND_HALF_UP))
    if isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise TransformError(f"cannot cast {value!r} to int: not a number") from None
        if not dec.is_finite():
            raise TransformError(f"cannot cast {value!r} to int")
        if abs(dec.adjusted()) > 4000:
            raise TransformError(f"cannot cast {value[:40]!r} to int: out of range")
        return int(dec.to_integral_value(rounding=ROUND_HALF_UP))
    raise TransformError(f"cannot cast {_short(value)} to int")


def to_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise TransformError(f"cannot cast {value!r} to float: not a number") from None
    else:
        raise TransformError(f"cannot cast {_short(value)} to float")
    if not math.isfinite(result):
        raise TransformError(
            f"cannot cast {_short(value)} to float: NaN and infinities are refused"
        )
    return result


def to_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise TransformError(f"cannot cast {_short(value)} to string")


CASTS: dict[str, Callable[[Any], Any]] = {
    "bool": to_bool,
    "int": to_int,
    "float": to_float,
    "string": to_string,
}


def _short(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]
