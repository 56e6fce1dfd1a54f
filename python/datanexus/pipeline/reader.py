"""Typed reading of one TOML table with key paths in every error (PIPE-1).

A :class:`Table` wraps a parsed TOML table, the name of the file it came from and its key
path (``aggregations[0].window``). Each accessor takes a key, checks its type and domain,
and remembers the key as read; :meth:`Table.done` then refuses any key nobody read, so a
typo (``sise = "1m"``) fails at load instead of being ignored. Errors are
:class:`~datanexus.ConfigError` with ``file: key.path: what is wrong, what is allowed``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from datanexus.durations import duration_ms
from datanexus.errors import ConfigError

__all__ = ["REQUIRED", "Table"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[Any] = _Required()


class Table:
    """One TOML table being read; see the module docstring."""

    def __init__(self, data: object, *, source: str, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: {path or '(top)'}: expected a table, got {_tname(data)}")
        self.data: dict[str, Any] = data
        self.source = source
        self.path = path
        self._read: set[str] = set()

    def where(self, key: str | None = None) -> str:
        """``file: path.key`` for messages."""
        full = self.path if key is None else (f"{self.path}.{key}" if self.path else key)
        return f"{self.source}: {full or '(top)'}"

    def error(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = REQUIRED) -> Any:
        """The value as parsed, or ``default``; missing and required → error."""
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is REQUIRED:
            raise self.error(key, "is required")
        return default

    def string(
        self, key: str, default: Any = REQUIRED, *, choices: Collection[str] | None = None
    ) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {_tname(value)}")
        if choices is not None and value not in choices:
            allowed = ", ".join(sorted(choices))
            raise self.error(key, f"{value!r} is not one of: {allowed}")
        return value

    def integer(
        self, key: str, default: Any = REQUIRED, *, lo: int | None = None, hi: int | None = None
    ) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {_tname(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            low = "-∞" if lo is None else lo
            high = "∞" if hi is None else hi
            raise self.error(key, f"{value} is outside {low}..{high}")
        return value

    def number(self, key: str, default: Any = REQUIRED, *, positive: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {_tname(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(key, "NaN and infinities are not allowed")
        if positive and value <= 0:
            raise self.error(key, f"must be > 0, got {value}")
        return value

    def boolean(self, key: str, default: Any = REQUIRED) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_tname(value)}")
        return value

    def duration(self, key: str, default: Any = REQUIRED) -> Any:
        """Milliseconds (int) of a duration string or int; see :mod:`datanexus.durations`."""
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        return duration_ms(value, where=self.where(key))

    def str_list(self, key: str, default: Any = REQUIRED, *, nonempty: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of strings, got {_tname(value)}")
        if nonempty and not value:
            raise self.error(key, "must not be empty")
        if len(set(value)) != len(value):
            raise self.error(key, f"has duplicates: {value}")
        return list(value)

    def table(self, key: str, default: Any = REQUIRED) -> Any:
        """A sub-:class:`Table`, or ``default`` when absent."""
        value = self.raw(key, default)
        if value is default and key not in self.data:
            return value
        return Table(value, source=self.source, path=f"{self.path}.{key}" if self.path else key)

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[transforms]]``); absent → empty."""
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"expected an array of tables, got {_tname(value)}")
        base = f"{self.path}.{key}" if self.path else key
        return [
            Table(item, source=self.source, path=f"{base}[{i}]") for i, item in enumerate(value)
        ]

    def done(self) -> None:
        """Refuse keys that were never read (unknown or misspelled)."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            allowed = ", ".join(sorted(self._read)) or "none"
            raise self.error(unknown[0], f"unknown key; allowed here: {allowed}")


def _tname(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return f"{names.get(type(value), type(value).__name__)} {value!r}"[:120]
